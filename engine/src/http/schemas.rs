//! The shapes of the API's JSON answers, for the OpenAPI document (`openapi.rs`). Handlers build
//! their answers with `json!`; these types describe them field by field (the doc comments
//! become the descriptions), and `engine/tests/api.rs` checks real answers against them so the
//! two cannot drift apart. Request bodies are described by the types the handlers parse.

#![allow(dead_code)] // Only their schemas are used.

use schemars::JsonSchema;
use serde_json::Value;

/// A user.
#[derive(JsonSchema)]
pub(super) struct User {
    /// Id.
    id: i64,
    /// Login email (lower case).
    email: String,
    /// `admin`, `integrator`, `merchant` or `support`.
    role: String,
    /// Tenants the user works for (none for an admin, who sees all).
    tenants: Vec<String>,
    /// A disabled user cannot log in and its tokens stop.
    disabled: bool,
    /// RFC 3339 UTC.
    created_at: String,
}

/// The caller, or a created/disabled user.
#[derive(JsonSchema)]
pub(super) struct UserAnswer {
    /// The user.
    user: User,
}

/// The answer of login and `GET /api/v1/me`.
#[derive(JsonSchema)]
pub(super) struct SessionAnswer {
    /// The caller.
    user: User,
    /// The session's CSRF token: send it as `X-CSRF-Token` on every cookie request that
    /// changes something. `null` for a bearer token.
    csrf_token: Option<String>,
}

/// Users.
#[derive(JsonSchema)]
pub(super) struct UserList {
    /// Users.
    users: Vec<User>,
}

/// A tenant.
#[derive(JsonSchema)]
pub(super) struct Tenant {
    /// Id (in URLs and flows).
    id: String,
    /// Display name.
    name: String,
    /// RFC 3339 UTC.
    created_at: String,
}

/// Tenants the caller works for.
#[derive(JsonSchema)]
pub(super) struct TenantList {
    /// Tenants.
    tenants: Vec<Tenant>,
}

/// An API token (never the token itself, except in the answer that created it).
#[derive(JsonSchema)]
pub(super) struct Token {
    /// Id (to revoke it).
    id: i64,
    /// What it is for.
    name: String,
    /// Its first characters, to recognise it.
    prefix: String,
    /// RFC 3339 UTC.
    created_at: String,
    /// Last use, RFC 3339 UTC.
    last_used_at: Option<String>,
    /// When it was revoked.
    revoked_at: Option<String>,
}

/// A created token: shown once.
#[derive(JsonSchema)]
pub(super) struct CreatedToken {
    #[serde(flatten)]
    record: Token,
    /// The token: `Authorization: Bearer <token>`. Only a hash is stored.
    token: String,
}

/// The caller's tokens.
#[derive(JsonSchema)]
pub(super) struct TokenList {
    /// Tokens.
    tokens: Vec<Token>,
}

/// A flow, without its definition.
#[derive(JsonSchema)]
pub(super) struct FlowSummary {
    /// Id, unique in the installation.
    id: String,
    /// Display name.
    name: String,
    /// Tenant it belongs to.
    tenant: String,
    /// Hash of the stored definition.
    version: String,
    /// Whether its trigger runs it.
    enabled: bool,
}

/// A flow just saved (created or updated): its summary and the version the save published.
#[derive(JsonSchema)]
pub(super) struct SavedFlow {
    #[serde(flatten)]
    summary: FlowSummary,
    /// The number of the version this save published (1 for a new flow).
    version_no: i64,
}

/// Flows of the caller's tenants.
#[derive(JsonSchema)]
pub(super) struct FlowList {
    /// Flows.
    flows: Vec<FlowSummary>,
}

/// A flow with its definition.
#[derive(JsonSchema)]
pub(super) struct FlowWithDefinition {
    #[serde(flatten)]
    summary: FlowSummary,
    /// The flow file.
    definition: crate::flow::Flow,
}

/// One problem of a flow file.
#[derive(JsonSchema)]
pub(super) struct FlowIssue {
    /// Where, as a path into the file (`steps[2].fields[0].value`).
    path: String,
    /// Step the problem is in.
    step_id: Option<String>,
    /// What to fix.
    message: String,
    /// Line in the body, when known.
    line: Option<u64>,
    /// Column in the body, when known.
    column: Option<u64>,
}

/// The answer of `POST /api/v1/flows/validate`.
#[derive(JsonSchema)]
pub(super) struct Validation {
    /// Whether the flow would be accepted.
    valid: bool,
    /// Every problem (empty when valid).
    issues: Vec<FlowIssue>,
}

/// A started run.
#[derive(JsonSchema)]
pub(super) struct StartedRun {
    /// The run (see `GET /api/v1/runs/{run_id}`).
    run_id: i64,
}

/// A replay.
#[derive(JsonSchema)]
pub(super) struct Replay {
    /// The run replaying the records; `null` when nothing was failed.
    run_id: Option<i64>,
    /// How many records it replays.
    records: i64,
}

/// A webhook delivery that was taken.
#[derive(JsonSchema)]
pub(super) struct WebhookAnswer {
    /// The run it started (absent for a duplicate delivery).
    run_id: Option<i64>,
    /// How many records the body held.
    records: Option<i64>,
    /// The sender's delivery id, when it sent one.
    delivery_id: Option<String>,
    /// `true` when this delivery id was already taken (nothing runs again).
    duplicate: Option<bool>,
}

/// Counts of a run's records by outcome.
#[derive(JsonSchema)]
pub(super) struct RunCounts {
    read: i64,
    created: i64,
    updated: i64,
    skipped: i64,
    filtered: i64,
    failed: i64,
}

/// A run.
#[derive(JsonSchema)]
pub(super) struct Run {
    /// Id.
    id: i64,
    /// Flow it ran.
    flow_id: String,
    /// Version (hash) of the flow it ran.
    flow_version: String,
    /// What started it: `manual`, `schedule`, `webhook`, `replay`.
    trigger: String,
    /// `queued`, `running`, `succeeded`, `failed` or `error`.
    status: String,
    /// RFC 3339 UTC.
    started_at: String,
    /// RFC 3339 UTC; `null` while it runs.
    finished_at: Option<String>,
    /// Records by outcome.
    counts: RunCounts,
    /// Why the run as a whole failed.
    error: Option<String>,
}

/// Runs, newest first.
#[derive(JsonSchema)]
pub(super) struct RunList {
    /// Runs.
    runs: Vec<Run>,
}

/// One record of a run's activity log.
#[derive(JsonSchema)]
pub(super) struct RecordEntry {
    run_id: i64,
    /// Position in the run's source order, from 0.
    seq: i64,
    flow_id: String,
    /// The business key (order number) of the record.
    business_key: Option<String>,
    /// `created`, `updated`, `skipped_unchanged`, `filtered` or `failed`.
    outcome: String,
    /// Step it failed or was filtered in.
    step_id: Option<String>,
    /// Id of the object in the target.
    target_id: Option<String>,
    /// HTTP status the target answered.
    response_status: Option<i64>,
    /// Why it failed.
    error: Option<String>,
    /// Tries of the write.
    attempts: i64,
}

/// A run's activity log.
#[derive(JsonSchema)]
pub(super) struct RecordList {
    /// Records in source order.
    records: Vec<RecordEntry>,
}

/// One record with its payloads.
#[derive(JsonSchema)]
pub(super) struct RecordDetail {
    #[serde(flatten)]
    entry: RecordEntry,
    /// The record as read from the source (any JSON).
    input: Option<Value>,
    /// The record as sent to the target (any JSON).
    output: Option<Value>,
    /// The target's answer body.
    response_body: Option<String>,
}

/// A record in the error queue.
#[derive(JsonSchema)]
pub(super) struct FailedRecord {
    business_key: String,
    /// Run it last failed in.
    run_id: i64,
    seq: i64,
    step_id: Option<String>,
    /// Why.
    error: String,
    /// RFC 3339 UTC.
    failed_at: String,
    /// When it is retried on its own; `null` when it waits for a replay.
    retry_at: Option<String>,
    /// How often it was parked.
    parked_count: i64,
}

/// The flow's error queue.
#[derive(JsonSchema)]
pub(super) struct FailedList {
    /// Failed records.
    failed: Vec<FailedRecord>,
}

/// A published version of a flow.
#[derive(JsonSchema)]
pub(super) struct Version {
    flow_id: String,
    /// Number, from 1.
    version: i64,
    /// Hash of the definition.
    hash: String,
    /// Email of who published it.
    published_by: String,
    /// RFC 3339 UTC.
    created_at: String,
}

/// A version with its definition.
#[derive(JsonSchema)]
pub(super) struct VersionWithDefinition {
    #[serde(flatten)]
    version: Version,
    /// The flow file of that version.
    definition: crate::flow::Flow,
}

/// Published versions, oldest first.
#[derive(JsonSchema)]
pub(super) struct VersionList {
    /// Versions.
    versions: Vec<Version>,
}

/// One changed value between two versions.
#[derive(JsonSchema)]
pub(super) struct Change {
    /// JSON pointer of the value (steps are keyed by id).
    path: String,
    /// The old value (absent: added; any JSON).
    from: Option<Value>,
    /// The new value (absent: removed; any JSON).
    to: Option<Value>,
}

/// What changed between two versions.
#[derive(JsonSchema)]
pub(super) struct Diff {
    flow_id: String,
    from: i64,
    to: i64,
    /// Changed values.
    changes: Vec<Change>,
}

/// A stored connection; credentials show as `"<set>"`.
#[derive(JsonSchema)]
pub(super) struct Connection {
    /// Name, unique in the tenant.
    name: String,
    tenant: String,
    /// Connector kind.
    connector: String,
    /// The connector's config with credentials replaced by `"<set>"` (its schema is the
    /// connector's `config_schema` in `GET /api/v1/connectors`).
    config: serde_json::Map<String, Value>,
    /// Names of the credential fields that are set.
    credentials: Vec<String>,
    created_at: String,
    updated_at: String,
}

/// The tenant's stored connections.
#[derive(JsonSchema)]
pub(super) struct ConnectionList {
    /// Connections.
    connections: Vec<Connection>,
}

/// The answer of "test connection".
#[derive(JsonSchema)]
pub(super) struct ConnectionTest {
    /// Whether the health check passed.
    ok: bool,
    /// Why not (credentials redacted).
    message: Option<String>,
}

/// One operation of a connector.
#[derive(JsonSchema)]
pub(super) struct Operation {
    name: String,
    /// `get` (a source) or `send` (a target).
    side: String,
    summary: String,
    /// JSON Schema of the operation's `params`.
    params_schema: serde_json::Map<String, Value>,
    /// JSON Schema of a record, derived from the sample.
    record_schema: serde_json::Map<String, Value>,
    /// A sample record (any JSON).
    sample_record: Value,
}

/// A connector kind.
#[derive(JsonSchema)]
pub(super) struct Connector {
    /// `http`, `shopify`, …
    kind: String,
    summary: String,
    /// JSON Schema of a connection's `config`.
    config_schema: serde_json::Map<String, Value>,
    /// Config fields that are credentials (write-only).
    credentials: Vec<String>,
    operations: Vec<Operation>,
}

/// Connector kinds.
#[derive(JsonSchema)]
pub(super) struct ConnectorList {
    /// Connectors.
    connectors: Vec<Connector>,
}

/// A template's setting.
#[derive(JsonSchema)]
pub(super) struct TemplateSetting {
    /// `string`, `string_list`, `value_map`, …
    #[serde(rename = "type")]
    kind: String,
    /// Its default (any JSON).
    default: Option<Value>,
    description: Option<String>,
    /// Allowed values, when limited.
    allowed: Option<Vec<String>>,
}

/// A connection slot of a template.
#[derive(JsonSchema)]
pub(super) struct TemplateSlot {
    /// The connector kind a connection must have to fill it.
    connector: String,
    /// What it is for.
    description: String,
}

/// A stock template.
#[derive(JsonSchema)]
pub(super) struct Template {
    id: String,
    name: String,
    description: String,
    category: String,
    /// Connection slots by name: the connector kind each takes.
    slots: std::collections::BTreeMap<String, TemplateSlot>,
    /// Settings by name.
    settings: std::collections::BTreeMap<String, TemplateSetting>,
}

/// Stock templates.
#[derive(JsonSchema)]
pub(super) struct TemplateList {
    /// Templates.
    templates: Vec<Template>,
}

/// A template enabled for a tenant: the flow it stored.
#[derive(JsonSchema)]
pub(super) struct EnabledTemplate {
    /// The flow's id, `<tenant>-<template-id>`.
    id: String,
    name: String,
    tenant: String,
    /// Hash of the definition.
    version: String,
    /// The published version's number.
    version_no: i64,
    /// The template it came from.
    template: String,
    enabled: bool,
}

/// A tenant's default alert settings.
#[derive(JsonSchema)]
pub(super) struct TenantAlerts {
    tenant_id: String,
    /// `null` when the tenant has none.
    alerts: Option<crate::alert::AlertSettings>,
    /// When they were last set.
    updated_at: Option<String>,
}

/// One channel a test alert went to.
#[derive(JsonSchema)]
pub(super) struct TestDelivery {
    /// `email` or `webhook`.
    channel: String,
    recipient: String,
    /// `sent` or `failed`.
    status: String,
    error: Option<String>,
}

/// The answer of "send test alert".
#[derive(JsonSchema)]
pub(super) struct AlertTest {
    flow_id: String,
    /// Which level the channels came from: `flow`, `tenant` or `installation`.
    source: String,
    deliveries: Vec<TestDelivery>,
}

/// A logged alert delivery.
#[derive(JsonSchema)]
pub(super) struct AlertDelivery {
    id: i64,
    /// Tenant of the flow when the alert was sent.
    tenant_id: String,
    flow_id: String,
    run_id: Option<i64>,
    /// `email` or `webhook`.
    channel: String,
    recipient: String,
    /// `failure`, `success`, `heartbeat` or `test`.
    kind: String,
    /// `sent` or `failed`.
    status: String,
    error: Option<String>,
    /// RFC 3339 UTC.
    created_at: String,
}

/// Alert deliveries, newest first.
#[derive(JsonSchema)]
pub(super) struct AlertDeliveryList {
    deliveries: Vec<AlertDelivery>,
}

/// An audit entry: who changed or replayed what.
#[derive(JsonSchema)]
pub(super) struct AuditEntry {
    id: i64,
    user_email: String,
    tenant_id: Option<String>,
    /// `flow.update`, `record.replay`, …
    action: String,
    object_type: String,
    object_id: String,
    detail: Option<String>,
    created_at: String,
}

/// A page of the audit log, newest first.
#[derive(JsonSchema)]
pub(super) struct AuditList {
    entries: Vec<AuditEntry>,
    /// `before` for the next (older) page; `null` when there are no older entries.
    next_before: Option<i64>,
}

/// A schedule.
#[derive(JsonSchema)]
pub(super) struct Schedule {
    flow_id: String,
    task: String,
    /// First run, RFC 3339 UTC.
    start: Option<String>,
    /// The interval in words.
    interval: Option<String>,
    last_run_at: Option<String>,
    last_run_id: Option<i64>,
    last_status: Option<String>,
    next_run_at: Option<String>,
    /// Whether its last run is still going.
    running: bool,
}

/// Schedules of the caller's flows.
#[derive(JsonSchema)]
pub(super) struct ScheduleList {
    schedules: Vec<Schedule>,
}

/// One field error of a mapping preview.
#[derive(JsonSchema)]
pub(super) struct PreviewFieldError {
    /// Target field.
    field: String,
    message: String,
}

/// The mapped record, or why it was filtered or failed.
#[derive(JsonSchema)]
pub(super) struct PreviewAnswer {
    /// The record's business key.
    key: Option<String>,
    /// `mapped`, `filtered` or `failed`.
    outcome: String,
    /// The mapped record (`mapped`; any JSON).
    output: Option<Value>,
    /// Step that filtered or failed it.
    step: Option<String>,
    /// Why it was filtered.
    reason: Option<String>,
    /// Per-field errors (`failed`).
    errors: Option<Vec<PreviewFieldError>>,
    /// What was mapped before the failure (any JSON).
    partial_output: Option<Value>,
}

/// `{"status": "ok"}`.
#[derive(JsonSchema)]
pub(super) struct Health {
    status: String,
}
