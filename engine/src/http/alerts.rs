//! Alerts over the API: a tenant's default alert settings (read, set, remove), "send test
//! alert" to a flow's effective channels through the server's own alerter, and the delivery
//! log of the flows the caller sees. Settings are checked with the same validation as a flow
//! file's `alerts` ([`AlertSettings::issues`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alert::{AlertSettings, FlowRef, effective_alerts};
use crate::flow::load::DocPath;
use crate::flow::parse_flow;
use crate::store::{AlertDelivery, AlertKind, DeliveryFilter, DeliveryStatus, TenantAlerts};

use super::AppState;
use super::access::{Action, Principal};
use super::audit;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::flows::flow_for;
use super::query::{enum_param, time_param};

fn tenant_not_found(tenant: &str) -> ApiError {
    ApiError::not_found("tenant_not_found", format!("no tenant `{tenant}`"))
}

/// 404 when the tenant is missing or not the caller's, then 403 when the role may not.
async fn check_tenant(
    state: &AppState,
    me: &Principal,
    tenant: &str,
    action: Action,
) -> ApiResult<()> {
    let exists = state.rt.store.get_tenant(tenant).await?.is_some();
    me.check(action, exists.then_some(tenant), || {
        tenant_not_found(tenant)
    })
}

fn settings_json(tenant: &str, stored: Option<&TenantAlerts>) -> Value {
    json!({
        "tenant_id": tenant,
        "alerts": stored.map(|s| &s.settings),
        "updated_at": stored.map(|s| &s.updated_at),
    })
}

/// The tenant's default alert settings; `alerts: null` when it has none (its flows without
/// their own `alerts` then use the installation's default, if any).
pub(super) async fn get(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_tenant(&state, &me, &tenant, Action::ReadAlertSettings).await?;
    let stored = state.rt.store.tenant_alerts(&tenant).await?;
    Ok(Json(settings_json(&tenant, stored.as_ref())))
}

/// 422 `invalid_alerts` with every problem and its field path (`channels[0].to`).
fn validated(settings: &AlertSettings) -> ApiResult<()> {
    let issues = settings.issues(&DocPath::default());
    let Some(first) = issues.first() else {
        return Ok(());
    };
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_alerts",
        format!(
            "the alert settings have {} problem(s); first: {first}",
            issues.len()
        ),
    )
    .with_details(json!({
        "field": first.path.to_string(),
        "issues": issues
            .iter()
            .map(|i| json!({"path": i.path.to_string(), "message": i.message}))
            .collect::<Vec<_>>(),
    })))
}

/// Sets the tenant's default alert settings (the body is the same object as a flow file's
/// `alerts`); it replaces the previous default whole.
pub(super) async fn put(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(settings): ApiJson<AlertSettings>,
) -> ApiResult<Json<Value>> {
    check_tenant(&state, &me, &tenant, Action::WriteAlertSettings).await?;
    validated(&settings)?;
    if !state.rt.store.set_tenant_alerts(&tenant, &settings).await? {
        return Err(tenant_not_found(&tenant));
    }
    audit::record(
        &state,
        &me,
        Some(&tenant),
        "alerts.update",
        "tenant",
        &tenant,
        Some(format!("{} channel(s)", settings.channels.len())),
    )
    .await?;
    let stored = state.rt.store.tenant_alerts(&tenant).await?;
    Ok(Json(settings_json(&tenant, stored.as_ref())))
}

/// Removes the tenant's default: its flows without their own `alerts` use the installation's.
pub(super) async fn delete(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<StatusCode> {
    check_tenant(&state, &me, &tenant, Action::WriteAlertSettings).await?;
    if state.rt.store.delete_tenant_alerts(&tenant).await? {
        audit::record(
            &state,
            &me,
            Some(&tenant),
            "alerts.delete",
            "tenant",
            &tenant,
            None,
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// "Send test alert": a `test` alert to every channel the flow's runs would alert (its own
/// `alerts`, else its tenant's default, else the installation's), whatever their `on`,
/// through this server's SMTP server and HTTP client. A channel that fails is an answer, not
/// an error: `status: "failed"` with the reason. Every delivery is logged.
pub(super) async fn test(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(flow_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let record = flow_for(&state, &me, &flow_id, Action::TestAlerts).await?;
    let flow = parse_flow(&record.definition, &record.id).map_err(|e| ApiError::internal(&e))?;
    let Some(alerter) = &state.rt.settings.alerter else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "alerts_unavailable",
            "this server sends no alerts: start it with `ferry serve`",
        ));
    };
    let effective = effective_alerts(
        &*state.rt.store,
        &flow,
        state.rt.settings.default_alerts.as_ref(),
    )
    .await?
    .filter(|e| !e.settings.channels.is_empty())
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_alert_channels",
            format!(
                "flow `{flow_id}` has no alert channels: give it `alerts`, or set its tenant's \
                 default with PUT /api/v1/tenants/{}/alerts",
                record.tenant
            ),
        )
    })?;
    let deliveries = alerter
        .send_test_alert(
            &*state.rt.store,
            &FlowRef::new(&flow.id, &flow.name),
            &effective.settings,
        )
        .await;
    let failed = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Failed)
        .count();
    audit::record(
        &state,
        &me,
        Some(&record.tenant),
        "alert.test",
        "flow",
        &flow_id,
        Some(format!(
            "{} sent, {failed} failed",
            deliveries.len() - failed
        )),
    )
    .await?;
    Ok(Json(json!({
        "flow_id": flow_id,
        "source": effective.source,
        "deliveries": deliveries.iter().map(|d| json!({
            "channel": d.channel, "recipient": d.recipient, "status": d.status.as_str(),
            "error": d.error,
        })).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/alert-deliveries` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliveriesQuery {
    /// Only deliveries about this flow.
    flow: Option<String>,
    /// Only this tenant's (one the caller sees; another gives an empty list).
    tenant: Option<String>,
    /// Only this kind: failure, success, heartbeat or test.
    kind: Option<String>,
    /// Only `sent` or only `failed` deliveries.
    status: Option<String>,
    /// Only deliveries made at or after this RFC 3339 time.
    since: Option<String>,
    /// Only deliveries made at or before this RFC 3339 time.
    until: Option<String>,
    /// At most this many (1–1000, default 100), newest first.
    limit: Option<i64>,
}

fn delivery_json(d: &AlertDelivery) -> Value {
    json!({
        "id": d.id, "tenant_id": d.tenant_id, "flow_id": d.flow_id, "run_id": d.run_id,
        "channel": d.channel, "recipient": d.recipient, "kind": d.kind.as_str(),
        "status": d.status.as_str(), "error": d.error, "created_at": d.created_at,
    })
}

/// Alert deliveries of the caller's tenants' flows, newest first.
pub(super) async fn deliveries(
    State(state): State<AppState>,
    me: Principal,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<Value>> {
    me.require(Action::ReadAlertDeliveries)?;
    let filter = DeliveryFilter {
        tenants: None,
        flow_id: q.flow,
        kind: enum_param("kind", q.kind.as_deref(), AlertKind::NAMES)?,
        status: enum_param("status", q.status.as_deref(), DeliveryStatus::NAMES)?,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let tenants = match (&q.tenant, me.scope()) {
        (Some(t), _) if me.sees(t) => Some(vec![t.clone()]),
        (Some(_), _) => Some(Vec::new()),
        (None, scope) => scope.map(<[String]>::to_vec),
    };
    let rows = state
        .rt
        .store
        .alert_deliveries(&DeliveryFilter { tenants, ..filter })
        .await?;
    Ok(Json(
        json!({"deliveries": rows.iter().map(delivery_json).collect::<Vec<_>>()}),
    ))
}
