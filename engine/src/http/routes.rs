//! The one route table: every endpoint with its method, path, summary and whether it is public.
//! The router, the OpenAPI document and the isolation test are all built from it, so a new
//! route cannot miss any of them.

use axum::Json;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde_json::{Value, json};

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::access::{Action, Principal};
use super::{
    AppState, accounts, alerts, audit, auth, connections, connectors, flows, preview, runs,
    templates, versions, webhook,
};

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path with `{param}` segments.
    pub path: &'static str,
    /// What it does (the OpenAPI summary).
    pub summary: &'static str,
    /// Callable without authentication (health, webhooks, login, the OpenAPI document).
    pub public: bool,
}

const fn spec(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    public: bool,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        summary,
        public,
    }
}

/// Every route with its handler.
pub(super) fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        (spec("GET", "/health", "Liveness probe", true), get(health)),
        (
            spec(
                "POST",
                "/hooks/{flow_id}/{token}",
                "Webhook: start a run with the body as its record",
                true,
            ),
            post(webhook::receive),
        ),
        (
            spec("GET", "/api/v1/openapi.json", "This OpenAPI document", true),
            get(openapi),
        ),
        (
            spec(
                "POST",
                "/api/v1/login",
                "Password login: sets the session cookie",
                true,
            ),
            post(auth::login),
        ),
        (
            spec("POST", "/api/v1/logout", "Ends the cookie's session", false),
            post(auth::logout),
        ),
        (
            spec("GET", "/api/v1/me", "The caller", false),
            get(auth::me),
        ),
        (
            spec(
                "PUT",
                "/api/v1/me/password",
                "Changes the caller's password",
                false,
            ),
            put(auth::change_password),
        ),
        (
            spec(
                "GET",
                "/api/v1/tenants",
                "Tenants the caller works for",
                false,
            ),
            get(accounts::list_tenants),
        ),
        (
            spec("POST", "/api/v1/tenants", "Creates a tenant (admin)", false),
            post(accounts::create_tenant),
        ),
        (
            spec("GET", "/api/v1/tenants/{tenant_id}", "One tenant", false),
            get(accounts::get_tenant),
        ),
        (
            spec(
                "GET",
                "/api/v1/connectors",
                "Connector kinds: operations, record schema, sample record, credential fields",
                false,
            ),
            get(connectors::list),
        ),
        (
            spec(
                "GET",
                "/api/v1/tenants/{tenant_id}/connections",
                "The tenant's stored connections (credentials shown as \"<set>\")",
                false,
            ),
            get(connections::list),
        ),
        (
            spec(
                "POST",
                "/api/v1/tenants/{tenant_id}/connections",
                "Stores a connection; its credentials are encrypted and write-only",
                false,
            ),
            post(connections::create),
        ),
        (
            spec(
                "GET",
                "/api/v1/tenants/{tenant_id}/connections/{name}",
                "One stored connection",
                false,
            ),
            get(connections::get),
        ),
        (
            spec(
                "PATCH",
                "/api/v1/tenants/{tenant_id}/connections/{name}",
                "Changes a connection by a JSON merge patch of its config",
                false,
            ),
            patch(connections::update),
        ),
        (
            spec(
                "DELETE",
                "/api/v1/tenants/{tenant_id}/connections/{name}",
                "Deletes a stored connection",
                false,
            ),
            delete(connections::delete),
        ),
        (
            spec(
                "POST",
                "/api/v1/tenants/{tenant_id}/connections/{name}/test",
                "Test connection: runs the connector's health check",
                false,
            ),
            post(connections::test),
        ),
        (
            spec(
                "GET",
                "/api/v1/tenants/{tenant_id}/alerts",
                "The tenant's default alert settings (null when it has none)",
                false,
            ),
            get(alerts::get),
        ),
        (
            spec(
                "PUT",
                "/api/v1/tenants/{tenant_id}/alerts",
                "Sets the tenant's default alert settings (for flows without their own)",
                false,
            ),
            put(alerts::put),
        ),
        (
            spec(
                "DELETE",
                "/api/v1/tenants/{tenant_id}/alerts",
                "Removes the tenant's default alert settings",
                false,
            ),
            delete(alerts::delete),
        ),
        (
            spec(
                "GET",
                "/api/v1/templates",
                "Stock templates: slots and settings with defaults",
                false,
            ),
            get(templates::list),
        ),
        (
            spec(
                "POST",
                "/api/v1/tenants/{tenant_id}/templates/{template_id}/enable",
                "Enables a template for the tenant with its stored connections and settings",
                false,
            ),
            post(templates::enable),
        ),
        (
            spec("GET", "/api/v1/users", "Users (admin)", false),
            get(accounts::list_users),
        ),
        (
            spec("POST", "/api/v1/users", "Creates a user (admin)", false),
            post(accounts::create_user),
        ),
        (
            spec(
                "POST",
                "/api/v1/users/{user_id}/disable",
                "Disables a user (admin)",
                false,
            ),
            post(accounts::disable_user),
        ),
        (
            spec("GET", "/api/v1/tokens", "The caller's API tokens", false),
            get(accounts::list_tokens),
        ),
        (
            spec(
                "POST",
                "/api/v1/tokens",
                "Creates an API token, shown once",
                false,
            ),
            post(accounts::create_token),
        ),
        (
            spec(
                "DELETE",
                "/api/v1/tokens/{token_id}",
                "Revokes an API token",
                false,
            ),
            delete(accounts::revoke_token),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows",
                "Flows of the caller's tenants",
                false,
            ),
            get(flows::list),
        ),
        (
            spec(
                "POST",
                "/api/v1/flows",
                "Creates a flow from its JSON",
                false,
            ),
            post(flows::create),
        ),
        (
            spec(
                "POST",
                "/api/v1/flows/validate",
                "Validates a flow without storing it",
                false,
            ),
            post(flows::validate),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows/{flow_id}",
                "One flow with its definition",
                false,
            ),
            get(flows::get),
        ),
        (
            spec(
                "PUT",
                "/api/v1/flows/{flow_id}",
                "Replaces a flow's definition",
                false,
            ),
            put(flows::update),
        ),
        (
            spec("DELETE", "/api/v1/flows/{flow_id}", "Deletes a flow", false),
            delete(flows::delete),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows/{flow_id}/export",
                "The flow's JSON file",
                false,
            ),
            get(flows::export),
        ),
        (
            spec(
                "POST",
                "/api/v1/flows/{flow_id}/runs",
                "Starts a run",
                false,
            ),
            post(flows::trigger),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows/{flow_id}/failed",
                "The flow's error queue",
                false,
            ),
            get(flows::failed),
        ),
        (
            spec(
                "POST",
                "/api/v1/flows/{flow_id}/replay",
                "Replays failed records",
                false,
            ),
            post(flows::replay),
        ),
        (
            spec(
                "POST",
                "/api/v1/flows/{flow_id}/alerts/test",
                "Send test alert: to every channel of the flow's effective alert settings",
                false,
            ),
            post(alerts::test),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows/{flow_id}/versions",
                "Published versions of a flow",
                false,
            ),
            get(versions::list),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows/{flow_id}/versions/{version}",
                "One version with its definition",
                false,
            ),
            get(versions::get),
        ),
        (
            spec(
                "GET",
                "/api/v1/flows/{flow_id}/diff",
                "What changed between two versions (?from=&to=)",
                false,
            ),
            get(versions::diff),
        ),
        (
            spec(
                "POST",
                "/api/v1/flows/{flow_id}/versions/{version}/rollback",
                "Saves an old version again as the newest",
                false,
            ),
            post(versions::rollback),
        ),
        (
            spec(
                "GET",
                "/api/v1/runs",
                "Runs: filter by flow, status, time, business key",
                false,
            ),
            get(runs::list),
        ),
        (
            spec("GET", "/api/v1/runs/{run_id}", "One run", false),
            get(runs::get),
        ),
        (
            spec(
                "GET",
                "/api/v1/runs/{run_id}/records",
                "A run's activity log",
                false,
            ),
            get(runs::records),
        ),
        (
            spec(
                "GET",
                "/api/v1/runs/{run_id}/records/{seq}",
                "One record: input, output, target response",
                false,
            ),
            get(runs::record),
        ),
        (
            spec(
                "GET",
                "/api/v1/schedules",
                "Schedules of the caller's flows",
                false,
            ),
            get(runs::schedules),
        ),
        (
            spec(
                "GET",
                "/api/v1/alert-deliveries",
                "Alert deliveries of the caller's flows (?flow=&tenant=&kind=&status=&since=&until=&limit=)",
                false,
            ),
            get(alerts::deliveries),
        ),
        (
            spec("GET", "/api/v1/audit", "The audit log", false),
            get(audit::list),
        ),
        (
            spec(
                "POST",
                "/api/v1/preview",
                "Mapping preview: a flow's steps on a sample record",
                false,
            ),
            post(preview_as_builder),
        ),
    ]
}

/// The route table, without handlers (for the isolation test and docs).
pub fn route_table() -> Vec<RouteSpec> {
    routes().into_iter().map(|(spec, _)| spec).collect()
}

/// The preview is for whoever edits mappings.
async fn preview_as_builder(
    me: Principal,
    cache: State<Arc<preview::PreviewCache>>,
    body: Bytes,
) -> Response {
    match me.require(Action::WriteFlows) {
        Ok(()) => preview::preview(cache, body).await,
        Err(e) => e.into_response(),
    }
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn openapi() -> Json<Value> {
    Json(super::openapi::openapi_document())
}
