//! End to end: the `ferry` binary runs a flow over real HTTP against a local mock shop and ERP,
//! on a temporary SQLite file, and we check what the ERP received and what the activity log says.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

#[derive(Default)]
struct Mock {
    orders: Vec<Value>,
    /// Every request the ERP side received: (method, path, body).
    received: Vec<(String, String, Value)>,
    /// Answers to give before behaving normally, per order number.
    scripted: HashMap<String, Vec<(u16, Option<&'static str>)>>,
}

type Shared = Arc<Mutex<Mock>>;

fn order(i: u64) -> Value {
    json!({
        "id": 1000 + i, "name": format!("#{}", 1000 + i), "financial_status": if i.is_multiple_of(5) { "pending" } else { "paid" },
        "total_price": format!("{}.00", 100 + i), "customer": {"email": format!("Buyer{i}@Example.com")},
        "line_items": [{"sku": format!("SKU-{i}"), "quantity": 1 + i % 3, "price": "10.00"}]
    })
}

async fn orders(
    State(mock): State<Shared>,
    Query(q): Query<HashMap<String, usize>>,
) -> axum::Json<Value> {
    let page = q.get("page").copied().unwrap_or(1);
    let limit = q.get("limit").copied().unwrap_or(10);
    let m = mock.lock().unwrap();
    let items: Vec<Value> = m
        .orders
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .cloned()
        .collect();
    axum::Json(json!({"orders": items}))
}

fn answer(mock: &Shared, method: &str, path: String, body: Value) -> Response {
    let mut m = mock.lock().unwrap();
    m.received.push((method.to_string(), path, body.clone()));
    let number = body["number"].as_str().unwrap_or_default().to_string();
    if let Some(queue) = m.scripted.get_mut(&number)
        && !queue.is_empty()
    {
        let (status, retry_after) = queue.remove(0);
        let mut headers = HeaderMap::new();
        if let Some(ra) = retry_after {
            headers.insert("retry-after", ra.parse().unwrap());
        }
        let body = json!({"error": {"code": "rejected", "message": format!("order {number} refused with {status}")}});
        return (
            StatusCode::from_u16(status).unwrap(),
            headers,
            body.to_string(),
        )
            .into_response();
    }
    let id = format!("SO-{}", number.trim_start_matches('#'));
    (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
}

async fn create(State(mock): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    answer(&mock, "POST", "/salesorders".into(), body)
}

async fn update(
    State(mock): State<Shared>,
    UrlPath(id): UrlPath<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    answer(&mock, "PUT", format!("/salesorders/{id}"), body)
}

async fn start_mock(mock: Shared) -> String {
    let app = Router::new()
        .route("/orders", get(orders))
        .route("/salesorders", post(create))
        .route("/salesorders/{id}", put(update))
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn write_flow(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let flow = json!({
        "version": 1, "id": "orders-to-erp", "name": "Orders to ERP",
        "connections": {
            "shop": {"connector": "http", "config": {"base_url": base_url}},
            "erp": {"connector": "http", "config": {"base_url": base_url, "auth": {"type": "bearer", "token": "${ERP_TOKEN}"}}}
        },
        "source": {"connection": "shop", "operation": "read", "key": "$.name", "params": {
            "path": "/orders", "records_path": "orders",
            "pagination": {"type": "page_number", "param": "page", "start": 1, "size_param": "limit", "size": 10}}},
        "steps": [
            {"id": "paid_only", "type": "filter", "condition": "record.financial_status == \"paid\""},
            {"id": "to_sales_order", "type": "mapping", "fields": [
                {"target": "number", "value": {"type": "jsonpath", "path": "$.name"}},
                {"target": "email", "value": {"type": "jsonpath", "path": "$.customer.email", "cardinality": "required"}, "transform": "lower(value)"},
                {"target": "total", "value": {"type": "jsonpath", "path": "$.total_price"}, "transform": "parse_number(value)"},
                {"target": "lines", "value": {"type": "for_each", "path": "$.line_items[*]", "fields": [
                    {"target": "sku", "value": {"type": "jsonpath", "path": "$.sku"}},
                    {"target": "qty", "value": {"type": "jsonpath", "path": "$.quantity"}}]}}
            ]}
        ],
        "target": {"connection": "erp", "operation": "write", "concurrency": 4,
            "params": {"path": "/salesorders", "update_path": "/salesorders/{target_id}", "update_method": "PUT", "id_path": "id"},
            "retry": {"max_attempts": 3, "initial_interval_ms": 1000, "max_interval_ms": 2000}}
    });
    let path = dir.join("orders-to-erp.json");
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

fn ferry(dir: &Path, args: &[&str]) -> (i32, String) {
    let db = format!("sqlite://{}", dir.join("ferry.db").display());
    let out = support::ferry_command()
        .args(args)
        .env("FERRY_DATABASE_URL", db)
        .env("ERP_TOKEN", "t0ken")
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn ferry_async(dir: &Path, args: &[&str]) -> (i32, String) {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        ferry(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_logs_skips_unchanged_updates_changed_and_fails_bad_records_alone() {
    let mock: Shared = Arc::default();
    {
        let mut m = mock.lock().unwrap();
        m.orders = (1..=25).map(order).collect();
        m.orders[2]["customer"] = json!({}); // #1003: no email → mapping fails (required)
        // #1007: the ERP refuses it for good; #1008: 503 then 429 with Retry-After, then accepted.
        m.scripted
            .insert("#1007".into(), vec![(422, None), (422, None), (422, None)]);
        m.scripted
            .insert("#1008".into(), vec![(503, None), (429, Some("1"))]);
    }
    let url = start_mock(mock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), &url);
    let flow_arg = flow.to_str().unwrap();

    // First run: 25 read, 5 pending filtered, #1003 fails in mapping, #1007 refused, 18 created.
    let (code, out) = ferry_async(dir.path(), &["run", flow_arg]).await;
    assert_eq!(code, 1, "records failed, so exit 1:\n{out}");
    assert!(
        out.contains("read 25 · created 18 · updated 0 · skipped 0 · filtered 5 · failed 2"),
        "{out}"
    );
    {
        let m = mock.lock().unwrap();
        let posts: Vec<&Value> = m
            .received
            .iter()
            .filter(|(method, _, _)| method == "POST")
            .map(|(_, _, b)| b)
            .collect();
        // 18 created + #1007 once (422 is permanent) + #1008 twice more (503, 429) = 21
        assert_eq!(posts.len(), 21, "{posts:?}");
        let first = posts.iter().find(|b| b["number"] == "#1001").unwrap();
        assert_eq!(
            **first,
            json!({"number": "#1001", "email": "buyer1@example.com", "total": 101.0, "lines": [{"sku": "SKU-1", "qty": 2}]})
        );
    }

    // The activity log says what happened to each record, with the target's answer.
    let (_, shown) = ferry_async(dir.path(), &["runs", "show", "1", "--outcome", "failed"]).await;
    let bad_mapping = line_with(&shown, "#1003");
    assert!(bad_mapping.contains("failed") && bad_mapping.contains("step `to_sales_order`: field `email`: required value `$.customer.email` matched nothing"), "{bad_mapping}");
    let refused = line_with(&shown, "#1007");
    assert!(
        refused.contains("422") && refused.contains("rejected"),
        "{refused}"
    );
    let (_, json_lines) = ferry_async(
        dir.path(),
        &["runs", "show", "1", "--key", "#1008", "--json"],
    )
    .await;
    let retried: Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(retried["outcome"], "created");
    assert_eq!(retried["attempts"], 3);
    assert_eq!(retried["response"]["target_id"], "SO-1008");
    assert_eq!(retried["input"]["name"], "#1008");
    // Each record's output is what was sent; a record failed in mapping keeps what its fields
    // made; a filtered one has none (outputs are stored per page, rows point into them).
    let output_of = |run: &'static str, key: &'static str| {
        let dir = dir.path().to_path_buf();
        async move {
            let (_, line) = ferry_async(&dir, &["runs", "show", run, "--key", key, "--json"]).await;
            let record: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
            record["output"].clone()
        }
    };
    let sent_1001 = json!({"number": "#1001", "email": "buyer1@example.com", "total": 101.0, "lines": [{"sku": "SKU-1", "qty": 2}]});
    assert_eq!(output_of("1", "#1001").await, sent_1001);
    assert_eq!(output_of("1", "#1003").await["number"], "#1003");
    assert_eq!(
        output_of("1", "#1005").await,
        Value::Null,
        "#1005 is filtered"
    );

    // Second run, same data: nothing new is sent; the two failures are tried again and fail again.
    mock.lock().unwrap().received.clear();
    mock.lock()
        .unwrap()
        .scripted
        .insert("#1007".into(), vec![(422, None)]);
    let (code, out) = ferry_async(dir.path(), &["run", flow_arg]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("read 25 · created 0 · updated 0 · skipped 18 · filtered 5 · failed 2"),
        "{out}"
    );
    assert_eq!(
        mock.lock().unwrap().received.len(),
        1,
        "only the refused order is tried again"
    );
    assert_eq!(
        output_of("2", "#1001").await,
        sent_1001,
        "skipped as unchanged"
    );

    // A changed order is sent again as an update to the id the ERP gave it; a fixed one is created.
    {
        let mut m = mock.lock().unwrap();
        m.received.clear();
        m.orders[3]["total_price"] = json!("999.00"); // #1004
        m.orders[2]["customer"] = json!({"email": "fixed@example.com"}); // #1003
        m.scripted.clear();
    }
    let (code, out) = ferry_async(dir.path(), &["run", flow_arg]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("read 25 · created 2 · updated 1 · skipped 17 · filtered 5 · failed 0"),
        "{out}"
    );
    let update = mock
        .lock()
        .unwrap()
        .received
        .iter()
        .find(|(method, _, _)| method == "PUT")
        .cloned()
        .expect("an update");
    assert_eq!(update.1, "/salesorders/SO-1004");
    assert_eq!(update.2["total"], 999.0);

    let (_, runs) = ferry_async(dir.path(), &["runs"]).await;
    assert_eq!(
        runs.lines().filter(|l| l.contains("orders-to-erp")).count(),
        3,
        "{runs}"
    );
}

#[tokio::test]
async fn validate_reports_every_problem_with_position_and_map_shows_field_errors() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "http://127.0.0.1:9");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&flow).unwrap()).unwrap();
    doc["steps"][1]["fields"][0]["value"]["path"] = json!("$.name[");
    doc["steps"][1]["fields"][2]["transform"] = json!("parse_number(value");
    doc["steps"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "paid_only", "type": "filter", "condition": "true"}));
    doc["target"]["operation"] = json!("explode");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let (code, out) = ferry_async(dir.path(), &["validate", broken.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    for needle in [
        "steps[2].id (step `paid_only`): duplicate step id `paid_only`",
        "target.operation: connector `http` has no operation `explode`",
        "steps[1].fields[0].value.path (step `to_sales_order`): invalid JSONPath `$.name[`",
        "steps[1].fields[2].transform (step `to_sales_order`): Rhai syntax error",
    ] {
        let line = line_with(&out, needle);
        assert!(
            line.starts_with(&format!("{}:", broken.display())),
            "line and column first: {line}"
        );
    }

    let (code, out) = ferry_async(dir.path(), &["validate", flow.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");

    let sample = dir.path().join("sample.ndjson");
    let mut no_email = order(2);
    no_email["customer"] = json!({});
    std::fs::write(
        &sample,
        format!("{}\n{}\n{}\n", order(1), no_email, order(5)),
    )
    .unwrap();
    let (code, out) = ferry_async(
        dir.path(),
        &[
            "map",
            flow.to_str().unwrap(),
            "--input",
            sample.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    let results: Value = serde_json::from_str(&out[..out.rfind(']').unwrap() + 1]).unwrap();
    assert_eq!(results[0]["output"]["email"], "buyer1@example.com");
    assert_eq!(results[1]["outcome"], "failed");
    assert_eq!(results[1]["errors"][0]["field"], "email");
    assert_eq!(results[2]["outcome"], "filtered");

    let (code, out) = ferry_async(
        dir.path(),
        &["jsonpath", "$.line_items[*].sku", sample.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 2, "NDJSON is not one JSON document: {out}");
    let one = dir.path().join("one.json");
    std::fs::write(&one, order(3).to_string()).unwrap();
    let (code, out) = ferry_async(
        dir.path(),
        &["jsonpath", "$.line_items[*].sku", one.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        (code, serde_json::from_str::<Value>(&out).unwrap()),
        (0, json!(["SKU-3"]))
    );
    let (code, out) = ferry_async(
        dir.path(),
        &["jsonpath", "$.line_items[", one.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 2);
    assert!(out.contains("invalid JSONPath `$.line_items[`"), "{out}");
}

async fn slow_orders(Query(q): Query<HashMap<String, usize>>) -> axum::Json<Value> {
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let page = q.get("page").copied().unwrap_or(1) as u64;
    let items: Vec<Value> = (0..10).map(|i| order(page * 10 + i)).collect();
    axum::Json(json!({ "orders": items }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_reading_logs_what_was_read_and_closes_the_run() {
    let mock: Shared = Arc::default();
    let app = Router::new()
        .route("/orders", get(slow_orders))
        .route("/salesorders", post(create))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), &url); // endless source: every page is full
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let child = support::ferry_command()
        .args(["run", flow.to_str().unwrap()])
        .env("FERRY_DATABASE_URL", &db)
        .env("ERP_TOKEN", "t")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("stopped early: interrupted"), "{text}");

    let (_, runs) = ferry_async(dir.path(), &["runs"]).await;
    let row = line_with(&runs, "orders-to-erp");
    assert!(
        row.contains(" error "),
        "the run is closed, not left running: {row}"
    );
    // Every record read was logged: read = created + filtered + failed.
    let numbers: Vec<i64> = row
        .split_whitespace()
        .rev()
        .take(6)
        .filter_map(|n| n.parse().ok())
        .collect();
    let (failed, filtered, _skipped, _updated, created, read) = (
        numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5],
    );
    assert!(read >= 10, "{row}");
    assert_eq!(read, created + filtered + failed, "{row}");
    assert_eq!(mock.lock().unwrap().received.len() as i64, created, "{row}");
}

/// Runs the flow over 15 orders (10 a page) where `#1001` comes again as `again`, in place of
/// the paid order at index `at`; returns the run's output and what the ERP received.
async fn run_with_first_order_again(
    at: usize,
    again: Value,
) -> (String, Vec<(String, String, Value)>) {
    let mock: Shared = Arc::default();
    {
        let mut m = mock.lock().unwrap();
        m.orders = (1..=15).map(order).collect();
        m.orders[at] = again;
    }
    let url = start_mock(mock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), &url);
    let (code, out) = ferry_async(dir.path(), &["run", flow.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    let received = mock.lock().unwrap().received.clone();
    (out, received)
}

fn requests_for<'a>(
    received: &'a [(String, String, Value)],
    number: &str,
) -> Vec<(&'a str, &'a str)> {
    received
        .iter()
        .filter(|(_, _, body)| body["number"] == number)
        .map(|(method, path, _)| (method.as_str(), path.as_str()))
        .collect()
}

/// Where `#1001` comes again: on page 2, which is checked against the ledger while page 1 is
/// still being sent (the ledger does not know #1001 yet, but the run does); and further down
/// page 1 itself.
const AGAIN_AT: [usize; 2] = [11, 5];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_read_twice_in_a_run_is_created_once_and_skipped_when_unchanged() {
    for at in AGAIN_AT {
        let (out, received) = run_with_first_order_again(at, order(1)).await;
        assert_eq!(
            requests_for(&received, "#1001"),
            vec![("POST", "/salesorders")],
            "at {at}: {out}"
        );
        assert!(
            out.contains("read 15 · created 11 · updated 0 · skipped 1 · filtered 3 · failed 0"),
            "at {at}: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_read_twice_in_a_run_is_created_then_updated_when_changed() {
    let mut changed = order(1);
    changed["total_price"] = json!("555.00");
    for at in AGAIN_AT {
        let (out, received) = run_with_first_order_again(at, changed.clone()).await;
        assert_eq!(
            requests_for(&received, "#1001"),
            vec![("POST", "/salesorders"), ("PUT", "/salesorders/SO-1001")],
            "at {at}: {out}"
        );
        let update = received
            .iter()
            .find(|(method, _, _)| method == "PUT")
            .unwrap();
        assert_eq!(update.2["total"], 555.0);
        assert!(
            out.contains("read 15 · created 11 · updated 1 · skipped 0 · filtered 3 · failed 0"),
            "at {at}: {out}"
        );
    }
}
