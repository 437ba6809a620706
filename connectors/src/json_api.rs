//! JSON requests to a vendor REST API for the dedicated shop connectors (`shopify`,
//! `woocommerce`), over the `http` connector's client: one call sends a request, classifies the
//! answer ([`crate::http::status::classify`]) and parses the body.
//!
//! Errors are given context ([`within`]) so the activity log says which record and which
//! request failed, not just the status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use ferry_engine::connector::{ConnectorError, WriteAck};
use reqwest::Method;
use serde_json::Value;

use crate::http::client::HttpClient;
use crate::http::status::{classify, excerpt};

/// A REST/JSON API: paths relative to the client's base URL.
#[derive(Debug, Clone)]
pub(crate) struct JsonApi {
    pub(crate) client: Arc<HttpClient>,
}

impl JsonApi {
    /// Sends one request. A 2xx answer gives its ack (status, body excerpt) and parsed body
    /// (`null` when empty); anything else is the classified error, prefixed with the request.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(WriteAck, Value), ConnectorError> {
        let mut url = self.client.url(path, &BTreeMap::new())?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let shown = format!("{method} {}", self.client.shown(&url));
        let body =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|e| ConnectorError::Permanent {
                    message: format!("{shown}: the record cannot be sent as JSON: {e}"),
                    status: None,
                    body: None,
                })?;
        let response = self.client.send(method, url, body).await?;
        let ack = classify(
            response.status,
            &response.headers,
            &response.body,
            SystemTime::now(),
        )
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

/// `error` with `context` put in front of its message (`record \`SKU-1\`: POST /products.json:
/// HTTP 422 …`). The variant, status and body stay as they were.
pub(crate) fn within(error: ConnectorError, context: &str) -> ConnectorError {
    match error {
        ConnectorError::Config(m) => ConnectorError::Config(format!("{context}: {m}")),
        ConnectorError::Auth(m) => ConnectorError::Auth(format!("{context}: {m}")),
        ConnectorError::NotConnected(m) => ConnectorError::NotConnected(format!("{context}: {m}")),
        ConnectorError::RateLimited {
            retry_after,
            message,
            status,
        } => ConnectorError::RateLimited {
            retry_after,
            message: format!("{context}: {message}"),
            status,
        },
        ConnectorError::Transient {
            message,
            status,
            body,
        } => ConnectorError::Transient {
            message: format!("{context}: {message}"),
            status,
            body,
        },
        ConnectorError::Permanent {
            message,
            status,
            body,
        } => ConnectorError::Permanent {
            message: format!("{context}: {message}"),
            status,
            body,
        },
    }
}

/// A record that cannot be sent as it is: `Permanent`, naming the record and the field.
pub(crate) fn bad_record(key: &str, problem: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!("record `{key}`: {problem}"),
        status: None,
        body: None,
    }
}

/// An id field as text: a whole number, or a string of one (`"450789469"`).
pub(crate) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) => s.parse::<u64>().ok().map(|n| n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn context_is_prefixed_and_the_variant_kept() {
        let err = within(
            ConnectorError::Permanent {
                message: "HTTP 422".into(),
                status: Some(422),
                body: Some("{}".into()),
            },
            "record `A`",
        );
        assert_eq!(err.status(), Some(422));
        assert_eq!(err.body(), Some("{}"));
        assert!(err.to_string().contains("record `A`: HTTP 422"), "{err}");
        assert!(matches!(
            within(ConnectorError::Auth("x".into()), "y"),
            ConnectorError::Auth(m) if m == "y: x"
        ));
    }

    #[test]
    fn ids_are_numbers_or_digit_strings() {
        assert_eq!(id_text(&json!(42)), Some("42".into()));
        assert_eq!(id_text(&json!("42")), Some("42".into()));
        assert_eq!(id_text(&json!("4a")), None);
        assert_eq!(id_text(&json!(-1)), None);
        assert_eq!(id_text(&Value::Null), None);
    }
}
