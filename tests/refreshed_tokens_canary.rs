//! The canary test for OAuth2 tokens obtained while a connection is used: the access tokens an
//! Exact Online token endpoint hands out on refresh, and the refresh tokens it rotates, are not
//! among the credentials the connection was configured with, yet they are never written in
//! clear.
//!
//! A stored `exact_online` connection starts from a plain refresh token. The mock's token
//! endpoint answers every refresh with a canary access token and a canary rotated refresh token
//! that live 30 s (shorter than the refresh margin: every request refreshes first). Its API
//! answers 422 and 500 echoing the request (`Authorization: Bearer <canary>` and body), and 401
//! to a third record, after which the token endpoint answers 503 echoing the refresh request's
//! form (the rotated canary refresh token). `ferry run`, `ferry connection test` (its health
//! check gets a 500 echo) and a run of `ferry serve` fail that way; then the SQLite file (and
//! WAL), every output with `FERRY_LOG=debug`, the service log and the API's answers about the
//! runs and the error queue are searched for the canary.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};

const TENANT: &str = "acme";
const ADMIN_TOKEN: &str = "fy_test-admin-token-0123456789";

/// What the mock vendor hands out and saw.
#[derive(Default)]
struct Vendor {
    /// Prefix of every token it hands out: the canary.
    canary: String,
    /// The refresh token the connection was configured with (not a canary).
    initial_refresh: String,
    refreshes: u64,
    /// The next refresh answers 503 echoing its request (set by the `token-busy` record).
    fail_next_refresh: bool,
    /// Every echo it sent, to prove the canary did travel.
    echoed: Vec<String>,
}

impl Vendor {
    fn access(&self) -> String {
        format!("{}-access-{}", self.canary, self.refreshes)
    }

    fn refresh(&self) -> String {
        if self.refreshes == 0 {
            self.initial_refresh.clone()
        } else {
            format!("{}-refresh-{}", self.canary, self.refreshes)
        }
    }
}

type Shared = Arc<Mutex<Vendor>>;

/// An answer echoing the request as a careless API does: method, URL, headers, body.
async fn echo(vendor: &Shared, status: StatusCode, request: Request) -> Response {
    let answer = json!({"error": {"message": {"value": "refused"}},
        "you_sent": support::echoed_request(request).await});
    vendor.lock().unwrap().echoed.push(answer.to_string());
    (status, axum::Json(answer)).into_response()
}

/// Exact's token endpoint: the current refresh token is good once and rotated.
async fn token(State(vendor): State<Shared>, request: Request) -> Response {
    if std::mem::take(&mut vendor.lock().unwrap().fail_next_refresh) {
        return echo(&vendor, StatusCode::SERVICE_UNAVAILABLE, request).await;
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).to_string();
    let mut v = vendor.lock().unwrap();
    if !body.contains(&format!("refresh_token={}", v.refresh())) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    v.refreshes += 1;
    axum::Json(json!({"access_token": v.access(), "token_type": "bearer",
        "expires_in": "30", "refresh_token": v.refresh()}))
    .into_response()
}

/// Exact's REST API of division 123456: health check and `crm/Accounts` fail echoing.
async fn api(State(vendor): State<Shared>, request: Request) -> Response {
    let bearer = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if bearer != format!("Bearer {}", vendor.lock().unwrap().access()) {
        return (StatusCode::UNAUTHORIZED, "the access token is invalid").into_response();
    }
    if request.method() == axum::http::Method::GET {
        return echo(&vendor, StatusCode::INTERNAL_SERVER_ERROR, request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let name = serde_json::from_slice::<Value>(&bytes).unwrap_or_default()["Name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    match name.as_str() {
        "echo-422" => echo(&vendor, StatusCode::UNPROCESSABLE_ENTITY, request).await,
        "token-busy" => {
            vendor.lock().unwrap().fail_next_refresh = true;
            (StatusCode::UNAUTHORIZED, "the access token was revoked").into_response()
        }
        _ => echo(&vendor, StatusCode::INTERNAL_SERVER_ERROR, request).await,
    }
}

async fn start_vendor(canary: &str) -> (Shared, String) {
    let vendor: Shared = Arc::new(Mutex::new(Vendor {
        canary: canary.to_string(),
        initial_refresh: format!("initial-refresh-{:016x}", rand::random::<u64>()),
        ..Vendor::default()
    }));
    let app = Router::new()
        .route("/api/oauth2/token", post(token))
        .route("/api/v1/123456/{*rest}", any(api))
        .with_state(vendor.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (vendor, url)
}

/// A flow of tenant `acme` in `dir`: three accounts from a file → the stored Exact connection.
fn write_flow(dir: &Path, id: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    // NDJSON: `ferry serve --flows` reads every `.json` of its directory as a flow.
    let records = ["echo-422", "echo-500", "token-busy"]
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"id": i + 1, "name": name}).to_string() + "\n")
        .collect::<String>();
    std::fs::write(dir.join("accounts.ndjson"), records).unwrap();
    let flow = json!({
        "version": 1,
        "id": id,
        "tenant": TENANT,
        "connections": {
            "accounts": {"connector": "file", "config": {"path": "accounts.ndjson"}},
            "erp": {"connector": "exact_online", "stored": "acme-exact"}
        },
        "source": {"connection": "accounts", "operation": "read", "key": "$.id"},
        "steps": [{"id": "to_exact", "type": "mapping", "fields": [
            {"target": "Name", "value": {"type": "jsonpath", "path": "$.name"}}
        ]}],
        "target": {
            "connection": "erp",
            "operation": "create_account",
            "concurrency": 1,
            "retry": {"max_attempts": 2, "initial_interval_ms": 1000, "max_interval_ms": 1000}
        }
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path.display().to_string()
}

fn assert_absent(canary: &str, what: &str, bytes: &[u8]) {
    let found = bytes
        .windows(canary.len())
        .position(|w| w == canary.as_bytes());
    if let Some(at) = found {
        let text = String::from_utf8_lossy(&bytes[at.saturating_sub(300)..]);
        panic!(
            "the canary appears in {what}:\n{}",
            text.chars().take(500).collect::<String>()
        );
    }
}

/// `ferry ARGS` in `dir` with debug logs; the exit code and output.
async fn ferry(dir: &Path, args: &[&str]) -> (i32, String) {
    support::ferry_in(dir, args, &[("FERRY_LOG", "debug".to_string())]).await
}

async fn get(http: &reqwest::Client, url: &str) -> String {
    let answer = http.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{url}");
    answer.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_and_rotated_oauth2_tokens_appear_nowhere_in_clear() {
    let canary = format!("ferry-canary-{:016x}", rand::random::<u64>());
    let (vendor, url) = start_vendor(&canary).await;
    let dir = tempfile::tempdir().unwrap();
    let initial_refresh = vendor.lock().unwrap().initial_refresh.clone();
    let connection = json!({"connector": "exact_online", "config": {
        "base_url": url, "division": 123456, "client_id": "client-1",
        "client_secret": "client-secret-0123456789", "refresh_token": initial_refresh}});
    support::add_connection(dir.path(), TENANT, "acme-exact", &connection).await;
    let mut outputs = String::new();

    // A run of the CLI: each request refreshes first; every record fails echoing the token.
    let flow = write_flow(&dir.path().join("cli"), "cli-accounts");
    let (code, out) = ferry(dir.path(), &["run", &flow]).await;
    assert_ne!(code, 0, "the run must fail:\n{out}");
    assert!(out.contains("Run "), "the flow must run:\n{out}");
    outputs.push_str(&out);
    for args in [
        &["runs", "show", "1", "--json"][..],
        &["runs", "show", "1"],
        &["failed", "cli-accounts"],
    ] {
        outputs.push_str(&ferry(dir.path(), args).await.1);
    }
    // "Test connection": its health check refreshes and gets a 500 echoing the new token.
    let (code, out) = ferry(
        dir.path(),
        &["connection", "test", "--tenant", TENANT, "acme-exact"],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("500"), "{out}");
    outputs.push_str(&out);

    // The service: a run of the same flow started through the API, and the API's answers.
    let flows = dir.path().join("flows");
    write_flow(&flows, "served-accounts");
    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let mut serve = support::ferry_command()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--flows", flows.to_str().unwrap()])
        .env(
            "FERRY_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("ferry.db").display()),
        )
        .env("FERRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("FERRY_LOG", "debug")
        .current_dir(dir.path())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    for attempt in 0.. {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        if attempt == 300 || serve.try_wait().unwrap().is_some() {
            panic!(
                "ferry serve did not answer:\n{}{}",
                std::fs::read_to_string(&log).unwrap_or_default(),
                std::fs::read_to_string(dir.path().join("serve.err")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = http
        .post(format!("{base}/api/v1/flows/served-accounts/runs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202, "{}", started.text().await.unwrap());
    let run_id = started.json::<Value>().await.unwrap()["run_id"]
        .as_i64()
        .unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let run = support::wait_finished(&db, run_id, Duration::from_secs(60)).await;
    assert_ne!(run.status.as_str(), "succeeded");
    let mut answers = String::new();
    for path in [
        "/api/v1/runs".to_string(),
        format!("/api/v1/runs/{run_id}"),
        "/api/v1/flows/served-accounts/failed".to_string(),
    ] {
        answers.push_str(&get(&http, &format!("{base}{path}")).await);
    }
    for id in [1, run_id] {
        let list: Value =
            serde_json::from_str(&get(&http, &format!("{base}/api/v1/runs/{id}/records")).await)
                .unwrap();
        let records = list["records"].as_array().unwrap();
        assert_eq!(records.len(), 3, "{list}");
        for record in records {
            let seq = record["seq"].as_i64().unwrap();
            answers.push_str(&get(&http, &format!("{base}/api/v1/runs/{id}/records/{seq}")).await);
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();

    // The canary did travel and come back: the vendor echoed it, Ferry masked it.
    let (echoed, refreshes) = {
        let v = vendor.lock().unwrap();
        (v.echoed.join("\n"), v.refreshes)
    };
    assert!(refreshes >= 4, "refreshes: {refreshes}");
    assert!(
        echoed.contains(&format!("Bearer {canary}-access-")),
        "{echoed}"
    );
    assert!(
        echoed.contains(&format!("refresh_token={canary}-refresh-")),
        "the rotated refresh token was echoed: {echoed}"
    );
    assert!(
        answers.contains("you_sent") && answers.contains("***"),
        "{answers}"
    );
    assert!(outputs.contains("***"), "{outputs}");

    assert_absent(&canary, "the API's answers", answers.as_bytes());
    assert_absent(
        &canary,
        "the CLI outputs (FERRY_LOG=debug)",
        outputs.as_bytes(),
    );
    for name in ["serve.log", "serve.err"] {
        assert_absent(
            &canary,
            name,
            &std::fs::read(dir.path().join(name)).unwrap(),
        );
    }
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("ferry.db") {
            assert_absent(&canary, &name, &std::fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert!(files >= 1);
}
