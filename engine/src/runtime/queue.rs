//! The job queue: apalis storage on the same database as the store (SQLite by default,
//! Postgres to share one queue between machines). Jobs carry a run id and nothing else; the
//! run row is the truth and the job only says "look at this run".
//!
//! What apalis does not give us (STYLE §7) is handled around it: each worker process has a
//! unique name (a restart under the same name is refused), the handler never returns an error
//! (storage-level retries have no backoff; our leases and reaper own recovery), and SQLite is
//! opened by the store with `synchronous = NORMAL` instead of `SqliteStorage::setup`'s `OFF`.

use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};

use crate::store::RunId;

/// The one job Ferry runs: execute (or resume) run `run_id`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunFlow {
    /// The run, created by a trigger in status `queued`.
    pub run_id: RunId,
}

/// Queue name in apalis' tables; one installation, one queue.
pub const QUEUE_NAME: &str = "ferry-runs";

/// How often a worker tells apalis it is alive; apalis re-delivers a dead worker's jobs after
/// a few missed beats. Our own leases recover runs sooner; this only keeps apalis' view fresh.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A handle to push jobs; cheap to clone.
#[derive(Clone)]
pub enum JobQueue {
    /// apalis-sqlite on the store's SQLite file.
    Sqlite(SqliteStorage<RunFlow>),
    /// apalis-postgres (schema `apalis`) on the store's Postgres database.
    Postgres(PostgresStorage<RunFlow>),
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobQueue::Sqlite(_) => "JobQueue::Sqlite",
            JobQueue::Postgres(_) => "JobQueue::Postgres",
        })
    }
}

/// A queue failure.
#[derive(Debug, thiserror::Error)]
#[error("job queue: {0}")]
pub struct QueueError(String);

impl JobQueue {
    /// Creates apalis' tables on `pool` (their own migration table, so they never mix with
    /// Ferry's) and returns the queue.
    pub async fn sqlite(pool: &sqlx::SqlitePool, queue: &str) -> Result<JobQueue, QueueError> {
        let mut migrator = SqliteStorage::migrations();
        migrator.dangerous_set_table_name("_apalis_migrations");
        migrator.set_ignore_missing(true);
        migrator
            .run(pool)
            .await
            .map_err(|e| QueueError(format!("creating apalis tables: {e}")))?;
        let config = apalis_sqlite::Config::default()
            .queue(queue)
            .heartbeat_interval(HEARTBEAT)
            .missed_heartbeats(3)
            .batch_size(4);
        Ok(JobQueue::Sqlite(
            SqliteStorage::new(pool).with_config(config),
        ))
    }

    /// Same on Postgres.
    ///
    /// apalis' tables live in schema `apalis` whatever the connection's `search_path`, so their
    /// migration record lives there too, and the `hstore` extension they need is created in
    /// `public` first (created in a per-test schema, it would vanish with that schema).
    pub async fn postgres(pool: &sqlx::PgPool, queue: &str) -> Result<JobQueue, QueueError> {
        let prepare = async {
            let mut tx = pool.begin().await?;
            // Serialises first starts of several processes at once.
            sqlx::query("select pg_advisory_xact_lock(7461630)")
                .execute(&mut *tx)
                .await?;
            sqlx::query("create schema if not exists apalis")
                .execute(&mut *tx)
                .await?;
            sqlx::query("create extension if not exists hstore schema public")
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        };
        prepare
            .await
            .map_err(|e| QueueError(format!("preparing schema apalis: {e}")))?;
        let mut migrator = PostgresStorage::migrations();
        migrator.dangerous_set_table_name("apalis._ferry_migrations");
        migrator.set_ignore_missing(true);
        migrator
            .run(pool)
            .await
            .map_err(|e| QueueError(format!("creating apalis tables: {e}")))?;
        let config = apalis_postgres::Config::default()
            .queue(queue)
            .heartbeat_interval(HEARTBEAT)
            .missed_heartbeats(3)
            .batch_size(4);
        Ok(JobQueue::Postgres(
            PostgresStorage::new(pool).with_config(config),
        ))
    }

    /// Enqueues a job for `run_id`.
    pub async fn push(&self, run_id: RunId) -> Result<(), QueueError> {
        let job = RunFlow { run_id };
        match self {
            JobQueue::Sqlite(s) => s
                .clone()
                .push(job)
                .await
                .map_err(|e| QueueError(e.to_string())),
            JobQueue::Postgres(s) => s
                .clone()
                .push(job)
                .await
                .map_err(|e| QueueError(e.to_string())),
        }
    }
}
