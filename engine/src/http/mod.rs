//! Ferry's HTTP server: inbound webhooks that start runs, and the first endpoints of the API
//! (trigger, runs, schedules, error queue, replay). Every error answers
//! `{"error": {"code": "...", "message": "..."}}`.

mod preview;
mod webhook;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::runtime::{Runtime, RuntimeError, Schedule};
use crate::store::{RunRow, StoreError};

/// Largest request body read at all; a flow's webhook may allow less (`max_body_kib`).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The router: `/hooks/{flow_id}/{token}`, `/api/v1/…`, `/health`.
pub fn router(rt: Arc<Runtime>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/hooks/{flow_id}/{token}", post(webhook::receive))
        .route("/api/v1/flows", get(list_flows))
        .route("/api/v1/flows/{flow_id}/runs", post(trigger_run))
        .route("/api/v1/flows/{flow_id}/failed", get(failed_records))
        .route("/api/v1/flows/{flow_id}/replay", post(replay))
        .route("/api/v1/runs", get(list_runs))
        .route("/api/v1/runs/{run_id}", get(get_run))
        .route("/api/v1/schedules", get(list_schedules))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(rt)
        .merge(preview_routes())
}

/// The mapping preview, with its own cache of compiled definitions (public for its benchmark).
pub fn preview_routes() -> Router {
    Router::new()
        .route("/api/v1/preview", post(preview::preview))
        .layer(DefaultBodyLimit::max(PREVIEW_MAX_BODY))
        .with_state(Arc::new(preview::PreviewCache::default()))
}

/// A flow and a sample record are small; a bigger preview body is a mistake.
const PREVIEW_MAX_BODY: usize = 2 * 1024 * 1024;

/// An API error: status, stable snake_case code, message saying what to fix.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::UnknownFlow(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "flow_not_found",
                format!("no flow `{id}`"),
            ),
            RuntimeError::InvalidFlow(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_flow", m)
            }
            other => {
                // The cause goes to the log, not to the caller.
                tracing::error!(error = %other, "API request failed.");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the server could not complete the request; see its log",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        RuntimeError::from(e).into()
    }
}

type ApiResult<T> = Result<T, ApiError>;

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

async fn list_flows(State(rt): State<Arc<Runtime>>) -> ApiResult<Json<Value>> {
    let flows = rt.store.list_flows().await?;
    Ok(Json(json!({"flows": flows.iter().map(|f| json!({
        "id": f.id, "name": f.name, "version": f.version, "enabled": f.enabled,
    })).collect::<Vec<_>>()})))
}

async fn trigger_run(
    State(rt): State<Arc<Runtime>>,
    Path(flow_id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let run_id = rt.trigger(&flow_id, "manual", &[]).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"run_id": run_id}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    flow_id: Option<String>,
    limit: Option<i64>,
}

async fn list_runs(
    State(rt): State<Arc<Runtime>>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let runs = rt.store.list_runs(q.flow_id.as_deref(), limit).await?;
    Ok(Json(
        json!({"runs": runs.iter().map(run_json).collect::<Vec<_>>()}),
    ))
}

async fn get_run(
    State(rt): State<Arc<Runtime>>,
    Path(run_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    match rt.store.get_run(run_id).await? {
        Some(run) => Ok(Json(run_json(&run))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "run_not_found",
            format!("no run {run_id}"),
        )),
    }
}

async fn list_schedules(State(rt): State<Arc<Runtime>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"schedules": schedule_rows(&rt).await?})))
}

/// One row per schedule: flow, task, start, interval, last run, next run, running or not.
/// Shared by the API and `ferry schedules`.
pub async fn schedule_rows(rt: &Runtime) -> Result<Vec<Value>, StoreError> {
    let mut rows = Vec::new();
    for s in rt.store.list_schedules().await? {
        let parsed = serde_json::from_str(&s.spec)
            .ok()
            .and_then(|t| Schedule::from_trigger(&t).ok().flatten());
        let last_run = match s.last_run_id {
            Some(id) => rt.store.get_run(id).await?,
            None => None,
        };
        let running = last_run.as_ref().is_some_and(|r| {
            matches!(
                r.status,
                crate::store::RunStatus::Running | crate::store::RunStatus::Queued
            )
        });
        rows.push(json!({
            "flow_id": s.flow_id,
            "task": "run flow",
            "start": parsed.as_ref().and_then(Schedule::start).map(crate::runtime::stamp),
            "interval": parsed.as_ref().map(Schedule::describe),
            "last_run_at": s.last_run_at,
            "last_run_id": s.last_run_id,
            "last_status": last_run.as_ref().map(|r| r.status.as_str()),
            "next_run_at": s.next_run_at,
            "running": running,
        }));
    }
    Ok(rows)
}

async fn failed_records(
    State(rt): State<Arc<Runtime>>,
    Path(flow_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let failed = rt.store.failed_records(&flow_id, 500).await?;
    Ok(Json(json!({"failed": failed.iter().map(|f| json!({
        "business_key": f.business_key, "run_id": f.run_id, "seq": f.seq,
        "step_id": f.step_id, "error": f.error, "failed_at": f.failed_at,
        "retry_at": f.retry_at, "parked_count": f.parked_count,
    })).collect::<Vec<_>>()})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// Business keys to replay; absent means every failed record of the flow.
    keys: Option<Vec<String>>,
}

async fn replay(
    State(rt): State<Arc<Runtime>>,
    Path(flow_id): Path<String>,
    body: Option<Json<ReplayBody>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if rt.store.get_flow(&flow_id).await?.is_none() {
        return Err(RuntimeError::UnknownFlow(flow_id).into());
    }
    let keys = body.and_then(|Json(b)| b.keys);
    match rt.replay(&flow_id, keys.as_deref()).await? {
        Some((run_id, records)) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"run_id": run_id, "records": records})),
        )),
        None => Ok((StatusCode::OK, Json(json!({"run_id": null, "records": 0})))),
    }
}
