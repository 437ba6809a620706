//! `POST /hooks/{flow_id}/{token}`: a delivery becomes a queued run whose records are the body.
//!
//! Checks, in order: the flow exists, is enabled and is webhook-triggered, and the token matches
//! (otherwise 404, saying nothing about which); the body fits the flow's limit (413); the
//! signature is valid when the flow has a secret (401); the body is JSON (400); the delivery id
//! was not seen before (a duplicate is answered 200 and ignored).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use crate::flow::model::Trigger;
use crate::runtime::Runtime;

const DEFAULT_SIGNATURE_HEADER: &str = "X-Ferry-Signature";
const DELIVERY_ID_HEADERS: [&str; 3] = [
    "X-Delivery-Id",
    "X-Shopify-Webhook-Id",
    "X-WC-Webhook-Delivery-ID",
];
const DEFAULT_MAX_BODY_KIB: u32 = 1024;

pub(super) async fn receive(
    State(rt): State<Arc<Runtime>>,
    Path((flow_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "hook_not_found",
            "no webhook at this address: check the flow id and token",
        )
    };
    let flow = rt.store.get_flow(&flow_id).await?.ok_or_else(not_found)?;
    // Compare digests, so the time taken says nothing about how much of the token matched.
    if Sha256::digest(token.as_bytes()) != Sha256::digest(flow.webhook_token.as_bytes())
        || !flow.enabled
    {
        return Err(not_found());
    }
    let Some(Trigger::Webhook {
        secret,
        signature_header,
        delivery_id_header,
        max_body_kib,
    }) = Runtime::webhook_trigger(&flow)
    else {
        return Err(not_found());
    };

    let limit = max_body_kib.unwrap_or(DEFAULT_MAX_BODY_KIB) as usize * 1024;
    if body.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body has {} bytes; this flow accepts at most {limit}",
                body.len()
            ),
        ));
    }

    if let Some(secret) = secret {
        let secret = rt.connect.resolve(&secret).map_err(|e| {
            tracing::error!(flow_id, error = %e, "Webhook secret cannot be resolved.");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "webhook_misconfigured",
                "the flow's webhook secret is not set on the server",
            )
        })?;
        let header = signature_header
            .as_deref()
            .unwrap_or(DEFAULT_SIGNATURE_HEADER);
        let given = headers.get(header).and_then(|v| v.to_str().ok());
        if !given.is_some_and(|sig| signature_matches(secret.as_bytes(), &body, sig)) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                format!("header `{header}` must carry the HMAC-SHA256 of the raw body"),
            ));
        }
    }

    let records = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items,
        Ok(item @ Value::Object(_)) => vec![item],
        Ok(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "the body must be a JSON object or an array of objects",
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not JSON: {e}"),
            ));
        }
    };

    let delivery_id = match &delivery_id_header {
        Some(name) => headers.get(name.as_str()),
        None => DELIVERY_ID_HEADERS.iter().find_map(|h| headers.get(*h)),
    }
    .and_then(|v| v.to_str().ok())
    .map(str::to_string);
    if let Some(id) = &delivery_id
        && !rt.store.record_webhook_delivery(&flow.id, id).await?
    {
        return Ok((
            StatusCode::OK,
            Json(json!({"duplicate": true, "delivery_id": id})),
        ));
    }

    let texts: Vec<String> = records.iter().map(Value::to_string).collect();
    let run_id = rt.trigger(&flow.id, "webhook", &texts).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run_id": run_id, "records": texts.len(), "delivery_id": delivery_id})),
    ))
}

/// Whether `given` (base64 or hex, optionally `sha256=`-prefixed) is the HMAC-SHA256 of
/// `body` under `secret`. The comparison takes the same time wherever the bytes differ.
pub(crate) fn signature_matches(secret: &[u8], body: &[u8], given: &str) -> bool {
    let given = given.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    let decoded =
        decode_hex(given).or_else(|| base64::engine::general_purpose::STANDARD.decode(given).ok());
    let Some(signature) = decoded else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn signatures_are_accepted_as_base64_hex_or_prefixed_and_refused_otherwise() {
        let body = br#"{"id": 1}"#;
        let raw = sign("s3cret", body);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert!(signature_matches(b"s3cret", body, &b64));
        assert!(signature_matches(b"s3cret", body, &hex));
        assert!(signature_matches(b"s3cret", body, &format!("sha256={hex}")));
        assert!(!signature_matches(b"other", body, &b64));
        assert!(!signature_matches(b"s3cret", br#"{"id": 2}"#, &b64));
        assert!(!signature_matches(b"s3cret", body, "not a signature"));
    }
}
