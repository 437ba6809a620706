//! The audit log: every change and replay made through the API writes who did what to which
//! object of which tenant; admins read all of it, others the entries of their tenants, filtered
//! and paged by id (`?before=`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{AuditFilter, NewAudit};

use super::AppState;
use super::access::{Action, Principal};
use super::error::{ApiQuery, ApiResult};
use super::query::time_param;

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
    /// Only this tenant's entries (one the caller sees; another gives an empty list).
    tenant: Option<String>,
    /// Only entries whose user's email contains this (ASCII case ignored).
    user: Option<String>,
    /// Only entries whose action is this or starts with it (`flow.`).
    action: Option<String>,
    /// Only entries about the object with this id.
    object: Option<String>,
    /// Only entries made at or after this RFC 3339 time.
    since: Option<String>,
    /// Only entries made at or before this RFC 3339 time.
    until: Option<String>,
    /// Only entries older than this id: the previous page's `next_before`.
    before: Option<i64>,
    /// At most this many (1–1000, default 100), newest first.
    limit: Option<i64>,
}

/// Audit entries, newest first, a page at a time: `next_before` is the `before` of the next
/// (older) page, `null` when this page was the last.
pub(super) async fn list(
    State(state): State<AppState>,
    me: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    me.require(Action::ReadAudit)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let tenants = match (&q.tenant, me.scope()) {
        (Some(t), _) if me.sees(t) => Some(vec![t.clone()]),
        (Some(_), _) => Some(Vec::new()),
        (None, scope) => scope.map(<[String]>::to_vec),
    };
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let filter = AuditFilter {
        tenants,
        user: non_empty(q.user),
        action: non_empty(q.action),
        object_id: non_empty(q.object),
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        before: q.before,
        // One more than asked says whether an older page exists.
        limit: limit + 1,
    };
    let mut entries = state.rt.store.list_audit(&filter).await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = more.then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(json!({
        "entries": entries.iter().map(|e| json!({
            "id": e.id, "user_email": e.user_email, "tenant_id": e.tenant_id, "action": e.action,
            "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail,
            "created_at": e.created_at,
        })).collect::<Vec<_>>(),
        "next_before": next_before,
    })))
}
