//! OAuth2 access tokens from a refresh token, shared by the connectors of systems that use the
//! authorization-code flow (Exact Online, Visma eAccounting).
//!
//! An [`OAuth2Session`] belongs to one connection and hands out its access token
//! ([`TokenSource`]) to every request of it:
//!
//! - the token is refreshed **ahead** of its expiry, when less than [`REFRESH_MARGIN`] is
//!   left (Exact's tokens live 10 minutes), so requests do not collect 401s;
//! - a 401 on a request refreshes once and the request is sent again (the token may have been
//!   revoked early); a second 401 is the vendor's `Auth` answer;
//! - the state sits behind one async mutex: eight concurrent requests that find the token
//!   stale cause one refresh, the others wait for it and use its result;
//! - vendors that rotate refresh tokens (Exact returns a new one with every refresh and
//!   invalidates the old one) get the new one used for the next refresh;
//! - for a stored connection (a [`CredentialKeeper`] in the context), every refresh saves the
//!   new tokens into it, sealed like the rest of its credentials, so the next run or the next
//!   process starts from them and not from a refresh token the vendor has already invalidated;
//! - processes that share a stored connection read it again before refreshing (another one may
//!   have refreshed already) and after a refused refresh (another one may have rotated the
//!   token a moment ago): they adopt the stored tokens instead of locking each other out;
//! - every token it obtains (refreshed or adopted, access or refresh) is reported to the
//!   connection's [`Redactor`] before it is used, so a vendor that echoes the `Authorization`
//!   header or the refresh request in an error does not put a live token in the activity log.
//!
//! A refused refresh token (`invalid_grant`: expired, revoked or already rotated) that no stored
//! newer token replaces is an [`ConnectorError::Auth`] that tells the user to reconnect.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use ferry_engine::connector::{ConnectorContext, ConnectorError, CredentialKeeper};
use ferry_engine::credential::Redactor;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use crate::http::client::TokenSource;
use crate::http::status::{classify, excerpt};
use crate::wall_clock::WallClock;

/// A token with less than this left is refreshed before it is used.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Lifetime assumed when the token endpoint does not say (`expires_in` absent).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// After a refused refresh, how often the stored connection is read again for a token another
/// process has just rotated (it saves it right after the vendor answers), and how long apart.
const ADOPT_POLLS: u32 = 5;
const ADOPT_POLL_WAIT: Duration = Duration::from_millis(200);

/// Where and how to refresh a connection's access token.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuth2Config {
    /// The token endpoint (Exact: `https://start.exactonline.nl/api/oauth2/token`).
    pub token_url: String,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The refresh token obtained when the user authorized the app.
    pub refresh_token: String,
    /// An access token still valid, if one is known; otherwise the first request refreshes.
    pub access_token: Option<String>,
    /// When `access_token` expires, in seconds since 1970-01-01 UTC. Unknown: the token is
    /// used until the vendor refuses it.
    pub expires_at: Option<u64>,
}

/// Secrets stay out of logs.
impl fmt::Debug for OAuth2Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Config")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("refresh_token", &"***")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl OAuth2Config {
    /// Checks that the required fields are there. `what` names the connector for messages.
    pub(crate) fn check(&self, what: &str) -> Result<(), ConnectorError> {
        let url = url::Url::parse(self.token_url.trim()).map_err(|e| {
            ConnectorError::Config(format!(
                "`{what}` token URL {:?} is not a URL: {e}",
                self.token_url
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectorError::Config(format!(
                "`{what}` token URL {:?} must be http or https",
                self.token_url
            )));
        }
        for (name, value) in [
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ] {
            if value.trim().is_empty() {
                return Err(ConnectorError::Config(format!(
                    "`{what}` connection: `{name}` is required; connect the app to get a refresh token"
                )));
            }
        }
        Ok(())
    }
}

/// The mutable part: the current tokens.
#[derive(Debug)]
struct Tokens {
    access_token: Option<String>,
    /// Since the Unix epoch.
    expires_at: Option<Duration>,
    refresh_token: String,
}

/// A connection's OAuth2 tokens, refreshed when needed; see the module docs.
pub(crate) struct OAuth2Session {
    config: OAuth2Config,
    http: reqwest::Client,
    timeout: Duration,
    clock: Arc<dyn WallClock>,
    /// The stored connection's credentials: new tokens are saved there and read back.
    keeper: Option<Arc<dyn CredentialKeeper>>,
    /// Learns every token obtained, so what Ferry writes about the connection is redacted of it.
    redactor: Redactor,
    /// An async mutex: it is held across the refresh request so concurrent callers wait for
    /// one refresh instead of each starting their own.
    tokens: tokio::sync::Mutex<Tokens>,
}

impl fmt::Debug for OAuth2Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Session")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OAuth2Session {
    /// A session starting from `config`'s tokens. No I/O.
    pub(crate) fn new(
        config: OAuth2Config,
        http: reqwest::Client,
        timeout: Duration,
        clock: Arc<dyn WallClock>,
    ) -> Self {
        let tokens = Tokens {
            access_token: config.access_token.clone().filter(|t| !t.trim().is_empty()),
            expires_at: config.expires_at.map(Duration::from_secs),
            refresh_token: config.refresh_token.clone(),
        };
        OAuth2Session {
            config,
            http,
            timeout,
            clock,
            keeper: None,
            redactor: Redactor::default(),
            tokens: tokio::sync::Mutex::new(tokens),
        }
    }

    /// The same session in the connection's context: its tokens are kept in the stored
    /// connection (when `cx` has a keeper) and reported to its redactor.
    pub(crate) fn in_context(mut self, cx: &ConnectorContext) -> Self {
        self.keeper = cx.credentials.clone();
        self.redactor = cx.redactor.clone();
        self
    }

    /// Reports the tokens of `tokens` to the redactor: they are secrets from now on.
    fn learn(&self, tokens: &Tokens) {
        if let Some(access_token) = &tokens.access_token {
            self.redactor.learn(access_token);
        }
        self.redactor.learn(&tokens.refresh_token);
    }

    /// Whether `tokens` holds an access token that is not about to expire.
    fn usable(&self, tokens: &Tokens) -> Option<String> {
        let token = tokens.access_token.clone()?;
        match tokens.expires_at {
            Some(at) if at.saturating_sub(self.clock.unix_now()) < REFRESH_MARGIN => None,
            _ => Some(token),
        }
    }

    /// Refreshes, saving the new tokens in the stored connection. When the vendor refuses the
    /// refresh token and the stored connection meanwhile holds another one (a process sharing
    /// the connection rotated it), adopts the stored tokens: their access token if it is still
    /// good and not `refused`, otherwise a refresh with their refresh token.
    async fn refresh(
        &self,
        tokens: &mut Tokens,
        refused: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let mut refusals = 0;
        loop {
            let used = tokens.refresh_token.clone();
            match self.request_refresh(tokens).await {
                Ok(token) => {
                    self.save(tokens).await;
                    return Ok(token);
                }
                Err(e @ ConnectorError::Auth(_)) if self.keeper.is_some() && refusals < 2 => {
                    refusals += 1;
                    if !self.adopt_rotated(tokens, &used).await {
                        return Err(e);
                    }
                    if let Some(token) = self.usable(tokens).filter(|t| Some(t.as_str()) != refused)
                    {
                        return Ok(token);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the stored tokens into `tokens` when they are newer than ours: another refresh
    /// token, or another access token that lives longer. Whether they were taken.
    async fn adopt_stored(&self, tokens: &mut Tokens) -> bool {
        let Some(keeper) = &self.keeper else {
            return false;
        };
        let stored = match keeper.load().await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(token_url = %self.config.token_url, error = %e, "Could not read the connection's stored tokens.");
                return false;
            }
        };
        let refresh_token = stored["refresh_token"].as_str().unwrap_or("").trim();
        let access_token = stored["access_token"]
            .as_str()
            .filter(|t| !t.trim().is_empty());
        let expires_at = stored["expires_at"].as_u64().map(Duration::from_secs);
        let newer_refresh = !refresh_token.is_empty() && refresh_token != tokens.refresh_token;
        let newer_access = access_token.is_some()
            && access_token != tokens.access_token.as_deref()
            && expires_at > tokens.expires_at;
        if !(newer_refresh || newer_access) {
            return false;
        }
        if !refresh_token.is_empty() {
            tokens.refresh_token = refresh_token.to_string();
        }
        tokens.access_token = access_token.map(str::to_string);
        tokens.expires_at = expires_at;
        self.learn(tokens);
        true
    }

    /// After `used` was refused: waits a little for the process that rotated it to save the
    /// new token, then adopts it. Whether a different refresh token was found.
    async fn adopt_rotated(&self, tokens: &mut Tokens, used: &str) -> bool {
        for poll in 0..ADOPT_POLLS {
            if poll > 0 {
                tokio::time::sleep(ADOPT_POLL_WAIT).await;
            }
            if self.adopt_stored(tokens).await && tokens.refresh_token != used {
                tracing::info!(token_url = %self.config.token_url, "Another process rotated the refresh token; using the stored one.");
                return true;
            }
        }
        false
    }

    /// Saves `tokens` into the stored connection. A failure is logged, not returned: the
    /// request at hand has its token, but the next process may have to reconnect.
    async fn save(&self, tokens: &Tokens) {
        let Some(keeper) = &self.keeper else {
            return;
        };
        let changes = serde_json::json!({
            "refresh_token": tokens.refresh_token,
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at.map(|at| at.as_secs()),
        });
        if let Err(e) = keeper.save(changes).await {
            tracing::error!(token_url = %self.config.token_url, error = %e, "The refreshed OAuth2 tokens could not be saved in the stored connection; if the vendor rotated the refresh token, the connection must be reconnected after a restart.");
        }
    }

    /// Asks the token endpoint for a new access token and keeps the answer in `tokens`.
    async fn request_refresh(&self, tokens: &mut Tokens) -> Result<String, ConnectorError> {
        let shown = format!("POST {}", self.config.token_url.trim());
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &tokens.refresh_token)
            .append_pair("client_id", &self.config.client_id)
            .append_pair("client_secret", &self.config.client_secret)
            .finish();
        let response = self
            .http
            .post(self.config.token_url.trim())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(form)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport_error(&shown, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&shown, e))?;
        if matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
            return Err(refused(&shown, status, &body));
        }
        classify(status, &headers, &body, SystemTime::now()).map_err(|e| {
            crate::json_api::within(e, &format!("refreshing the access token: {shown}"))
        })?;
        let answer: Value =
            serde_json::from_slice(&body).map_err(|e| ConnectorError::Permanent {
                message: format!("{shown}: the token answer is not JSON: {e}"),
                status: Some(status.as_u16()),
                // A successful answer may hold fresh tokens not yet known to the redactor.
                body: None,
            })?;
        let Some(access_token) = answer["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(ConnectorError::Permanent {
                message: format!("{shown}: the token answer has no `access_token`"),
                status: Some(status.as_u16()),
                body: None,
            });
        };
        // Exact sends `expires_in` as a string ("600"); the RFC says a number.
        let lifetime = match &answer["expires_in"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME);
        tokens.access_token = Some(access_token.to_string());
        tokens.expires_at = Some(self.clock.unix_now() + lifetime);
        if let Some(rotated) = answer["refresh_token"].as_str().filter(|t| !t.is_empty()) {
            tokens.refresh_token = rotated.to_string();
        }
        self.learn(tokens);
        tracing::debug!(token_url = %self.config.token_url, "OAuth2 access token refreshed.");
        Ok(access_token.to_string())
    }
}

#[async_trait]
impl TokenSource for OAuth2Session {
    async fn token(&self) -> Result<String, ConnectorError> {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = self.usable(&tokens) {
            return Ok(token);
        }
        // A process sharing the stored connection may have refreshed already.
        if self.adopt_stored(&mut tokens).await
            && let Some(token) = self.usable(&tokens)
        {
            return Ok(token);
        }
        self.refresh(&mut tokens, None).await
    }

    async fn rejected(&self, token: &str) -> Result<String, ConnectorError> {
        let mut tokens = self.tokens.lock().await;
        // Another request already replaced the refused token: use the new one.
        if let Some(current) = tokens.access_token.as_deref()
            && current != token
        {
            return Ok(current.to_string());
        }
        self.refresh(&mut tokens, Some(token)).await
    }
}

/// The token endpoint refused the refresh (400/401): the user has to connect the app again,
/// except when the app's own credentials are wrong.
fn refused(shown: &str, status: StatusCode, body: &[u8]) -> ConnectorError {
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = answer["error"].as_str().unwrap_or("");
    let description = answer["error_description"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| excerpt(body));
    let hint = if code == "invalid_client" {
        "the client id or client secret is wrong; check the app's credentials"
    } else {
        "the refresh token was refused (expired, revoked or already used); reconnect the connection to authorize Ferry again"
    };
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" `{code}`")
    };
    ConnectorError::Auth(format!(
        "{shown}: HTTP {}{code}: {hint}{}",
        status.as_u16(),
        if description.trim().is_empty() {
            String::new()
        } else {
            format!(" ({})", description.trim())
        }
    ))
}

fn transport_error(shown: &str, error: reqwest::Error) -> ConnectorError {
    let error = error.without_url();
    if let Some(blocked) = ferry_engine::outbound::blocked_in(&error) {
        return ConnectorError::Config(format!("{shown}: {blocked}"));
    }
    if error.is_connect() {
        ConnectorError::NotConnected(format!("{shown}: {error}"))
    } else {
        ConnectorError::Transient {
            message: format!("{shown}: {error}"),
            status: None,
            body: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = OAuth2Config {
            token_url: "https://start.exactonline.nl/api/oauth2/token".into(),
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            refresh_token: "rtoken".into(),
            access_token: Some("atoken".into()),
            expires_at: Some(1),
        };
        let shown = format!("{config:?}");
        for secret in ["csecret", "rtoken", "atoken"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(config.check("exact_online").is_ok());
        let missing = OAuth2Config {
            refresh_token: " ".into(),
            ..config
        };
        assert!(
            matches!(missing.check("exact_online"), Err(ConnectorError::Config(m)) if m.contains("refresh_token"))
        );
    }

    /// A token endpoint that fails with 503 once, then answers RFC-style (numeric
    /// `expires_in`, no new refresh token).
    async fn flaky_token_endpoint() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use axum::routing::post;
        let calls: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let seen = calls.clone();
        let app = axum::Router::new().route(
            "/token",
            post(move |body: String| {
                let seen = seen.clone();
                async move {
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(body);
                        seen.len()
                    };
                    if n == 1 {
                        return (StatusCode::SERVICE_UNAVAILABLE, "busy".to_string());
                    }
                    (
                        StatusCode::OK,
                        format!(
                            r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600}}"#
                        ),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/token"), calls)
    }

    #[tokio::test]
    async fn a_failing_token_endpoint_is_retryable_and_a_kept_refresh_token_is_reused() {
        use crate::wall_clock::tests::ManualWallClock;
        let (token_url, calls) = flaky_token_endpoint().await;
        let clock = Arc::new(ManualWallClock::default());
        let session = OAuth2Session::new(
            OAuth2Config {
                token_url,
                client_id: "cid".into(),
                client_secret: "cs".into(),
                refresh_token: "rt-original".into(),
                access_token: None,
                expires_at: None,
            },
            reqwest::Client::new(),
            Duration::from_secs(5),
            clock.clone(),
        );
        let err = session.token().await.unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Transient { status: Some(503), message, .. } if message.contains("refreshing the access token")),
            "{err:?}"
        );
        assert_eq!(session.token().await.unwrap(), "at-2");
        // Valid for an hour: no refresh before 59 minutes have passed.
        clock.advance(Duration::from_secs(3530));
        assert_eq!(session.token().await.unwrap(), "at-2");
        clock.advance(Duration::from_secs(20));
        assert_eq!(session.token().await.unwrap(), "at-3");
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3);
        assert!(
            calls
                .iter()
                .all(|body| body.contains("refresh_token=rt-original")),
            "a vendor that does not rotate keeps the first refresh token: {calls:?}"
        );
    }

    #[tokio::test]
    async fn refreshed_and_rotated_tokens_are_reported_to_the_redactor_before_use() {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/token",
            post(|| async {
                r#"{"access_token":"fresh-access-token","expires_in":600,"refresh_token":"rotated-refresh-token"}"#
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let redactor = Redactor::new(["configured-refresh-token".to_string()]);
        let cx = ConnectorContext::new(reqwest::Client::new(), ".").with_redactor(redactor.clone());
        let session = OAuth2Session::new(
            OAuth2Config {
                token_url: format!("http://{addr}/token"),
                client_id: "cid".into(),
                client_secret: "client-secret".into(),
                refresh_token: "configured-refresh-token".into(),
                access_token: None,
                expires_at: None,
            },
            reqwest::Client::new(),
            Duration::from_secs(5),
            Arc::new(crate::wall_clock::tests::ManualWallClock::default()),
        )
        .in_context(&cx);
        let echoed = "Bearer fresh-access-token; refresh_token=rotated-refresh-token";
        assert_eq!(redactor.redact(echoed), echoed);
        assert_eq!(session.token().await.unwrap(), "fresh-access-token");
        assert_eq!(redactor.redact(echoed), "Bearer ***; refresh_token=***");
    }

    #[test]
    fn refused_refresh_says_to_reconnect_unless_the_client_is_wrong() {
        let err = refused(
            "POST t",
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"expired"}"#,
        );
        assert!(
            matches!(&err, ConnectorError::Auth(m) if m.contains("reconnect") && m.contains("invalid_grant") && m.contains("expired")),
            "{err}"
        );
        let err = refused(
            "POST t",
            StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client"}"#,
        );
        assert!(
            matches!(&err, ConnectorError::Auth(m) if m.contains("client secret")),
            "{err}"
        );
    }
}
