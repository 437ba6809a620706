-- Accounts of the HTTP API: tenants (merchants), users with a role, the tenants each user may
-- see, API tokens and UI sessions (only SHA-256 hashes of their secrets are stored), and the
-- audit log (who changed or replayed what). Flow ids stay unique in the installation so that
-- webhooks (/hooks/{flow_id}/…) and runs keep naming a flow by id alone.

create table tenant (
    id text primary key,
    name text not null,
    created_at text not null,
    updated_at text not null
);
insert into tenant (id, name, created_at, updated_at)
values ('default', 'Default', '2026-11-23T00:00:00.000Z', '2026-11-23T00:00:00.000Z');

create table app_user (
    id bigint generated always as identity primary key,
    email text not null unique,
    password_hash text not null,
    role text not null,
    disabled boolean not null default false,
    created_at text not null,
    updated_at text not null
);

create table user_tenant (
    user_id bigint not null references app_user (id) on delete cascade,
    tenant_id text not null references tenant (id) on delete cascade,
    created_at text not null,
    updated_at text not null,
    primary key (user_id, tenant_id)
);

create table api_token (
    id bigint generated always as identity primary key,
    user_id bigint not null references app_user (id) on delete cascade,
    name text not null,
    token_hash text not null unique,
    prefix text not null,
    last_used_at text,
    revoked_at text,
    created_at text not null,
    updated_at text not null
);

create table session (
    id_hash text primary key,
    user_id bigint not null references app_user (id) on delete cascade,
    expires_at text not null,
    created_at text not null,
    updated_at text not null
);

create table audit_log (
    id bigint generated always as identity primary key,
    user_id bigint,
    user_email text not null,
    tenant_id text,
    action text not null,
    object_type text not null,
    object_id text not null,
    detail text,
    created_at text not null,
    updated_at text not null
);
create index audit_log_tenant_idx on audit_log (tenant_id, id);

create unique index flow_id_unique_idx on flow (id);
create index run_tenant_idx on run (tenant_id, id);

-- Immutable published versions of a flow: every save through the API adds one, numbered from 1
-- per flow; a rollback saves an old definition again as a new version.
create table flow_version (
    id bigint generated always as identity primary key,
    tenant_id text not null,
    flow_id text not null,
    version_no bigint not null,
    definition text not null,
    hash text not null,
    published_by text not null,
    created_at text not null,
    updated_at text not null,
    unique (flow_id, version_no)
);
