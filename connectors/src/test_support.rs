//! Test helpers shared by the OAuth2 connectors' tests (`exact_online`, `eaccounting`): a
//! local axum server on `127.0.0.1:0` that plays the vendor's API behind a bearer check and
//! its OAuth2 token endpoint, counting refreshes and recording every API request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One API request the mock received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: HashMap<String, String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

/// The mock's token endpoint: the access token it accepts now, and what it was asked.
#[derive(Debug)]
pub(crate) struct TokenServer {
    /// Refreshes answered with a new token.
    pub(crate) refreshes: AtomicUsize,
    /// The access token the API accepts (`access-0` at first, `access-<n>` after refresh n).
    pub(crate) valid: Mutex<String>,
    /// Refresh tokens sent to the endpoint, in order.
    pub(crate) refresh_tokens: Mutex<Vec<String>>,
    /// Refuse every refresh with `invalid_grant`.
    pub(crate) refuse: AtomicBool,
}

impl TokenServer {
    pub(crate) fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
}

/// A running mock.
pub(crate) struct Mock {
    pub(crate) base: String,
    pub(crate) log: Arc<Mutex<Vec<Seen>>>,
    pub(crate) tokens: Arc<TokenServer>,
}

impl Mock {
    /// Serves `api` behind a bearer check, and the token endpoint at `token_path`.
    pub(crate) async fn start(api: Router, token_path: &str) -> Mock {
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let tokens = Arc::new(TokenServer {
            refreshes: AtomicUsize::new(0),
            valid: Mutex::new("access-0".into()),
            refresh_tokens: Mutex::default(),
            refuse: AtomicBool::new(false),
        });
        let api = api
            .layer(from_fn_with_state(tokens.clone(), require_bearer))
            .layer(from_fn_with_state(log.clone(), record));
        let app = Router::new()
            .route(token_path, post(token))
            .with_state(tokens.clone())
            .merge(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock {
            base: format!("http://{addr}"),
            log,
            tokens,
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

/// The token endpoint: a refresh gives `access-<n>` (600 s, as a string like Exact sends it)
/// and rotates the refresh token to `refresh-<n>`.
async fn token(State(tokens): State<Arc<TokenServer>>, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(form.get("client_id").map(String::as_str), Some("client-1"));
    assert_eq!(
        form.get("client_secret").map(String::as_str),
        Some("secret-1")
    );
    tokens
        .refresh_tokens
        .lock()
        .unwrap()
        .push(form.get("refresh_token").cloned().unwrap_or_default());
    if tokens.refuse.load(Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant", "error_description": "The refresh token has expired." })),
        )
            .into_response();
    }
    // A slow endpoint widens the window in which concurrent requests could refresh twice.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let n = tokens.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("access-{n}");
    *tokens.valid.lock().unwrap() = access.clone();
    axum::Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": "600",
        "refresh_token": format!("refresh-{n}"),
    }))
    .into_response()
}

async fn require_bearer(
    State(tokens): State<Arc<TokenServer>>,
    request: Request,
    next: Next,
) -> Response {
    let expected = format!("Bearer {}", tokens.valid.lock().unwrap());
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if given != expected {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": { "code": "", "message": { "lang": "", "value": "Unauthorized" } } })),
        )
            .into_response();
    }
    next.run(request).await
}

async fn record(
    State(log): State<Arc<Mutex<Vec<Seen>>>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The context connectors are built with in tests.
pub(crate) fn context() -> ferry_engine::connector::ConnectorContext {
    ferry_engine::connector::ConnectorContext::new(reqwest::Client::new(), std::env::temp_dir())
}
