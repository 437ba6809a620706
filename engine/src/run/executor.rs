//! The run executor: source pages → steps → ledger check → target, every outcome logged.
//!
//! Shape of a run (each arrow a bounded channel, so memory does not grow with the source):
//! the reader fetches pages; each page is mapped on a blocking thread (scripts cannot stall the
//! async executor) and checked against the ledger with one query; batches are sent by tasks
//! limited by a semaphore to the target's concurrency; one writer task commits outcomes and
//! ledger updates in transactions of up to [`LOG_BATCH`] records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc};
use tracing::{info, instrument, warn};

use super::progress::Progress;
use super::send::{RateGate, Sender};
use crate::connector::{ConnectorError, ConnectorInstance, ReadRequest, WriteAction, WriteRecord};
use crate::flow::OnExisting;
use crate::plan::{CompiledFlow, Processed};
use crate::store::{
    LedgerEntry, LedgerUpdate, NewRun, Outcome, RecordEntry, RunCounts, RunId, RunStatus, Store,
    StoreError,
};

/// Activity rows committed per transaction, at most.
const LOG_BATCH: usize = 500;
/// Longest a finished record waits before its outcome is committed.
const LOG_INTERVAL: Duration = Duration::from_millis(200);
/// Response bodies are cut to this many bytes in the activity log.
const BODY_EXCERPT: usize = 2_000;

/// Everything a run needs.
pub struct RunParams {
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
    /// What started the run (`manual`, `schedule`, `webhook`, `replay`).
    pub trigger: String,
    /// Live counts for whoever watches.
    pub progress: Arc<Progress>,
    /// Becomes `true` when the run must stop (Ctrl-C, shutdown): no new page is read, records
    /// already read are still sent and logged, and the run ends with status `error`.
    pub stop: tokio::sync::watch::Receiver<bool>,
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
}

/// One record on its way through the run.
struct Item {
    seq: i64,
    key: Option<String>,
    input: String,
    state: ItemState,
}

enum ItemState {
    /// Done before sending: filtered, failed in a step, or unchanged.
    Final {
        outcome: Outcome,
        step_id: Option<String>,
        output: Option<String>,
        error: Option<String>,
    },
    /// To send.
    Send {
        output: String,
        payload: Value,
        hash: String,
        action: WriteAction,
    },
}

/// What every part of one run shares: where outcomes go and how records are sent.
struct RunScope {
    run_id: RunId,
    flow_id: String,
    /// Ledger name of the target: `connection/operation`.
    target: String,
    sender: Sender,
    log_tx: mpsc::Sender<(RecordEntry, Option<LedgerUpdate>)>,
}

impl RunScope {
    /// An activity row for a record; callers fill in what they know beyond the outcome.
    fn entry(&self, seq: i64, key: Option<String>, input: String, outcome: Outcome) -> RecordEntry {
        RecordEntry {
            run_id: self.run_id,
            seq,
            flow_id: self.flow_id.clone(),
            source_key: key,
            outcome,
            step_id: None,
            input: Some(input),
            output: None,
            response_status: None,
            response_body: None,
            target_id: None,
            error: None,
            attempts: 0,
        }
    }

    /// Hands an outcome to the log writer.
    async fn log(&self, entry: RecordEntry, ledger: Option<LedgerUpdate>) -> Result<(), String> {
        self.log_tx
            .send((entry, ledger))
            .await
            .map_err(|_| "activity log writer stopped".to_string())
    }
}

/// Executes a run to its end. Record failures do not stop it; a source or store failure does,
/// after everything already read has been logged.
#[instrument(skip_all, fields(flow_id = %params.flow.flow.id))]
pub async fn execute(params: RunParams) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let flow = params.flow.clone();
    let run_id = params
        .store
        .create_run(&NewRun {
            flow_id: flow.flow.id.clone(),
            flow_version: params.flow_version.clone(),
            trigger: params.trigger.clone(),
        })
        .await?;
    info!(run_id, "Flow run started.");

    let (log_tx, log_rx) = mpsc::channel::<(RecordEntry, Option<LedgerUpdate>)>(LOG_BATCH);
    let writer = tokio::spawn(write_log(
        params.store.clone(),
        log_rx,
        params.progress.clone(),
    ));
    let scope = Arc::new(RunScope {
        run_id,
        flow_id: flow.flow.id.clone(),
        target: format!(
            "{}/{}",
            flow.flow.target.connection, flow.flow.target.operation
        ),
        sender: Sender {
            target: params.target.clone(),
            operation: flow.flow.target.operation.clone(),
            params: flow.flow.target.params.clone(),
            retry: flow.flow.target.retry.clone(),
            gate: RateGate::new(),
        },
        log_tx,
    });
    let mut sends = tokio::task::JoinSet::new();
    let mut error = read_and_dispatch(&params, &scope, &mut sends).await.err();
    while let Some(joined) = sends.join_next().await {
        if let Err(e) = joined {
            error.get_or_insert_with(|| format!("a send task stopped: {e}"));
        }
    }
    // The writer ends when the last sender of outcomes is gone.
    drop(scope);
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error = Some(format!("activity log: {e}")),
        Err(e) => error = Some(format!("activity log writer stopped: {e}")),
    }

    let counts = params.progress.snapshot();
    let status = match (&error, counts.failed) {
        (Some(_), _) => RunStatus::Error,
        (None, 0) => RunStatus::Succeeded,
        (None, _) => RunStatus::Failed,
    };
    params
        .store
        .finish_run(run_id, status, &counts, error.as_deref())
        .await?;
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
) -> Result<(), String> {
    let flow = &params.flow;
    let source = &flow.flow.source;
    let mut reader = params
        .source
        .read(
            &source.operation,
            ReadRequest {
                params: source.params.clone(),
                cursor: None,
            },
        )
        .await
        .map_err(|e| format!("source `{}`: {e}", source.connection))?;
    let mut next_seq = 0i64;
    // Read one page ahead while the current one is processed and sent.
    let (page_tx, mut page_rx) = mpsc::channel::<Result<Vec<Value>, ConnectorError>>(1);
    let read_task = tokio::spawn(async move {
        loop {
            let page = reader.next_page().await;
            let stop = !matches!(page, Ok(Some(_)));
            let item = match page {
                Ok(Some(page)) => Ok(page.records),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            if page_tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });

    let batch_size = flow.flow.target.batch_size.max(1);
    let permits = Arc::new(Semaphore::new(flow.flow.target.concurrency.max(1)));
    let mut result = Ok(());
    let mut stop = params.stop.clone();
    loop {
        let page = tokio::select! {
            page = page_rx.recv() => page,
            _ = stop.wait_for(|stopped| *stopped) => {
                result = Err("interrupted: stopped before the source was exhausted".to_string());
                break;
            }
        };
        let Some(page) = page else { break };
        let records = match page {
            Ok(records) => records,
            Err(e) => {
                result = Err(format!("source `{}`: {e}", source.connection));
                break;
            }
        };
        params.progress.add_read(records.len() as u64);
        let first_seq = next_seq;
        next_seq += records.len() as i64;
        let compiled = flow.clone();
        let items =
            tokio::task::spawn_blocking(move || process_page(&compiled, records, first_seq))
                .await
                .map_err(|e| format!("mapping thread stopped: {e}"))?;
        let items = check_ledger(params, &scope.target, items)
            .await
            .map_err(|e| format!("ledger: {e}"))?;

        let mut to_send = Vec::new();
        for item in items {
            match item.state {
                ItemState::Final {
                    outcome,
                    step_id,
                    output,
                    error,
                } => {
                    let entry = RecordEntry {
                        step_id,
                        output,
                        error,
                        ..scope.entry(item.seq, item.key, item.input, outcome)
                    };
                    scope.log(entry, None).await?;
                }
                ItemState::Send { .. } => to_send.push(item),
            }
        }
        while !to_send.is_empty() {
            let rest = to_send.split_off(batch_size.min(to_send.len()));
            let batch = std::mem::replace(&mut to_send, rest);
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
    read_task.abort();
    result
}

/// Runs the steps on a page of records. Runs on a blocking thread.
fn process_page(flow: &CompiledFlow, records: Vec<Value>, first_seq: i64) -> Vec<Item> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let seq = first_seq + i as i64;
            let key = flow.key_of(&record);
            let input = to_json_text(&record);
            let state = match (&key, flow.process(&record)) {
                (None, _) => ItemState::Final {
                    outcome: Outcome::Failed,
                    step_id: None,
                    output: None,
                    error: Some(format!(
                        "record has no business key at `{}` (the source's `key`)",
                        flow.key_query()
                    )),
                },
                (Some(_), Ok(Processed::Output(payload))) => {
                    let output = to_json_text(&payload);
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
                    output: None,
                    error: reason,
                },
                (Some(_), Err(failure)) => ItemState::Final {
                    outcome: Outcome::Failed,
                    step_id: Some(failure.step_id.clone()),
                    output: failure.partial.as_ref().map(to_json_text),
                    error: Some(failure.to_string()),
                },
            };
            Item {
                seq,
                key,
                input,
                state,
            }
        })
        .collect()
}

/// JSON text of a value (serde_json's writer; `Display` goes through the slower fmt machinery).
fn to_json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Hash of a payload as serialized (serde_json sorts object keys, so equal records hash equal).
pub fn payload_hash(serialized: &str) -> String {
    let digest = Sha256::digest(serialized.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Decides create, update or skip for each record to send, with one ledger query per page.
async fn check_ledger(
    params: &RunParams,
    target_name: &str,
    mut items: Vec<Item>,
) -> Result<Vec<Item>, StoreError> {
    let keys: Vec<String> = items
        .iter()
        .filter(|i| matches!(i.state, ItemState::Send { .. }))
        .filter_map(|i| i.key.clone())
        .collect();
    if keys.is_empty() {
        return Ok(items);
    }
    let ledger: HashMap<String, LedgerEntry> = params
        .store
        .ledger_lookup(&params.flow.flow.id, target_name, &keys)
        .await?;
    let on_existing = params.flow.flow.target.on_existing;
    // Within a page the same key may appear twice (overlapping reads): send it once.
    let mut seen_in_page: HashMap<String, String> = HashMap::new();
    for item in &mut items {
        let (
            ItemState::Send {
                hash,
                action,
                output,
                ..
            },
            Some(key),
        ) = (&mut item.state, &item.key)
        else {
            continue;
        };
        let unchanged = |output: &mut String| ItemState::Final {
            outcome: Outcome::SkippedUnchanged,
            step_id: None,
            output: Some(std::mem::take(output)),
            error: None,
        };
        if seen_in_page.get(key) == Some(hash) {
            item.state = unchanged(output);
            continue;
        }
        seen_in_page.insert(key.clone(), hash.clone());
        let Some(entry) = ledger.get(key) else {
            continue;
        };
        let succeeded_before = matches!(
            entry.last_outcome,
            Outcome::Created | Outcome::Updated | Outcome::SkippedUnchanged
        );
        if succeeded_before && (entry.payload_hash == *hash || on_existing == OnExisting::Skip) {
            item.state = unchanged(output);
        } else if let Some(target_id) = &entry.target_id {
            *action = WriteAction::Update {
                target_id: target_id.clone(),
            };
        }
    }
    Ok(items)
}

/// Sends one batch and logs each record's outcome.
async fn send_batch(scope: &RunScope, mut batch: Vec<Item>) {
    // Payloads move into the write request; the item keeps their JSON text for the log.
    let records: Vec<WriteRecord> = batch
        .iter_mut()
        .filter_map(|item| match &mut item.state {
            ItemState::Send {
                payload, action, ..
            } => Some(WriteRecord {
                key: item.key.clone().unwrap_or_default(),
                action: action.clone(),
                payload: std::mem::take(payload),
            }),
            ItemState::Final { .. } => None,
        })
        .collect();
    let results = scope.sender.send(&records).await;
    for (item, sent) in batch.into_iter().zip(results) {
        let ItemState::Send {
            output,
            hash,
            action,
            ..
        } = item.state
        else {
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
            output: Some(output),
            error,
            response_status: status.map(i64::from),
            response_body: body.map(|b| excerpt(b, BODY_EXCERPT)),
            target_id,
            attempts: i64::from(sent.attempts),
            ..scope.entry(item.seq, item.key, item.input, outcome)
        };
        if scope.log(entry, Some(ledger)).await.is_err() {
            warn!(
                run_id = scope.run_id,
                "Activity log writer stopped; outcome not recorded."
            );
        }
    }
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

/// Commits outcomes in batches; counts each record once it is durable.
async fn write_log(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(RecordEntry, Option<LedgerUpdate>)>,
    progress: Arc<Progress>,
) -> Result<(), StoreError> {
    let mut records = Vec::with_capacity(LOG_BATCH);
    let mut ledger = Vec::with_capacity(LOG_BATCH);
    let mut open = true;
    while open {
        let deadline = tokio::time::Instant::now() + LOG_INTERVAL;
        while records.len() < LOG_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((entry, update))) => {
                    records.push(entry);
                    ledger.extend(update);
                }
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        if records.is_empty() {
            continue;
        }
        store.record_outcomes(&records, &ledger).await?;
        for r in &records {
            progress.add_outcome(r.outcome);
        }
        records.clear();
        ledger.clear();
    }
    Ok(())
}
