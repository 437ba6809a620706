-- The service's state beside runs and the ledger: the flows it runs, their schedules, run leases
-- (which worker holds a run, until when), records given to a run (webhook bodies, replays),
-- incremental cursors, webhook delivery ids, send intents (sent but answer not yet committed)
-- and the error queue (the latest failure of each business key, until it succeeds).

create table flow (
    tenant_id text not null default 'default',
    id text not null,
    name text not null,
    definition text not null,
    version text not null,
    base_dir text not null default '',
    enabled integer not null default 1,
    webhook_token text not null,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, id)
);

create table flow_schedule (
    tenant_id text not null default 'default',
    flow_id text not null,
    spec text not null,
    next_run_at text not null,
    last_run_at text,
    last_run_id integer,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, flow_id)
);
create index flow_schedule_due_idx on flow_schedule (next_run_at);

alter table run add column lease_owner text;
alter table run add column lease_until text;
alter table run add column attempt integer not null default 0;
create index run_status_idx on run (status, lease_until);

create table run_input (
    run_id integer not null references run (id) on delete cascade,
    seq integer not null,
    body blob not null,
    created_at text not null,
    updated_at text not null,
    primary key (run_id, seq)
);

create table flow_cursor (
    tenant_id text not null default 'default',
    flow_id text not null,
    value text not null,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, flow_id)
);

create table webhook_delivery (
    tenant_id text not null default 'default',
    flow_id text not null,
    delivery_id text not null,
    run_id integer,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, flow_id, delivery_id)
);

create table send_intent (
    tenant_id text not null default 'default',
    flow_id text not null,
    target text not null,
    business_key text not null,
    payload_hash text not null,
    run_id integer not null,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, flow_id, target, business_key)
);

create table failed_record (
    tenant_id text not null default 'default',
    flow_id text not null,
    business_key text not null,
    run_id integer not null,
    seq integer not null,
    step_id text,
    error text,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, flow_id, business_key)
);
