//! `ferry alerts test` and `ferry alerts log` through the binary: a test alert goes over real
//! SMTP to a local sink and over HTTP to a local webhook, and the log shows both deliveries.

mod support;

#[path = "../engine/tests/support/smtp_sink.rs"]
mod smtp_sink;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use smtp_sink::SmtpSink;

fn write_flow(dir: &Path, webhook: &str) -> std::path::PathBuf {
    let flow = json!({
        "version": 1, "id": "orders-to-erp", "name": "Orders to ERP",
        "connections": {"shop": {"connector": "http", "config": {"base_url": "http://127.0.0.1:9"}}},
        "source": {"connection": "shop", "operation": "read", "params": {"path": "/orders"}},
        "target": {"connection": "shop", "operation": "write", "params": {"path": "/erp"}},
        "alerts": {
            "channels": [
                {"type": "email", "to": "ops@shop.test, jane@erp.test", "subject": "{flow}: {status}"},
                {"type": "webhook", "url": webhook, "on": "both"}
            ],
            "heartbeat_hours": 24
        }
    });
    let path = dir.join("orders.json");
    std::fs::write(&path, serde_json::to_string_pretty(&flow).unwrap()).unwrap();
    path
}

async fn ferry(dir: &Path, args: &[&str]) -> (i32, String) {
    let db = format!("sqlite://{}", dir.join("ferry.db").display());
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    // Blocking, so the SMTP sink and webhook keep serving on this runtime meanwhile.
    tokio::task::spawn_blocking(move || {
        let out = support::ferry_command()
            .args(&args)
            .env("FERRY_DATABASE_URL", db)
            .env_remove("FERRY_SMTP_HOST")
            .current_dir(&dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    async fn hook(State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) {
        seen.lock().unwrap().push(body);
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn test_alert_reaches_email_and_webhook_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start().await;
    let (url, seen) = webhook().await;
    let flow = write_flow(dir.path(), &url);
    let port = sink.addr.port().to_string();

    let (code, out) = ferry(
        dir.path(),
        &[
            "alerts",
            "test",
            flow.to_str().unwrap(),
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "none",
            "--from",
            "Ferry <ferry@shop.test>",
        ],
    )
    .await;

    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("email ops@shop.test, jane@erp.test: sent"),
        "{out}"
    );
    assert!(out.contains(&format!("webhook {url}: sent")), "{out}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "ferry@shop.test");
    assert_eq!(mails[0].to, ["ops@shop.test", "jane@erp.test"]);
    assert_eq!(mails[0].header("Subject").unwrap(), "Orders to ERP: test");
    assert!(
        mails[0]
            .body()
            .contains("test alert for flow Orders to ERP (orders-to-erp)")
    );
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["kind"], "test");
    assert_eq!(bodies[0]["flow"]["id"], "orders-to-erp");

    let (code, log) = ferry(dir.path(), &["alerts", "log"]).await;
    assert_eq!(code, 0, "{log}");
    let rows: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("orders-to-erp"))
        .collect();
    assert_eq!(rows.len(), 2, "{log}");
    assert!(
        rows.iter()
            .all(|r| r.contains(" test ") && r.contains(" sent ")),
        "{log}"
    );
}

#[tokio::test]
async fn refused_email_fails_the_command_and_the_log_keeps_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::refusing_recipients("550 5.7.1 relaying denied").await;
    let (url, _seen) = webhook().await;
    let flow = write_flow(dir.path(), &url);
    let port = sink.addr.port().to_string();

    let (code, out) = ferry(
        dir.path(),
        &[
            "alerts",
            "test",
            flow.to_str().unwrap(),
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "none",
            "--from",
            "ferry@shop.test",
        ],
    )
    .await;

    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED") && out.contains("relaying denied"),
        "{out}"
    );
    let (_, log) = ferry(dir.path(), &["alerts", "log", "--flow", "orders-to-erp"]).await;
    assert!(
        log.contains("FAILED") && log.contains("error: ") && log.contains("550"),
        "{log}"
    );
}

#[tokio::test]
async fn a_flow_without_alerts_is_tested_on_its_tenants_stored_default() {
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = webhook().await;
    let mut flow = serde_json::from_str::<Value>(
        &std::fs::read_to_string(write_flow(dir.path(), &url)).unwrap(),
    )
    .unwrap();
    flow.as_object_mut().unwrap().remove("alerts");
    flow["tenant"] = json!("acme");
    let path = dir.path().join("acme.json");
    std::fs::write(&path, flow.to_string()).unwrap();
    let flow_arg = path.to_str().unwrap();

    let (code, out) = ferry(dir.path(), &["tenant", "add", "acme"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = ferry(dir.path(), &["alerts", "test", flow_arg]).await;
    assert_eq!(code, 2, "a usage error: {out}");
    assert!(
        out.contains("has no `alerts` settings and its tenant `acme` has no stored default"),
        "{out}"
    );

    // What `PUT /api/v1/tenants/acme/alerts` stores.
    let store = ferry_engine::store::open_alert_store(&format!(
        "sqlite://{}",
        dir.path().join("ferry.db").display()
    ))
    .await
    .unwrap();
    let default = serde_json::from_value(json!({"channels": [{"type": "webhook", "url": url}]}));
    assert!(
        store
            .set_tenant_alerts("acme", &default.unwrap())
            .await
            .unwrap()
    );
    let (code, out) = ferry(dir.path(), &["alerts", "test", flow_arg]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("webhook {url}: sent")), "{out}");
    assert_eq!(seen.lock().unwrap()[0]["flow"]["id"], "orders-to-erp");
}
