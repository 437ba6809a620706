//! Runs and the activity log (filter by flow, status, date range, business key; one record's
//! input, output and target response), and schedules.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{Outcome, RecordEntry, RecordFilter, RunQuery, RunRow, RunStatus};

use super::AppState;
use super::access::{Action, Principal};
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use super::query::{enum_param, time_param};

fn run_json(r: &RunRow) -> Value {
    json!({
        "id": r.id,
        "flow_id": r.flow_id,
        "flow_version": r.flow_version,
        "trigger": r.trigger,
        "status": r.status.as_str(),
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "counts": {
            "read": r.counts.read, "created": r.counts.created, "updated": r.counts.updated,
            "skipped": r.counts.skipped, "filtered": r.counts.filtered, "failed": r.counts.failed,
        },
        "error": r.error,
    })
}

fn record_json(r: &RecordEntry, full: bool) -> Value {
    let parse = |text: &Option<String>| {
        text.as_deref()
            .map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| json!(t)))
    };
    let mut v = json!({
        "run_id": r.run_id, "seq": r.seq, "flow_id": r.flow_id, "business_key": r.source_key,
        "outcome": r.outcome.as_str(), "step_id": r.step_id, "target_id": r.target_id,
        "response_status": r.response_status, "error": r.error, "attempts": r.attempts,
    });
    if full {
        v["input"] = json!(parse(&r.input));
        v["output"] = json!(parse(&r.output));
        v["response_body"] = json!(r.response_body);
    }
    v
}

/// `GET /api/v1/runs` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunsQuery {
    flow_id: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// A business key (order number) one of the run's records had.
    key: Option<String>,
    tenant: Option<String>,
    limit: Option<i64>,
}

/// Runs of the caller's tenants, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    me: Principal,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> ApiResult<Json<Value>> {
    me.require(Action::ReadRuns)?;
    let status = enum_param::<RunStatus>("status", q.status.as_deref(), RunStatus::NAMES)?;
    let tenants = match (me.scope(), q.tenant) {
        (None, None) => None,
        (None, Some(t)) => Some(vec![t]),
        (Some(mine), None) => Some(mine.to_vec()),
        (Some(mine), Some(t)) => Some(mine.iter().filter(|m| **m == t).cloned().collect()),
    };
    let runs = state
        .rt
        .store
        .query_runs(&RunQuery {
            tenants,
            flow_id: q.flow_id,
            status,
            from: time_param("from", q.from.as_deref())?,
            to: time_param("to", q.to.as_deref())?,
            business_key: q.key,
            limit: q.limit.unwrap_or(50).clamp(1, 500),
        })
        .await?;
    Ok(Json(
        json!({"runs": runs.iter().map(run_json).collect::<Vec<_>>()}),
    ))
}

/// The run `id` when visible to the caller.
async fn run_for(state: &AppState, me: &Principal, id: i64) -> ApiResult<RunRow> {
    let tenant = state.rt.store.run_tenant(id).await?;
    me.check(Action::ReadRuns, tenant.as_deref(), || {
        ApiError::not_found("run_not_found", format!("no run {id}"))
    })?;
    state
        .rt
        .store
        .get_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("run_not_found", format!("no run {id}")))
}

/// One run.
pub(super) async fn get(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(run_json(&run_for(&state, &me, id).await?)))
}

/// `GET /api/v1/runs/{run_id}/records` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordsQuery {
    outcome: Option<String>,
    key: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A run's activity log, in source order (without payloads: see one record for those).
pub(super) async fn records(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RecordsQuery>,
) -> ApiResult<Json<Value>> {
    run_for(&state, &me, id).await?;
    let outcome = enum_param::<Outcome>("outcome", q.outcome.as_deref(), Outcome::NAMES)?;
    let filter = RecordFilter {
        outcome,
        source_key: q.key,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        offset: q.offset.unwrap_or(0).max(0),
        seq: None,
        payloads: false,
    };
    let rows = state.rt.store.run_records(id, &filter).await?;
    Ok(Json(
        json!({"records": rows.iter().map(|r| record_json(r, false)).collect::<Vec<_>>()}),
    ))
}

/// One record of a run: input, output and the target's response.
pub(super) async fn record(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((id, seq)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<Value>> {
    run_for(&state, &me, id).await?;
    let filter = RecordFilter {
        seq: Some(seq),
        limit: 1,
        ..RecordFilter::default()
    };
    match state.rt.store.run_records(id, &filter).await?.first() {
        Some(r) => Ok(Json(record_json(r, true))),
        None => Err(ApiError::not_found(
            "record_not_found",
            format!("run {id} has no record {seq}"),
        )),
    }
}

/// Schedules of the caller's tenants' flows.
pub(super) async fn schedules(
    State(state): State<AppState>,
    me: Principal,
) -> ApiResult<Json<Value>> {
    me.require(Action::ReadSchedules)?;
    let flows = state.rt.store.list_flows().await?;
    let visible: std::collections::HashSet<&str> = flows
        .iter()
        .filter(|f| me.sees(&f.tenant))
        .map(|f| f.id.as_str())
        .collect();
    let rows = super::schedule_rows(&state.rt)
        .await?
        .into_iter()
        .filter(|row| {
            row["flow_id"]
                .as_str()
                .is_some_and(|id| visible.contains(id))
        })
        .collect::<Vec<_>>();
    Ok(Json(json!({ "schedules": rows })))
}
