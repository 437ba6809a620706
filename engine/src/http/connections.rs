//! A tenant's stored connections: list, create, show, change (JSON merge patch), delete and
//! "test connection". Credentials are write-only: every answer shows them as `"<set>"`
//! ([`crate::credential`] splits, seals and redacts them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connector::ConnectorContext;
use crate::credential::{ConnectionError, ConnectionView, Connections, NewConnection};

use super::AppState;
use super::access::{Action, Principal};
use super::audit;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};

/// The stored connections of `tenant` when the caller may manage them: 404 when the tenant is
/// missing or not the caller's, 403 for a role that may not see connection settings, 503 when
/// this server has no connection store.
pub(super) async fn connections_of<'s>(
    state: &'s AppState,
    me: &Principal,
    tenant: &str,
) -> ApiResult<&'s Connections> {
    let exists = state.rt.store.get_tenant(tenant).await?.is_some();
    me.check(Action::ManageConnections, exists.then_some(tenant), || {
        ApiError::not_found("tenant_not_found", format!("no tenant `{tenant}`"))
    })?;
    state.connections.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "connections_unavailable",
            "this server has no store of connections: start it with `ferry serve`",
        )
    })
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        let message = e.to_string();
        match e {
            ConnectionError::NotFound { name, .. } => ApiError::not_found(
                "connection_not_found",
                format!("no stored connection `{name}`"),
            ),
            ConnectionError::Exists { name, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "connection_exists",
                format!("a connection `{name}` exists: PATCH it, or choose another name"),
            )
            .with_details(json!({"field": "name"})),
            ConnectionError::InvalidName { what, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_name", message)
                    .with_details(json!({ "field": what }))
            }
            ConnectionError::UnknownConnector { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_connector",
                message,
            )
            .with_details(json!({"field": "connector"})),
            ConnectionError::InvalidConfig { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", message)
                    .with_details(json!({"field": "config"}))
            }
            ConnectionError::NoMasterKey => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_master_key",
                "this server has no master key, so it cannot store or use credentials",
            ),
            ConnectionError::TestFailed { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "test_failed", message)
            }
            // A wrong key or an altered row is the operator's to fix; the log says which.
            other => ApiError::internal(&other),
        }
    }
}

fn view_json(view: &ConnectionView) -> Value {
    json!({
        "name": view.name, "tenant": view.tenant, "connector": view.connector,
        "config": view.config, "credentials": view.credentials,
        "created_at": view.created_at, "updated_at": view.updated_at,
    })
}

/// The tenant's connections, credentials shown as `"<set>"`.
pub(super) async fn list(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let conns = connections_of(&state, &me, &tenant).await?;
    let views = conns.list(&tenant).await?;
    Ok(Json(
        json!({"connections": views.iter().map(view_json).collect::<Vec<_>>()}),
    ))
}

/// `POST …/connections` body: the full config, credentials included.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    name: String,
    connector: String,
    #[serde(default = "empty_object")]
    config: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// Creates a connection; its credentials are sealed before they are stored.
pub(super) async fn create(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let conns = connections_of(&state, &me, &tenant).await?;
    let view = conns
        .create(
            &tenant,
            &NewConnection {
                name: body.name,
                connector: body.connector,
                config: body.config,
            },
        )
        .await?;
    audit::record(
        &state,
        &me,
        Some(&tenant),
        "connection.create",
        "connection",
        &view.name,
        Some(view.connector.clone()),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view_json(&view))))
}

/// One connection.
pub(super) async fn get(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((tenant, name)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let conns = connections_of(&state, &me, &tenant).await?;
    Ok(Json(view_json(&conns.get(&tenant, &name).await?)))
}

/// `PATCH …/connections/{name}` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchBody {
    /// A new connector kind.
    connector: Option<String>,
    /// JSON merge patch over the stored config: `null` removes, `"<set>"` keeps a credential.
    #[serde(default = "empty_object")]
    config: Value,
}

/// Changes a connection by a JSON merge patch of its config.
pub(super) async fn update(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((tenant, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PatchBody>,
) -> ApiResult<Json<Value>> {
    let conns = connections_of(&state, &me, &tenant).await?;
    let view = conns
        .update(&tenant, &name, body.connector.as_deref(), &body.config)
        .await?;
    audit::record(
        &state,
        &me,
        Some(&tenant),
        "connection.update",
        "connection",
        &name,
        None,
    )
    .await?;
    Ok(Json(view_json(&view)))
}

/// Deletes a connection; flows bound to it fail to connect until it is stored again.
pub(super) async fn delete(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((tenant, name)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let conns = connections_of(&state, &me, &tenant).await?;
    conns.delete(&tenant, &name).await?;
    audit::record(
        &state,
        &me,
        Some(&tenant),
        "connection.delete",
        "connection",
        &name,
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Test connection": the connector's health check. A failure is an answer, not an error:
/// `{"ok": false, "message": …}` with credentials redacted.
pub(super) async fn test(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((tenant, name)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let conns = connections_of(&state, &me, &tenant).await?;
    let cx = ConnectorContext::new(
        state.connect_http.clone(),
        std::env::current_dir().unwrap_or_default(),
    );
    let answer = match conns.test(&tenant, &name, &cx).await {
        Ok(()) => json!({"ok": true, "message": null}),
        Err(e @ (ConnectionError::TestFailed { .. } | ConnectionError::InvalidConfig { .. })) => {
            json!({"ok": false, "message": e.to_string()})
        }
        Err(e) => return Err(e.into()),
    };
    let detail = if answer["ok"] == true { "ok" } else { "failed" };
    audit::record(
        &state,
        &me,
        Some(&tenant),
        "connection.test",
        "connection",
        &name,
        Some(detail.to_string()),
    )
    .await?;
    Ok(Json(answer))
}
