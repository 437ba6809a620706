-- A tenant's default alert settings: what flows of the tenant without their own `alerts` use
-- (before the installation's default). `settings` is the `AlertSettings` JSON, validated
-- before it is stored. No row means the tenant has no default of its own.

create table tenant_alert (
    tenant_id text primary key references tenant (id) on delete cascade,
    settings text not null,
    created_at text not null,
    updated_at text not null
);

-- Deliveries were all logged under `default`; give each the tenant of its flow, so the API's
-- delivery log shows a tenant its own.
update alert_delivery
set tenant_id = (select f.tenant_id from flow f where f.id = alert_delivery.flow_id)
where exists (select 1 from flow f where f.id = alert_delivery.flow_id);
