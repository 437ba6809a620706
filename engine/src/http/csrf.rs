//! Cross-site request forgery protection for the session cookie.
//!
//! A browser attaches the cookie to any request to Ferry, also one a foreign page makes, so a
//! state-changing request (POST, PUT, PATCH, DELETE) that authenticates with the cookie must
//! also prove it comes from Ferry's own pages: it carries the session's CSRF token in the
//! `X-CSRF-Token` header (a foreign page cannot read it: it is only in the JSON answers of
//! login and `/me`), and its `Origin`, when the browser sends one, is the server's own.
//! Bearer tokens are not sent by browsers on their own, so they need neither; login and the
//! webhooks do not use the session.

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::error::ApiError;

/// Header that carries the token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Label the session id signs: keeps the token apart from any other use of the id.
const CSRF_LABEL: &[u8] = b"ferry csrf token v1";

fn mac(session_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_id.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(CSRF_LABEL);
    mac
}

/// The CSRF token of a session: HMAC-SHA256 of a fixed label keyed by the session id. Only the
/// holder of the (HttpOnly) cookie can compute it, it lasts as long as the session, and the
/// store keeps nothing new (it has only a hash of the id, which does not give the token).
pub fn csrf_token(session_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(session_id).finalize().into_bytes())
}

/// Refuses a state-changing request authenticated by the session `session_id` unless its
/// `Origin` (when present) is the server's own and it carries the session's token.
pub fn check(parts: &Parts, session_id: &str) -> Result<(), ApiError> {
    if matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    check_origin(&parts.headers)?;
    let Some(sent) = parts.headers.get(CSRF_HEADER) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_missing",
            "a request with the session cookie that changes something needs the header \
             `X-CSRF-Token` with the `csrf_token` of the login answer or of GET /api/v1/me",
        )
        .with_details(json!({"header": "X-CSRF-Token"})));
    };
    let decoded = sent.to_str().ok().and_then(|t| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t.trim())
            .ok()
    });
    // `verify_slice` compares in constant time, so the answer's timing does not leak the token.
    match decoded {
        Some(bytes) if mac(session_id).verify_slice(&bytes).is_ok() => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "`X-CSRF-Token` is not this session's token: take `csrf_token` from the login \
             answer or from GET /api/v1/me",
        )
        .with_details(json!({"header": "X-CSRF-Token"}))),
    }
}

/// 403 `cross_origin_request` when the browser says the request comes from another site.
fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    // Behind a proxy the browser's host is in `X-Forwarded-Host`; directly it is `Host`.
    let own_host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (origin_host, own_host) {
        (Some(o), Some(own)) if o.eq_ignore_ascii_case(own) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_request",
            format!(
                "a request with the session cookie from origin `{origin}` may not change \
                 anything: only Ferry's own pages may"
            ),
        )
        .with_details(json!({"header": "Origin"}))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_depends_on_the_session_and_is_not_its_stored_hash() {
        let a = csrf_token("session-a");
        assert_eq!(a, csrf_token("session-a"));
        assert_ne!(a, csrf_token("session-b"));
        assert_ne!(a, super::super::auth::secret_hash("session-a"));
        assert_eq!(a.len(), 43, "256 bits, URL-safe base64 without padding");
    }
}
