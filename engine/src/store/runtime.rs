//! What the service keeps beside runs and the ledger: the flows it runs, their schedules, run
//! leases, records handed to a run, webhook delivery ids, the error queue and payload retention.
//!
//! [`RuntimeStore`] extends [`Store`]: the executor needs only `Store`; `ferry serve`,
//! `ferry worker` and the CLI commands that trigger, replay or schedule need the rest.

use async_trait::async_trait;

use super::{Result, RunId, RunRow, Store};

/// A flow the service runs, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Flow id (unique in the installation).
    pub id: String,
    /// Human name.
    pub name: String,
    /// The flow file's JSON text.
    pub definition: String,
    /// Hash of the definition.
    pub version: String,
    /// Directory relative paths of the flow resolve against (where the file was imported from).
    pub base_dir: String,
    /// Whether schedules and webhooks start runs.
    pub enabled: bool,
    /// Secret part of the flow's webhook URL (`/hooks/{flow_id}/{token}`).
    pub webhook_token: String,
    /// Tenant the flow belongs to (`default` for the installation's own flows).
    pub tenant: String,
}

/// A flow's schedule and when it fires next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    /// Flow id.
    pub flow_id: String,
    /// The schedule as JSON (the flow's trigger).
    pub spec: String,
    /// Next fire time, RFC 3339 UTC.
    pub next_run_at: String,
    /// Last time it fired.
    pub last_run_at: Option<String>,
    /// Run it started last.
    pub last_run_id: Option<RunId>,
}

/// A record waiting in the error queue: the latest failure of a business key that has not
/// succeeded since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// Flow id.
    pub flow_id: String,
    /// Business key.
    pub business_key: String,
    /// Run of the latest failure.
    pub run_id: RunId,
    /// Position in that run.
    pub seq: i64,
    /// Step that failed it, if a step did.
    pub step_id: Option<String>,
    /// Why.
    pub error: Option<String>,
    /// When, RFC 3339 UTC.
    pub failed_at: String,
    /// When a retry run picks it up again, if it was parked after a retryable failure.
    pub retry_at: Option<String>,
    /// How many times in a row it was parked.
    pub parked_count: i64,
}

/// A send whose answer was not committed: the process stopped between sending and logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendIntent {
    /// Business key.
    pub business_key: String,
    /// Hash of the payload that was being sent.
    pub payload_hash: String,
    /// Run that sent it.
    pub run_id: RunId,
    /// Which claim of the run sent it (0 for a run in the foreground).
    pub attempt: i64,
    /// The record's number in its run (-1 for an intent written before numbers were kept).
    pub seq: i64,
}

/// What payload pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Activity rows whose input, output and response body were cleared.
    pub records: u64,
    /// Records handed to runs (webhook bodies, replays) deleted.
    pub inputs: u64,
}

/// The service's state. Every method is one statement or one transaction.
#[async_trait]
pub trait RuntimeStore: Store {
    /// Creates or replaces a flow; keeps its webhook token when it exists.
    async fn upsert_flow(&self, flow: &FlowRecord) -> Result<FlowRecord>;
    /// One flow.
    async fn get_flow(&self, id: &str) -> Result<Option<FlowRecord>>;
    /// Every flow, by id.
    async fn list_flows(&self) -> Result<Vec<FlowRecord>>;

    /// Sets a flow's schedule. The next fire time is kept when the spec did not change.
    async fn set_schedule(&self, flow_id: &str, spec: &str, next_run_at: &str) -> Result<()>;
    /// Removes a flow's schedule.
    async fn delete_schedule(&self, flow_id: &str) -> Result<()>;
    /// Every schedule, by flow id.
    async fn list_schedules(&self) -> Result<Vec<ScheduleRow>>;
    /// Schedules due at `now`.
    async fn due_schedules(&self, now: &str) -> Result<Vec<ScheduleRow>>;
    /// Moves a due schedule from `expected_next` to `next_run_at`, only if no one else did:
    /// `true` means this caller owns the firing. Two nodes never start the same firing twice.
    async fn claim_schedule(
        &self,
        flow_id: &str,
        expected_next: &str,
        next_run_at: &str,
        now: &str,
    ) -> Result<bool>;
    /// Records the run a schedule firing started.
    async fn set_schedule_run(&self, flow_id: &str, run_id: RunId) -> Result<()>;

    /// Creates a run in status `queued`, with the records it is given (JSON texts, in order)
    /// when it does not read its source (webhook, replay). One transaction.
    async fn create_queued_run(&self, new: &super::NewRun, inputs: &[String]) -> Result<RunId>;
    /// Takes a queued run, or a running one whose lease expired, for `owner` until
    /// `lease_until`. `None` when another worker holds it or it is finished.
    async fn claim_run(
        &self,
        run_id: RunId,
        owner: &str,
        lease_until: &str,
        now: &str,
    ) -> Result<Option<RunRow>>;
    /// Extends the lease; `false` when `owner` lost it.
    async fn renew_lease(&self, run_id: RunId, owner: &str, lease_until: &str) -> Result<bool>;
    /// Gives a run back to the queue (graceful shutdown): status `queued`, no lease, not
    /// finished. Only while `owner` holds it; `false` otherwise.
    async fn release_run(&self, run_id: RunId, owner: &str) -> Result<bool>;
    /// Puts running runs whose lease expired before `now` back to `queued` and returns them.
    async fn requeue_expired(&self, now: &str) -> Result<Vec<RunId>>;
    /// Queued runs not touched since `before` (their job may have been lost); touches them.
    async fn stale_queued(&self, before: &str, now: &str) -> Result<Vec<RunId>>;

    /// Remembers a webhook delivery id; `false` when it was seen before (a duplicate).
    async fn record_webhook_delivery(&self, flow_id: &str, delivery_id: &str) -> Result<bool>;

    /// The error queue of a flow, oldest failure first.
    async fn failed_records(&self, flow_id: &str, limit: i64) -> Result<Vec<FailedRecord>>;
    /// Parked records whose retry time has come, as (flow id, business key); each is handed
    /// out once (its retry time is cleared).
    async fn take_due_retries(&self, now: &str) -> Result<Vec<(String, String)>>;
    /// Input texts of failed records to replay: all of the flow, or only `keys`.
    async fn failed_inputs(
        &self,
        flow_id: &str,
        keys: Option<&[String]>,
    ) -> Result<Vec<(String, String)>>;

    /// Clears payloads (input, output, response body) of activity rows created before
    /// `before`, and deletes the inputs of runs created before it, for the runs of `tenants`;
    /// run rows and counts stay.
    async fn prune_payloads(&self, before: &str, tenants: &PruneScope) -> Result<Pruned>;
    /// Tenants whose retention differs from the installation's default, with their days.
    async fn tenant_retentions(&self) -> Result<Vec<(String, u32)>>;
    /// Sets a tenant's retention (`None`: the installation's default); false for an unknown
    /// tenant.
    async fn set_tenant_retention(&self, tenant: &str, days: Option<u32>) -> Result<bool>;
}

/// Whose runs a prune touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneScope {
    /// The runs of one tenant.
    Tenant(String),
    /// The runs of every tenant without a retention of its own.
    DefaultRetention,
}

/// Everything a service process needs of the store: runs and the ledger, the runtime's state
/// the alert delivery log, the API's accounts and flow versions. Implemented by every store that has the parts.
pub trait ServiceStore:
    RuntimeStore + super::AlertStore + super::AccountStore + super::FlowVersionStore
{
}

impl<T> ServiceStore for T where
    T: RuntimeStore + super::AlertStore + super::AccountStore + super::FlowVersionStore
{
}
