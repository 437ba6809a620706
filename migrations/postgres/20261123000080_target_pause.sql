-- A target's `Retry-After`, shared by every run and worker process on this database: no
-- request reaches the target before `paused_until`. Keyed by the tenant and what identifies the
-- remote system (see `engine/src/run/pause.rs`), so two flows writing to one shop share it.
create table target_pause (
    tenant_id text not null,
    target text not null,
    -- RFC 3339 UTC with milliseconds (text order is time order); only ever moved later.
    paused_until text not null,
    -- The answer that asked for the pause: HTTP status and the wait it asked for.
    status bigint,
    retry_after_ms bigint not null,
    reason text not null,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, target)
);
