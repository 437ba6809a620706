-- Alert deliveries: one row per alert sent (or attempted) to one channel, for `ferry alerts log`
-- and so a heartbeat alert is sent once per silence period, not at every check.

create table alert_delivery (
    id integer primary key autoincrement,
    tenant_id text not null default 'default',
    flow_id text not null,
    run_id integer,
    channel text not null,
    recipient text not null,
    kind text not null,
    status text not null,
    error text,
    created_at text not null
);
create index alert_delivery_flow_idx on alert_delivery (tenant_id, flow_id, kind, created_at);

-- Heartbeats ask for each flow's last successful run.
create index run_flow_status_idx on run (tenant_id, flow_id, status, finished_at);
