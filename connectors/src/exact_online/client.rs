//! Requests to one Exact Online division: paths under `/api/v1/<division>/`, JSON in and out
//! (`Accept: application/json`), OAuth2 bearer tokens and the per-minute limit on every
//! request, and Exact's answers turned into records or [`ConnectorError`]s.
//!
//! Exact wraps answers in `d`: `{"d": {"results": [...], "__next": "<url>"}}` for lists,
//! `{"d": {...}}` for one entity. Errors come as
//! `{"error": {"code": "", "message": {"lang": "", "value": "…"}}}`; the `value` is put in
//! the error's message, so the activity log says what Exact objected to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_engine::connector::{ConnectorContext, ConnectorError, WriteAck};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::config::ExactOnlineConfig;
use super::rate_limit::{MinutelyLimit, wait_after_429};
use crate::http::client::HttpClient;
use crate::http::status::{classify, excerpt, retry_after};
use crate::http::{Auth, HttpConfig};
use crate::json_api::within;
use crate::oauth2::OAuth2Session;
use crate::wall_clock::WallClock;

/// One division's REST API.
#[derive(Debug, Clone)]
pub(crate) struct ExactApi {
    pub(crate) client: Arc<HttpClient>,
    /// `api/v1/<division>`.
    pub(crate) division_path: String,
    limit: Arc<MinutelyLimit>,
    clock: Arc<dyn WallClock>,
}

/// Builds the API client of `config`. No I/O.
pub(crate) fn build(
    config: &ExactOnlineConfig,
    cx: &ConnectorContext,
    clock: Arc<dyn WallClock>,
) -> Result<ExactApi, ConnectorError> {
    let base = config.base();
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(ConnectorError::Config(format!(
            "`base_url` {:?} must start with https://, e.g. {}",
            config.base_url,
            super::config::DEFAULT_BASE_URL
        )));
    }
    if config.division == 0 {
        return Err(ConnectorError::Config(
            "`division` is required: the administration's division number".into(),
        ));
    }
    let oauth2 = config.oauth2();
    oauth2.check(super::KIND)?;
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    let http = cx.http.clone();
    let session = OAuth2Session::new(oauth2, http.clone(), timeout, clock.clone()).in_context(cx);
    let http_config = HttpConfig {
        base_url: base.to_string(),
        headers: BTreeMap::new(),
        auth: Auth::None,
        timeout_ms: config.timeout_ms,
        health_path: None,
    };
    let limit = Arc::new(MinutelyLimit::new(clock.clone()));
    let client = HttpClient::new(&http_config, http)?
        .with_token_source(Arc::new(session))
        .with_throttle(limit.clone());
    Ok(ExactApi {
        client: Arc::new(client),
        division_path: format!("api/v1/{}", config.division),
        limit,
        clock,
    })
}

impl ExactApi {
    /// `entity` (`salesorder/SalesOrders`) under the division.
    pub(crate) fn path(&self, entity: &str) -> String {
        format!("{}/{}", self.division_path, entity.trim_start_matches('/'))
    }

    /// Sends one request to `path` (relative to the base URL, or an absolute `__next` URL on
    /// the same site). A 2xx gives its ack and the parsed body (`null` when empty, as after a
    /// PUT).
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(WriteAck, Value), ConnectorError> {
        let mut url = self.client.url(path, &BTreeMap::new())?;
        if !self.client.same_origin(&url) {
            return Err(ConnectorError::Permanent {
                message: format!(
                    "Exact pointed to {url}, which is not on the configured `base_url`; the access token is not sent there"
                ),
                status: None,
                body: None,
            });
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let shown = format!("{method} {}", self.client.shown(&url));
        // A call now would only collect a 429.
        if let Some(wait) = self.limit.daily_wait() {
            return Err(ConnectorError::RateLimited {
                retry_after: Some(wait),
                message: format!(
                    "{shown}: not sent, Exact Online's daily API limit is used up (X-RateLimit-Remaining: 0)"
                ),
                status: None,
            });
        }
        let body =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|e| ConnectorError::Permanent {
                    message: format!("{shown}: the record cannot be sent as JSON: {e}"),
                    status: None,
                    body: None,
                })?;
        let response = self.client.send(method, url, body).await?;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(&response.headers, SystemTime::now())
                .or_else(|| wait_after_429(&response.headers, self.clock.unix_now()));
            return Err(ConnectorError::RateLimited {
                retry_after: wait,
                message: format!(
                    "{shown}: Exact Online's API limit is used up{}",
                    exact_message(&response.body)
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
                status: Some(429),
            });
        }
        let ack = classify(
            response.status,
            &response.headers,
            &response.body,
            SystemTime::now(),
        )
        .map_err(|e| with_exact_message(e, &response.body))
        .map_err(|e| within(e, &shown))?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok((ack, Value::Null));
        }
        let value =
            serde_json::from_slice(&response.body).map_err(|e| ConnectorError::Permanent {
                message: format!("{shown}: the answer is not JSON: {e}"),
                status: Some(response.status.as_u16()),
                body: Some(excerpt(&response.body)),
            })?;
        Ok((ack, value))
    }

    /// GET, returning the parsed body.
    pub(crate) async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ConnectorError> {
        Ok(self.request(Method::GET, path, query, None).await?.1)
    }
}

/// Exact's error text: `error.message.value` of the answer, if it has one.
pub(crate) fn exact_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = &value["error"]["message"];
    message["value"]
        .as_str()
        .or_else(|| message.as_str())
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
}

/// `error` with Exact's error text added to its message (`HTTP 400 Bad Request: Mandatory:
/// Ordered by`).
fn with_exact_message(error: ConnectorError, body: &[u8]) -> ConnectorError {
    let Some(text) = exact_message(body) else {
        return error;
    };
    match error {
        ConnectorError::Permanent {
            message,
            status,
            body,
        } => ConnectorError::Permanent {
            message: format!("{message}: {text}"),
            status,
            body,
        },
        ConnectorError::Transient {
            message,
            status,
            body,
        } => ConnectorError::Transient {
            message: format!("{message}: {text}"),
            status,
            body,
        },
        // Their messages already carry the start of the body.
        other => other,
    }
}

/// A string as an OData literal: quoted, inner quotes doubled.
pub(crate) fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_error_text_is_found_and_literals_are_escaped() {
        let body =
            br#"{"error":{"code":"","message":{"lang":"","value":"Mandatory: Ordered by"}}}"#;
        assert_eq!(
            exact_message(body).as_deref(),
            Some("Mandatory: Ordered by")
        );
        assert_eq!(exact_message(b"<html>"), None);
        let err = with_exact_message(
            ConnectorError::Permanent {
                message: "HTTP 400 Bad Request".into(),
                status: Some(400),
                body: None,
            },
            body,
        );
        assert!(
            err.to_string()
                .contains("Bad Request: Mandatory: Ordered by"),
            "{err}"
        );
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }
}
