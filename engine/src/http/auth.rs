//! Authentication: `Authorization: Bearer <token>` or the `ferry_session` cookie of a password
//! login. Passwords are argon2id hashes; tokens and session ids are random and stored only as
//! SHA-256 hex, so a database dump lets no one in.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::store::User;

use super::AppState;
use super::access::{Action, Principal};
use super::csrf::{self, csrf_token};
use super::error::{ApiError, ApiJson, ApiResult};

/// Name of the UI's session cookie.
pub const SESSION_COOKIE: &str = "ferry_session";
/// How long a login lasts.
const SESSION_HOURS: i64 = 12;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> String {
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// SHA-256 hex of a token or session id: what the store keeps.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random secret (256 bits), `prefix` + URL-safe base64.
pub fn new_secret(prefix: &str) -> String {
    let bytes = rand::random::<[u8; 32]>();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "send `Authorization: Bearer <token>` or log in at POST /api/v1/login",
    )
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let store = &state.rt.store;
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(unauthenticated)?;
            let user = store
                .user_by_token(&secret_hash(token.trim()))
                .await?
                .ok_or_else(unauthenticated)?;
            return Ok(Principal {
                user,
                session_hash: None,
                csrf_token: None,
            });
        }
        if let Some(id) = session_cookie(&parts.headers) {
            let hash = secret_hash(id);
            let user = store
                .user_by_session(&hash, &crate::store::now())
                .await?
                .ok_or_else(unauthenticated)?;
            csrf::check(parts, id)?;
            return Ok(Principal {
                user,
                session_hash: Some(hash),
                csrf_token: Some(csrf_token(id)),
            });
        }
        Err(unauthenticated())
    }
}

/// A user as the API shows it.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "email": u.email, "role": u.role.as_str(), "tenants": u.tenants,
        "disabled": u.disabled, "created_at": u.created_at,
    })
}

/// `POST /api/v1/login` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    email: String,
    password: String,
}

/// Password login: sets the session cookie.
pub(super) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<Response> {
    if let Err(wait) = state.login_throttle.check(&body.email) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_login_attempts",
            format!(
                "too many wrong passwords for this email; try again in {} minutes",
                wait.as_secs().div_ceil(60)
            ),
        )
        .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return Ok(response);
    }
    let store = &state.rt.store;
    let found = store.user_by_email(&body.email).await?;
    // Verify against some hash even for an unknown email, so timing does not tell which exist.
    let hash = match &found {
        Some((_, h)) => h.as_str(),
        None => DUMMY_HASH.get_or_init(|| hash_password(&new_secret(""))),
    };
    let valid = verify_password(&body.password, hash);
    let user = match found {
        Some((user, _)) if valid && !user.disabled => user,
        _ => {
            if !valid {
                state.login_throttle.failed(&body.email);
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong email or password, or the user is disabled",
            ));
        }
    };
    let id = new_secret("");
    let expires = chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS);
    store
        .create_session(&secret_hash(&id), user.id, &crate::store::stamp(expires))
        .await?;
    state.login_throttle.succeeded(&body.email);
    // Behind a TLS-terminating proxy the cookie must never travel over plain HTTP.
    let secure = if forwarded_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    );
    let mut response =
        Json(json!({"user": user_json(&user), "csrf_token": csrf_token(&id)})).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Whether the request reached the proxy in front of Ferry over HTTPS (`X-Forwarded-Proto`).
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Ends the session of the cookie (a bearer token stays valid: revoke it instead).
pub(super) async fn logout(State(state): State<AppState>, me: Principal) -> ApiResult<Response> {
    if let Some(hash) = &me.session_hash {
        state.rt.store.delete_session(hash).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("ferry_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
    );
    Ok(response)
}

/// The caller, with the session's CSRF token when it came with the cookie (a page reloaded
/// after login finds it here).
pub(super) async fn me(me: Principal) -> ApiResult<Json<Value>> {
    me.require(Action::OwnAccount)?;
    Ok(Json(
        json!({"user": user_json(&me.user), "csrf_token": me.csrf_token}),
    ))
}

/// `PUT /api/v1/me/password` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's own password.
pub(super) async fn change_password(
    State(state): State<AppState>,
    me: Principal,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    me.require(Action::OwnAccount)?;
    let store = &state.rt.store;
    let hash = store
        .user_by_email(&me.user.email)
        .await?
        .map(|(_, h)| h)
        .unwrap_or_default();
    if !verify_password(&body.current_password, &hash) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_credentials",
            "`current_password` is wrong",
        ));
    }
    check_password(&body.new_password, "new_password")?;
    store
        .set_password(me.user.id, &hash_password(&body.new_password))
        .await?;
    super::audit::record(
        &state,
        &me,
        None,
        "user.password",
        "user",
        &me.user.id.to_string(),
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 422 `weak_password` unless `password` is long enough.
pub fn check_password(password: &str, field: &str) -> ApiResult<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            format!("`{field}` needs at least {MIN_PASSWORD_LEN} characters"),
        )
        .with_details(json!({"field": field})));
    }
    Ok(())
}

/// An argon2id hash of a random password nobody knows, verified when the email is unknown.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
