//! WAL checkpoints of the SQLite store, taken off the committing connection.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the WAL's size limit,
//! copying megabytes back into the database file while that writer holds the write lock. The
//! run executor's writer then stalls for tens of milliseconds, and with it the next page's
//! send intents and every send behind them. Automatic checkpoints are turned off on the
//! store's connections and a task checkpoints in the background instead: a PASSIVE checkpoint
//! runs beside readers and the writer, so no commit pays for it.

use std::time::Duration;

use sqlx::SqlitePool;
use tracing::warn;

/// How often the background checkpoint runs. The WAL grows by what is committed in between.
const INTERVAL: Duration = Duration::from_millis(250);

/// The background checkpoint of one store; it stops when the last clone of the store is dropped
/// (it holds a clone of the pool, which would otherwise never close).
#[derive(Debug)]
pub(super) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts checkpointing `pool`'s database in the background.
pub(super) fn spawn(pool: SqlitePool) -> Checkpointer {
    Checkpointer(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if pool.is_closed() {
                return;
            }
            // A failed checkpoint leaves the WAL to the next one; nothing is lost.
            if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)")
                .execute(&pool)
                .await
                && !pool.is_closed()
            {
                warn!(error = %e, "SQLite WAL checkpoint failed; retried at the next interval.");
            }
        }
    }))
}
