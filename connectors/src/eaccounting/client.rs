//! Requests to the eAccounting API v2 over the `http` connector's client with OAuth2 bearer
//! tokens ([`crate::oauth2`]), and eAccounting's error text put in the error message.
//!
//! eAccounting answers errors as `{"ErrorCode": 4000, "ErrorMessage": "…",
//! "DeveloperErrorMessage": "…", "ErrorId": "…"}` (ASP.NET's own `{"Message": "…"}` on some
//! routing errors); the text is appended to the status line so the activity log says what
//! was refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_engine::connector::{ConnectorContext, ConnectorError, WriteAck};
use reqwest::Method;
use serde_json::Value;

use super::config::EAccountingConfig;
use crate::http::client::HttpClient;
use crate::http::{Auth, HttpConfig};
use crate::json_api::JsonApi;
use crate::oauth2::OAuth2Session;
use crate::wall_clock::WallClock;

/// The company's API.
#[derive(Debug, Clone)]
pub(crate) struct EAccountingApi {
    api: JsonApi,
}

/// Builds the API client of `config`. No I/O.
pub(crate) fn build(
    config: &EAccountingConfig,
    cx: &ConnectorContext,
    clock: Arc<dyn WallClock>,
) -> Result<EAccountingApi, ConnectorError> {
    let base = config.base_url.trim().trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(ConnectorError::Config(format!(
            "`base_url` {:?} must start with https://, e.g. {}",
            config.base_url,
            super::config::DEFAULT_BASE_URL
        )));
    }
    let oauth2 = config.oauth2();
    oauth2.check(super::KIND)?;
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    let http = cx.http.clone();
    let session = OAuth2Session::new(oauth2, http.clone(), timeout, clock).in_context(cx);
    let http_config = HttpConfig {
        base_url: base.to_string(),
        headers: BTreeMap::new(),
        auth: Auth::None,
        timeout_ms: config.timeout_ms,
        health_path: None,
    };
    let client = HttpClient::new(&http_config, http)?.with_token_source(Arc::new(session));
    Ok(EAccountingApi {
        api: JsonApi {
            client: Arc::new(client),
        },
    })
}

impl EAccountingApi {
    /// Sends one request; see [`JsonApi::request`]. Errors carry eAccounting's text.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(WriteAck, Value), ConnectorError> {
        self.api
            .request(method, path, query, body)
            .await
            .map_err(with_message)
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

/// eAccounting's error text from an error body, if it has one.
pub(crate) fn error_text(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let mut parts = Vec::new();
    for field in ["ErrorMessage", "DeveloperErrorMessage", "Message"] {
        if let Some(text) = value[field]
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            && !parts.contains(&text)
        {
            parts.push(text);
        }
    }
    let code = value["ErrorCode"].as_i64();
    if parts.is_empty() {
        return None;
    }
    Some(match code {
        Some(code) => format!("{} (ErrorCode {code})", parts.join(" / ")),
        None => parts.join(" / "),
    })
}

fn with_message(error: ConnectorError) -> ConnectorError {
    let Some(text) = error.body().and_then(error_text) else {
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
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_joins_the_messages_and_code() {
        let body = r#"{"ErrorCode":4005,"ErrorMessage":"Validation failed","DeveloperErrorMessage":"CustomerNumber already exists","ErrorId":"abc"}"#;
        assert_eq!(
            error_text(body).as_deref(),
            Some("Validation failed / CustomerNumber already exists (ErrorCode 4005)")
        );
        assert_eq!(
            error_text(r#"{"Message":"No HTTP resource"}"#).as_deref(),
            Some("No HTTP resource")
        );
        assert_eq!(error_text("<html>"), None);
    }
}
