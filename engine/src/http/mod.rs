//! Ferry's HTTP server: inbound webhooks that start runs, and the REST API under `/api/v1`
//! (accounts, connections, flows, runs, error queue, replay, schedules, alerts, audit log).
//! Every route is in the one table of [`routes`]; every API route but login and the OpenAPI
//! document needs a bearer token or a session cookie ([`auth`]; a cookie request that changes
//! something also needs the session's CSRF token, [`csrf`]), and [`access`] decides what each
//! role may do. Every error answers
//! `{"error": {"code": "...", "message": "...", "details": ...}}`.

pub mod access;
mod accounts;
mod alerts;
mod audit;
pub mod auth;
mod connections;
mod connectors;
pub mod csrf;
mod error;
mod flows;
mod login_throttle;
mod openapi;
mod preview;
mod query;
mod routes;
mod runs;
mod schemas;
mod templates;
mod versions;
mod webhook;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::StatusCode;
use axum::routing::MethodRouter;
use serde_json::{Value, json};

use crate::connector::Registry;
use crate::credential::Connections;
use crate::runtime::{Runtime, Schedule};
use crate::store::StoreError;

pub use error::{ApiError, ApiResult};
pub use openapi::openapi_document;
pub use routes::{RouteSpec, route_table};

/// Largest request body read at all; a flow's webhook may allow less (`max_body_kib`).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest body of an API request (a flow file).
const MAX_API_BODY: usize = 1024 * 1024;
/// A flow and a sample record are small; a bigger preview body is a mistake.
const PREVIEW_MAX_BODY: usize = 2 * 1024 * 1024;

/// What handlers share: the runtime, and the connector registry flows are validated against.
#[derive(Clone)]
pub struct AppState {
    /// Store, queue, connections.
    pub rt: Arc<Runtime>,
    /// Connector kinds and operations; `None` skips those checks.
    pub registry: Option<Arc<Registry>>,
    /// The mapping preview's compiled definitions.
    preview: Arc<preview::PreviewCache>,
    /// Tenants' stored connections; `None` answers 503 `connections_unavailable`.
    pub connections: Option<Connections>,
    /// Client for "test connection" (the installation's outbound guard and timeouts).
    pub connect_http: reqwest::Client,
    /// Folder of the stock templates; `None` answers 503 `templates_unavailable`.
    pub templates: Option<PathBuf>,
    /// Wrong passwords per email, to slow guessing.
    login_throttle: Arc<login_throttle::LoginThrottle>,
}

impl AppState {
    /// State for `rt` with the connector registry flows are validated against.
    pub fn new(rt: Arc<Runtime>, registry: Option<Arc<Registry>>) -> AppState {
        AppState {
            rt,
            registry,
            preview: Arc::default(),
            connections: None,
            connect_http: reqwest::Client::new(),
            templates: None,
            login_throttle: Arc::default(),
        }
    }

    /// Serves the tenants' stored `connections`; "test connection" reaches out with `http`.
    pub fn with_connections(mut self, connections: Connections, http: reqwest::Client) -> Self {
        self.connections = Some(connections);
        self.connect_http = http;
        self
    }

    /// Lists and enables the stock templates in `dir` (`flows/templates`).
    pub fn with_templates(mut self, dir: PathBuf) -> Self {
        self.templates = Some(dir);
        self
    }
}

impl FromRef<AppState> for Arc<preview::PreviewCache> {
    fn from_ref(state: &AppState) -> Arc<preview::PreviewCache> {
        state.preview.clone()
    }
}

impl FromRef<AppState> for Arc<Runtime> {
    fn from_ref(state: &AppState) -> Arc<Runtime> {
        state.rt.clone()
    }
}

/// The router without a connector registry (flows are checked for structure only).
pub fn router(rt: Arc<Runtime>) -> Router {
    router_with(AppState::new(rt, None))
}

/// The router: `/health`, `/hooks/{flow_id}/{token}`, `/api/v1/…`.
pub fn router_with(state: AppState) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for (spec, handler) in routes::routes() {
        let limit = if spec.path.starts_with("/hooks/") {
            MAX_BODY
        } else if spec.path == "/api/v1/preview" {
            PREVIEW_MAX_BODY
        } else {
            MAX_API_BODY
        };
        let handler = handler.layer(DefaultBodyLimit::max(limit));
        let merged = match by_path.remove(spec.path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        by_path.insert(spec.path, merged);
    }
    let mut router = Router::new();
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    router
        .fallback(|| async {
            ApiError::not_found(
                "route_not_found",
                "no such endpoint: see /api/v1/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take this method: see /api/v1/openapi.json",
            )
        })
        .with_state(state)
}

/// The mapping preview alone, without authentication: for its benchmark only (`ferry serve`
/// serves it through [`router_with`], behind the API's authentication).
pub fn preview_routes() -> Router {
    use axum::routing::post;
    Router::new()
        .route("/api/v1/preview", post(preview::preview))
        .layer(DefaultBodyLimit::max(PREVIEW_MAX_BODY))
        .with_state(Arc::new(preview::PreviewCache::default()))
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
