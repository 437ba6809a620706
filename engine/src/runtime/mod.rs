//! The service side of Ferry: flows stored in the database, triggers that queue runs, workers
//! that execute them under a lease, and the loops that keep it all moving (scheduler, reaper,
//! retention).
//!
//! How a run survives a crash (see `docs/adr/0005-runs-survive-a-crash.md`):
//! - a trigger writes the run row (`queued`, with its records when it was given some) and then
//!   pushes a job `RunFlow { run_id }`; a job lost between the two is found by the reaper;
//! - a worker claims the run with a lease it renews; a killed worker's lease expires and the
//!   reaper queues the run again, so any worker resumes it;
//! - before a record is sent, a send intent is committed; the answer and the ledger are committed
//!   together, and the answer's activity row answers the intent. A resumed run asks the target about each open intent (lookup by
//!   key), so a record sent just before the kill is recorded, not sent twice;
//! - the ledger makes everything else a re-run reads again `skipped_unchanged`.

mod loops;
mod queue;
mod schedule;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::alert::{AlertSettings, Alerter, FlowRef, effective_alerts, first_errors};
use crate::connector::ConnectorInstance;
use crate::flow::load::parse_flow;
use crate::flow::model::{Flow, Trigger};
use crate::plan::CompiledFlow;
use crate::run::fence::{self, Fence, Fenced};
use crate::run::{
    Progress, RunError, RunParams, RunSummary, TargetKey, execute, executor::payload_hash,
};
use crate::store::{
    Claim, Database, FlowRecord, NewRun, RunId, RunStatus, RuntimeStore, ServiceStore, StoreError,
};

pub use crate::store::stamp;
pub use loops::{heartbeat_once, prune_once, reap_once, retry_once, run_loops, schedule_once};
pub use queue::{JobQueue, QUEUE_NAME, QueueError, RunFlow};
pub use schedule::Schedule;
pub(crate) use schedule::parse_interval;
pub use worker::run_workers;

/// Builds connector instances for a flow's connections. The binary implements it with its
/// registry and `${VAR}` resolution; the engine never names a connector.
#[async_trait]
pub trait Connect: Send + Sync {
    /// The connection `name` of `flow`, with relative paths resolved against `base_dir`.
    async fn connect(
        &self,
        flow: &Flow,
        name: &str,
        base_dir: &Path,
    ) -> anyhow::Result<Arc<dyn ConnectorInstance>>;
    /// Resolves `${VAR}` placeholders in a flow setting (a webhook secret).
    fn resolve(&self, text: &str) -> Result<String, String>;
}

/// Tunables of the service; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// How long a claimed run stays a worker's without a renewal. A killed worker's runs are
    /// resumed about this long after the kill.
    pub lease: Duration,
    /// How often the scheduler and the reaper look.
    pub tick: Duration,
    /// Queued runs untouched this long get their job pushed again (a lost push).
    pub stale_queued_after: Duration,
    /// Record payloads older than this many days are pruned (run summaries stay).
    pub retention_days: u32,
    /// Concurrent runs per worker process.
    pub concurrency: usize,
    /// Sends alerts of finished runs and heartbeats; `None` sends none.
    pub alerter: Option<Alerter>,
    /// Alerts of flows without their own `alerts` whose tenant has no stored default (the
    /// installation's default).
    pub default_alerts: Option<AlertSettings>,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            lease: Duration::from_secs(15),
            tick: Duration::from_secs(1),
            stale_queued_after: Duration::from_secs(60),
            retention_days: 14,
            concurrency: 4,
            alerter: None,
            default_alerts: None,
        }
    }
}

/// A runtime failure, with what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// No flow with this id is stored.
    #[error("no flow `{0}`: import it first (`ferry flows import FILE`)")]
    UnknownFlow(String),
    /// The flow file is invalid.
    #[error("{0}")]
    InvalidFlow(String),
}

/// Everything a service process shares: store, queue, connectors, settings, shutdown signal.
pub struct Runtime {
    /// Flows, runs, schedules, leases, alert deliveries.
    pub store: Arc<dyn ServiceStore>,
    /// Where jobs go.
    pub queue: JobQueue,
    /// Builds connections.
    pub connect: Arc<dyn Connect>,
    /// Tunables.
    pub settings: RuntimeSettings,
    /// Unique per process: apalis refuses a restarted worker with the same name, and leases
    /// name their holder.
    pub worker_id: String,
    shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
    /// Runs executing in this process; shutdown waits for it to reach 0.
    in_flight: watch::Sender<usize>,
}

impl Runtime {
    /// Opens the store and queue at `url` (`sqlite://FILE` or `postgres://…`).
    pub async fn open(
        url: &str,
        connect: Arc<dyn Connect>,
        settings: RuntimeSettings,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        let (store, queue): (Arc<dyn ServiceStore>, JobQueue) = match Database::open(url).await? {
            Database::Postgres(store) => {
                // apalis' tables are shared by the whole database (schema `apalis`); the queue
                // is named after Ferry's schema so two installations never take each other's jobs.
                let schema: String = sqlx::query_scalar("select current_schema()")
                    .fetch_one(store.pool())
                    .await
                    .map_err(StoreError::from)?;
                let queue =
                    JobQueue::postgres(store.pool(), &format!("{QUEUE_NAME}:{schema}")).await?;
                (Arc::new(store), queue)
            }
            Database::Sqlite(store) => {
                let queue = JobQueue::sqlite(store.pool(), QUEUE_NAME).await?;
                (Arc::new(store), queue)
            }
        };
        let (shutdown_tx, shutdown) = watch::channel(false);
        Ok(Arc::new(Runtime {
            store,
            queue,
            connect,
            settings,
            worker_id: unique_worker_id(),
            shutdown,
            shutdown_tx,
            in_flight: watch::channel(0).0,
        }))
    }

    /// Asks every loop and run of this process to stop: runs finish what they read and are
    /// given back to the queue.
    pub fn shutdown(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    /// Resolves when [`Runtime::shutdown`] was called.
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Stores a flow (validated and compiled first) and sets or removes its schedule.
    pub async fn import_flow(
        &self,
        text: &str,
        file: &str,
        base_dir: &Path,
        check: impl Fn(&Flow, &str) -> Vec<String>,
    ) -> Result<FlowRecord, RuntimeError> {
        let flow = parse_flow(text, file).map_err(|e| RuntimeError::InvalidFlow(e.to_string()))?;
        let issues = check(&flow, text);
        if !issues.is_empty() {
            return Err(RuntimeError::InvalidFlow(issues.join("\n")));
        }
        CompiledFlow::compile(&flow).map_err(|issues| {
            RuntimeError::InvalidFlow(format!("{file}: does not compile: {}", issues[0]))
        })?;
        let canonical = serde_json::to_string(&flow).unwrap_or_default();
        let record = self
            .store
            .upsert_flow(&FlowRecord {
                id: flow.id.clone(),
                name: if flow.name.is_empty() {
                    flow.id.clone()
                } else {
                    flow.name.clone()
                },
                definition: text.to_string(),
                version: payload_hash(&canonical),
                base_dir: base_dir.display().to_string(),
                enabled: true,
                webhook_token: new_token(),
                tenant: flow.tenant.clone().unwrap_or_else(|| "default".to_string()),
            })
            .await?;
        match Schedule::from_trigger(&flow.trigger).map_err(RuntimeError::InvalidFlow)? {
            Some(schedule) => {
                let spec = serde_json::to_string(&flow.trigger).unwrap_or_default();
                let next = schedule
                    .next_after(Utc::now())
                    .map_err(RuntimeError::InvalidFlow)?;
                self.store
                    .set_schedule(&flow.id, &spec, &stamp(next))
                    .await?;
            }
            None => self.store.delete_schedule(&flow.id).await?,
        }
        info!(flow_id = %flow.id, version = %record.version, "Flow imported.");
        Ok(record)
    }

    /// Queues a run of `flow_id`: it reads its source, or processes `inputs` (JSON texts) when
    /// given (webhook bodies, replays).
    pub async fn trigger(
        &self,
        flow_id: &str,
        trigger: &str,
        inputs: &[String],
    ) -> Result<RunId, RuntimeError> {
        let flow = self
            .store
            .get_flow(flow_id)
            .await?
            .ok_or_else(|| RuntimeError::UnknownFlow(flow_id.to_string()))?;
        let run_id = self
            .store
            .create_queued_run(
                &NewRun {
                    flow_id: flow.id.clone(),
                    flow_version: flow.version.clone(),
                    trigger: trigger.to_string(),
                },
                inputs,
            )
            .await?;
        // A push lost here (crash, queue error) is found by the reaper as a stale queued run.
        if let Err(e) = self.queue.push(run_id).await {
            warn!(run_id, error = %e, "Run queued but its job was not pushed; the reaper will push it.");
        }
        info!(run_id, flow_id, trigger, "Run queued.");
        Ok(run_id)
    }

    /// Replays failed records of a flow on its current version: all of them, or those `keys`.
    /// `None` when there is nothing to replay.
    pub async fn replay(
        &self,
        flow_id: &str,
        keys: Option<&[String]>,
    ) -> Result<Option<(RunId, usize)>, RuntimeError> {
        self.replay_as(flow_id, keys, "replay").await
    }

    /// [`Runtime::replay`] with the trigger recorded on the run (`replay`, `retry`).
    pub async fn replay_as(
        &self,
        flow_id: &str,
        keys: Option<&[String]>,
        trigger: &str,
    ) -> Result<Option<(RunId, usize)>, RuntimeError> {
        let inputs = self.store.failed_inputs(flow_id, keys).await?;
        if inputs.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = inputs.into_iter().map(|(_, text)| text).collect();
        let run_id = self.trigger(flow_id, trigger, &texts).await?;
        Ok(Some((run_id, texts.len())))
    }

    /// [`Runtime::execute_run`] on a task of its own, so that apalis dropping the job's future
    /// at shutdown does not cut a run short: it still finishes what it read and gives the rest
    /// back. [`Runtime::drained`] waits for these.
    pub async fn execute_run_detached(
        self: &Arc<Self>,
        run_id: RunId,
    ) -> Result<Option<RunSummary>, RuntimeError> {
        self.in_flight.send_modify(|n| *n += 1);
        let rt = self.clone();
        let task = tokio::spawn(async move {
            let result = rt.execute_run(run_id).await;
            rt.in_flight.send_modify(|n| *n -= 1);
            result
        });
        task.await
            .unwrap_or_else(|e| Err(RuntimeError::InvalidFlow(format!("run task stopped: {e}"))))
    }

    /// Resolves when no run executes in this process.
    pub async fn drained(&self) {
        let mut rx = self.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Executes (or resumes) a queued run if this worker can claim it; the job handler.
    /// `None` when another worker holds it or it already finished (a job delivered twice).
    pub async fn execute_run(&self, run_id: RunId) -> Result<Option<RunSummary>, RuntimeError> {
        let lease = self.settings.lease;
        // Taken before the claim: the lease written counts from here, and so does the fence.
        let started = fence::now();
        let Some(run) = self
            .store
            .claim_run(
                run_id,
                &self.worker_id,
                &stamp(started.1 + lease),
                &stamp(started.1),
            )
            .await?
        else {
            return Ok(None);
        };
        let fence = Fence::open_until(started, lease - Fence::lease_margin(lease));
        let claim = Claim {
            owner: self.worker_id.clone(),
            attempt: run.attempt,
        };
        info!(run_id, flow_id = %run.flow_id, worker = %self.worker_id, "Run claimed.");
        let prepared = self.prepare(&run.flow_id, run_id).await;
        let (flow, source, target, records) = match prepared {
            Ok(p) => p,
            Err(e) => {
                warn!(run_id, error = %e, "Run could not start.");
                // Nothing was sent; if the lease is gone already, the next owner tries again.
                self.store
                    .finish_claimed_run(run_id, &claim, RunStatus::Error, &run.counts, Some(&e))
                    .await?;
                return Ok(None);
            }
        };

        let flow = Arc::new(flow);
        let flow_def = flow.flow.clone();
        let (stop_tx, stop) = watch::channel(false);
        let keeper = tokio::spawn(keep_lease(LeaseKeeper {
            store: self.store.clone(),
            run_id,
            owner: self.worker_id.clone(),
            lease,
            fence: fence.clone(),
            shutdown: self.shutdown.clone(),
            stop: stop_tx,
        }));
        let result = execute(RunParams {
            run_id: Some(run_id),
            records,
            store: self.store.clone(),
            flow_version: run.flow_version.clone(),
            flow: flow.clone(),
            source,
            target,
            target_key: TargetKey::of(&flow_def, &|text| self.connect.resolve(text)),
            trigger: run.trigger.clone(),
            progress: Arc::new(Progress::default()),
            stop,
            fence,
            claim: Some(claim),
        })
        .await;
        keeper.abort();
        let shutting_down = *self.shutdown.borrow();
        match result {
            // Not this process's run any more (or maybe not): the next owner resumes it.
            Err(RunError::Fenced(_)) => Ok(None),
            // Stopped early by shutdown, or failed on the way out (a store error while closing
            // the run): give it back, so another worker, or this one after a restart, goes on
            // at once instead of a lease later; the ledger skips what was sent already. A run
            // that got to its end is left finished.
            Ok(summary) if shutting_down && summary.status == RunStatus::Error => {
                self.give_back(run_id).await;
                Ok(Some(summary))
            }
            Err(e) if shutting_down => {
                warn!(run_id, error = %e, "Run failed while stopping for shutdown.");
                self.give_back(run_id).await;
                Err(RuntimeError::InvalidFlow(e.to_string()))
            }
            Ok(summary) => {
                self.alert(&flow_def, &summary);
                Ok(Some(summary))
            }
            Err(e) => Err(RuntimeError::InvalidFlow(e.to_string())),
        }
    }

    /// Gives a run stopped by shutdown back to the queue. Tried a few times: a store error here
    /// would leave the run `running` under this process's lease until it expires.
    async fn give_back(&self, run_id: RunId) {
        const ATTEMPTS: u32 = 5;
        for attempt in 1..=ATTEMPTS {
            match self.store.release_run(run_id, &self.worker_id).await {
                Ok(true) => {
                    info!(run_id, "Run given back to the queue at shutdown.");
                    // A lost push is found by the reaper (a stale queued run).
                    if let Err(e) = self.queue.push(run_id).await {
                        warn!(run_id, error = %e, "Run given back but its job was not pushed; the reaper will push it.");
                    }
                    return;
                }
                Ok(false) => {
                    info!(
                        run_id,
                        "Run not given back at shutdown: another worker holds it."
                    );
                    return;
                }
                Err(e) if attempt < ATTEMPTS => {
                    warn!(run_id, attempt, error = %e, "Giving the run back failed; trying again.");
                    tokio::time::sleep(Duration::from_millis(250) * attempt).await;
                }
                Err(e) => warn!(
                    run_id,
                    error = %e,
                    "Run could not be given back; its lease expires and another worker resumes it."
                ),
            }
        }
    }

    /// Sends the run's alerts in the background: a slow mail server never holds a worker.
    /// The settings are the flow's, else its tenant's stored default, else the installation's.
    fn alert(&self, flow: &Flow, summary: &RunSummary) {
        let Some(alerter) = self.settings.alerter.clone() else {
            return;
        };
        let store = self.store.clone();
        let installation = self.settings.default_alerts.clone();
        let flow = flow.clone();
        let summary = summary.clone();
        tokio::spawn(async move {
            let settings = match effective_alerts(&*store, &flow, installation.as_ref()).await {
                Ok(Some(effective)) => effective.settings,
                Ok(None) => return,
                Err(e) => {
                    warn!(flow_id = %flow.id, error = %e, "Alert settings could not be read; no alert sent.");
                    return;
                }
            };
            let flow_ref = FlowRef::new(&flow.id, &flow.name);
            let errors = first_errors(&*store, summary.run_id, 5)
                .await
                .unwrap_or_default();
            alerter
                .notify_run_finished(&*store, &flow_ref, &settings, &summary, &errors)
                .await;
        });
    }

    async fn prepare(
        &self,
        flow_id: &str,
        run_id: RunId,
    ) -> Result<
        (
            CompiledFlow,
            Arc<dyn ConnectorInstance>,
            Arc<dyn ConnectorInstance>,
            Option<Vec<serde_json::Value>>,
        ),
        String,
    > {
        let record = self
            .store
            .get_flow(flow_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("flow `{flow_id}` was deleted"))?;
        let flow = parse_flow(&record.definition, flow_id).map_err(|e| e.to_string())?;
        let compiled = CompiledFlow::compile(&flow)
            .map_err(|issues| format!("flow `{flow_id}` does not compile: {}", issues[0]))?;
        let base_dir = PathBuf::from(&record.base_dir);
        let source = self
            .connect
            .connect(&flow, &flow.source.connection, &base_dir)
            .await
            .map_err(|e| format!("source connection: {e:#}"))?;
        let target = self
            .connect
            .connect(&flow, &flow.target.connection, &base_dir)
            .await
            .map_err(|e| format!("target connection: {e:#}"))?;
        let inputs = self
            .store
            .run_inputs(run_id)
            .await
            .map_err(|e| e.to_string())?;
        let records = if inputs.is_empty() {
            None
        } else {
            Some(
                inputs
                    .iter()
                    .map(|text| serde_json::from_str(text))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("stored input of run {run_id} is not JSON: {e}"))?,
            )
        };
        Ok((compiled, source, target, records))
    }

    /// Whether the flow is triggered by webhooks, and its webhook settings.
    pub fn webhook_trigger(flow: &FlowRecord) -> Option<Trigger> {
        let parsed = parse_flow(&flow.definition, &flow.id).ok()?;
        matches!(parsed.trigger, Trigger::Webhook { .. }).then_some(parsed.trigger)
    }
}

/// What the task renewing a run's lease needs.
struct LeaseKeeper {
    store: Arc<dyn RuntimeStore>,
    run_id: RunId,
    owner: String,
    lease: Duration,
    /// Extended by each renewal that succeeds, revoked when the lease is lost.
    fence: Fence,
    shutdown: watch::Receiver<bool>,
    /// Stops the run's reading.
    stop: watch::Sender<bool>,
}

/// Renews the run's lease every quarter of its length until the run's execution ends (the
/// caller aborts this task then).
///
/// - Shutdown stops the run's *reading* only; renewals go on while the records already read are
///   sent, so a slow drain is never taken for a dead worker.
/// - The lease lost (another worker took the run after this one stalled) revokes the fence:
///   sending stops too, and the run's execution ends without touching the run.
/// - The fence's deadline passing without a renewal (renewals late, the store unreachable)
///   closes it the same way; renewals stop, so the lease expires and the reaper re-queues the
///   run.
async fn keep_lease(keeper: LeaseKeeper) {
    let LeaseKeeper {
        store,
        run_id,
        owner,
        lease,
        fence,
        mut shutdown,
        stop,
    } = keeper;
    let valid_for = lease - Fence::lease_margin(lease);
    let mut every = tokio::time::interval(lease / 4);
    every.tick().await;
    // Until shutdown stops the run's reading (or the runtime is gone and no shutdown can come).
    let mut watching_shutdown = true;
    loop {
        if watching_shutdown && *shutdown.borrow() {
            info!(
                run_id,
                "Shutting down: the run stops reading, sends what it read and is given back."
            );
            let _ = stop.send(true);
            watching_shutdown = false;
        }
        let closes_at = fence.closes_at().unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            _ = every.tick() => {}
            changed = shutdown.changed(), if watching_shutdown => {
                watching_shutdown = changed.is_ok();
                continue;
            }
            _ = tokio::time::sleep_until(closes_at) => {}
        }
        if let Err(fenced) = fence.check() {
            lease_ended(run_id, fenced, &stop);
            return;
        }
        let started = fence::now();
        match store
            .renew_lease(run_id, &owner, &stamp(started.1 + lease))
            .await
        {
            Ok(true) => fence.extend(started, valid_for),
            Ok(false) => {
                fence.revoke();
                lease_ended(run_id, Fenced::LeaseLost, &stop);
                return;
            }
            Err(e) => warn!(run_id, error = %e, "Lease renewal failed; retrying."),
        }
    }
}

/// The run's fence closed: logs why and stops the run's reading (its sends stop by the fence).
fn lease_ended(run_id: RunId, fenced: Fenced, stop: &watch::Sender<bool>) {
    match fenced {
        Fenced::LeaseLost => warn!(
            run_id,
            "Lease lost: another worker took the run; this worker stops reading and sending."
        ),
        Fenced::RenewalsLate => warn!(
            run_id,
            "Lease renewals late: this worker stops reading and sending before the lease can expire; the run is resumed once it has."
        ),
    }
    let _ = stop.send(true);
}

fn unique_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ferry".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &format!("{:032x}", rand::random::<u128>())[..8]
    )
}

fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
