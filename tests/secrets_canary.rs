//! The canary test: a credential planted in stored connections is never written in clear.
//!
//! Flows of tenant `acme` read a mock shop and send to a mock ERP through stored connections
//! whose credentials hold the canary (query API key, bearer token, secret header, Basic
//! password). The ERP fails in every way: 500 and 401 echoing the request, 422 echoing URL,
//! headers and body, a refused connection, a timeout, and a record that fails in a mapping
//! step; the shop's source fails echoing its URL. Then the SQLite file (and its WAL), a
//! Postgres dump of every table of the test schema, the process output with
//! `FERRY_LOG=debug`, the service log, alert webhooks and every CLI output are searched for the
//! canary, raw and in the base64 of a Basic header.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

const TENANT: &str = "acme";

/// The planted secret and the texts that would reveal it.
struct Canary {
    token: String,
    needles: Vec<String>,
}

impl Canary {
    fn new() -> Canary {
        let core = format!("ferry-canary-{:016x}", rand::random::<u64>());
        // `+/=` make URL encoding differ from the raw form.
        let token = format!("{core}+/=");
        let mut needles = vec![core];
        // Inside `Basic base64(user:token)`: the base64 characters that depend only on the
        // token, at each of the three byte alignments.
        for shift in 0..3usize {
            let mut bytes = vec![b'x'; shift];
            bytes.extend_from_slice(token.as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let first = (8 * shift).div_ceil(6);
            let last = 8 * (shift + token.len()) / 6;
            needles.push(encoded[first..last].to_string());
        }
        Canary { token, needles }
    }

    fn assert_absent(&self, what: &str, bytes: &[u8]) {
        for needle in &self.needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "the canary ({needle}) appears in {what}:\n{}",
                excerpt(bytes, needle)
            );
        }
    }
}

fn excerpt(bytes: &[u8], needle: &str) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.find(needle) {
        Some(i) => {
            text[i.saturating_sub(300)..(i + needle.len() + 100).min(text.len())].to_string()
        }
        None => String::new(),
    }
}

/// What the mock saw: alert webhook bodies.
#[derive(Clone, Default)]
struct Seen {
    alerts: Arc<Mutex<Vec<Value>>>,
}

async fn answer(status: StatusCode, request: Request) -> Response {
    let echoed = support::echoed_request(request).await;
    (
        status,
        axum::Json(json!({"error": "refused", "you_sent": echoed})),
    )
        .into_response()
}

async fn mock() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/orders",
            get(|| async {
                axum::Json(json!({"orders": [
                    {"id": 1, "name": "#1", "total_price": "10.00"},
                    {"id": 2, "name": "#2", "total_price": "not a number"}
                ]}))
            }),
        )
        .route(
            "/broken/orders",
            get(|r: Request| answer(StatusCode::INTERNAL_SERVER_ERROR, r)),
        )
        .route(
            "/t500/sink",
            post(|r: Request| answer(StatusCode::INTERNAL_SERVER_ERROR, r)),
        )
        .route(
            "/t401/sink",
            post(|r: Request| answer(StatusCode::UNAUTHORIZED, r)),
        )
        .route(
            "/t401",
            get(|r: Request| answer(StatusCode::UNAUTHORIZED, r)),
        )
        .route(
            "/t422/sink",
            post(|r: Request| answer(StatusCode::UNPROCESSABLE_ENTITY, r)),
        )
        .route(
            "/slow/sink",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/alerts",
            post(
                |State(seen): State<Seen>, axum::Json(body): axum::Json<Value>| async move {
                    seen.alerts.lock().unwrap().push(body);
                    StatusCode::OK
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// A flow of tenant `acme`: stored `shop` → stored `target` with `target_config` merged over.
fn write_flow(
    dir: &Path,
    id: &str,
    shop_path: &str,
    target: &str,
    target_config: Value,
    alerts: Option<&str>,
) -> String {
    let mut flow = json!({
        "version": 1,
        "id": id,
        "tenant": TENANT,
        "connections": {
            "shop": {"connector": "http", "stored": "shop"},
            "erp": {"connector": "http", "stored": target, "config": target_config}
        },
        "source": {
            "connection": "shop",
            "operation": "read",
            "params": {"path": shop_path, "records_path": "orders"},
            "key": "$.id"
        },
        "steps": [{
            "id": "to_erp",
            "type": "mapping",
            "fields": [
                {"target": "external_id", "value": {"type": "jsonpath", "path": "$.id"}, "transform": "string(value)"},
                {"target": "total", "value": {"type": "jsonpath", "path": "$.total_price"}, "transform": "parse_number(value)"}
            ]
        }],
        "target": {
            "connection": "erp",
            "operation": "write",
            "params": {"path": "/sink", "method": "POST"},
            "retry": {"max_attempts": 2, "initial_interval_ms": 1000, "max_interval_ms": 1000}
        }
    });
    if let Some(url) = alerts {
        flow["alerts"] = json!({"channels": [{"type": "webhook", "url": url, "on": "failure"}]});
    }
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path.display().to_string()
}

/// Runs `ferry ARGS` against `db` with debug logging; returns exit code and stdout + stderr.
fn ferry(db: &str, key_file: &Path, args: &[&str]) -> (i32, String) {
    let out = support::ferry_command()
        .args(args)
        .env("FERRY_DATABASE_URL", db)
        .env("FERRY_MASTER_KEY_FILE", key_file)
        .env("FERRY_LOG", "debug")
        .env_remove("FERRY_MASTER_KEY")
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

/// Stores the tenant's connections (credentials given on the command line, as an operator
/// would) and runs every failing flow; returns every output.
async fn plant_and_fail(db: &str, dir: &Path, base: &str, canary: &Canary) -> String {
    let key_file = dir.join("master.key");
    let (code, key) = ferry(db, &key_file, &["key", "generate"]);
    assert_eq!(code, 0, "{key}");
    std::fs::write(&key_file, key.lines().next().unwrap()).unwrap();
    let token = &canary.token;
    let mut outputs = String::new();
    let mut run = |args: &[&str]| {
        let (code, out) = ferry(db, &key_file, args);
        // The outputs only: the command lines hold the canary, as an operator typed it.
        outputs.push_str(&format!("$ ferry {}\n{out}\n", args[0]));
        (code, out)
    };
    for (name, sets) in [
        (
            "shop",
            vec![
                format!("base_url={base}"),
                "auth.type=api_key".into(),
                "auth.name=api_key".into(),
                "auth.in=query".into(),
                format!("auth.value={token}"),
            ],
        ),
        (
            "erp",
            vec![
                format!("base_url={base}/t422"),
                "auth.type=bearer".into(),
                format!("auth.token={token}"),
                format!("headers.X-Api-Key={token}"),
            ],
        ),
        (
            "erp_basic",
            vec![
                format!("base_url={base}/t401"),
                "auth.type=basic".into(),
                "auth.username=ck_user".into(),
                format!("auth.password={token}"),
            ],
        ),
    ] {
        let mut args = vec![
            "connection",
            "add",
            "--tenant",
            TENANT,
            name,
            "--connector",
            "http",
        ];
        let sets: Vec<String> = sets
            .into_iter()
            .flat_map(|s| ["--set".to_string(), s])
            .collect();
        args.extend(sets.iter().map(String::as_str));
        let (code, out) = run(&args);
        assert_eq!(code, 0, "{out}");
    }
    let (_, list) = run(&["connection", "list", "--tenant", TENANT]);
    assert!(list.contains("auth.value=<set>"), "{list}");
    let (_, show) = run(&["connection", "show", "--tenant", TENANT, "erp"]);
    assert!(show.contains("\"token\": \"<set>\""), "{show}");
    assert!(show.contains("\"X-Api-Key\": \"<set>\""), "{show}");
    let (code, test) = run(&["connection", "test", "--tenant", TENANT, "erp_basic"]);
    assert_eq!(code, 1, "{test}");
    assert!(test.contains("test failed"), "{test}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let flows = [
        write_flow(dir, "echo-422", "/orders", "erp", json!({}), None),
        write_flow(
            dir,
            "echo-500",
            "/orders",
            "erp",
            json!({"base_url": format!("{base}/t500")}),
            None,
        ),
        write_flow(
            dir,
            "basic-401",
            "/orders",
            "erp_basic",
            json!({"base_url": format!("{base}/t401")}),
            None,
        ),
        write_flow(
            dir,
            "refused",
            "/orders",
            "erp",
            json!({"base_url": format!("http://{closed}")}),
            None,
        ),
        write_flow(
            dir,
            "timeout",
            "/orders",
            "erp",
            json!({"base_url": format!("{base}/slow"), "timeout_ms": 300}),
            None,
        ),
        write_flow(dir, "source-500", "/broken/orders", "erp", json!({}), None),
    ];
    for flow in &flows {
        let (code, out) = run(&["run", "--quiet", flow]);
        assert_ne!(code, 0, "{flow} must fail:\n{out}");
        assert!(out.contains("Run "), "{flow} must run:\n{out}");
    }
    let (_, runs) = run(&["runs", "--limit", "50"]);
    for id in 1..=flows.len() {
        let id = id.to_string();
        run(&["runs", "show", &id, "--json"]);
        run(&["runs", "show", &id]);
    }
    // The failures were real and the echoes did come back (with the secret masked).
    assert!(
        outputs.contains("***"),
        "redaction marks expected in:\n{outputs}"
    );
    assert!(
        outputs.contains("you_sent"),
        "the ERP's echoes are in the activity log"
    );
    assert!(runs.contains("failed") || runs.contains("error"), "{runs}");
    outputs
}

#[tokio::test(flavor = "multi_thread")]
async fn canary_credential_appears_nowhere_in_clear_sqlite() {
    let (addr, seen) = mock().await;
    let base = format!("http://{addr}");
    let canary = Canary::new();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("ferry.db");
    let db = format!("sqlite://{}", db_path.display());

    let mut outputs = plant_and_fail(&db, dir.path(), &base, &canary).await;
    assert!(outputs.contains("401"), "{outputs}");

    // The service: a failing flow with a webhook alert, run by `ferry serve` with debug logs
    // (the job payload lands in the same SQLite file).
    let flow = write_flow(
        dir.path(),
        "served",
        "/orders",
        "erp",
        json!({}),
        Some(&format!("{base}/alerts")),
    );
    let key_file = dir.path().join("master.key");
    let (code, out) = ferry(&db, &key_file, &["flows", "import", &flow]);
    assert_eq!(code, 0, "{out}");
    outputs.push_str(&out);
    let log = dir.path().join("serve.log");
    let mut serve = {
        let file = std::fs::File::create(&log).unwrap();
        support::ferry_command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("FERRY_DATABASE_URL", &db)
            .env("FERRY_MASTER_KEY_FILE", dir.path().join("master.key"))
            .env("FERRY_LOG", "debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap()
    };
    let (code, out) = ferry(&db, &key_file, &["trigger", "served", "--wait"]);
    outputs.push_str(&out);
    assert_eq!(code, 1, "{out}");
    for _ in 0..100 {
        if !seen.alerts.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();

    let alerts = seen.alerts.lock().unwrap().clone();
    assert!(!alerts.is_empty(), "an alert was posted");
    canary.assert_absent(
        "alert webhooks",
        serde_json::to_string(&alerts).unwrap().as_bytes(),
    );
    canary.assert_absent("CLI outputs (FERRY_LOG=debug)", outputs.as_bytes());
    canary.assert_absent(
        "the service log (FERRY_LOG=debug)",
        &std::fs::read(&log).unwrap(),
    );
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("ferry.db") {
            canary.assert_absent(&name, &std::fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert!(files >= 1);
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let (runs, failed): (i64, i64) = sqlx::query_as(
        "select (select count(*) from run), (select count(*) from run_record where outcome = 'failed')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(runs, 7, "six failing runs and the served one");
    assert!(failed >= 10, "failed records: {failed}");
    // The credentials are in the file, encrypted.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("select name, credentials from connection")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (name, sealed) in rows {
        assert!(sealed.len() > 40, "{name}");
        canary.assert_absent(&format!("the sealed credentials of {name}"), &sealed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn canary_credential_appears_nowhere_in_clear_postgres() {
    let (addr, _seen) = mock().await;
    let base = format!("http://{addr}");
    let canary = Canary::new();
    let dir = tempfile::tempdir().unwrap();
    let schema = support::PgSchema::create().await;

    let outputs = plant_and_fail(&schema.url, dir.path(), &base, &canary).await;
    canary.assert_absent("CLI outputs (FERRY_LOG=debug)", outputs.as_bytes());

    // Every row of every table of the test schema, as text.
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "select table_name::text from information_schema.tables where table_schema = $1",
    )
    .bind(&schema.name)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|(t,)| t == "connection"), "{tables:?}");
    let mut dumped = 0;
    for (table,) in &tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select t::text from {}.{} t",
            schema.name, table
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        for (row,) in rows {
            canary.assert_absent(&format!("table {table}"), row.as_bytes());
            dumped += 1;
        }
    }
    assert!(dumped > 20, "rows dumped: {dumped}");
    let (runs,): (i64,) = sqlx::query_as("select count(*) from run")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(runs, 6);
}
