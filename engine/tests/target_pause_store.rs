//! Target pauses on both databases: a pause is only ever extended, per tenant and target, and
//! the call returns the pause in effect. Same body, SQLite file and real Postgres.

use ferry_engine::store::{Store, TargetPause};
#[path = "support/pg_schema.rs"]
mod pg_schema;
#[path = "support/both_databases.rs"]
#[macro_use]
mod both_databases;

fn pause(tenant: &str, until: &str, wait_ms: i64, reason: &str) -> TargetPause {
    TargetPause {
        tenant_id: tenant.into(),
        target: "http:https://erp.example.eu".into(),
        paused_until: until.into(),
        status: Some(429),
        retry_after_ms: wait_ms,
        reason: reason.into(),
    }
}

both_databases! {
    dyn Store;
    a_pause_is_only_extended_and_kept_per_tenant => |store: std::sync::Arc<dyn Store>| async move {
        let target = "http:https://erp.example.eu";
        assert_eq!(store.target_pause("acme", target).await.unwrap(), None);
        let first = pause("acme", "2026-11-23T10:00:30.000Z", 30_000, "slow down");
        assert_eq!(store.extend_target_pause(&first).await.unwrap(), first);
        // A shorter wait told to another worker does not shorten it.
        let shorter = pause("acme", "2026-11-23T10:00:05.000Z", 5_000, "shorter");
        assert_eq!(store.extend_target_pause(&shorter).await.unwrap(), first);
        assert_eq!(store.target_pause("acme", target).await.unwrap(), Some(first));
        // A longer one replaces it, with its reason.
        let longer = TargetPause { status: Some(503), ..pause("acme", "2026-11-23T11:00:00.000Z", 3_600_000, "maintenance") };
        assert_eq!(store.extend_target_pause(&longer).await.unwrap(), longer);
        assert_eq!(store.target_pause("acme", target).await.unwrap(), Some(longer));
        // Another tenant on the same host is not paused.
        assert_eq!(store.target_pause("globex", target).await.unwrap(), None);
    };
}
