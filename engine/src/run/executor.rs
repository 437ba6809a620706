//! The run executor: source pages → steps → ledger check → target, every outcome logged.
//!
//! Shape of a run (each arrow a bounded channel, so memory does not grow with the source):
//! the reader fetches pages; a stage task maps each page on a blocking thread (scripts cannot
//! stall the async executor), checks it against the ledger with one query and hands its send
//! intents to the writer once it is next in line (the dispatch loop waits for their commit before
//! sending the page); batches are sent by tasks limited by a semaphore to the
//! target's concurrency; one writer task commits intents, outcomes and ledger updates (outcomes
//! in transactions of up to [`LOG_BATCH`] records). Each step works one page ahead of the
//! next. A record whose key is still in flight (sent, outcome not committed) waits for that
//! outcome before its ledger check.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{info, instrument, warn};

use super::cursor::{CursorTracker, params_with_cursor};
use super::fence::{Fence, Fenced};
use super::in_flight::InFlight;
use super::pause::{SharedPause, TargetKey};
use super::progress::Progress;
use super::send::{RateGate, Sender};
use crate::connector::{
    ConnectorError, ConnectorInstance, LONGEST_TARGET_WAIT, Lookup, Page, ReadRequest, WriteAction,
    WriteRecord,
};
use crate::flow::OnExisting;
use crate::plan::{CompiledFlow, Processed};
use crate::store::{
    Claim, LedgerEntry, LedgerUpdate, NewRun, Outcome, PageSlice, RecordEntry, RunCounts, RunId,
    RunPage, RunStatus, Store, StoreError, compress_page,
};

/// Activity rows committed per transaction, at most.
const LOG_BATCH: usize = 500;
/// Longest a finished record waits before its outcome is committed.
const LOG_INTERVAL: Duration = Duration::from_millis(200);
/// Why a held record is not sent.
const HELD_MESSAGE: &str = "not sent: an earlier run stopped after sending this record and before \
     recording the target's answer, and the target offers no lookup to tell whether it arrived. \
     Check the target, then replay the record (ferry replay) to send it again.";
/// Why a record's outcome cannot be handed over: the log writer task ended.
const WRITER_STOPPED: &str = "activity log writer stopped";
/// Why records sent by a batch will never be logged: its task ended before logging them.
const SEND_STOPPED: &str = "a send task stopped before logging its records";
/// Response bodies are cut to this many bytes in the activity log.
const BODY_EXCERPT: usize = 2_000;

/// Records per page when a run is given its records (webhook body, replay).
const GIVEN_PAGE: usize = 250;

/// Everything a run needs.
pub struct RunParams {
    /// The run, when a trigger already created it and a worker claimed it; `None` creates one.
    /// A run given again (after a crash) continues its activity log after what was logged.
    pub run_id: Option<RunId>,
    /// Records handed to the run instead of reading the source (a webhook body, a replay).
    pub records: Option<Vec<Value>>,
    /// Where runs, outcomes and the ledger go.
    pub store: Arc<dyn Store>,
    /// The flow, compiled.
    pub flow: Arc<CompiledFlow>,
    /// Hash of the flow file, recorded with the run.
    pub flow_version: String,
    /// The source connection, built.
    pub source: Arc<dyn ConnectorInstance>,
    /// The target connection, built.
    pub target: Arc<dyn ConnectorInstance>,
    /// What identifies the target's remote system: runs with the same key share its pause
    /// (`Retry-After`), in this process and through the store.
    pub target_key: TargetKey,
    /// What started the run (`manual`, `schedule`, `webhook`, `replay`).
    pub trigger: String,
    /// Live counts for whoever watches.
    pub progress: Arc<Progress>,
    /// Becomes `true` when the run must stop reading (Ctrl-C, shutdown, a closed fence): no new
    /// page is read, records already read are still sent (unless the fence closed) and logged,
    /// and the run ends with status `error`.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Whether this process may still send for the run: [`Fence::none`] for a run in the
    /// foreground, the lease's fence for a claimed run. Once it closes, nothing more is sent and
    /// [`execute`] ends with [`RunError::Fenced`] without closing the run.
    pub fence: Fence,
    /// The worker's claim on the run (`None` for a run in the foreground). The run is closed
    /// only while the claim still holds it; otherwise [`execute`] ends with
    /// [`RunError::Fenced`].
    pub claim: Option<Claim>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run's id in the store.
    pub run_id: RunId,
    /// Final status.
    pub status: RunStatus,
    /// Final counts.
    pub counts: RunCounts,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// Wall-clock duration.
    pub elapsed: Duration,
}

/// A run that could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The run's fence closed: the run may be another worker's now. What was answered is
    /// logged; records not sent (or sent in an attempt cut off) keep their send intents for the
    /// next owner, and the run's row is left as it is.
    #[error("stopped: {0}")]
    Fenced(Fenced),
}

/// One record on its way through the run.
struct Item {
    seq: i64,
    key: Option<String>,
    /// Where the record's input and output sit in its page's texts (the log stores the page
    /// once).
    in_page: PageSlice,
    state: ItemState,
}

enum ItemState {
    /// Done before sending: filtered, failed in a step, or unchanged.
    Final {
        outcome: Outcome,
        step_id: Option<String>,
        error: Option<String>,
    },
    /// To send.
    Send {
        /// The payload's JSON text, as hashed and as sent.
        output: String,
        payload: Value,
        hash: String,
        action: WriteAction,
    },
}

/// What every part of one run shares: where outcomes go and how records are sent.
struct RunScope {
    run_id: RunId,
    /// Which claim of the run this execution is (0 in the foreground): its send intents and
    /// its pages carry it, so its activity rows answer its own intents only.
    attempt: i64,
    flow_id: String,
    /// Ledger name of the target: `connection/operation`.
    target: String,
    sender: Sender,
    log_tx: mpsc::Sender<LogMessage>,
    /// Keys whose earlier send has an unknown outcome: not sent until a person replays them.
    held: HashSet<String>,
    /// Records withheld because the fence closed: their intents are open, so the run must not
    /// be closed by this execution.
    withheld: std::sync::atomic::AtomicU64,
    /// Keys handed to sending whose outcome is not committed yet.
    in_flight: Arc<InFlight>,
}

impl RunScope {
    /// An activity row for a record; callers fill in what they know beyond the outcome.
    fn entry(
        &self,
        seq: i64,
        key: Option<String>,
        in_page: Option<PageSlice>,
        outcome: Outcome,
    ) -> RecordEntry {
        RecordEntry {
            run_id: self.run_id,
            seq,
            flow_id: self.flow_id.clone(),
            source_key: key,
            outcome,
            step_id: None,
            input: None,
            in_page,
            output: None,
            response_status: None,
            response_body: None,
            target_id: None,
            error: None,
            attempts: 0,
            retry_at: None,
        }
    }

    /// Hands a page's text to the log writer, ahead of its records' outcomes.
    async fn log_page(&self, page: RunPage) -> Result<(), String> {
        self.log_tx
            .send(LogMessage::Page(page))
            .await
            .map_err(|_| WRITER_STOPPED.to_string())
    }

    /// Hands outcomes to the log writer, in one message (one wake-up of the writer).
    async fn log(&self, outcomes: Vec<Logged>) -> Result<(), String> {
        if outcomes.is_empty() {
            return Ok(());
        }
        self.log_tx
            .send(LogMessage::Outcomes(outcomes))
            .await
            .map_err(|_| WRITER_STOPPED.to_string())
    }

    /// Hands the send intents of records about to be sent to the log writer, which commits
    /// them next; the answer says when they are durable ([`ReadyPage::intents_committed`]).
    async fn commit_intents(
        &self,
        intents: Vec<(i64, String, String)>,
    ) -> Result<Option<IntentsCommitted>, String> {
        if intents.is_empty() {
            return Ok(None);
        }
        let (done, committed) = oneshot::channel();
        self.log_tx
            .send(LogMessage::Intents { intents, done })
            .await
            .map_err(|_| WRITER_STOPPED.to_string())?;
        Ok(Some(committed))
    }
}

/// The log writer's answer to a commit of send intents.
type IntentsCommitted = oneshot::Receiver<Result<(), String>>;

/// What the log writer commits. Intents go through the writer too: one task writing keeps a
/// run's transactions from waiting on each other's SQLite lock (whose busy handler sleeps
/// whole milliseconds).
enum LogMessage {
    /// Records' outcomes (a batch's, or a page's records not sent).
    Outcomes(Vec<Logged>),
    /// A page's records as read, which its outcomes point into: committed with the next
    /// outcomes (it comes before all of its own).
    Page(RunPage),
    /// Send intents (`seq`, key, payload hash) of one batch, committed at once (before the
    /// outcomes gathered so far); `done` answers when they are durable.
    Intents {
        intents: Vec<(i64, String, String)>,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// A record's outcome, and the ledger change it makes.
type Logged = (RecordEntry, Option<LedgerUpdate>);

/// Executes a run to its end. Record failures do not stop it; a source or store failure does,
/// after everything already read has been logged.
#[instrument(skip_all, fields(flow_id = %params.flow.flow.id))]
pub async fn execute(params: RunParams) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let flow = params.flow.clone();
    let (run_id, mut next_seq) = match params.run_id {
        Some(id) => (id, params.store.logged_counts(id).await?.1),
        None => {
            let id = params
                .store
                .create_run(&NewRun {
                    flow_id: flow.flow.id.clone(),
                    flow_version: params.flow_version.clone(),
                    trigger: params.trigger.clone(),
                })
                .await?;
            (id, 0)
        }
    };
    info!(run_id, "Flow run started.");
    let target = format!(
        "{}/{}",
        flow.flow.target.connection, flow.flow.target.operation
    );
    let intents = params.store.pending_intents(&flow.flow.id, &target).await?;
    let incremental = flow
        .flow
        .source
        .incremental
        .as_ref()
        .filter(|_| params.records.is_none());
    let cursor = incremental.map(|_| Arc::new(Mutex::new(CursorTracker::default())));

    let (log_tx, log_rx) = mpsc::channel::<LogMessage>(LOG_BATCH);
    let in_flight = Arc::new(InFlight::default());
    let attempt = params.claim.as_ref().map_or(0, |c| c.attempt);
    let writer = tokio::spawn({
        let log = OutcomeLog {
            store: params.store.clone(),
            progress: params.progress.clone(),
            flow_id: flow.flow.id.clone(),
            target: target.clone(),
            run_id,
            attempt,
            cursor: cursor.clone(),
            in_flight: in_flight.clone(),
            fence: params.fence.clone(),
        };
        async move {
            let in_flight = log.in_flight.clone();
            // Never disarmed: once the writer ends, however it ends, nothing more is committed.
            let _ended = in_flight.abandon_unless_finished(WRITER_STOPPED);
            write_log(&log, log_rx).await
        }
    });
    let gate = RateGate::shared(&params.target_key.to_string());
    let pause = SharedPause::new(params.store.clone(), params.target_key.clone());
    let mut scope = RunScope {
        run_id,
        attempt,
        flow_id: flow.flow.id.clone(),
        target,
        sender: Sender {
            target: params.target.clone(),
            operation: flow.flow.target.operation.clone(),
            params: flow.flow.target.params.clone(),
            retry: flow.flow.target.retry.clone(),
            gate,
            pause: Some(pause),
            fence: params.fence.clone(),
        },
        log_tx,
        held: HashSet::new(),
        withheld: 0.into(),
        in_flight,
    };
    let mut error = None;
    if !intents.is_empty() {
        match resolve_intents(&params, &scope, intents, &mut next_seq).await {
            Ok(held) => scope.held = held,
            Err(e) => error = Some(e),
        }
    }
    let scope = Arc::new(scope);
    let mut sends = tokio::task::JoinSet::new();
    if error.is_none() {
        error = read_and_dispatch(&params, &scope, &mut sends, next_seq, cursor)
            .await
            .err();
    }
    while let Some(joined) = sends.join_next().await {
        if let Err(e) = joined {
            error.get_or_insert_with(|| format!("a send task stopped: {e}"));
        }
    }
    let withheld = scope.withheld.load(std::sync::atomic::Ordering::Relaxed);
    // The writer ends when the last sender of outcomes is gone.
    drop(scope);
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error = Some(format!("activity log: {e}")),
        Err(e) => error = Some(format!("{WRITER_STOPPED}: {e}")),
    }

    // The run may be another worker's now: leave its row to the owner (a withheld record's
    // intent is open, so closing the run here would lose it).
    let fenced = params.fence.check().err().or_else(|| {
        // Records are withheld only once the fence closed; checked all the same, since closing
        // the run would lose them.
        (withheld > 0).then_some(Fenced::RenewalsLate)
    });
    if let Some(fenced) = fenced {
        warn!(run_id, withheld, reason = %fenced, "Run execution fenced off; the run is left to its next owner.");
        return Err(RunError::Fenced(fenced));
    }
    // A claimed run may have been started before (a crash): its log holds every attempt.
    let counts = match params.run_id {
        Some(id) => params.store.logged_counts(id).await?.0,
        None => params.progress.snapshot(),
    };
    let status = match (&error, counts.failed) {
        (Some(_), _) => RunStatus::Error,
        (None, 0) => RunStatus::Succeeded,
        (None, _) => RunStatus::Failed,
    };
    match &params.claim {
        None => {
            params
                .store
                .finish_run(run_id, status, &counts, error.as_deref())
                .await?
        }
        // The fence was open a moment ago, but this process may have stalled since: the run is
        // closed only if the lease is still this claim's.
        Some(claim) => {
            let closed = params
                .store
                .finish_claimed_run(run_id, claim, status, &counts, error.as_deref())
                .await?;
            if !closed {
                warn!(
                    run_id,
                    "Run not closed: its lease is no longer this worker's; the run is left to its next owner."
                );
                return Err(RunError::Fenced(Fenced::LeaseLost));
            }
        }
    }
    info!(
        run_id,
        status = status.as_str(),
        read = counts.read,
        failed = counts.failed,
        "Flow run finished."
    );
    Ok(RunSummary {
        run_id,
        status,
        counts,
        error,
        elapsed: started.elapsed(),
    })
}

/// Reads pages until the source is exhausted, processing and dispatching each.
async fn read_and_dispatch(
    params: &RunParams,
    scope: &Arc<RunScope>,
    sends: &mut tokio::task::JoinSet<()>,
    next_seq: i64,
    cursor: Option<Arc<Mutex<CursorTracker>>>,
) -> Result<(), String> {
    let flow = &params.flow;
    // Read one page ahead while the current one is processed and sent.
    let (page_tx, page_rx) = mpsc::channel::<Result<Page, ConnectorError>>(1);
    let read_task = match &params.records {
        Some(records) => {
            let pages: Vec<Page> = records
                .chunks(GIVEN_PAGE)
                .map(|chunk| Page {
                    records: chunk.to_vec(),
                    ..Page::default()
                })
                .collect();
            tokio::spawn(async move {
                for page in pages {
                    if page_tx.send(Ok(page)).await.is_err() {
                        break;
                    }
                }
            })
        }
        None => {
            let mut reader = open_reader(params, cursor.is_some()).await?;
            tokio::spawn(async move {
                loop {
                    let page = reader.next_page().await;
                    let stop = !matches!(page, Ok(Some(_)));
                    let item = match page {
                        Ok(Some(page)) => Ok(page),
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    if page_tx.send(item).await.is_err() || stop {
                        break;
                    }
                }
            })
        }
    };

    // Pages are prepared (mapped, checked against the ledger) one page ahead of the sends, so
    // the target never waits for the next page's mapping.
    let (prepared_tx, mut prepared_rx) = mpsc::channel::<PreparedPage>(1);
    let stage = PageStage {
        flow: flow.clone(),
        store: params.store.clone(),
        progress: params.progress.clone(),
        scope: scope.clone(),
        cursor,
    };
    let prepare_task = tokio::spawn(stage.run(page_rx, prepared_tx, params.stop.clone(), next_seq));

    let result = dispatch_pages(params, scope, sends, &mut prepared_rx).await;
    // Also on an early return: the stage and the reader must not read or prepare any further.
    prepare_task.abort();
    read_task.abort();
    let (stage_ended, reader_ended) = (prepare_task.await, read_task.await);
    // The stage has ended: what is left in the channel was lined up and never sent.
    if result.is_err() {
        forget_unsent_intents(params, scope, prepared_rx).await;
    }
    // A stage or reader that panicked closed its channel as if the source had ended.
    for (task, joined) in [("page stage", stage_ended), ("source reader", reader_ended)] {
        if let Err(e) = joined
            && e.is_panic()
        {
            return Err(format!("{task} stopped: {e}"));
        }
    }
    result
}

/// Sends prepared pages as they come. Every prepared page is sent, also after a stop, unless
/// the fence closed: then nothing more is sent and the run is left to its next owner.
async fn dispatch_pages(
    params: &RunParams,
    scope: &Arc<RunScope>,
    sends: &mut tokio::task::JoinSet<()>,
    prepared_rx: &mut mpsc::Receiver<PreparedPage>,
) -> Result<(), String> {
    let flow = &params.flow;
    let batch_size = flow.flow.target.batch_size.max(1);
    let permits = Arc::new(Semaphore::new(flow.flow.target.concurrency.max(1)));
    while let Some(prepared) = prepared_rx.recv().await {
        if let Err(fenced) = params.fence.check() {
            return Err(format!("stopped: {fenced}"));
        }
        let mut page = prepared?;
        page.intents_committed().await?;
        let items = page.items;
        let mut to_send = Vec::new();
        let mut not_sent = Vec::new();
        for item in items {
            match item.state {
                ItemState::Final {
                    outcome,
                    step_id,
                    error,
                } => {
                    let entry = RecordEntry {
                        step_id,
                        error,
                        ..scope.entry(item.seq, item.key, Some(item.in_page), outcome)
                    };
                    not_sent.push((entry, None));
                }
                ItemState::Send { .. } => to_send.push(item),
            }
        }
        scope.log(not_sent).await?;
        let mut to_send = to_send.into_iter().peekable();
        while to_send.peek().is_some() {
            let batch: Vec<Item> = to_send.by_ref().take(batch_size).collect();
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| e.to_string())?;
            let scope = scope.clone();
            sends.spawn(async move {
                send_batch(&scope, batch).await;
                drop(permit);
            });
            // A finished task keeps its memory until joined: reap them as we go.
            while let Some(joined) = sends.try_join_next() {
                joined.map_err(|e| format!("a send task stopped: {e}"))?;
            }
        }
    }
    Ok(())
}

/// A page (or the part of one that is ready) to send; or why no more pages come.
type PreparedPage = Result<ReadyPage, String>;

/// Records mapped and checked against the ledger, and the commit of their send intents. The
/// dispatch loop waits for that commit before the first request, while the stage maps the
/// next page: the stage waiting for it was a third of a batch-100 run (the commit queues
/// behind the log writer's transaction of outcomes).
struct ReadyPage {
    items: Vec<Item>,
    intents: Option<IntentsCommitted>,
}

impl ReadyPage {
    /// Waits until the page's send intents are durable.
    async fn intents_committed(&mut self) -> Result<(), String> {
        let Some(committed) = self.intents.take() else {
            return Ok(());
        };
        match committed.await {
            Ok(result) => result.map_err(|e| format!("send intents: {e}")),
            Err(_) => Err(WRITER_STOPPED.to_string()),
        }
    }
}

/// Turns source pages into prepared pages, in order.
struct PageStage {
    flow: Arc<CompiledFlow>,
    store: Arc<dyn Store>,
    progress: Arc<Progress>,
    scope: Arc<RunScope>,
    cursor: Option<Arc<Mutex<CursorTracker>>>,
}

impl PageStage {
    /// Prepares pages until the source is exhausted, fails, or the run is stopped; the last
    /// two end with an `Err` naming why.
    async fn run(
        self,
        mut pages: mpsc::Receiver<Result<Page, ConnectorError>>,
        out: mpsc::Sender<PreparedPage>,
        mut stop: tokio::sync::watch::Receiver<bool>,
        mut next_seq: i64,
    ) {
        loop {
            let page = tokio::select! {
                page = pages.recv() => page,
                // The guard `wait_for` returns is not `Send`: drop it inside.
                _ = async { stop.wait_for(|stopped| *stopped).await.map(drop) } => {
                    let _ = out
                        .send(Err("interrupted: stopped before the source was exhausted".to_string()))
                        .await;
                    return;
                }
            };
            let Some(page) = page else { return };
            let prepared = match page {
                Ok(page) => match self.map(page, &mut next_seq).await {
                    Ok((items, page)) => match self.scope.log_page(page).await {
                        Ok(()) => self.prepare(items, &out).await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
                Err(e) => Err(format!(
                    "source `{}`: {e}",
                    self.flow.flow.source.connection
                )),
            };
            match prepared {
                Ok(true) => {}
                // The dispatcher is gone.
                Ok(false) => return,
                Err(e) => {
                    let _ = out.send(Err(e)).await;
                    return;
                }
            }
        }
    }

    /// Maps a page on a blocking thread (scripts cannot stall the async executor).
    async fn map(&self, page: Page, next_seq: &mut i64) -> Result<(Vec<Item>, RunPage), String> {
        let count = page.records.len();
        self.progress.add_read(count as u64);
        let first_seq = *next_seq;
        *next_seq += count as i64;
        if let Some(cursor) = &self.cursor {
            let max = self.flow.cursor_max(&page.records);
            lock(cursor).add_page(first_seq, count, max);
        }
        let compiled = self.flow.clone();
        let (run_id, attempt) = (self.scope.run_id, self.scope.attempt);
        tokio::task::spawn_blocking(move || {
            process_page(&compiled, page, run_id, attempt, first_seq)
        })
        .await
        .map_err(|e| format!("mapping thread stopped: {e}"))
    }

    /// Checks a mapped page against the ledger and hands it on: at once what is ready, then,
    /// each time the keys it waits for are committed, what waited. `Ok(false)`: the dispatcher
    /// is gone.
    async fn prepare(
        &self,
        mut items: Vec<Item>,
        out: &mpsc::Sender<PreparedPage>,
    ) -> Result<bool, String> {
        loop {
            let Checked { ready, waiting } =
                check_ledger(&*self.store, &self.flow, &self.scope, items)
                    .await
                    .map_err(|e| format!("ledger: {e}"))?;
            if !ready.is_empty() {
                // Room in the channel means the dispatch loop has taken the page before: this
                // one is sent next. Its intents are committed only now, so at most the page
                // being sent and the one waiting hold intents, and the commit overlaps the sends;
                // the dispatch loop waits for it, while this stage maps the next page.
                let Ok(slot) = out.reserve().await else {
                    return Ok(false);
                };
                let intents = self.scope.commit_intents(send_intents(&ready)).await?;
                slot.send(Ok(ReadyPage {
                    items: ready,
                    intents,
                }));
            }
            if waiting.is_empty() {
                return Ok(true);
            }
            // Rare (a key read twice while its first send is on its way): this stage pauses
            // until those outcomes are committed; the pages already handed on keep going.
            let keys: Vec<String> = waiting.iter().filter_map(|i| i.key.clone()).collect();
            self.scope.in_flight.wait_settled(&keys).await?;
            items = waiting;
        }
    }
}

/// Forgets the send intents of a page the stage handed on that was never sent (the run stopped
/// early): the next run would take them for sends with an unknown outcome. Only while the run
/// is still this execution's; the writer may be gone, so this goes to the store directly.
async fn forget_unsent_intents(
    params: &RunParams,
    scope: &RunScope,
    mut prepared_rx: mpsc::Receiver<PreparedPage>,
) {
    if params.fence.check().is_err() {
        return;
    }
    let mut unsent = Vec::new();
    while let Ok(Ok(mut page)) = prepared_rx.try_recv() {
        // Cleared after their commit, or the commit would write them again.
        let _ = page.intents_committed().await;
        unsent.extend(send_intents(&page.items).into_iter().map(
            |(seq, business_key, payload_hash)| crate::store::SendIntent {
                business_key,
                payload_hash,
                run_id: scope.run_id,
                attempt: scope.attempt,
                seq,
            },
        ));
    }
    if unsent.is_empty() {
        return;
    }
    if let Err(e) = params
        .store
        .clear_intents(&scope.flow_id, &scope.target, &unsent)
        .await
    {
        warn!(run_id = scope.run_id, error = %e, "Could not forget the send intents of a page that was not sent; the next run looks them up.");
    }
}

/// Numbers, keys and payload hashes of a page's records to send: committed before the first
/// request, so a crash after the target answered is noticed.
fn send_intents(items: &[Item]) -> Vec<(i64, String, String)> {
    items
        .iter()
        .filter_map(|i| match (&i.state, &i.key) {
            (ItemState::Send { hash, .. }, Some(key)) => Some((i.seq, key.clone(), hash.clone())),
            _ => None,
        })
        .collect()
}

/// Opens the source, with the flow's cursor in its params when it reads incrementally.
async fn open_reader(
    params: &RunParams,
    incremental: bool,
) -> Result<Box<dyn crate::connector::RecordReader>, String> {
    let source = &params.flow.flow.source;
    let mut read_params = source.params.clone();
    let mut cursor = None;
    if let (true, Some(inc)) = (incremental, &source.incremental) {
        let saved = params
            .store
            .load_cursor(&params.flow.flow.id)
            .await
            .map_err(|e| format!("cursor: {e}"))?;
        cursor = saved
            .as_deref()
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|e| format!("cursor: stored value is not JSON: {e}"))?;
        read_params = params_with_cursor(&read_params, inc, cursor.as_ref())?;
    }
    params
        .source
        .read(
            &source.operation,
            ReadRequest {
                params: read_params,
                cursor,
                projection: params.flow.projection().clone(),
            },
        )
        .await
        .map_err(|e| format!("source `{}`: {e}", source.connection))
}

/// Resolves sends a crashed run left without a committed answer: asks the target whether it
/// holds each key. Found: logged as sent (the ledger learns its id); absent: sent again when read;
/// unknown (no lookup): held, logged as failed until a person checks and replays it.
async fn resolve_intents(
    params: &RunParams,
    scope: &RunScope,
    intents: Vec<crate::store::SendIntent>,
    next_seq: &mut i64,
) -> Result<HashSet<String>, String> {
    let target = &params.flow.flow.target;
    let mut held = HashSet::new();
    // Intents answered here (found or absent), cleared exactly once their outcome is recorded.
    let mut resolved = Vec::new();
    let mut found = Vec::new();
    for intent in intents {
        let answer = params
            .target
            .lookup(&target.operation, &target.params, &intent.business_key)
            .await
            .map_err(|e| format!("looking up `{}` in the target: {e}", intent.business_key))?;
        let key = intent.business_key.clone();
        match answer {
            Lookup::Absent => resolved.push(intent),
            Lookup::Found(ack) => {
                let seq = *next_seq;
                *next_seq += 1;
                let ledger = LedgerUpdate {
                    flow_id: scope.flow_id.clone(),
                    target: scope.target.clone(),
                    business_key: key.clone(),
                    target_id: ack.target_id.clone(),
                    payload_hash: intent.payload_hash.clone(),
                    outcome: Outcome::Created,
                    run_id: scope.run_id,
                };
                let entry = RecordEntry {
                    input: None,
                    response_status: ack.status.map(i64::from),
                    target_id: ack.target_id,
                    error: Some(format!(
                        "recovered: run {} stopped before recording the target's answer; the target has this record",
                        intent.run_id
                    )),
                    ..scope.entry(seq, Some(key), None, Outcome::Created)
                };
                found.push((entry, ledger));
                resolved.push(intent);
            }
            Lookup::Unsupported => {
                held.insert(key);
            }
        }
    }
    // Committed here, not through the log writer: the source is read next, and its ledger
    // check must already see these records as sent.
    if !found.is_empty() {
        let (entries, ledger): (Vec<_>, Vec<_>) = found.into_iter().unzip();
        crate::store::record_outcomes_retrying(&*params.store, &[], &entries, &ledger)
            .await
            .map_err(|e| format!("recording recovered sends: {e}"))?;
        for entry in &entries {
            params.progress.add_outcome(entry.outcome);
        }
    }
    // Cleared once the found ones are recorded: a crash in between asks the target again.
    if !resolved.is_empty() {
        params
            .store
            .clear_intents(&scope.flow_id, &scope.target, &resolved)
            .await
            .map_err(|e| format!("send intents: {e}"))?;
    }
    if !held.is_empty() {
        warn!(
            run_id = scope.run_id,
            held = held.len(),
            "Records with an unknown send outcome are held until replayed."
        );
    }
    Ok(held)
}

/// Locks the cursor tracker; a poisoned lock only means another task panicked mid-update of
/// plain counters, which stay usable.
fn lock(cursor: &Mutex<CursorTracker>) -> std::sync::MutexGuard<'_, CursorTracker> {
    cursor
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the steps on a page of records, and keeps the page's texts for the log: the records
/// as read (one JSON array; each record's input is its slice of it) and what they mapped to
/// (one JSON array of the outputs there are). The source's own text is kept when it sent one;
/// otherwise the records are serialized. `attempt` is the run's claim reading the page.
fn process_page(
    flow: &CompiledFlow,
    page: Page,
    run_id: RunId,
    attempt: i64,
    first_seq: i64,
) -> (Vec<Item>, RunPage) {
    let Page { records, text, .. } = page;
    let (text, ranges) = match text {
        Some(text) if text.records.len() == records.len() => (text.text.into_bytes(), text.records),
        _ => serialize_page(&records),
    };
    let mut outputs = JsonArrayText::with_capacity(records.len() * TYPICAL_OUTPUT);
    let items = records
        .iter()
        .zip(ranges)
        .enumerate()
        .map(|(i, (record, range))| {
            let seq = first_seq + i as i64;
            let key = flow.key_of(record);
            let mut output_at = None;
            let state = match (&key, flow.process(record)) {
                (None, _) => ItemState::Final {
                    outcome: Outcome::Failed,
                    step_id: None,
                    error: Some(format!(
                        "record has no business key at `{}` (the source's `key`)",
                        flow.key_query()
                    )),
                },
                (Some(_), Ok(Processed::Output(payload))) => {
                    let output = to_json_text(&payload);
                    output_at = Some(
                        outputs
                            .push(|text| text.extend_from_slice(output.as_bytes()))
                            .into(),
                    );
                    let hash = payload_hash(&output);
                    ItemState::Send {
                        output,
                        payload,
                        hash,
                        action: WriteAction::Create,
                    }
                }
                (Some(_), Ok(Processed::Filtered { step_id, reason })) => ItemState::Final {
                    outcome: Outcome::Filtered,
                    step_id: Some(step_id),
                    error: reason,
                },
                (Some(_), Err(failure)) => {
                    if let Some(partial) = &failure.partial {
                        output_at = Some(outputs.push(|text| write_json(text, partial)).into());
                    }
                    ItemState::Final {
                        outcome: Outcome::Failed,
                        step_id: Some(failure.step_id.clone()),
                        error: Some(failure.to_string()),
                    }
                }
            };
            Item {
                seq,
                key,
                in_page: PageSlice {
                    page: first_seq,
                    attempt,
                    input: range.into(),
                    output: output_at,
                },
                state,
            }
        })
        .collect();
    drop(records);
    let page = RunPage {
        run_id,
        attempt,
        first_seq,
        body: compress_page(&text),
        outputs: (!outputs.is_empty()).then(|| compress_page(&outputs.finish())),
    };
    (items, page)
}

/// JSON texts written one after the other as the elements of one JSON array.
struct JsonArrayText {
    text: Vec<u8>,
}

impl JsonArrayText {
    fn with_capacity(bytes: usize) -> Self {
        let mut text = Vec::with_capacity(bytes + 2);
        text.push(b'[');
        JsonArrayText { text }
    }

    fn is_empty(&self) -> bool {
        self.text.len() == 1
    }

    /// Appends the element `write` writes; answers where it sits.
    fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Range<usize> {
        if !self.is_empty() {
            self.text.push(b',');
        }
        let start = self.text.len();
        write(&mut self.text);
        start..self.text.len()
    }

    fn finish(mut self) -> Vec<u8> {
        self.text.push(b']');
        self.text
    }
}

/// The records as one JSON array, and where each sits in it.
fn serialize_page(records: &[Value]) -> (Vec<u8>, Vec<Range<usize>>) {
    let mut page = JsonArrayText::with_capacity(records.len() * TYPICAL_RECORD);
    let ranges = records
        .iter()
        .map(|record| page.push(|text| write_json(text, record)))
        .collect();
    (page.finish(), ranges)
}

/// Bytes of a typical record's JSON text, and of a typical output's: serialization buffers
/// start there (growing them from empty cost a fifth of the time spent serializing).
const TYPICAL_RECORD: usize = 2048;
const TYPICAL_OUTPUT: usize = 1024;

/// Appends a value's JSON text (serde_json's writer; `Display` goes through the slower fmt
/// machinery).
fn write_json(text: &mut Vec<u8>, value: &Value) {
    let start = text.len();
    // A `Value` always serializes (its keys are strings).
    if serde_json::to_writer(&mut *text, value).is_err() {
        text.truncate(start);
        text.extend_from_slice(b"null");
    }
}

/// JSON text of a value.
fn to_json_text(value: &Value) -> String {
    let mut text = Vec::with_capacity(TYPICAL_OUTPUT);
    write_json(&mut text, value);
    // serde_json writes valid UTF-8 only.
    String::from_utf8(text).unwrap_or_default()
}

/// Hash of a payload as serialized (serde_json sorts object keys, so equal records hash equal).
pub fn payload_hash(serialized: &str) -> String {
    let digest = Sha256::digest(serialized.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A page (or what is left of one) checked against the ledger.
struct Checked {
    /// Records to send or to log as they are.
    ready: Vec<Item>,
    /// Records whose key is in flight, or is sent by an earlier record of the page: checked
    /// again once that key's outcome is committed.
    waiting: Vec<Item>,
}

/// Decides create, update or skip for each record to send, with one ledger query per page.
/// The records to send are noted as in flight.
async fn check_ledger(
    store: &dyn Store,
    flow: &CompiledFlow,
    scope: &RunScope,
    items: Vec<Item>,
) -> Result<Checked, StoreError> {
    // Split before the ledger query: a key that is not in flight now either was never sent by
    // this run or has its outcome committed already, so the query sees it.
    let (candidates, mut waiting) = scope.in_flight.split(items, |item| match item.state {
        ItemState::Send { .. } => item.key.as_deref(),
        ItemState::Final { .. } => None,
    });
    let keys: Vec<String> = candidates
        .iter()
        .filter(|i| matches!(i.state, ItemState::Send { .. }))
        .filter_map(|i| i.key.clone())
        .collect();
    if keys.is_empty() {
        return Ok(Checked {
            ready: candidates,
            waiting,
        });
    }
    let ledger: HashMap<String, LedgerEntry> = store
        .ledger_lookup(&flow.flow.id, scope.target.as_str(), &keys)
        .await?;
    let on_existing = flow.flow.target.on_existing;
    // Keys this page sends: a later record of one of them waits for that outcome. Until a key
    // is sent, its ledger entry holds for every record of it (a repeat is skipped at once).
    let mut sending: HashSet<String> = HashSet::new();
    let mut ready = Vec::with_capacity(candidates.len());
    for mut item in candidates {
        let (ItemState::Send { hash, action, .. }, Some(key)) = (&mut item.state, &item.key) else {
            ready.push(item);
            continue;
        };
        if sending.contains(key) {
            waiting.push(item);
            continue;
        }
        if scope.held.contains(key) {
            item.state = ItemState::Final {
                outcome: Outcome::Failed,
                step_id: None,
                error: Some(HELD_MESSAGE.to_string()),
            };
            ready.push(item);
            continue;
        }
        let entry = ledger.get(key);
        let succeeded_before = entry.is_some_and(|e| {
            matches!(
                e.last_outcome,
                Outcome::Created | Outcome::Updated | Outcome::SkippedUnchanged
            )
        });
        match entry {
            Some(entry)
                if succeeded_before
                    && (entry.payload_hash == *hash || on_existing == OnExisting::Skip) =>
            {
                item.state = ItemState::Final {
                    outcome: Outcome::SkippedUnchanged,
                    step_id: None,
                    error: None,
                };
            }
            _ => {
                if let Some(target_id) = entry.and_then(|e| e.target_id.as_ref()) {
                    *action = WriteAction::Update {
                        target_id: target_id.clone(),
                    };
                }
                sending.insert(key.clone());
            }
        }
        ready.push(item);
    }
    scope.in_flight.add(sending);
    Ok(Checked { ready, waiting })
}

/// Sends one batch and logs each record's outcome.
async fn send_batch(scope: &RunScope, mut batch: Vec<Item>) {
    // Keys of this batch are in flight until their outcomes are committed; a task that never
    // logs them must say so, or a later record of one of them would wait for ever.
    let finished = scope.in_flight.abandon_unless_finished(SEND_STOPPED);
    // Payloads and their JSON text move into the write request (the log has the text in the
    // page's outputs).
    let records: Vec<WriteRecord> = batch
        .iter_mut()
        .filter_map(|item| match &mut item.state {
            ItemState::Send {
                payload,
                action,
                output,
                ..
            } => Some(WriteRecord {
                key: item.key.clone().unwrap_or_default(),
                action: action.clone(),
                payload: std::mem::take(payload),
                text: Some(std::mem::take(output)),
            }),
            ItemState::Final { .. } => None,
        })
        .collect();
    let results = scope.sender.send(&records).await;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (item, sent) in batch.into_iter().zip(results) {
        // Withheld (the fence closed): nothing is logged, the send intent stays open.
        let Some(sent) = sent else {
            scope
                .withheld
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            scope.in_flight.abandon("stopped: the fence closed");
            continue;
        };
        let ItemState::Send { hash, action, .. } = item.state else {
            continue;
        };
        let key = item.key.clone().unwrap_or_default();
        let (outcome, status, body, target_id, error) = match sent.result {
            Ok(ack) => {
                let outcome = if matches!(action, WriteAction::Update { .. }) {
                    Outcome::Updated
                } else {
                    Outcome::Created
                };
                (outcome, ack.status, ack.body, ack.target_id, None)
            }
            Err(e) => (
                Outcome::Failed,
                e.status(),
                e.body().map(str::to_string),
                None,
                Some(e.to_string()),
            ),
        };
        let target_id = target_id.or(match &action {
            WriteAction::Update { target_id } => Some(target_id.clone()),
            WriteAction::Create => None,
        });
        let ledger = LedgerUpdate {
            flow_id: scope.flow_id.clone(),
            target: scope.target.clone(),
            business_key: key,
            target_id: target_id.clone(),
            payload_hash: hash,
            outcome,
            run_id: scope.run_id,
        };
        let entry = RecordEntry {
            error,
            response_status: status.map(i64::from),
            response_body: body.map(|b| excerpt(b, BODY_EXCERPT)),
            target_id,
            attempts: i64::from(sent.attempts),
            retry_at: sent.retry_in.map(retry_stamp),
            ..scope.entry(item.seq, item.key, Some(item.in_page), outcome)
        };
        outcomes.push((entry, Some(ledger)));
    }
    if scope.log(outcomes).await.is_err() {
        warn!(
            run_id = scope.run_id,
            "Activity log writer stopped; outcomes not recorded."
        );
    }
    finished.disarm();
}

/// When a record parked for `wait` is retried, as stored. A longer wait (a backoff set to
/// years) is cut to [`LONGEST_TARGET_WAIT`]: a panic here would lose the batch's outcomes.
fn retry_stamp(wait: Duration) -> String {
    let wait = chrono::TimeDelta::from_std(wait.min(LONGEST_TARGET_WAIT)).unwrap_or_default();
    crate::runtime::stamp(chrono::Utc::now() + wait)
}

fn excerpt(mut body: String, max: usize) -> String {
    if body.len() > max {
        let mut cut = max;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push('…');
    }
    body
}

/// Where the log writer commits outcomes, and who learns that they are durable.
struct OutcomeLog {
    store: Arc<dyn Store>,
    progress: Arc<Progress>,
    /// Whose send intents these are: the run's flow, target (`connection/operation`), id and
    /// claim.
    flow_id: String,
    target: String,
    run_id: RunId,
    attempt: i64,
    /// The cursor tracker, when the run reads incrementally.
    cursor: Option<Arc<Mutex<CursorTracker>>>,
    in_flight: Arc<InFlight>,
    /// Send intents are written only while the run is still this execution's: a stale one
    /// would be taken for a send of the run's next owner.
    fence: Fence,
}

impl OutcomeLog {
    /// Writes a batch of this execution's send intents, and deletes its batches `answered`.
    async fn write_intents(
        &self,
        intents: &[(i64, String, String)],
        answered: &[i64],
    ) -> Result<(), StoreError> {
        self.store
            .record_intents(
                &self.flow_id,
                &self.target,
                self.run_id,
                self.attempt,
                intents,
                answered,
            )
            .await
    }
}

/// Commits outcomes in batches; counts each record once it is durable. Send intents are
/// committed as soon as they come, ahead of the outcomes gathered so far: the next page's sends
/// wait for them, and nothing waits for the outcomes. (An outcome answers only its own intent,
/// and a key is not sent again while its earlier send is unanswered.)
async fn write_log(log: &OutcomeLog, mut rx: mpsc::Receiver<LogMessage>) -> Result<(), StoreError> {
    let mut records = Vec::with_capacity(LOG_BATCH);
    let mut ledger = Vec::with_capacity(LOG_BATCH);
    let mut pages = Vec::new();
    let mut batches = IntentBatches::default();
    let mut open = true;
    while open {
        let deadline = tokio::time::Instant::now() + LOG_INTERVAL;
        while records.len() < LOG_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(LogMessage::Outcomes(outcomes))) => {
                    for (entry, update) in outcomes {
                        records.push(entry);
                        ledger.extend(update);
                    }
                }
                Ok(Some(LogMessage::Page(page))) => pages.push(page),
                Ok(Some(LogMessage::Intents { intents, done })) => {
                    let result = match log.fence.check() {
                        Ok(_) => log
                            .write_intents(&intents, &batches.answered)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(fenced) => Err(format!("stopped: {fenced}")),
                    };
                    if result.is_ok() {
                        batches.answered.clear();
                        batches.opened(&intents);
                    }
                    // The dispatch loop waits for the answer before sending the page (and a run
                    // that stops early before clearing the intents of a page it did not send).
                    let _ = done.send(result);
                }
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        // Pages wait for outcomes: a page no outcome points into (the run stopped before
        // logging any of its records) is never written.
        if !records.is_empty() {
            commit_outcomes(log, &pages, &records, &ledger).await?;
            batches.answer(records.iter().map(|r| r.seq));
            records.clear();
            ledger.clear();
            pages.clear();
        }
    }
    if !batches.answered.is_empty() {
        let forgotten = log.write_intents(&[], &batches.answered).await;
        if let Err(e) = forgotten {
            warn!(run_id = log.run_id, error = %e, "Could not delete answered send intents; the next run forgets them.");
        }
    }
    Ok(())
}

/// The log writer's account of this execution's send-intent batches: which still wait for
/// answers, and which have all of theirs committed (deleted with the next intents written, or
/// when the writer ends).
#[derive(Default)]
struct IntentBatches {
    /// Each unanswered record's batch (its first `seq`).
    batch_of: HashMap<i64, i64>,
    /// Unanswered records per batch.
    waiting: HashMap<i64, usize>,
    /// Batches whose records are all answered, not yet deleted.
    answered: Vec<i64>,
}

impl IntentBatches {
    fn opened(&mut self, intents: &[(i64, String, String)]) {
        let Some(&(first_seq, _, _)) = intents.first() else {
            return;
        };
        for (seq, _, _) in intents {
            self.batch_of.insert(*seq, first_seq);
        }
        self.waiting.insert(first_seq, intents.len());
    }

    /// Notes committed outcomes; records that were never in a batch (filtered, unchanged) are
    /// ignored.
    fn answer(&mut self, seqs: impl Iterator<Item = i64>) {
        for seq in seqs {
            let Some(first_seq) = self.batch_of.remove(&seq) else {
                continue;
            };
            if let Some(waiting) = self.waiting.get_mut(&first_seq) {
                *waiting -= 1;
                if *waiting == 0 {
                    self.waiting.remove(&first_seq);
                    self.answered.push(first_seq);
                }
            }
        }
    }
}

/// Commits a batch of outcomes and their ledger changes, then moves the cursor past them.
async fn commit_outcomes(
    log: &OutcomeLog,
    pages: &[RunPage],
    records: &[RecordEntry],
    ledger: &[LedgerUpdate],
) -> Result<(), StoreError> {
    crate::store::record_outcomes_retrying(&*log.store, pages, records, ledger).await?;
    // Every ledger change the writer commits is a send's: those keys are no longer in flight.
    log.in_flight
        .settle(ledger.iter().map(|u| u.business_key.as_str()));
    for r in records {
        log.progress.add_outcome(r.outcome);
    }
    // The cursor follows committed outcomes only, and is saved after them.
    if let Some(tracker) = &log.cursor {
        let moved = {
            let mut tracker = lock(tracker);
            records.iter().filter_map(|r| tracker.commit(r.seq)).last()
        };
        if let Some(value) = moved {
            log.store
                .save_cursor(&log.flow_id, &value.to_string())
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_absurd_wait_is_stored_as_the_longest_park_not_a_panic() {
        let absurd = retry_stamp(Duration::from_secs(u64::MAX));
        let longest = retry_stamp(LONGEST_TARGET_WAIT);
        assert_eq!(absurd[..10], longest[..10], "{absurd} {longest}");
        assert_eq!(absurd.len(), "2026-11-24T21:00:00.000Z".len(), "{absurd}");
    }

    #[test]
    fn a_serialized_page_is_one_json_array_and_each_range_is_its_record() {
        let records = vec![json!({"name": "Chloé"}), json!([1, 2]), json!(null)];
        let (text, ranges) = serialize_page(&records);
        let page: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(page, Value::Array(records.clone()));
        for (record, range) in records.iter().zip(ranges) {
            assert_eq!(
                serde_json::from_slice::<Value>(&text[range]).unwrap(),
                *record
            );
        }
        assert_eq!(serialize_page(&[]), (b"[]".to_vec(), Vec::new()));
    }
}
