//! One HTTP exchange with the configured API: URL building, default headers, auth, timeout,
//! and the mapping of transport failures (refused, DNS, timeout) to [`ConnectorError`].
//!
//! Status codes are not judged here ([`super::status::classify`] does that) and nothing is
//! retried: the engine owns retries.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use ferry_engine::connector::ConnectorError;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::config::{ApiKeyLocation, Auth, HttpConfig, QueryValue};

/// An answer, whatever its status.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A client-side rate limit wrapped around every request of one connection (Shopify's leaky
/// bucket). It may wait before a request; it never retries.
#[async_trait]
pub(crate) trait Throttle: Send + Sync + std::fmt::Debug {
    /// Waits until one more request may go out, and counts it.
    async fn before_request(&self);
    /// Learns from an answer (usage headers, a 429).
    fn after_response(&self, status: StatusCode, headers: &HeaderMap);
}

/// Where a connection's bearer token comes from when it changes over time (OAuth2 access
/// tokens, [`crate::oauth2`]). The client asks for it before every request and tells it when
/// the API refused it (401), then sends the request once more with the token it gets back.
#[async_trait]
pub(crate) trait TokenSource: Send + Sync + std::fmt::Debug {
    /// The token to send now (refreshed first if it is about to expire).
    async fn token(&self) -> Result<String, ConnectorError>;
    /// `token` was refused: a token to try instead (refreshed, or already replaced by another
    /// request).
    async fn rejected(&self, token: &str) -> Result<String, ConnectorError>;
}

/// Query parameters that carry credentials; their values stay out of debug output.
#[derive(Clone, Default)]
struct SecretQuery(Vec<(String, String)>);

impl std::fmt::Debug for SecretQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}=***")))
            .finish()
    }
}

/// The configured API: base URL, headers, credentials and timeout over the shared client.
#[derive(Debug)]
pub(crate) struct HttpClient {
    http: reqwest::Client,
    base_url: Url,
    /// Config headers plus an API key sent as a header (marked sensitive).
    headers: HeaderMap,
    auth: Auth,
    /// Credentials sent as query parameters on every request, masked in messages.
    secret_query: SecretQuery,
    timeout: Duration,
    throttle: Option<Arc<dyn Throttle>>,
    tokens: Option<Arc<dyn TokenSource>>,
}

impl HttpClient {
    /// Checks the config and prepares headers. No I/O.
    pub(crate) fn new(config: &HttpConfig, http: reqwest::Client) -> Result<Self, ConnectorError> {
        let base_url = Url::parse(config.base_url.trim()).map_err(|e| {
            ConnectorError::Config(format!(
                "`base_url` {:?} is not a URL: {e}",
                config.base_url
            ))
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || !base_url.has_host() {
            return Err(ConnectorError::Config(format!(
                "`base_url` must be an http or https URL, not {:?}",
                config.base_url
            )));
        }
        if config.timeout_ms == 0 {
            return Err(ConnectorError::Config(
                "`timeout_ms` must be at least 1".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &config.headers {
            let (name, value) = header(name, value, false)?;
            headers.insert(name, value);
        }
        match &config.auth {
            // Basic credentials are base64-encoded, so any text is fine.
            Auth::None | Auth::Basic { .. } => {}
            Auth::Bearer { token } => {
                header("Authorization", &format!("Bearer {token}"), true)?;
            }
            Auth::ApiKey {
                name,
                value,
                location: ApiKeyLocation::Header,
            } => {
                let (name, value) = header(name, value, true)?;
                headers.insert(name, value);
            }
            Auth::ApiKey {
                name,
                location: ApiKeyLocation::Query,
                ..
            } => {
                if name.is_empty() {
                    return Err(ConnectorError::Config(
                        "the API key's query parameter `name` is empty".into(),
                    ));
                }
            }
        }
        let secret_query = match &config.auth {
            Auth::ApiKey {
                name,
                value,
                location: ApiKeyLocation::Query,
            } => SecretQuery(vec![(name.clone(), value.clone())]),
            _ => SecretQuery::default(),
        };
        Ok(HttpClient {
            http,
            base_url,
            headers,
            auth: config.auth.clone(),
            secret_query,
            timeout: Duration::from_millis(config.timeout_ms),
            throttle: None,
            tokens: None,
        })
    }

    /// Adds credentials sent as query parameters on every request (WooCommerce's
    /// `consumer_key`/`consumer_secret` over plain http). They are masked in messages.
    pub(crate) fn with_query_credentials(mut self, pairs: Vec<(String, String)>) -> Self {
        self.secret_query.0.extend(pairs);
        self
    }

    /// Puts `throttle` in front of every request of this client.
    pub(crate) fn with_throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// Sends `Authorization: Bearer <token>` from `tokens` on every request, and retries a
    /// request refused with 401 once with the token `tokens` gives after the refusal.
    pub(crate) fn with_token_source(mut self, tokens: Arc<dyn TokenSource>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// `path` appended to the base URL (or taken as is when it is an absolute URL), with
    /// `query` added.
    pub(crate) fn url(
        &self,
        path: &str,
        query: &BTreeMap<String, QueryValue>,
    ) -> Result<Url, ConnectorError> {
        let path = path.trim();
        let mut url = if path.starts_with("http://") || path.starts_with("https://") {
            Url::parse(path)
                .map_err(|e| ConnectorError::Config(format!("path {path:?} is not a URL: {e}")))?
        } else {
            let (path_part, query_part) = path.split_once('?').unwrap_or((path, ""));
            let mut url = self.base_url.clone();
            if !path_part.is_empty() {
                let joined = format!(
                    "{}/{}",
                    url.path().trim_end_matches('/'),
                    path_part.trim_start_matches('/')
                );
                url.set_path(&joined);
            }
            if !query_part.is_empty() {
                url.query_pairs_mut()
                    .extend_pairs(url::form_urlencoded::parse(query_part.as_bytes()));
            }
            url
        };
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, &value.to_string());
            }
        }
        Ok(url)
    }

    /// Whether `url` is on the base URL's scheme, host and port (credentials may go there).
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.base_url.origin()
    }

    /// `url` for messages and logs, with query credentials masked.
    pub(crate) fn shown(&self, url: &Url) -> String {
        let mut shown = url.clone();
        for (name, _) in &self.secret_query.0 {
            if shown.query_pairs().any(|(k, _)| k == *name) {
                set_query_param(&mut shown, name, "***");
            }
        }
        shown.to_string()
    }

    /// Sends one request with the configured headers, credentials and timeout. `json` is a
    /// serialized JSON body. Any status is returned; only transport failures are errors. With a
    /// token source, a 401 is retried once with the token it gives after the refusal.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        json: Option<Vec<u8>>,
    ) -> Result<Response, ConnectorError> {
        let Some(tokens) = &self.tokens else {
            return self.send_once(method, url, json, None).await;
        };
        let token = tokens.token().await?;
        let response = self
            .send_once(method.clone(), url.clone(), json.clone(), Some(&token))
            .await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let fresh = tokens.rejected(&token).await?;
        self.send_once(method, url, json, Some(&fresh)).await
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        json: Option<Vec<u8>>,
        bearer: Option<&str>,
    ) -> Result<Response, ConnectorError> {
        let shown = format!("{method} {}", self.shown(&url));
        let mut url = url;
        for (name, value) in &self.secret_query.0 {
            set_query_param(&mut url, name, value);
        }
        let mut request = self
            .http
            .request(method, url)
            .headers(self.headers.clone())
            .timeout(self.timeout);
        request = match &self.auth {
            Auth::Bearer { token } => request.bearer_auth(token),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::None | Auth::ApiKey { .. } => request,
        };
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(json) = json {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(ferry_engine::outbound::request_body(json));
        }
        if let Some(throttle) = &self.throttle {
            throttle.before_request().await;
        }
        tracing::debug!(request = %shown, "http connector request");
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&shown, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(throttle) = &self.throttle {
            throttle.after_response(status, &headers);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&shown, e))?;
        tracing::debug!(request = %shown, status = status.as_u16(), bytes = body.len(), "http connector answer");
        Ok(Response {
            status,
            headers,
            body: body.into(),
        })
    }

    /// Classifies a failure to get an answer at all.
    fn transport_error(&self, request: &str, error: reqwest::Error) -> ConnectorError {
        // The URL may carry a query API key; `request` shows it masked instead.
        let error = error.without_url();
        if let Some(blocked) = ferry_engine::outbound::blocked_in(&error) {
            // Retrying cannot make an internal address public: fix the URL or allow the range.
            return ConnectorError::Config(format!("{request}: {blocked}"));
        }
        let mut detail = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !detail.contains(&text) {
                detail = format!("{detail}: {text}");
            }
            source = cause.source();
        }
        if error.is_timeout() {
            ConnectorError::Transient {
                message: format!(
                    "{request}: no answer within {} ms",
                    self.timeout.as_millis()
                ),
                status: None,
                body: None,
            }
        } else if error.is_connect() {
            ConnectorError::NotConnected(format!("{request}: {detail}"))
        } else if error.is_builder() {
            ConnectorError::Config(format!("{request}: {detail}"))
        } else {
            ConnectorError::Transient {
                message: format!("{request}: {detail}"),
                status: None,
                body: None,
            }
        }
    }
}

/// A checked header; `sensitive` keeps the value out of debug output.
fn header(
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(HeaderName, HeaderValue), ConnectorError> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConnectorError::Config(format!("{name:?} is not a valid HTTP header name")))?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| {
        ConnectorError::Config(format!(
            "the value of header `{name}` has characters a header cannot carry"
        ))
    })?;
    header_value.set_sensitive(sensitive);
    Ok((header_name, header_value))
}

/// Sets query parameter `name` to `value`, replacing any earlier occurrence.
pub(crate) fn set_query_param(url: &mut Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(name, value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn client(config: serde_json::Value) -> Result<HttpClient, ConnectorError> {
        HttpClient::new(
            &serde_json::from_value(config).unwrap(),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn paths_are_appended_to_the_base_path() {
        let c = client(json!({ "base_url": "https://shop.example.com/wp-json/wc/v3/" })).unwrap();
        let query = BTreeMap::from([("status".to_string(), QueryValue::String("any".into()))]);
        assert_eq!(
            c.url("/orders", &query).unwrap().as_str(),
            "https://shop.example.com/wp-json/wc/v3/orders?status=any"
        );
        assert_eq!(
            c.url("orders?page=2", &BTreeMap::new()).unwrap().as_str(),
            "https://shop.example.com/wp-json/wc/v3/orders?page=2"
        );
        assert_eq!(
            c.url("", &BTreeMap::new()).unwrap().as_str(),
            "https://shop.example.com/wp-json/wc/v3/"
        );
        assert_eq!(
            c.url("https://other.example/x", &BTreeMap::new())
                .unwrap()
                .as_str(),
            "https://other.example/x"
        );
    }

    #[test]
    fn bad_settings_are_config_errors() {
        for config in [
            json!({ "base_url": "shop.example.com" }),
            json!({ "base_url": "ftp://shop.example.com" }),
            json!({ "base_url": "https://a.example", "timeout_ms": 0 }),
            json!({ "base_url": "https://a.example", "headers": { "Bad Header": "x" } }),
            json!({ "base_url": "https://a.example", "headers": { "X-A": "line\nbreak" } }),
            json!({ "base_url": "https://a.example", "auth": { "type": "api_key", "name": "", "value": "k", "in": "query" } }),
            json!({ "base_url": "https://a.example", "auth": { "type": "bearer", "token": "a\nb" } }),
        ] {
            assert!(
                matches!(client(config.clone()), Err(ConnectorError::Config(_))),
                "{config}"
            );
        }
    }

    #[test]
    fn query_api_keys_are_masked_in_shown_urls() {
        let c = client(json!({
            "base_url": "https://a.example",
            "auth": { "type": "api_key", "name": "api_key", "value": "s3cret", "in": "query" }
        }))
        .unwrap();
        let url = Url::parse("https://a.example/x?page=2&api_key=s3cret").unwrap();
        let shown = c.shown(&url);
        assert!(
            !shown.contains("s3cret") && shown.contains("page=2"),
            "{shown}"
        );
        let c = c.with_query_credentials(vec![("consumer_secret".into(), "cs_hidden".into())]);
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("cs_hidden"),
            "{debug}"
        );
        assert!(debug.contains("consumer_secret=***"), "{debug}");
    }
}
