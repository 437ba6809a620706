//! The store: runs, the activity log (one row per record of a run) and the ledger.
//!
//! One [`Store`] trait, implemented once in [`sql`] for SQLite (the default: one file, zero
//! set-up) and Postgres (scale-out). SQL is written once with `$N` placeholders, which both
//! accept; the conformance suite `engine/tests/store_conformance.rs` runs the same tests on
//! both. See `docs/adr/0001-database-strategy.md`.

#[macro_use]
mod sql;
mod runtime;
mod runtime_sql;
mod send_intents;
mod target_pause_sql;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

pub use account::{
    AccountStore, ApiToken, AuditEntry, AuditFilter, NewAudit, NewUser, Role, RunQuery, Tenant,
    User, valid_id,
};
pub use alert_sql::{
    AlertDelivery, AlertKind, AlertStore, DeliveryFilter, DeliveryStatus, FlowRunTimes,
    NewAlertDelivery, TenantAlerts, open_alert_store,
};
pub use connection_sql::{ConnectionRow, ConnectionStore, Resealed, open_connection_store};
pub use flow_version::{FlowVersion, FlowVersionStore};
pub use runtime::{
    FailedRecord, FlowRecord, PruneScope, Pruned, RuntimeStore, ScheduleRow, SendIntent,
    ServiceStore,
};
pub use sql::{PgStore, SqliteStore, sqlite_path};
pub use target_pause_sql::{PauseStore, TargetPause};

/// Id of a run.
pub type RunId = i64;

/// Store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Writes a batch of outcomes, trying again when Postgres rolled the transaction back because
/// of a deadlock or a serialization failure with a concurrent worker's batch (the rollback
/// leaves nothing written, so the same batch is simply written again).
pub async fn record_outcomes_retrying(
    store: &(impl Store + ?Sized),
    pages: &[RunPage],
    records: &[RecordEntry],
    ledger: &[LedgerUpdate],
) -> Result<()> {
    let mut attempt = 0u32;
    loop {
        match store.record_page_outcomes(pages, records, ledger).await {
            Err(StoreError::Database(sqlx::Error::Database(db)))
                if matches!(db.code().as_deref(), Some("40P01" | "40001")) && attempt < 5 =>
            {
                attempt += 1;
                tracing::warn!(attempt, code = ?db.code(), "Activity log write conflicted with another worker; writing it again.");
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no database Ferry supports.
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    /// Rows changed under a multi-row update that needed them unchanged; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// A row holds a value this build does not understand.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database file's directory could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            /// Every stored name, in declaration order (for messages that list the choices).
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            /// The stable snake_case name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(StoreError::Corrupt(format!("unknown {} `{other}`", stringify!($name)))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// Declared after `string_enum!`, which they use.
mod account;
mod account_sql;
mod alert_sql;
mod connection_sql;
mod flow_version;

string_enum!(
    /// Status of a run.
    RunStatus {
        /// Waiting for a worker.
        Queued = "queued",
        /// Still going.
        Running = "running",
        /// Every record ended well (created, updated, skipped or filtered).
        Succeeded = "succeeded",
        /// The run finished but some records failed.
        Failed = "failed",
        /// The run stopped early (source unreachable, store failure).
        Error = "error",
    }
);

string_enum!(
    /// What happened to one record.
    Outcome {
        /// Sent and created in the target.
        Created = "created",
        /// Sent as an update of an object the ledger knew.
        Updated = "updated",
        /// Not sent: the ledger says the target already has this exact payload.
        SkippedUnchanged = "skipped_unchanged",
        /// Dropped by a filter (or a step with `on_error: skip`).
        Filtered = "filtered",
        /// Failed in a step or refused by the target; can be replayed.
        Failed = "failed",
    }
);

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Flow id.
    pub flow_id: String,
    /// Hash of the flow definition the run executes.
    pub flow_version: String,
    /// What started it: `manual`, `schedule`, `webhook`, `replay`.
    pub trigger: String,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Records read from the source.
    pub read: i64,
    /// Records created in the target.
    pub created: i64,
    /// Records updated in the target.
    pub updated: i64,
    /// Records skipped as unchanged.
    pub skipped: i64,
    /// Records filtered out.
    pub filtered: i64,
    /// Records that failed.
    pub failed: i64,
}

/// A run as stored.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Run id.
    pub id: RunId,
    /// Flow id.
    pub flow_id: String,
    /// Hash of the flow definition.
    pub flow_version: String,
    /// What started it.
    pub trigger: String,
    /// Status.
    pub status: RunStatus,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// End time, when finished.
    pub finished_at: Option<String>,
    /// Counts.
    pub counts: RunCounts,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// How many times a worker claimed it; 0 for a run in the foreground.
    pub attempt: i64,
}

/// A worker's hold on a claimed run: the lease's owner and which claim of the run it made.
/// The same worker may claim a run again after its lease expired; the attempt tells the two
/// executions apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The worker holding the lease.
    pub owner: String,
    /// The run's claim count when this claim was made ([`RunRow::attempt`]).
    pub attempt: i64,
}

/// One record's line in the activity log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordEntry {
    /// Run it belongs to.
    pub run_id: RunId,
    /// Position in the run's source order.
    pub seq: i64,
    /// Flow id.
    pub flow_id: String,
    /// Business key (order number, SKU).
    pub source_key: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Step that filtered or failed the record.
    pub step_id: Option<String>,
    /// The record as read (JSON text). Read back from the store, this holds the input wherever
    /// it was kept (in the row, or in its page).
    pub input: Option<String>,
    /// Written by a run: where the input (and output) sit in the texts of the record's page,
    /// the page being written with the row ([`Store::record_page_outcomes`]) instead of them.
    pub in_page: Option<PageSlice>,
    /// What was sent, or the partial mapping of a failed record (JSON text). Read back from the
    /// store, this holds the output wherever it was kept (in the row, or in its page).
    pub output: Option<String>,
    /// The target's status code.
    pub response_status: Option<i64>,
    /// Excerpt of the target's answer.
    pub response_body: Option<String>,
    /// Id of the object in the target.
    pub target_id: Option<String>,
    /// Error message.
    pub error: Option<String>,
    /// Send attempts made.
    pub attempts: i64,
    /// For a failed record parked after a retryable failure: when a retry run picks it up
    /// again (RFC 3339 UTC). Kept in the error queue, not in the activity log.
    pub retry_at: Option<String>,
}

/// Where a record's texts sit in the page it was read in ([`RunPage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSlice {
    /// The page: the `seq` of its first record.
    pub page: i64,
    /// The claim of the run that read the page ([`RunPage::attempt`]).
    pub attempt: i64,
    /// The record as read, in the page's text ([`RunPage::body`]).
    pub input: TextRange,
    /// What the record mapped to, in the page's outputs ([`RunPage::outputs`]); `None` for a
    /// record without output (filtered, or failed before a mapping produced anything).
    pub output: Option<TextRange>,
}

/// Bytes `start .. start + len` of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRange {
    /// Byte offset.
    pub start: i64,
    /// Length in bytes.
    pub len: i64,
}

impl From<std::ops::Range<usize>> for TextRange {
    fn from(range: std::ops::Range<usize>) -> Self {
        // A page's text is far below 2^63 bytes.
        TextRange {
            start: range.start as i64,
            len: range.len() as i64,
        }
    }
}

/// One source page of a run: the records as read (a JSON array's text) and what they mapped to
/// (a JSON array of the outputs there are), each LZ4-compressed. Stored once; activity rows
/// point into them ([`PageSlice`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPage {
    /// Run it belongs to.
    pub run_id: RunId,
    /// Which claim of the run read it (0 in the foreground). A fenced-off execution and the
    /// run's next owner may read pages from the same `seq`; each keeps its own.
    pub attempt: i64,
    /// `seq` of the page's first record.
    pub first_seq: i64,
    /// The page's text, compressed ([`compress_page`]).
    pub body: Vec<u8>,
    /// The outputs' text, compressed ([`compress_page`]); `None` when no record has one.
    pub outputs: Option<Vec<u8>>,
}

/// Compresses a page's text for [`RunPage::body`] and [`RunPage::outputs`] (done on the
/// mapping thread, not the writer's).
pub fn compress_page(text: &[u8]) -> Vec<u8> {
    sql::compress(text)
}

/// What the ledger knows of one business key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Business key.
    pub business_key: String,
    /// Id of the object in the target, when known.
    pub target_id: Option<String>,
    /// Hash of the last payload the target accepted.
    pub payload_hash: String,
    /// Outcome of the last send.
    pub last_outcome: Outcome,
}

/// A ledger change after a send.
#[derive(Debug, Clone)]
pub struct LedgerUpdate {
    /// Flow id.
    pub flow_id: String,
    /// Target (`connection/operation`).
    pub target: String,
    /// Business key.
    pub business_key: String,
    /// Id the target gave, if any.
    pub target_id: Option<String>,
    /// Hash of the payload sent.
    pub payload_hash: String,
    /// Outcome of the send.
    pub outcome: Outcome,
    /// Run that sent it.
    pub run_id: RunId,
}

/// Which records of a run to list.
#[derive(Debug, Clone)]
pub struct RecordFilter {
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only this business key.
    pub source_key: Option<String>,
    /// At most this many.
    pub limit: i64,
    /// Skip this many first.
    pub offset: i64,
    /// Only the record with this number in its run.
    pub seq: Option<i64>,
    /// Load each record's input and output. A list that shows neither leaves them out, so
    /// no page of inputs is read and decompressed for it.
    pub payloads: bool,
}

impl Default for RecordFilter {
    fn default() -> Self {
        RecordFilter {
            outcome: None,
            source_key: None,
            limit: 100,
            offset: 0,
            seq: None,
            payloads: true,
        }
    }
}

/// Persistence of runs, the activity log and the ledger, and the targets' pauses a run honours.
#[async_trait]
pub trait Store: PauseStore + Send + Sync {
    /// Creates a run in status `running`.
    async fn create_run(&self, new: &NewRun) -> Result<RunId>;
    /// Records a run's end.
    async fn finish_run(
        &self,
        id: RunId,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> Result<()>;
    /// Records the end of a claimed run, only if `claim` still holds it: the run is `running`
    /// under the same lease owner and attempt. `false`: it is not (the lease expired and the
    /// run was re-queued, or another worker claimed it), and nothing was written.
    async fn finish_claimed_run(
        &self,
        id: RunId,
        claim: &Claim,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
    ) -> Result<bool>;
    /// Writes activity rows and ledger changes in one transaction: they are durable together.
    /// A send's activity row answers its send intent (same run, claim and `seq`; a row without
    /// a page counts as claim 0).
    /// A failed send never erases the hash and target id of an earlier success, so the record
    /// is sent again next time.
    async fn record_outcomes(
        &self,
        records: &[RecordEntry],
        ledger: &[LedgerUpdate],
    ) -> Result<()> {
        self.record_page_outcomes(&[], records, ledger).await
    }
    /// [`Store::record_outcomes`], writing in the same transaction the source pages that the
    /// rows' [`RecordEntry::in_page`] point into. A page may be written in an earlier call
    /// than its rows, never in a later one.
    async fn record_page_outcomes(
        &self,
        pages: &[RunPage],
        records: &[RecordEntry],
        ledger: &[LedgerUpdate],
    ) -> Result<()>;
    /// Ledger entries of `keys` for one flow and target.
    async fn ledger_lookup(
        &self,
        flow_id: &str,
        target: &str,
        keys: &[String],
    ) -> Result<HashMap<String, LedgerEntry>>;
    /// Runs, newest first.
    async fn list_runs(&self, flow_id: Option<&str>, limit: i64) -> Result<Vec<RunRow>>;
    /// One run.
    async fn get_run(&self, id: RunId) -> Result<Option<RunRow>>;
    /// A run's records, in source order.
    async fn run_records(&self, run_id: RunId, filter: &RecordFilter) -> Result<Vec<RecordEntry>>;

    /// Notes that these records (`seq`, business key, payload hash) are about to be sent by
    /// `run_id` in its claim `attempt` (0 in the foreground): one batch, named by its first
    /// `seq`. Committed before the first request; a send's activity row answers its intent, so
    /// a crash between a target's answer and its commit leaves a trace the next run resolves.
    /// In the same transaction, deletes this claim's batches `answered` (first `seq`s), whose
    /// intents all have their answer: `intents` may be empty to delete only.
    async fn record_intents(
        &self,
        flow_id: &str,
        target: &str,
        run_id: RunId,
        attempt: i64,
        intents: &[(i64, String, String)],
        answered: &[i64],
    ) -> Result<()>;
    /// Sends whose outcome was never committed: per key, the intent that counts (the one written
    /// last, unless it is an earlier claim's of the same run as one written before), if no
    /// activity row answers it. Forgets the stored intents that are answered or replaced, so
    /// only open ones are kept.
    async fn pending_intents(&self, flow_id: &str, target: &str) -> Result<Vec<SendIntent>>;
    /// Forgets exactly these intents (key, run, claim, `seq` and payload hash), and the intents
    /// of the same key they replaced. An intent another run or execution wrote for the key
    /// since is kept.
    async fn clear_intents(
        &self,
        flow_id: &str,
        target: &str,
        intents: &[SendIntent],
    ) -> Result<()>;
    /// A flow's incremental cursor (JSON text).
    async fn load_cursor(&self, flow_id: &str) -> Result<Option<String>>;
    /// Moves a flow's cursor; callers pass only values past committed records.
    async fn save_cursor(&self, flow_id: &str, value: &str) -> Result<()>;
    /// Deletes a flow's cursor: the next run reads from the start (or `incremental.start`).
    async fn delete_cursor(&self, flow_id: &str) -> Result<()>;
    /// Records handed to a run (webhook bodies, replays), JSON texts in order.
    async fn run_inputs(&self, run_id: RunId) -> Result<Vec<String>>;
    /// Counts of a run as its activity log says, and the next free `seq` (a resumed run
    /// continues after what an earlier attempt logged).
    async fn logged_counts(&self, run_id: RunId) -> Result<(RunCounts, i64)>;
}

/// Opens the store at `url` (`sqlite://FILE`, a plain file path, or `postgres://…`) and applies
/// migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    Ok(match Database::open(url).await? {
        Database::Sqlite(store) => Arc::new(store),
        Database::Postgres(store) => Arc::new(store),
    })
}

/// An opened store, by kind: for callers that need the pool (the job queue) or more than
/// [`Store`].
pub enum Database {
    /// A SQLite file.
    Sqlite(SqliteStore),
    /// A Postgres database.
    Postgres(PgStore),
}

impl Database {
    /// The store as [`Store`] and as [`ConnectionStore`], sharing one pool: a command that
    /// needs both opens (and migrates) the database once.
    pub fn into_stores(self) -> (Arc<dyn Store>, Arc<dyn ConnectionStore>) {
        match self {
            Database::Sqlite(store) => {
                let store = Arc::new(store);
                (store.clone(), store)
            }
            Database::Postgres(store) => {
                let store = Arc::new(store);
                (store.clone(), store)
            }
        }
    }

    /// Opens `sqlite://FILE` (or a bare path) or `postgres://…`, applying migrations.
    pub async fn open(url: &str) -> Result<Database> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Database::Postgres(PgStore::connect(url).await?))
        } else if url.contains("://") && !url.starts_with("sqlite:") {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        } else {
            Ok(Database::Sqlite(
                SqliteStore::open(&sqlite_path(url)).await?,
            ))
        }
    }
}

/// A time as stored: RFC 3339 UTC with milliseconds, so that text order is time order.
pub fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Now, as stored.
pub(crate) fn now() -> String {
    stamp(chrono::Utc::now())
}
