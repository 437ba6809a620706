-- Stored connections: a tenant's configured instance of a connector. `config` holds the
-- settings that are not credentials (JSON); the credentials the connector declares are sealed
-- together in `credentials` (XChaCha20-Poly1305, nonce first, tenant and name as associated
-- data) under the master key named by `key_id`. `secret_fields` lists which credentials are
-- set (their dot paths, never their values), so a connection can be listed without the key.

create table connection (
    tenant_id text not null,
    name text not null,
    connector text not null,
    config text not null,
    secret_fields text not null,
    credentials bytea not null,
    key_id text not null,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, name)
);
create index connection_key_idx on connection (key_id);
