//! A mock shop and target for the service tests: the shop serves numbered orders page by page;
//! the target counts committed effects per business key (what a real ERP would hold), answers
//! lookups by key, and refuses the keys it is told to refuse.

#![allow(dead_code)]

pub mod session;
pub mod vendors;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

/// What the mock holds and counts.
#[derive(Default)]
pub struct Target {
    /// Orders the shop serves.
    pub orders: usize,
    /// Effects committed per business key (a create stored the record).
    pub effects: HashMap<String, u32>,
    /// Keys the target refuses with 422.
    pub refuse: HashSet<String>,
    /// Keys the target answers 429 with `Retry-After: 3600` (a used-up daily limit).
    pub throttle: HashSet<String>,
    /// Records received by webhook-triggered or replayed runs, in arrival order.
    pub received: Vec<Value>,
    /// Alert webhooks Ferry posted to `/alerts`.
    pub alerts: Vec<Value>,
}

/// The mock and a counter of answered writes, watched by tests that act right after an answer.
#[derive(Clone)]
pub struct Mock {
    pub state: Arc<Mutex<Target>>,
    pub answered: watch::Sender<u64>,
}

impl Mock {
    pub fn effects(&self) -> HashMap<String, u32> {
        self.state.lock().unwrap().effects.clone()
    }
    pub fn answered(&self) -> u64 {
        *self.answered.borrow()
    }
}

fn order(i: usize) -> Value {
    json!({
        "id": i,
        "name": format!("#{i}"),
        "email": format!("buyer{i}@example.eu"),
        "total_price": format!("{}.{:02}", 10 + i % 90, i % 100),
    })
}

async fn list_orders(
    State(mock): State<Mock>,
    Query(q): Query<HashMap<String, usize>>,
) -> Response {
    let page = q.get("page").copied().unwrap_or(1).max(1);
    let size = q.get("limit").copied().unwrap_or(100);
    let total = mock.state.lock().unwrap().orders;
    let from = (page - 1) * size + 1;
    let items: Vec<Value> = (from..=(from + size - 1).min(total)).map(order).collect();
    axum::Json(json!({"orders": items})).into_response()
}

/// Stores the record: the effect is counted in one step, before any await, so a request either
/// had its effect or did not.
async fn create(State(mock): State<Mock>, axum::Json(body): axum::Json<Value>) -> Response {
    let key = body["external_id"].as_str().unwrap_or_default().to_string();
    if mock.state.lock().unwrap().throttle.contains(&key) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "3600")],
            axum::Json(json!({"error": "daily limit reached"})),
        )
            .into_response();
    }
    let refused = {
        let mut t = mock.state.lock().unwrap();
        if t.refuse.contains(&key) {
            true
        } else {
            *t.effects.entry(key.clone()).or_default() += 1;
            t.received.push(body.clone());
            false
        }
    };
    mock.answered.send_modify(|n| *n += 1);
    if refused {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"error": format!("order {key} refused")})),
        )
            .into_response();
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": format!("T-{key}")})),
    )
        .into_response()
}

async fn alert(State(mock): State<Mock>, axum::Json(body): axum::Json<Value>) -> StatusCode {
    mock.state.lock().unwrap().alerts.push(body);
    StatusCode::NO_CONTENT
}

async fn lookup(State(mock): State<Mock>, UrlPath(key): UrlPath<String>) -> Response {
    if mock.state.lock().unwrap().effects.contains_key(&key) {
        axum::Json(json!({"id": format!("T-{key}")})).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Starts the mock on 127.0.0.1 with `orders` orders; returns it and its base URL.
pub async fn start(orders: usize) -> (Mock, String) {
    let mock = Mock {
        state: Arc::new(Mutex::new(Target {
            orders,
            ..Target::default()
        })),
        answered: watch::channel(0).0,
    };
    let app = Router::new()
        .route("/orders", get(list_orders))
        .route("/sink", post(create))
        .route("/sink/{key}", get(lookup))
        .route("/alerts", post(alert))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (mock, url)
}

/// Writes a flow from the mock shop to the mock target; `trigger` is the flow's trigger JSON.
pub fn write_flow(dir: &Path, id: &str, base_url: &str, trigger: Value) -> PathBuf {
    let flow = json!({
        "version": 1,
        "id": id,
        "trigger": trigger,
        "connections": {
            "shop": {"connector": "http", "config": {"base_url": base_url}},
            "erp": {"connector": "http", "config": {"base_url": base_url}}
        },
        "source": {
            "connection": "shop",
            "operation": "read",
            "params": {
                "path": "/orders",
                "records_path": "orders",
                "pagination": {"type": "page_number", "param": "page", "start": 1, "size_param": "limit", "size": 200}
            },
            "key": "$.id"
        },
        "steps": [{
            "id": "to_erp",
            "type": "mapping",
            "fields": [
                {"target": "external_id", "value": {"type": "jsonpath", "path": "$.id"}, "transform": "string(value)"},
                {"target": "number", "value": {"type": "jsonpath", "path": "$.name"}},
                {"target": "total", "value": {"type": "jsonpath", "path": "$.total_price"}, "transform": "parse_number(value)"}
            ]
        }],
        "target": {
            "connection": "erp",
            "operation": "write",
            "params": {"path": "/sink", "method": "POST", "id_path": "id", "lookup_path": "/sink/{key}"},
            "batch_size": 1,
            "concurrency": 8
        }
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

/// The binary under test; `FERRY_BIN` overrides it (a copy, when other builds share the
/// target directory and may replace the file mid-test).
pub fn ferry_bin() -> String {
    std::env::var("FERRY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ferry").to_string())
}

/// The addresses the tests' mock servers listen on, allowed past the outbound guard in one
/// place (the guard refuses loopback by default).
pub const TEST_ALLOW_NET: &str = "127.0.0.1/32";

/// A command running the binary under test ([`ferry_bin`]) that may reach the mocks on
/// 127.0.0.1 (`FERRY_ALLOW_NET`).
pub fn ferry_command() -> std::process::Command {
    let mut command = std::process::Command::new(ferry_bin());
    command.env("FERRY_ALLOW_NET", TEST_ALLOW_NET);
    command
}

/// Runs `ferry ARGS` to completion with the database `db`; returns exit code and stdout.
pub fn ferry(db: &str, args: &[&str]) -> (i32, String) {
    let out = ferry_command()
        .args(args)
        .env("FERRY_DATABASE_URL", db)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `ferry ARGS` in `dir` on the database `dir/ferry.db` with `env` set, on a blocking
/// thread; returns exit code and stdout + stderr.
pub async fn ferry_in(dir: &Path, args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let mut command = ferry_command();
    command
        .args(args)
        .env(
            "FERRY_DATABASE_URL",
            format!("sqlite://{}", dir.join("ferry.db").display()),
        )
        .current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || {
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + String::from_utf8_lossy(&out.stderr).as_ref();
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

/// Stores `connection` (`{"connector", "config"}`) as `tenant`'s connection `name` with
/// `ferry connection add` in `dir`, through a config file removed afterwards.
pub async fn add_connection(dir: &Path, tenant: &str, name: &str, connection: &serde_json::Value) {
    let file = dir.join("connection-config.json");
    std::fs::write(&file, connection["config"].to_string()).unwrap();
    let kind = connection["connector"].as_str().unwrap();
    let (code, out) = ferry_in(
        dir,
        &[
            "connection",
            "add",
            "--tenant",
            tenant,
            name,
            "--connector",
            kind,
            "--config",
            "connection-config.json",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    std::fs::remove_file(&file).unwrap();
}

/// Starts a long-running `ferry ARGS` (serve, worker) in the background; its log is appended
/// to `log` (kept for a failing test to show).
pub fn spawn_ferry(db: &str, args: &[&str], log: &Path) -> std::process::Child {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    ferry_command()
        .args(args)
        .env("FERRY_DATABASE_URL", db)
        .env("FERRY_LOG", "info,sqlx=warn,apalis=warn")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// Polls the store until run `run_id` has finished (or `limit` passes); returns it.
pub async fn wait_finished(
    db: &str,
    run_id: i64,
    limit: std::time::Duration,
) -> ferry_engine::store::RunRow {
    use ferry_engine::store::RunStatus;
    let store = ferry_engine::store::open(db).await.unwrap();
    let deadline = std::time::Instant::now() + limit;
    loop {
        let run = store.get_run(run_id).await.unwrap().expect("run exists");
        if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {run_id} still {} after {limit:?}",
            run.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A fresh Postgres schema for one test (dropped at the end); its URL puts the schema first
/// and `public` second (apalis' `hstore` type lives there).
pub struct PgSchema {
    pub name: String,
    pub url: String,
}

pub fn pg_base_url() -> String {
    std::env::var("FERRY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        use sqlx::Executor;
        let name = format!("ferry_svc_{:016x}", rand::random::<u64>());
        let admin = sqlx::PgPool::connect(&pg_base_url()).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("create schema {name}")))
            .await
            .unwrap();
        let url = format!("{}?options=-csearch_path%3D{name}%2Cpublic", pg_base_url());
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Executor;
                if let Ok(pool) = sqlx::PgPool::connect(&pg_base_url()).await {
                    let _ = pool
                        .execute(sqlx::AssertSqlSafe(format!(
                            "drop schema if exists {name} cascade"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A free port on 127.0.0.1 (bound, then released for the server under test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The request as a careless API echoes it back in an error: method, URL with query, every
/// header, body. The canary tests plant secrets and check Ferry keeps such echoes clean.
pub async fn echoed_request(request: axum::extract::Request) -> Value {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    json!({
        "method": parts.method.to_string(),
        "url": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    })
}
