//! What an HTTP answer means for the engine: [`classify`] turns a status, headers and body into
//! an acknowledgement or a [`ConnectorError`] whose variant carries the retry decision.
//!
//! | status | result |
//! |---|---|
//! | 2xx | `Ok(WriteAck)` with status and body excerpt |
//! | 429, or 503 with a `Retry-After` | `RateLimited`, `retry_after` from the header (seconds or HTTP date) |
//! | 408, 425, 500, 502, 503, 504, other 5xx | `Transient` |
//! | 401, 403 | `Auth` |
//! | 501, 505, 1xx, 3xx, other 4xx | `Permanent` with status and body excerpt |
//!
//! Redirects normally never get here (the shared client follows them); one that does means the
//! endpoint is wrong, hence `Permanent`.

use std::time::{Duration, SystemTime};

use ferry_engine::connector::{ConnectorError, LONGEST_TARGET_WAIT, WriteAck};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest body excerpt kept in acks and errors, in bytes.
pub(crate) const BODY_EXCERPT_BYTES: usize = 2000;

/// Longest excerpt put into the message of errors that have no body field (`Auth`, `RateLimited`).
const MESSAGE_EXCERPT_CHARS: usize = 300;

/// Classifies one HTTP answer. `now` is injected so `Retry-After` dates are testable.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<WriteAck, ConnectorError> {
    let code = status.as_u16();
    let excerpt = excerpt(body);
    let message = describe(status, &excerpt);
    match code {
        200..=299 => Ok(WriteAck {
            status: Some(code),
            body: (!excerpt.is_empty()).then_some(excerpt),
            target_id: None,
        }),
        429 => Err(ConnectorError::RateLimited {
            retry_after: retry_after(headers, now),
            message,
            status: Some(code),
        }),
        503 if retry_after(headers, now).is_some() => Err(ConnectorError::RateLimited {
            retry_after: retry_after(headers, now),
            message,
            status: Some(code),
        }),
        401 | 403 => Err(ConnectorError::Auth(message)),
        408 | 425 | 500 | 502..=504 => Err(transient(code, excerpt)),
        501 | 505 => Err(permanent(code, excerpt)),
        500..=599 => Err(transient(code, excerpt)),
        _ => Err(permanent(code, excerpt)),
    }
}

fn transient(code: u16, excerpt: String) -> ConnectorError {
    ConnectorError::Transient {
        message: status_line(code),
        status: Some(code),
        body: (!excerpt.is_empty()).then_some(excerpt),
    }
}

fn permanent(code: u16, excerpt: String) -> ConnectorError {
    ConnectorError::Permanent {
        message: status_line(code),
        status: Some(code),
        body: (!excerpt.is_empty()).then_some(excerpt),
    }
}

/// `HTTP 422 Unprocessable Entity`.
fn status_line(code: u16) -> String {
    match StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    }
}

/// The status line plus the start of the body, for errors without a body field.
fn describe(status: StatusCode, excerpt: &str) -> String {
    let line = status_line(status.as_u16());
    let short: String = excerpt.chars().take(MESSAGE_EXCERPT_CHARS).collect();
    if short.trim().is_empty() {
        line
    } else {
        format!("{line}: {}", short.trim())
    }
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date (a past date is no
/// wait), at most [`LONGEST_TARGET_WAIT`]. Fractional seconds (`2.0`, as Shopify sends them)
/// are accepted. `None` when the header is absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        Duration::from_secs_f64(seconds.min(LONGEST_TARGET_WAIT.as_secs_f64()))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(LONGEST_TARGET_WAIT))
}

/// The first [`BODY_EXCERPT_BYTES`] of a body as text, never splitting a character.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT_BYTES)];
    let mut text = match std::str::from_utf8(cut) {
        Ok(text) => text.to_string(),
        // Only the cut split a character: drop its first bytes.
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    };
    if text.len() > BODY_EXCERPT_BYTES {
        let mut end = BODY_EXCERPT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn run(code: u16, retry_after: Option<&str>, body: &str) -> Result<WriteAck, ConnectorError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        classify(
            StatusCode::from_u16(code).unwrap(),
            &headers,
            body.as_bytes(),
            now,
        )
    }

    #[test]
    fn success_acks_with_status_and_body() {
        let ack = run(201, None, r#"{"id":5}"#).unwrap();
        assert_eq!(ack.status, Some(201));
        assert_eq!(ack.body.as_deref(), Some(r#"{"id":5}"#));
        assert_eq!(run(204, None, "").unwrap().body, None);
    }

    #[test]
    fn too_many_requests_is_rate_limited_with_seconds_or_date() {
        let err = run(429, Some("2"), "slow down").unwrap_err();
        assert!(
            matches!(&err, ConnectorError::RateLimited { status: Some(429), message, .. } if message.contains("slow down"))
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        let err = run(429, Some("Tue, 14 Nov 2023 22:13:50 GMT"), "").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        let err = run(429, Some("Tue, 14 Nov 2023 22:00:00 GMT"), "").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::ZERO));
        let err = run(429, Some("2.5"), "").unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_millis(2500)));
        // A wait of millennia, in any form, is taken as the longest wait.
        for absurd in ["10000000000000", "1e300", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            let err = run(429, Some(absurd), "").unwrap_err();
            assert_eq!(err.retry_after(), Some(LONGEST_TARGET_WAIT), "{absurd}");
        }
        let err = run(429, None, "").unwrap_err();
        assert!(matches!(
            err,
            ConnectorError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        assert!(err.is_retryable());
    }

    #[test]
    fn unavailable_is_rate_limited_only_with_retry_after() {
        assert_eq!(
            run(503, Some("7"), "").unwrap_err().retry_after(),
            Some(Duration::from_secs(7))
        );
        let err = run(503, None, "maintenance").unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Transient { status: Some(503), body: Some(b), .. } if b == "maintenance")
        );
        assert!(matches!(
            run(503, Some("soon"), "").unwrap_err(),
            ConnectorError::Transient { .. }
        ));
    }

    #[test]
    fn timeouts_and_server_errors_are_transient() {
        for code in [408, 425, 500, 502, 503, 504, 520] {
            let err = run(code, None, "").unwrap_err();
            assert!(
                matches!(err, ConnectorError::Transient { status: Some(c), .. } if c == code),
                "{code}"
            );
            assert!(err.is_retryable());
        }
    }

    #[test]
    fn refused_credentials_are_auth_errors() {
        for code in [401, 403] {
            let err = run(code, None, r#"{"errors":"[API] Invalid API key"}"#).unwrap_err();
            assert!(
                matches!(&err, ConnectorError::Auth(m) if m.contains(&code.to_string()) && m.contains("Invalid API key"))
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn other_client_errors_are_permanent_with_status_and_body() {
        for code in [400, 404, 409, 422, 501, 304] {
            let err = run(code, None, r#"{"code":"invalid"}"#).unwrap_err();
            assert_eq!(err.status(), Some(code));
            assert_eq!(err.body(), Some(r#"{"code":"invalid"}"#));
            assert!(matches!(err, ConnectorError::Permanent { .. }), "{code}");
        }
        let err = run(422, None, "").unwrap_err();
        assert!(
            err.to_string().contains("422 Unprocessable Entity"),
            "{err}"
        );
    }

    #[test]
    fn excerpt_keeps_2000_bytes_without_splitting_characters() {
        let long = "é".repeat(1500); // 3000 bytes
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.len(), 2000);
        assert!(cut.chars().all(|c| c == 'é'));
        let odd = format!("a{}", "é".repeat(1500));
        assert_eq!(excerpt(odd.as_bytes()).len(), 1999);
        assert_eq!(excerpt(b"ok"), "ok");
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }
}
