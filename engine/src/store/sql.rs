//! The SQL implementation of [`Store`], expanded once per database by `impl_store!`.
//!
//! The bodies are identical for SQLite and Postgres: the SQL uses `$N` placeholders and
//! `on conflict … do update`, which both accept, and `QueryBuilder` writes multi-row inserts in
//! each dialect. Only opening the pool differs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{FromRow, QueryBuilder};

use super::{
    Claim, LedgerEntry, LedgerUpdate, NewRun, Outcome, RecordEntry, RecordFilter, Result,
    RunCounts, RunId, RunPage, RunRow, RunStatus, SendIntent, Store, StoreError, now,
    send_intents::{self, IntentBatch, Rewrite},
};

/// Rows per multi-row insert; keeps bind parameters well under SQLite's 32,766.
pub(super) const INSERT_CHUNK: usize = 500;

/// Whether a statement built for `rows` rows or keys (`QueryBuilder`) stays prepared in sqlx's
/// per-connection statement cache. Every count is new SQL text: caching them all kept hundreds
/// of large statements prepared for nothing, but the counts of a busy run repeat (full chunks
/// of the log writer, pages of 250, batches of 100), and parsing a 500-row statement again each
/// time was a quarter of the SQLite thread's work. Multiples of 50 bound the cache to ten texts
/// per statement.
pub(super) fn worth_caching(rows: usize) -> bool {
    rows.is_multiple_of(50)
}
/// How long a query waits for a pooled connection.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The SQLite file a `sqlite://path` (or plain path) URL names.
pub fn sqlite_path(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// The store on a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    ///
    /// WAL with `synchronous = NORMAL`: a committed transaction survives a crash of the process
    /// (what a killed worker needs); only a power loss can lose the last commits. We open the
    /// file ourselves rather than letting a library pick `synchronous = OFF`.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("../migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// The pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The store on Postgres.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and applies migrations. `?options=-csearch_path%3Dname` selects a schema.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("../migrations/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(PgStore { pool })
    }

    /// The pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[derive(FromRow)]
pub(super) struct RunDbRow {
    id: i64,
    flow_id: String,
    flow_version: String,
    trigger: String,
    status: String,
    started_at: String,
    finished_at: Option<String>,
    read_count: i64,
    created_count: i64,
    updated_count: i64,
    skipped_count: i64,
    filtered_count: i64,
    failed_count: i64,
    error: Option<String>,
    attempt: i64,
}

impl TryFrom<RunDbRow> for RunRow {
    type Error = StoreError;
    fn try_from(r: RunDbRow) -> Result<Self> {
        Ok(RunRow {
            id: r.id,
            flow_id: r.flow_id,
            flow_version: r.flow_version,
            trigger: r.trigger,
            status: RunStatus::from_str(&r.status)?,
            started_at: r.started_at,
            finished_at: r.finished_at,
            counts: RunCounts {
                read: r.read_count,
                created: r.created_count,
                updated: r.updated_count,
                skipped: r.skipped_count,
                filtered: r.filtered_count,
                failed: r.failed_count,
            },
            error: r.error,
            attempt: r.attempt,
        })
    }
}

#[derive(FromRow)]
struct RecordDbRow {
    run_id: i64,
    seq: i64,
    flow_id: String,
    source_key: Option<String>,
    outcome: String,
    step_id: Option<String>,
    input: Option<Vec<u8>>,
    output: Option<Vec<u8>>,
    response_status: Option<i64>,
    response_body: Option<String>,
    target_id: Option<String>,
    error: Option<String>,
    attempts: i64,
    input_page: Option<i64>,
    input_start: Option<i64>,
    input_len: Option<i64>,
    output_start: Option<i64>,
    output_len: Option<i64>,
    page_attempt: Option<i64>,
}

/// A stored page's texts, decompressed.
pub(super) struct PageTexts {
    /// The records as read.
    pub(super) input: String,
    /// What they mapped to, if the page keeps outputs.
    pub(super) outputs: Option<String>,
}

/// A stored page: run, claim, first seq.
pub(super) type PageKey = (RunId, i64, i64);

/// Stored pages by key.
pub(super) type Pages = HashMap<PageKey, PageTexts>;

/// Which of a record's texts: where it sits in its page, and what an error calls it.
#[derive(Debug, Clone, Copy)]
pub(super) enum PageText {
    Input,
    Output,
}

/// The page a row points into for a text it does not keep itself, if any. Rows written before
/// pages were keyed by claim have no `page_attempt`: their pages are claim 0's.
pub(super) fn page_of(
    run_id: RunId,
    own: Option<&[u8]>,
    input_page: Option<i64>,
    page_attempt: Option<i64>,
) -> Option<PageKey> {
    own.is_none()
        .then_some(input_page)
        .flatten()
        .map(|page| (run_id, page_attempt.unwrap_or(0), page))
}

/// A row's input or output: its own, or its range of its page's text (`None` once the page is
/// pruned, or when the row has none).
pub(super) fn row_text(
    which: PageText,
    own: Option<&[u8]>,
    page: Option<PageKey>,
    range: (Option<i64>, Option<i64>),
    pages: &Pages,
) -> Result<Option<String>> {
    if let Some(bytes) = own {
        return decompress(bytes).map(Some);
    }
    let (Some(key), (Some(start), Some(len))) = (page, range) else {
        return Ok(None);
    };
    let (run_id, _, page) = key;
    let texts = pages.get(&key);
    let (name, text) = match which {
        PageText::Input => ("input", texts.map(|t| &t.input)),
        PageText::Output => ("output", texts.and_then(|t| t.outputs.as_ref())),
    };
    let Some(text) = text else {
        return Ok(None);
    };
    let range = usize::try_from(start)
        .ok()
        .zip(usize::try_from(start + len).ok());
    range
        .and_then(|(from, to)| text.get(from..to))
        .map(|found| Some(found.to_string()))
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "run {run_id}: {name} at {start}+{len} is outside page {page} ({} bytes)",
                text.len()
            ))
        })
}

impl RecordDbRow {
    /// The pages this row's texts are in.
    fn pages(&self) -> impl Iterator<Item = PageKey> {
        let input = self.page(self.input.as_deref());
        let output = self
            .page(self.output.as_deref())
            .filter(|_| self.output_start.is_some());
        input.into_iter().chain(output)
    }

    /// The page of a text the row does not keep itself (`own`).
    fn page(&self, own: Option<&[u8]>) -> Option<PageKey> {
        page_of(self.run_id, own, self.input_page, self.page_attempt)
    }

    fn into_entry(self, pages: &Pages) -> Result<RecordEntry> {
        let r = self;
        let (input_page, output_page) = (r.page(r.input.as_deref()), r.page(r.output.as_deref()));
        let input_at = (r.input_start, r.input_len);
        let output_at = (r.output_start, r.output_len);
        Ok(RecordEntry {
            input: row_text(
                PageText::Input,
                r.input.as_deref(),
                input_page,
                input_at,
                pages,
            )?,
            output: row_text(
                PageText::Output,
                r.output.as_deref(),
                output_page,
                output_at,
                pages,
            )?,
            in_page: None,
            run_id: r.run_id,
            seq: r.seq,
            flow_id: r.flow_id,
            source_key: r.source_key,
            outcome: Outcome::from_str(&r.outcome)?,
            step_id: r.step_id,
            response_status: r.response_status,
            response_body: r.response_body,
            target_id: r.target_id,
            error: r.error,
            attempts: r.attempts,
            retry_at: None,
        })
    }
}

#[derive(FromRow)]
struct LedgerDbRow {
    business_key: String,
    target_id: Option<String>,
    payload_hash: String,
    last_outcome: String,
}

// Column lists as macros so queries stay `&'static str` (sqlx refuses SQL built at run time).
macro_rules! run_columns {
    () => {
        "id, flow_id, flow_version, trigger, status, started_at, finished_at, read_count, created_count, \
         updated_count, skipped_count, filtered_count, failed_count, error, cast(attempt as bigint) as attempt"
    };
}

macro_rules! record_columns {
    () => {
        "run_id, seq, flow_id, source_key, outcome, step_id, input, output, response_status, \
         response_body, target_id, error, attempts, input_page, input_start, input_len, output_start, output_len, \
         page_attempt"
    };
}

/// A run's end: status, counts ($3…$8), error; the run is `$10`. `finish_claimed_run` adds
/// its condition on the lease after it.
macro_rules! finish_run_sql {
    () => {
        "update run set status = $1, finished_at = $2, updated_at = $2, read_count = $3, created_count = $4, \
         updated_count = $5, skipped_count = $6, filtered_count = $7, failed_count = $8, error = $9 where id = $10"
    };
}

/// Binds `$1`…`$10` of [`finish_run_sql`] to a query: one list for both ways of finishing.
macro_rules! bind_finish_run {
    ($query:expr, $id:expr, $status:expr, $at:expr, $counts:expr, $error:expr) => {
        $query
            .bind($status.as_str())
            .bind($at)
            .bind($counts.read)
            .bind($counts.created)
            .bind($counts.updated)
            .bind($counts.skipped)
            .bind($counts.filtered)
            .bind($counts.failed)
            .bind($error)
            .bind($id)
    };
}

/// Ledger upsert. A failed send keeps the hash and target id of an earlier success.
const LEDGER_CONFLICT: &str = " on conflict (tenant_id, flow_id, target, business_key) do update set \
     target_id = case when excluded.last_outcome = 'failed' then ledger.target_id \
                      else coalesce(excluded.target_id, ledger.target_id) end, \
     payload_hash = case when excluded.last_outcome = 'failed' and ledger.last_outcome <> 'failed' \
                         then ledger.payload_hash else excluded.payload_hash end, \
     last_outcome = excluded.last_outcome, last_run_id = excluded.last_run_id, updated_at = excluded.updated_at";

/// Appends `open`, `values` bound and separated by commas, then `close`: the list of an
/// `in (…)` filter (`values` must not be empty; callers answer "nothing" for an empty scope).
pub(super) fn push_list<'a, DB>(
    q: &mut QueryBuilder<DB>,
    open: &str,
    values: &'a [String],
    close: &str,
) where
    DB: sqlx::Database,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(open);
    let mut list = q.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    q.push(close);
}

/// Payloads are stored LZ4-compressed: JSON shrinks about threefold, and writing fewer bytes is
/// most of the cost of the activity log (see docs/benchmarks.md).
pub(super) fn compress(json: impl AsRef<[u8]>) -> Vec<u8> {
    lz4_flex::compress_prepend_size(json.as_ref())
}

pub(super) fn decompress(bytes: &[u8]) -> Result<String> {
    let raw = lz4_flex::decompress_size_prepended(bytes)
        .map_err(|e| StoreError::Corrupt(format!("payload: {e}")))?;
    String::from_utf8(raw).map_err(|e| StoreError::Corrupt(format!("payload: {e}")))
}

/// Keeps the last update of each key: one multi-row upsert may not touch a row twice.
fn last_per_key(ledger: &[LedgerUpdate]) -> Vec<&LedgerUpdate> {
    let mut index: HashMap<(&str, &str, &str), usize> = HashMap::with_capacity(ledger.len());
    let mut out: Vec<&LedgerUpdate> = Vec::with_capacity(ledger.len());
    for update in ledger {
        let key = (
            update.flow_id.as_str(),
            update.target.as_str(),
            update.business_key.as_str(),
        );
        match index.get(&key) {
            Some(&at) => out[at] = update,
            None => {
                index.insert(key, out.len());
                out.push(update);
            }
        }
    }
    out
}

/// How many times one record is parked and retried automatically before it waits for a person.
pub(super) const MAX_PARKED: i64 = 5;

/// Error-queue changes of a batch of outcomes: failures to upsert (the last of each key), and
/// keys of each flow that succeeded (their earlier failures are resolved).
fn error_queue_changes(records: &[RecordEntry]) -> (Vec<&RecordEntry>, HashMap<&str, Vec<&str>>) {
    let mut failed: HashMap<(&str, &str), &RecordEntry> = HashMap::new();
    let mut resolved: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in records {
        let Some(key) = r.source_key.as_deref() else {
            continue;
        };
        match r.outcome {
            Outcome::Failed => {
                failed.insert((r.flow_id.as_str(), key), r);
            }
            Outcome::Created | Outcome::Updated | Outcome::SkippedUnchanged => {
                failed.remove(&(r.flow_id.as_str(), key));
                resolved.entry(r.flow_id.as_str()).or_default().push(key);
            }
            Outcome::Filtered => {}
        }
    }
    (failed.into_values().collect(), resolved)
}

/// How many times clearing send intents reads their batches again after another run changed one.
const CLEAR_TRIES: usize = 3;

/// One send-intent batch row, as long as its intents are the text read (`$6`).
macro_rules! unchanged_intent_batch {
    () => {
        " where tenant_id = 'default' and flow_id = $1 and target = $2 and run_id = $3 \
         and attempt = $4 and first_seq = $5 and intents = $6"
    };
}

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The texts of the stored pages among `wanted` (run, claim, first seq), each read once;
            /// their outputs too if `with_outputs`.
            pub(super) async fn page_texts(&self, wanted: impl IntoIterator<Item = PageKey>, with_outputs: bool) -> Result<Pages> {
                let mut pages = Pages::new();
                for key in wanted {
                    if pages.contains_key(&key) {
                        continue;
                    }
                    let (run_id, attempt, first_seq) = key;
                    let stored: Option<(Vec<u8>, Option<Vec<u8>>)> =
                        sqlx::query_as("select body, case when $3 then outputs end from run_page where run_id = $1 and first_seq = $2 and attempt = $4")
                            .bind(run_id)
                            .bind(first_seq)
                            .bind(with_outputs)
                            .bind(attempt)
                            .fetch_optional(&self.pool)
                            .await?;
                    if let Some((body, outputs)) = stored {
                        let texts = PageTexts {
                            input: decompress(&body)?,
                            outputs: outputs.as_deref().map(decompress).transpose()?,
                        };
                        pages.insert(key, texts);
                    }
                }
                Ok(pages)
            }

            /// The stored send-intent batches of one flow and target.
            async fn intent_batches(&self, flow_id: &str, target: &str) -> Result<Vec<IntentBatch>> {
                let rows: Vec<(RunId, i64, i64, String, String)> = sqlx::query_as(
                    "select run_id, attempt, first_seq, created_at, intents from send_intent_batch \
                     where tenant_id = 'default' and flow_id = $1 and target = $2 order by run_id, attempt, first_seq",
                )
                .bind(flow_id)
                .bind(target)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(run_id, attempt, first_seq, created_at, text)| IntentBatch::parse(run_id, attempt, first_seq, created_at, text))
                    .collect()
            }

            /// Applies `rewrites` to `batches` as read, each only if its row is still unchanged.
            /// `false`: another run changed one since, and it was left as it is.
            async fn rewrite_intent_batches(&self, flow_id: &str, target: &str, batches: &[IntentBatch], rewrites: &[Rewrite]) -> Result<bool> {
                let mut all = true;
                for rewrite in rewrites {
                    let batch = &batches[rewrite.batch];
                    let statement = match &rewrite.keep {
                        Some(_) => concat!("update send_intent_batch set intents = $7", unchanged_intent_batch!()),
                        None => concat!("delete from send_intent_batch", unchanged_intent_batch!()),
                    };
                    let mut query = sqlx::query(statement)
                        .bind(flow_id)
                        .bind(target)
                        .bind(batch.run_id)
                        .bind(batch.attempt)
                        .bind(batch.first_seq)
                        .bind(&batch.text);
                    if let Some(keep) = &rewrite.keep {
                        query = query.bind(keep);
                    }
                    all &= query.persistent(false).execute(&self.pool).await?.rows_affected() == 1;
                }
                Ok(all)
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn create_run(&self, new: &NewRun) -> Result<RunId> {
                let at = now();
                let id: i64 = sqlx::query_scalar(
                    "insert into run (flow_id, flow_version, trigger, status, started_at, created_at, updated_at, tenant_id) \
                     values ($1, $2, $3, 'running', $4, $4, $4, coalesce((select tenant_id from flow where id = $1), 'default')) returning id",
                )
                .bind(&new.flow_id)
                .bind(&new.flow_version)
                .bind(&new.trigger)
                .bind(&at)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn finish_run(&self, id: RunId, status: RunStatus, counts: &RunCounts, error: Option<&str>) -> Result<()> {
                let at = now();
                bind_finish_run!(sqlx::query(finish_run_sql!()), id, status, &at, counts, error)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn finish_claimed_run(&self, id: RunId, claim: &Claim, status: RunStatus, counts: &RunCounts, error: Option<&str>) -> Result<bool> {
                let at = now();
                let finish = sqlx::query(concat!(finish_run_sql!(), " and status = 'running' and lease_owner = $11 and attempt = $12"));
                let done = bind_finish_run!(finish, id, status, &at, counts, error)
                    .bind(&claim.owner)
                    .bind(claim.attempt)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_page_outcomes(&self, pages: &[RunPage], records: &[RecordEntry], ledger: &[LedgerUpdate]) -> Result<()> {
                let at = now();
                let mut tx = self.pool.begin().await?;
                for page in pages {
                    // A resumed run may read a page again from the same seq; no row points into
                    // the earlier one (rows after it would have moved the seq on).
                    sqlx::query(
                        "insert into run_page (run_id, attempt, first_seq, body, outputs, created_at) values ($1, $2, $3, $4, $5, $6) \
                         on conflict (run_id, attempt, first_seq) do update set body = excluded.body, outputs = excluded.outputs, \
                         created_at = excluded.created_at",
                    )
                    .bind(page.run_id)
                    .bind(page.attempt)
                    .bind(page.first_seq)
                    .bind(&page.body)
                    .bind(&page.outputs)
                    .bind(&at)
                    .execute(&mut *tx)
                    .await?;
                }
                for chunk in records.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(concat!("insert into run_record (", record_columns!(), ", created_at, updated_at) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.run_id)
                            .push_bind(r.seq)
                            .push_bind(&r.flow_id)
                            .push_bind(&r.source_key)
                            .push_bind(r.outcome.as_str())
                            .push_bind(&r.step_id)
                            .push_bind(r.input.as_deref().map(compress))
                            .push_bind(r.output.as_deref().map(compress))
                            .push_bind(r.response_status)
                            .push_bind(&r.response_body)
                            .push_bind(&r.target_id)
                            .push_bind(&r.error)
                            .push_bind(r.attempts)
                            .push_bind(r.in_page.map(|p| p.page))
                            .push_bind(r.in_page.map(|p| p.input.start))
                            .push_bind(r.in_page.map(|p| p.input.len))
                            .push_bind(r.in_page.and_then(|p| p.output).map(|o| o.start))
                            .push_bind(r.in_page.and_then(|p| p.output).map(|o| o.len))
                            .push_bind(r.in_page.map(|p| p.attempt))
                            .push_bind(&at)
                            .push_bind(&at);
                    });
                    q.build().persistent(worth_caching(chunk.len())).execute(&mut *tx).await?;
                }
                let updates = last_per_key(ledger);
                for chunk in updates.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "insert into ledger (flow_id, target, business_key, target_id, payload_hash, last_outcome, last_run_id, created_at, updated_at) ",
                    );
                    q.push_values(chunk, |mut b, u| {
                        b.push_bind(&u.flow_id)
                            .push_bind(&u.target)
                            .push_bind(&u.business_key)
                            .push_bind(&u.target_id)
                            .push_bind(&u.payload_hash)
                            .push_bind(u.outcome.as_str())
                            .push_bind(u.run_id)
                            .push_bind(&at)
                            .push_bind(&at);
                    });
                    q.push(LEDGER_CONFLICT);
                    q.build().persistent(worth_caching(chunk.len())).execute(&mut *tx).await?;
                }
                // The error queue: a failure enters it, a later success of the key resolves it.
                let (failed, resolved) = error_queue_changes(records);
                for r in failed {
                    // A parked record is retried automatically up to MAX_PARKED times, then stays
                    // in the error queue for a person.
                    sqlx::query(
                        "insert into failed_record (flow_id, business_key, run_id, seq, step_id, error, retry_at, parked_count, created_at, updated_at) \
                         values ($1, $2, $3, $4, $5, $6, $8, case when $8 is null then 0 else 1 end, $7, $7) \
                         on conflict (tenant_id, flow_id, business_key) do update set \
                         run_id = excluded.run_id, seq = excluded.seq, step_id = excluded.step_id, error = excluded.error, updated_at = excluded.updated_at, \
                         retry_at = case when failed_record.parked_count >= $9 then null else excluded.retry_at end, \
                         parked_count = case when excluded.retry_at is null then 0 else failed_record.parked_count + 1 end",
                    )
                    .bind(&r.flow_id)
                    .bind(&r.source_key)
                    .bind(r.run_id)
                    .bind(r.seq)
                    .bind(&r.step_id)
                    .bind(&r.error)
                    .bind(&at)
                    .bind(&r.retry_at)
                    .bind(MAX_PARKED)
                    .execute(&mut *tx)
                    .await?;
                }
                for (flow_id, keys) in resolved {
                    for chunk in keys.chunks(INSERT_CHUNK) {
                        let mut q = QueryBuilder::<$db>::new("delete from failed_record where tenant_id = 'default' and flow_id = ");
                        q.push_bind(flow_id).push(" and business_key in (");
                        let mut list = q.separated(", ");
                        for key in chunk {
                            list.push_bind(*key);
                        }
                        q.push(")");
                        q.build().persistent(false).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn ledger_lookup(&self, flow_id: &str, target: &str, keys: &[String]) -> Result<HashMap<String, LedgerEntry>> {
                let mut found = HashMap::with_capacity(keys.len());
                for chunk in keys.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "select business_key, target_id, payload_hash, last_outcome from ledger where tenant_id = 'default' and flow_id = ",
                    );
                    q.push_bind(flow_id).push(" and target = ").push_bind(target).push(" and business_key in (");
                    let mut keys_list = q.separated(", ");
                    for key in chunk {
                        keys_list.push_bind(key);
                    }
                    q.push(")");
                    let rows: Vec<LedgerDbRow> = q.build_query_as().persistent(worth_caching(chunk.len())).fetch_all(&self.pool).await?;
                    for row in rows {
                        let entry = LedgerEntry {
                            last_outcome: Outcome::from_str(&row.last_outcome)?,
                            business_key: row.business_key,
                            target_id: row.target_id,
                            payload_hash: row.payload_hash,
                        };
                        found.insert(entry.business_key.clone(), entry);
                    }
                }
                Ok(found)
            }

            async fn list_runs(&self, flow_id: Option<&str>, limit: i64) -> Result<Vec<RunRow>> {
                let rows: Vec<RunDbRow> = sqlx::query_as(concat!(
                    "select ", run_columns!(), " from run where ($1 is null or flow_id = $1) order by id desc limit $2"
                ))
                .bind(flow_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(RunRow::try_from).collect()
            }

            async fn get_run(&self, id: RunId) -> Result<Option<RunRow>> {
                let row: Option<RunDbRow> = sqlx::query_as(concat!("select ", run_columns!(), " from run where id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(RunRow::try_from).transpose()
            }

            async fn run_records(&self, run_id: RunId, filter: &RecordFilter) -> Result<Vec<RecordEntry>> {
                // Without payloads the row points into no page, so none is read.
                let rows: Vec<RecordDbRow> = sqlx::query_as(
                    "select run_id, seq, flow_id, source_key, outcome, step_id, \
                     case when $7 then input end as input, case when $7 then output end as output, \
                     response_status, response_body, target_id, error, attempts, \
                     case when $7 then input_page end as input_page, input_start, input_len, output_start, output_len, page_attempt \
                     from run_record where run_id = $1 \
                     and ($2 is null or outcome = $2) and ($3 is null or source_key = $3) \
                     and ($6 is null or seq = $6) \
                     order by seq limit $4 offset $5"
                )
                .bind(run_id)
                .bind(filter.outcome.map(|o| o.as_str()))
                .bind(filter.source_key.as_deref())
                .bind(filter.limit)
                .bind(filter.offset)
                .bind(filter.seq)
                .bind(filter.payloads)
                .fetch_all(&self.pool)
                .await?;
                let wanted: Vec<_> = rows.iter().flat_map(RecordDbRow::pages).collect();
                let pages = self.page_texts(wanted, true).await?;
                rows.into_iter().map(|r| r.into_entry(&pages)).collect()
            }

            async fn record_intents(&self, flow_id: &str, target: &str, run_id: RunId, attempt: i64, intents: &[(i64, String, String)], answered: &[i64]) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                if let Some(&(first_seq, _, _)) = intents.first() {
                    sqlx::query(
                        "insert into send_intent_batch (flow_id, target, run_id, attempt, first_seq, intents, created_at) \
                         values ($1, $2, $3, $4, $5, $6, $7) \
                         on conflict (tenant_id, flow_id, target, run_id, attempt, first_seq) do update set intents = excluded.intents",
                    )
                    .bind(flow_id)
                    .bind(target)
                    .bind(run_id)
                    .bind(attempt)
                    .bind(first_seq)
                    .bind(send_intents::encode(intents))
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                }
                for chunk in answered.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("delete from send_intent_batch where tenant_id = 'default' and flow_id = ");
                    q.push_bind(flow_id).push(" and target = ").push_bind(target);
                    q.push(" and run_id = ").push_bind(run_id).push(" and attempt = ").push_bind(attempt).push(" and first_seq in (");
                    let mut list = q.separated(", ");
                    for first_seq in chunk {
                        list.push_bind(*first_seq);
                    }
                    q.push(")");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn pending_intents(&self, flow_id: &str, target: &str) -> Result<Vec<SendIntent>> {
                let batches = self.intent_batches(flow_id, target).await?;
                let mut answered = Vec::with_capacity(batches.len());
                for batch in &batches {
                    let (first, last) = batch.intents.iter().fold((i64::MAX, i64::MIN), |(lo, hi), i| (lo.min(i.0), hi.max(i.0)));
                    // Rows written before claims were kept have no page claim: theirs was 0.
                    let seqs: Vec<i64> = sqlx::query_scalar(
                        "select seq from run_record where run_id = $1 and coalesce(page_attempt, 0) = $2 and seq between $3 and $4",
                    )
                    .bind(batch.run_id)
                    .bind(batch.attempt)
                    .bind(first)
                    .bind(last)
                    .fetch_all(&self.pool)
                    .await?;
                    answered.push(seqs.into_iter().collect());
                }
                let (open, rewrites) = send_intents::open_intents(&batches, &answered);
                // A batch changed meanwhile is compacted by the next look.
                self.rewrite_intent_batches(flow_id, target, &batches, &rewrites).await?;
                Ok(open)
            }

            async fn clear_intents(&self, flow_id: &str, target: &str, intents: &[SendIntent]) -> Result<()> {
                // A batch another run changed meanwhile (its look at open intents compacts them) is
                // read again: what is cleared stays cleared, so the rewrites can be worked out anew.
                for _ in 0..CLEAR_TRIES {
                    let batches = self.intent_batches(flow_id, target).await?;
                    let rewrites = send_intents::clear(&batches, intents);
                    if self.rewrite_intent_batches(flow_id, target, &batches, &rewrites).await? {
                        return Ok(());
                    }
                }
                Err(StoreError::Conflict(format!(
                    "the send intents of flow `{flow_id}` kept changing while {} of them were cleared",
                    intents.len()
                )))
            }

            async fn load_cursor(&self, flow_id: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("select value from flow_cursor where tenant_id = 'default' and flow_id = $1")
                    .bind(flow_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn save_cursor(&self, flow_id: &str, value: &str) -> Result<()> {
                let at = now();
                sqlx::query(
                    "insert into flow_cursor (flow_id, value, created_at, updated_at) values ($1, $2, $3, $3) \
                     on conflict (tenant_id, flow_id) do update set value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(flow_id)
                .bind(value)
                .bind(&at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_cursor(&self, flow_id: &str) -> Result<()> {
                sqlx::query("delete from flow_cursor where tenant_id = 'default' and flow_id = $1")
                    .bind(flow_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn run_inputs(&self, run_id: RunId) -> Result<Vec<String>> {
                let rows: Vec<Vec<u8>> = sqlx::query_scalar("select body from run_input where run_id = $1 order by seq")
                    .bind(run_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|b| decompress(b)).collect()
            }

            async fn logged_counts(&self, run_id: RunId) -> Result<(RunCounts, i64)> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "select outcome, count(*), coalesce(max(seq), -1) from run_record where run_id = $1 group by outcome",
                )
                .bind(run_id)
                .fetch_all(&self.pool)
                .await?;
                let mut counts = RunCounts::default();
                let mut next_seq = 0;
                for (outcome, n, max_seq) in rows {
                    counts.read += n;
                    next_seq = next_seq.max(max_seq + 1);
                    match Outcome::from_str(&outcome)? {
                        Outcome::Created => counts.created += n,
                        Outcome::Updated => counts.updated += n,
                        Outcome::SkippedUnchanged => counts.skipped += n,
                        Outcome::Filtered => counts.filtered += n,
                        Outcome::Failed => counts.failed += n,
                    }
                }
                Ok((counts, next_seq))
            }
        }
    };
}

impl_store!(SqliteStore, sqlx::Sqlite);
impl_store!(PgStore, sqlx::Postgres);
