//! A target's `Retry-After` holds every process on the database, not only the one that was told:
//! a `ferry worker` running one flow gets `429 Retry-After: 3`, and a `ferry run` of another flow
//! writing to the same system, started during the pause, sends nothing until it ends. Real
//! processes, real HTTP, on a SQLite file and on Postgres.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The wait the mock asks for on its first request.
const RETRY_AFTER_SECS: u64 = 3;
/// Records each flow sends.
const RECORDS: usize = 20;

/// What the mock target saw.
#[derive(Default)]
struct Seen {
    /// Every write request: when it arrived, its key, the status it was answered.
    arrivals: Vec<(Instant, String, u16)>,
    /// Records stored per key.
    effects: HashMap<String, u32>,
}

#[derive(Clone)]
struct Mock {
    seen: Arc<Mutex<Seen>>,
    /// When the 429 was answered, once it was.
    paused_at: watch::Sender<Option<Instant>>,
}

/// The first request ever is answered `429 Retry-After: 3`; every other one is stored.
async fn write(State(mock): State<Mock>, axum::Json(body): axum::Json<Value>) -> Response {
    let key = body["external_id"].as_str().unwrap_or_default().to_string();
    let now = Instant::now();
    let mut seen = mock.seen.lock().unwrap();
    if seen.arrivals.is_empty() {
        seen.arrivals.push((now, key, 429));
        mock.paused_at.send_replace(Some(now));
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", RETRY_AFTER_SECS.to_string())],
            axum::Json(json!({"error": "slow down"})),
        )
            .into_response();
    }
    seen.arrivals.push((now, key.clone(), 201));
    *seen.effects.entry(key.clone()).or_default() += 1;
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": format!("T-{key}")})),
    )
        .into_response()
}

async fn lookup(State(mock): State<Mock>, UrlPath(key): UrlPath<String>) -> Response {
    if mock.seen.lock().unwrap().effects.contains_key(&key) {
        axum::Json(json!({"id": format!("T-{key}")})).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn start_mock() -> (Mock, String) {
    let mock = Mock {
        seen: Arc::default(),
        paused_at: watch::channel(None).0,
    };
    let app = Router::new()
        .route("/sink", post(write))
        .route("/sink/{key}", get(lookup))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (mock, url)
}

/// A flow reading `records` (ids from `first_id`) from a file beside it and writing them to the
/// mock, `concurrency` requests at a time.
fn write_flow(
    dir: &Path,
    id: &str,
    target_url: &str,
    first_id: usize,
    concurrency: usize,
) -> PathBuf {
    let records: Vec<Value> = (first_id..first_id + RECORDS)
        .map(|i| json!({"id": i, "name": format!("#{i}")}))
        .collect();
    std::fs::write(
        dir.join(format!("{id}.records.json")),
        serde_json::to_string(&records).unwrap(),
    )
    .unwrap();
    let flow = json!({
        "version": 1,
        "id": id,
        "connections": {
            "orders": {"connector": "file", "config": {"path": format!("{id}.records.json")}},
            "erp": {"connector": "http", "config": {"base_url": target_url}}
        },
        "source": {"connection": "orders", "operation": "read", "key": "$.id"},
        "steps": [{
            "id": "to_erp",
            "type": "mapping",
            "fields": [
                {"target": "external_id", "value": {"type": "jsonpath", "path": "$.id"}, "transform": "string(value)"},
                {"target": "number", "value": {"type": "jsonpath", "path": "$.name"}}
            ]
        }],
        "target": {
            "connection": "erp",
            "operation": "write",
            "params": {"path": "/sink", "method": "POST", "id_path": "id", "lookup_path": "/sink/{key}"},
            "concurrency": concurrency
        }
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

/// The scenario on the database at `db`.
async fn no_process_sends_while_the_target_is_paused(db: &str) {
    let (mock, mock_url) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    // One request at a time for the worker's flow: the 429 is its only request in flight.
    let first = write_flow(dir.path(), "orders_to_erp", &mock_url, 1, 1);
    let second = write_flow(dir.path(), "refunds_to_erp", &mock_url, 101, 4);
    let (code, out) = support::ferry(db, &["flows", "import", first.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");

    let log = dir.path().join("worker.log");
    let mut worker = support::spawn_ferry(db, &["worker", "--concurrency", "1"], &log);
    let (code, out) = support::ferry(db, &["trigger", "orders_to_erp"]);
    assert_eq!(code, 0, "{out}");
    let mut paused = mock.paused_at.subscribe();
    let paused_at = tokio::time::timeout(Duration::from_secs(60), paused.wait_for(Option::is_some))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the worker never sent: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .unwrap()
        .unwrap();

    // Once the worker has stored the pause (a few ms after the answer), another process with
    // another flow writing to the same system starts.
    let store = ferry_engine::store::open(db).await.unwrap();
    let key = format!("http:{mock_url}");
    let mut stored = None;
    for _ in 0..100 {
        stored = store.target_pause("default", &key).await.unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored = stored.unwrap_or_else(|| panic!("no pause stored for `{key}`"));
    assert_eq!((stored.status, stored.retry_after_ms), (Some(429), 3_000));
    let started = Instant::now();
    let run = support::ferry_command()
        .args(["run", "--quiet", second.to_str().unwrap()])
        .env("FERRY_DATABASE_URL", db)
        .output()
        .unwrap();
    let run_out = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        started - paused_at < Duration::from_secs(1),
        "`ferry run` started {:?} after the 429, too late to prove anything",
        started - paused_at
    );
    assert_eq!(run.status.code(), Some(0), "{run_out}");
    let queued = support::wait_finished(db, 1, Duration::from_secs(60)).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(
        queued.status.as_str(),
        "succeeded",
        "{:?}\n{}",
        queued.error,
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let seen = mock.seen.lock().unwrap();
    let pause = Duration::from_secs(RETRY_AFTER_SECS);
    // The pause is stored as the sender's clock at the answer plus 3 s, so it cannot end before
    // 3 s after the mock answered; 200 ms covers timer and clock granularity.
    let during: Vec<_> = seen
        .arrivals
        .iter()
        .filter(|(at, _, _)| {
            *at > paused_at && *at - paused_at < pause - Duration::from_millis(200)
        })
        .collect();
    let first_after = seen
        .arrivals
        .iter()
        .filter(|(at, _, _)| *at > paused_at)
        .map(|(at, _, _)| *at - paused_at)
        .min()
        .unwrap();
    println!(
        "{db}: 429 Retry-After: {RETRY_AFTER_SECS}; `ferry run` started {} ms into the pause; \
         requests during the pause: {}; first request after the 429: +{} ms; {} requests in all",
        (started - paused_at).as_millis(),
        during.len(),
        first_after.as_millis(),
        seen.arrivals.len()
    );
    assert!(during.is_empty(), "requests during the pause: {during:?}");
    assert_eq!(
        seen.arrivals.iter().filter(|(_, _, s)| *s == 429).count(),
        1
    );
    // Every record of both flows stored once: nothing lost, nothing sent twice.
    assert_eq!(seen.effects.len(), 2 * RECORDS, "{:?}", seen.effects);
    assert!(seen.effects.values().all(|n| *n == 1), "{:?}", seen.effects);
    assert_eq!(seen.arrivals.len(), 2 * RECORDS + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_holds_every_process_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    no_process_sends_while_the_target_is_paused(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_holds_every_process_on_postgres() {
    let schema = support::PgSchema::create().await;
    no_process_sends_while_the_target_is_paused(&schema.url).await;
}
