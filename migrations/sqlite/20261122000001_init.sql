-- Runs, the activity log (one row per record of a run) and the ledger (what each flow already
-- sent to each target). Timestamps are RFC 3339 UTC text with milliseconds in both dialects.

create table run (
    id integer primary key autoincrement,
    tenant_id text not null default 'default',
    flow_id text not null,
    flow_version text not null,
    trigger text not null,
    status text not null,
    started_at text not null,
    finished_at text,
    read_count integer not null default 0,
    created_count integer not null default 0,
    updated_count integer not null default 0,
    skipped_count integer not null default 0,
    filtered_count integer not null default 0,
    failed_count integer not null default 0,
    error text,
    created_at text not null,
    updated_at text not null
);
create index run_flow_idx on run (tenant_id, flow_id, id desc);

create table run_record (
    id integer primary key autoincrement,
    run_id integer not null references run (id) on delete cascade,
    seq integer not null,
    flow_id text not null,
    source_key text,
    outcome text not null,
    step_id text,
    input blob,
    output blob,
    response_status integer,
    response_body text,
    target_id text,
    error text,
    attempts integer not null default 0,
    created_at text not null,
    updated_at text not null
);
create index run_record_run_idx on run_record (run_id, seq);
create index run_record_key_idx on run_record (flow_id, source_key);
create index run_record_outcome_idx on run_record (run_id, outcome);

create table ledger (
    tenant_id text not null default 'default',
    flow_id text not null,
    target text not null,
    business_key text not null,
    target_id text,
    payload_hash text not null,
    last_outcome text not null,
    last_run_id integer,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, flow_id, target, business_key)
);
