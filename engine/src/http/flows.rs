//! Flows: list, get, create and update from the flow JSON (the same text as `flows/` files),
//! delete, export, validate; and per flow: trigger a run, the error queue, replay.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::flow::{Flow, FlowIssue, parse_flow};
use crate::store::{FlowRecord, FlowVersion};

use super::AppState;
use super::access::{Action, Principal};
use super::audit;
use super::error::{ApiBody, ApiError, ApiPath, ApiQuery, ApiResult, optional_json};

fn flow_not_found(id: &str) -> ApiError {
    ApiError::not_found("flow_not_found", format!("no flow `{id}`"))
}

fn summary_json(f: &FlowRecord) -> Value {
    json!({"id": f.id, "name": f.name, "tenant": f.tenant, "version": f.version, "enabled": f.enabled})
}

/// What a save answers: the summary plus the number of the version it published, so the
/// editor need not look it up by hash (`version` stays the definition's hash, as in every
/// flow summary; `version_no` is the same field the template enable answer has).
fn saved_json(f: &FlowRecord, saved: &FlowVersion) -> Value {
    let mut answer = summary_json(f);
    answer["version_no"] = json!(saved.version_no);
    answer
}

/// The flow `id` when the caller may do `action` with it: 404 when missing or another
/// tenant's, 403 when the role may not.
pub(super) async fn flow_for(
    state: &AppState,
    me: &Principal,
    id: &str,
    action: Action,
) -> ApiResult<FlowRecord> {
    let flow = state.rt.store.get_flow(id).await?;
    me.check(action, flow.as_ref().map(|f| f.tenant.as_str()), || {
        flow_not_found(id)
    })?;
    Ok(flow.expect("checked above"))
}

/// `GET /api/v1/flows` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FlowsQuery {
    tenant: Option<String>,
}

/// Flows of the caller's tenants.
pub(super) async fn list(
    State(state): State<AppState>,
    me: Principal,
    ApiQuery(q): ApiQuery<FlowsQuery>,
) -> ApiResult<Json<Value>> {
    me.require(Action::ListFlows)?;
    let flows = state.rt.store.list_flows().await?;
    let visible = flows
        .iter()
        .filter(|f| me.sees(&f.tenant))
        .filter(|f| q.tenant.as_ref().is_none_or(|t| *t == f.tenant))
        .map(summary_json)
        .collect::<Vec<_>>();
    Ok(Json(json!({ "flows": visible })))
}

/// One flow with its definition.
pub(super) async fn get(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let flow = flow_for(&state, &me, &id, Action::ReadFlowDefinition).await?;
    let mut answer = summary_json(&flow);
    answer["definition"] = serde_json::from_str(&flow.definition).unwrap_or(Value::Null);
    Ok(Json(answer))
}

/// The flow's JSON exactly as imported: a file for `flows/`.
pub(super) async fn export(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let flow = flow_for(&state, &me, &id, Action::ReadFlowDefinition).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.json\"", flow.id),
            ),
        ],
        flow.definition,
    )
        .into_response())
}

fn issues_json(issues: &[FlowIssue]) -> Value {
    json!(
        issues
            .iter()
            .map(|i| json!({
                "path": i.path.to_string(), "step_id": i.step_id, "message": i.message,
                "line": i.position.map(|p| p.0), "column": i.position.map(|p| p.1),
            }))
            .collect::<Vec<_>>()
    )
}

/// Why a flow body was refused: every issue, for `details` or the validate answer.
struct FlowProblem {
    code: &'static str,
    message: String,
    issues: Value,
}

impl From<FlowProblem> for ApiError {
    fn from(p: FlowProblem) -> Self {
        let status = if p.code == "invalid_flow" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, p.code, p.message).with_details(json!({ "issues": p.issues }))
    }
}

/// Parses and validates a flow body (connector kinds and operations against the registry).
fn parse_checked(state: &AppState, body: &[u8]) -> Result<(Flow, String), FlowProblem> {
    let text = std::str::from_utf8(body)
        .map_err(|_| FlowProblem {
            code: "malformed_flow",
            message: "the body is not UTF-8 text".into(),
            issues: json!([{"path": "", "message": "the body is not UTF-8 text"}]),
        })?
        .to_string();
    let flow = parse_flow(&text, "body").map_err(|e| FlowProblem {
        code: "malformed_flow",
        message: e.to_string(),
        issues: json!([{"path": "", "message": e.to_string()}]),
    })?;
    let issues = crate::flow::validate(&flow, state.registry.as_deref(), Some(&text));
    if !issues.is_empty() {
        return Err(FlowProblem {
            code: "invalid_flow",
            message: format!(
                "the flow has {} problem(s); first: {}",
                issues.len(),
                issues[0]
            ),
            issues: issues_json(&issues),
        });
    }
    Ok((flow, text))
}

fn tenant_of(flow: &Flow) -> String {
    flow.tenant.clone().unwrap_or_else(|| "default".to_string())
}

/// Creates a flow from its JSON; its `tenant` (default `default`) must be the caller's.
pub(super) async fn create(
    State(state): State<AppState>,
    me: Principal,
    ApiBody(body): ApiBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (flow, text) = parse_checked(&state, &body).map_err(ApiError::from)?;
    let tenant = tenant_of(&flow);
    let exists = state.rt.store.get_tenant(&tenant).await?.is_some();
    me.check(
        Action::WriteFlows,
        exists.then_some(tenant.as_str()),
        || ApiError::not_found("tenant_not_found", format!("no tenant `{tenant}`")),
    )?;
    // Flow ids are unique in the installation (webhook URLs name flows by id alone).
    if state.rt.store.get_flow(&flow.id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "flow_id_taken",
            format!(
                "the flow id `{}` is taken: choose another, or PUT to update your flow",
                flow.id
            ),
        ));
    }
    let (record, saved) = super::versions::save(&state, &me, &flow, &text).await?;
    audit::record(
        &state,
        &me,
        Some(&record.tenant),
        "flow.create",
        "flow",
        &record.id,
        Some(record.version.clone()),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(saved_json(&record, &saved))))
}

/// Replaces a flow's definition; the id and tenant stay.
pub(super) async fn update(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> ApiResult<Json<Value>> {
    let existing = flow_for(&state, &me, &id, Action::WriteFlows).await?;
    let (flow, text) = parse_checked(&state, &body).map_err(ApiError::from)?;
    if flow.id != id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id_mismatch",
            format!("the body's `id` is `{}` but the URL names `{id}`", flow.id),
        )
        .with_details(json!({"field": "id"})));
    }
    if tenant_of(&flow) != existing.tenant {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "tenant_change",
            "a flow cannot move to another tenant: keep its `tenant`",
        )
        .with_details(json!({"field": "tenant"})));
    }
    let (record, saved) = super::versions::save(&state, &me, &flow, &text).await?;
    audit::record(
        &state,
        &me,
        Some(&record.tenant),
        "flow.update",
        "flow",
        &record.id,
        Some(record.version.clone()),
    )
    .await?;
    Ok(Json(saved_json(&record, &saved)))
}

/// Deletes a flow and its schedule; its runs stay in the activity log.
pub(super) async fn delete(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let flow = flow_for(&state, &me, &id, Action::WriteFlows).await?;
    state.rt.store.delete_flow(&id).await?;
    audit::record(
        &state,
        &me,
        Some(&flow.tenant),
        "flow.delete",
        "flow",
        &id,
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Validates a flow without storing it: `{valid, issues}`.
pub(super) async fn validate(
    State(state): State<AppState>,
    me: Principal,
    ApiBody(body): ApiBody,
) -> ApiResult<Json<Value>> {
    me.require(Action::WriteFlows)?;
    Ok(Json(match parse_checked(&state, &body) {
        Ok(_) => json!({"valid": true, "issues": []}),
        Err(problem) => json!({"valid": false, "issues": problem.issues}),
    }))
}

/// Starts a run of the flow (it reads its source).
pub(super) async fn trigger(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let flow = flow_for(&state, &me, &id, Action::TriggerRun).await?;
    let run_id = state.rt.trigger(&id, "manual", &[]).await?;
    audit::record(
        &state,
        &me,
        Some(&flow.tenant),
        "run.trigger",
        "flow",
        &id,
        Some(format!("run {run_id}")),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run_id": run_id }))))
}

/// The flow's error queue.
pub(super) async fn failed(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    flow_for(&state, &me, &id, Action::ReadRuns).await?;
    let failed = state.rt.store.failed_records(&id, 500).await?;
    Ok(Json(json!({"failed": failed.iter().map(|f| json!({
        "business_key": f.business_key, "run_id": f.run_id, "seq": f.seq,
        "step_id": f.step_id, "error": f.error, "failed_at": f.failed_at,
        "retry_at": f.retry_at, "parked_count": f.parked_count,
    })).collect::<Vec<_>>()})))
}

/// `POST …/replay` body.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayBody {
    /// Business keys to replay; absent means every failed record of the flow.
    keys: Option<Vec<String>>,
}

/// Replays failed records of the flow on its current version.
pub(super) async fn replay(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let flow = flow_for(&state, &me, &id, Action::ReplayFailed).await?;
    let keys = optional_json::<ReplayBody>(&body)?.and_then(|b| b.keys);
    let replayed = state.rt.replay(&id, keys.as_deref()).await?;
    let detail = match &replayed {
        Some((run_id, records)) => format!("run {run_id}, {records} record(s)"),
        None => "nothing to replay".to_string(),
    };
    audit::record(
        &state,
        &me,
        Some(&flow.tenant),
        "record.replay",
        "flow",
        &id,
        Some(detail),
    )
    .await?;
    match replayed {
        Some((run_id, records)) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"run_id": run_id, "records": records})),
        )),
        None => Ok((StatusCode::OK, Json(json!({"run_id": null, "records": 0})))),
    }
}
