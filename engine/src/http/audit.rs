//! The audit log: every change and replay made through the API writes who did what to which
//! object of which tenant; admins read all of it, others the entries of their tenants.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::NewAudit;

use super::AppState;
use super::access::{Action, Principal};
use super::error::{ApiQuery, ApiResult};

/// Appends an audit entry for an action of `me`.
pub(super) async fn record(
    state: &AppState,
    me: &Principal,
    tenant: Option<&str>,
    action: &str,
    object_type: &str,
    object_id: &str,
    detail: Option<String>,
) -> ApiResult<()> {
    state
        .rt
        .store
        .append_audit(&NewAudit {
            user_id: Some(me.user.id),
            user_email: me.user.email.clone(),
            tenant_id: tenant.map(str::to_string),
            action: action.to_string(),
            object_type: object_type.to_string(),
            object_id: object_id.to_string(),
            detail,
        })
        .await?;
    Ok(())
}

/// `GET /api/v1/audit` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    limit: Option<i64>,
}

/// Audit entries, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    me: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    me.require(Action::ReadAudit)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state.rt.store.list_audit(me.scope(), limit).await?;
    Ok(Json(json!({"entries": entries.iter().map(|e| json!({
        "id": e.id, "user_email": e.user_email, "tenant_id": e.tenant_id, "action": e.action,
        "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail,
        "created_at": e.created_at,
    })).collect::<Vec<_>>()})))
}
