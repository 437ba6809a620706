//! Target pauses ([`PauseStore`]): a target's `Retry-After`, kept in the database so every run
//! and every worker process on it holds its requests until the pause ends. Expanded once per
//! database like `sql.rs`.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{PgStore, SqliteStore};
use super::{Result, now};

/// A pause of one target, as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TargetPause {
    /// Tenant whose connection the target is.
    pub tenant_id: String,
    /// What identifies the remote system within the tenant (`run::pause::TargetKey`).
    pub target: String,
    /// No request before this time, RFC 3339 UTC with milliseconds.
    pub paused_until: String,
    /// HTTP status of the answer that asked for the pause (429, 503).
    pub status: Option<i64>,
    /// The wait the answer asked for (its `Retry-After`), in milliseconds.
    pub retry_after_ms: i64,
    /// The target's message.
    pub reason: String,
}

/// Persistence of target pauses. A pause is only ever extended: two workers told different
/// waits keep the later end.
#[async_trait]
pub trait PauseStore: Send + Sync {
    /// Pauses `pause.target` until `pause.paused_until`, unless a later pause is stored; returns
    /// the pause in effect after the call (the later of the two).
    async fn extend_target_pause(&self, pause: &TargetPause) -> Result<TargetPause>;
    /// The stored pause of a target, if one was ever stored (it may be over).
    async fn target_pause(&self, tenant_id: &str, target: &str) -> Result<Option<TargetPause>>;
}

macro_rules! pause_columns {
    () => {
        "tenant_id, target, paused_until, status, retry_after_ms, reason"
    };
}

macro_rules! impl_pause_store {
    ($store:ty) => {
        #[async_trait]
        impl PauseStore for $store {
            async fn extend_target_pause(&self, pause: &TargetPause) -> Result<TargetPause> {
                // Times are fixed-width UTC text, so text order is time order. `set` reads the
                // old row on both databases, so every `case` compares against the stored end.
                Ok(sqlx::query_as(concat!(
                    "insert into target_pause (tenant_id, target, paused_until, status, retry_after_ms, reason, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $7) on conflict (tenant_id, target) do update set \
                     status = case when excluded.paused_until > target_pause.paused_until then excluded.status else target_pause.status end, \
                     retry_after_ms = case when excluded.paused_until > target_pause.paused_until then excluded.retry_after_ms else target_pause.retry_after_ms end, \
                     reason = case when excluded.paused_until > target_pause.paused_until then excluded.reason else target_pause.reason end, \
                     paused_until = case when excluded.paused_until > target_pause.paused_until then excluded.paused_until else target_pause.paused_until end, \
                     updated_at = excluded.updated_at \
                     returning ",
                    pause_columns!()
                ))
                .bind(&pause.tenant_id)
                .bind(&pause.target)
                .bind(&pause.paused_until)
                .bind(pause.status)
                .bind(pause.retry_after_ms)
                .bind(&pause.reason)
                .bind(now())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn target_pause(&self, tenant_id: &str, target: &str) -> Result<Option<TargetPause>> {
                Ok(sqlx::query_as(concat!(
                    "select ",
                    pause_columns!(),
                    " from target_pause where tenant_id = $1 and target = $2"
                ))
                .bind(tenant_id)
                .bind(target)
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

impl_pause_store!(SqliteStore);
impl_pause_store!(PgStore);
