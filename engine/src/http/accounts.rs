//! Tenants, users and API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{ApiToken, NewUser, Role, Tenant};

use super::AppState;
use super::access::{Action, Principal};
use super::audit;
use super::auth::{check_password, hash_password, new_secret, secret_hash, user_json};
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};

fn tenant_json(t: &Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "created_at": t.created_at})
}

fn tenant_not_found(id: &str) -> ApiError {
    ApiError::not_found("tenant_not_found", format!("no tenant `{id}`"))
}

fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        .with_details(json!({"field": field}))
}

/// Tenants the caller works for (all of them for an admin).
pub(super) async fn list_tenants(
    State(state): State<AppState>,
    me: Principal,
) -> ApiResult<Json<Value>> {
    me.require(Action::ReadTenant)?;
    let tenants = state.rt.store.list_tenants(me.scope()).await?;
    Ok(Json(
        json!({"tenants": tenants.iter().map(tenant_json).collect::<Vec<_>>()}),
    ))
}

/// One tenant.
pub(super) async fn get_tenant(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let tenant = state.rt.store.get_tenant(&id).await?;
    me.check(
        Action::ReadTenant,
        tenant.as_ref().map(|t| t.id.as_str()),
        || tenant_not_found(&id),
    )?;
    Ok(Json(tenant_json(&tenant.expect("checked above"))))
}

/// `POST /api/v1/tenants` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTenant {
    id: String,
    name: Option<String>,
}

/// Creates a tenant (admin).
pub(super) async fn create_tenant(
    State(state): State<AppState>,
    me: Principal,
    ApiJson(body): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    me.require(Action::ManageTenants)?;
    if !crate::store::valid_id(&body.id) {
        return Err(invalid_field(
            "id",
            "`id` must be 1–64 characters of a-z, 0-9, `_` and `-`",
        ));
    }
    let name = body.name.unwrap_or_else(|| body.id.clone());
    let tenant = state
        .rt
        .store
        .create_tenant(&body.id, &name)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "tenant_exists",
                format!("tenant `{}` exists", body.id),
            )
        })?;
    audit::record(
        &state,
        &me,
        Some(&tenant.id),
        "tenant.create",
        "tenant",
        &tenant.id,
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tenant_json(&tenant))))
}

/// Every user (admin).
pub(super) async fn list_users(
    State(state): State<AppState>,
    me: Principal,
) -> ApiResult<Json<Value>> {
    me.require(Action::ManageUsers)?;
    let users = state.rt.store.list_users(me.scope()).await?;
    Ok(Json(
        json!({"users": users.iter().map(user_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /api/v1/users` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUserBody {
    email: String,
    password: String,
    role: String,
    #[serde(default)]
    tenants: Vec<String>,
}

/// Creates a user (admin). A merchant has exactly one tenant; an admin none.
pub(super) async fn create_user(
    State(state): State<AppState>,
    me: Principal,
    ApiJson(body): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    me.require(Action::ManageUsers)?;
    let role: Role = body.role.parse().map_err(|_| {
        invalid_field(
            "role",
            "`role` must be admin, integrator, merchant or support",
        )
    })?;
    if !body.email.contains('@') || body.email.len() > 254 {
        return Err(invalid_field("email", "`email` is not an email address"));
    }
    check_password(&body.password, "password")?;
    match role {
        Role::Admin if !body.tenants.is_empty() => {
            return Err(invalid_field(
                "tenants",
                "an admin sees every tenant: give it no `tenants`",
            ));
        }
        Role::Merchant if body.tenants.len() != 1 => {
            return Err(invalid_field(
                "tenants",
                "a merchant belongs to exactly one tenant",
            ));
        }
        _ => {}
    }
    for t in &body.tenants {
        if state.rt.store.get_tenant(t).await?.is_none() {
            return Err(invalid_field("tenants", format!("no tenant `{t}`")));
        }
    }
    let user = state
        .rt
        .store
        .create_user(&NewUser {
            email: body.email.clone(),
            password_hash: hash_password(&body.password),
            role,
            tenants: body.tenants.clone(),
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "email_taken",
                format!("a user with email `{}` exists", body.email),
            )
        })?;
    let tenant = user.tenants.first().map(String::as_str);
    audit::record(
        &state,
        &me,
        tenant,
        "user.create",
        "user",
        &user.id.to_string(),
        Some(format!("role {role}")),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

/// Disables a user (admin): its sessions end and its tokens stop working.
pub(super) async fn disable_user(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    let user = state.rt.store.get_user(id).await?;
    // A user is visible through any tenant it shares with the caller.
    let via = user.as_ref().and_then(|u| {
        if me.scope().is_none() {
            Some(u.tenants.first().cloned().unwrap_or_default())
        } else {
            u.tenants.iter().find(|t| me.sees(t)).cloned()
        }
    });
    me.check(Action::ManageUsers, via.as_deref(), || {
        ApiError::not_found("user_not_found", format!("no user {id}"))
    })?;
    if id == me.user.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_disable_self",
            "an admin cannot disable itself",
        ));
    }
    state.rt.store.set_user_disabled(id, true).await?;
    let user = state
        .rt
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", format!("no user {id}")))?;
    audit::record(
        &state,
        &me,
        user.tenants.first().map(String::as_str),
        "user.disable",
        "user",
        &id.to_string(),
        None,
    )
    .await?;
    Ok(Json(user_json(&user)))
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at,
        "last_used_at": t.last_used_at, "revoked_at": t.revoked_at,
    })
}

/// The caller's API tokens (never the tokens themselves).
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    me: Principal,
) -> ApiResult<Json<Value>> {
    me.require(Action::OwnAccount)?;
    let tokens = state.rt.store.list_tokens(me.user.id).await?;
    Ok(Json(
        json!({"tokens": tokens.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /api/v1/tokens` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    name: String,
}

/// Creates an API token for the caller; the answer is the only time the token is shown.
pub(super) async fn create_token(
    State(state): State<AppState>,
    me: Principal,
    ApiJson(body): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    me.require(Action::OwnAccount)?;
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(invalid_field("name", "`name` must be 1–200 characters"));
    }
    let (token, record) = issue_token(&state, me.user.id, &body.name).await?;
    audit::record(
        &state,
        &me,
        None,
        "token.create",
        "api_token",
        &record.id.to_string(),
        None,
    )
    .await?;
    let mut answer = token_json(&record);
    answer["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Creates a token for `user_id`: the token text and its stored record.
pub(crate) async fn issue_token(
    state: &AppState,
    user_id: i64,
    name: &str,
) -> ApiResult<(String, ApiToken)> {
    let token = new_secret("fy_");
    let record = state
        .rt
        .store
        .create_token(user_id, name, &secret_hash(&token), &token[..10])
        .await?;
    Ok((token, record))
}

/// Revokes one of the caller's tokens (an admin may revoke anyone's).
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let token = state.rt.store.get_token(id).await?;
    let mine = token
        .as_ref()
        .is_some_and(|t| t.user_id == me.user.id || me.user.role == Role::Admin);
    // Someone else's token is invisible, like another tenant's object.
    if !mine {
        return Err(ApiError::not_found(
            "token_not_found",
            format!("no token {id}"),
        ));
    }
    me.require(Action::OwnAccount)?;
    state.rt.store.revoke_token(id).await?;
    audit::record(
        &state,
        &me,
        None,
        "token.revoke",
        "api_token",
        &id.to_string(),
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
