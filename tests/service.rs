//! `ferry serve` and `ferry worker` as users run them: real processes, real HTTP, a real SQLite
//! file or Postgres. Webhooks (signature, size, duplicates), the error queue and replay,
//! schedules fired once across nodes, and two workers sharing one Postgres queue.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_engine::connector::ConnectorInstance;
use ferry_engine::flow::Flow;
use ferry_engine::runtime::{Connect, Runtime, RuntimeSettings, schedule_once};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The API token `ferry serve` gives its first admin (`FERRY_ADMIN_TOKEN`).
const ADMIN_TOKEN: &str = "fy_test-admin-token-0123456789";

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Waits until `GET url/health` answers.
async fn wait_healthy(url: &str, log: &std::path::Path) {
    for _ in 0..200 {
        if reqwest::get(format!("{url}/health")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "ferry serve did not answer: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_start_runs_once_and_replay_resolves_the_error_queue() {
    let (mock, mock_url) = support::start(0).await;
    mock.state.lock().unwrap().refuse.insert("13".into());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    let flow = support::write_flow(
        &flows,
        "hooked",
        &mock_url,
        json!({"type": "webhook", "secret": "${HOOK_SECRET}", "max_body_kib": 1}),
    );
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&flow).unwrap()).unwrap();
    doc["alerts"] = json!({"channels": [{"type": "webhook", "url": format!("{mock_url}/alerts"), "on": "failure"}]});
    std::fs::write(&flow, doc.to_string()).unwrap();
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let listen = format!("127.0.0.1:{port}");
    // SAFETY of the secret: the child reads it from its environment, as in production.
    let mut serve = support::ferry_command()
        .args([
            "serve",
            "--listen",
            &listen,
            "--flows",
            flows.to_str().unwrap(),
        ])
        .env("FERRY_DATABASE_URL", &db)
        .env("HOOK_SECRET", "s3cret")
        .env("FERRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("FERRY_LOG", "info,sqlx=warn")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    wait_healthy(&url, &log).await;

    let (_, listing) = support::ferry(&db, &["flows", "list"]);
    let hook_path = listing
        .split_whitespace()
        .find(|w| w.starts_with("/hooks/hooked/"))
        .unwrap_or_else(|| panic!("no webhook address in {listing}"))
        .to_string();
    let hook = format!("{url}{hook_path}");
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, signature: String, delivery: &str| {
        http.post(&hook)
            .header("X-Ferry-Signature", signature)
            .header("X-Delivery-Id", delivery)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };

    let body = serde_json::to_vec(&json!([
        {"id": 11, "name": "#11", "total_price": "10.00"},
        {"id": 12, "name": "#12", "total_price": "12.50"},
        {"id": 13, "name": "#13", "total_price": "13.00"}
    ]))
    .unwrap();
    let answer = post(body.clone(), sign("s3cret", &body), "delivery-1")
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let accepted: Value = answer.json().await.unwrap();
    assert_eq!(accepted["records"], 3);
    let run_id = accepted["run_id"].as_i64().unwrap();
    let run = support::wait_finished(&db, run_id, Duration::from_secs(60)).await;
    assert_eq!(run.status.as_str(), "failed", "13 is refused by the target");
    assert_eq!((run.counts.created, run.counts.failed), (2, 1));

    // The failure alert reaches the flow's webhook channel, naming the refused record.
    let mut alert = None;
    for _ in 0..100 {
        alert = mock.state.lock().unwrap().alerts.first().cloned();
        if alert.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alert = alert.expect("a failure alert");
    assert_eq!(alert["kind"], "failure");
    assert_eq!(alert["flow"]["id"], "hooked");
    assert_eq!(alert["run"]["id"], run_id);
    assert_eq!(alert["failed"], 1);
    assert_eq!(alert["first_errors"][0]["key"], "13");
    assert!(
        alert["run"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/runs/{run_id}"))
    );

    // The same delivery again: acknowledged, ignored.
    let again = post(body.clone(), sign("s3cret", &body), "delivery-1")
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);

    // Refusals, each with the error format and nothing queued.
    let bad_sig = post(body.clone(), sign("wrong", &body), "delivery-2")
        .await
        .unwrap();
    assert_eq!(bad_sig.status(), 401);
    let error: Value = bad_sig.json().await.unwrap();
    assert_eq!(error["error"]["code"], "bad_signature");
    let big = serde_json::to_vec(&json!({"id": 99, "note": "x".repeat(2000)})).unwrap();
    let too_big = post(big.clone(), sign("s3cret", &big), "delivery-3")
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    let junk = b"{not json".to_vec();
    let not_json = post(junk.clone(), sign("s3cret", &junk), "delivery-4")
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        not_json.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let wrong_token = http
        .post(format!("{url}/hooks/hooked/not-the-token"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 404);
    let runs: Value = http
        .get(format!("{url}/api/v1/runs?flow_id=hooked"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");

    // The error queue holds 13; once the target accepts it, a replay resolves it.
    let (_, failed) = support::ferry(&db, &["failed", "hooked"]);
    assert!(failed.contains("13") && failed.contains("422"), "{failed}");
    mock.state.lock().unwrap().refuse.clear();
    let (code, out) = support::ferry(&db, &["replay", "hooked", "--all", "--wait"]);
    assert_eq!(code, 0, "{out}");
    let (_, failed) = support::ferry(&db, &["failed", "hooked"]);
    assert!(failed.contains("No failed records"), "{failed}");
    let effects = mock.effects();
    assert_eq!(
        (effects.get("11"), effects.get("12"), effects.get("13")),
        (Some(&1), Some(&1), Some(&1))
    );

    // SIGTERM: the process stops on its own, well inside the grace period.
    let pid = serve.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = serve.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
}

/// A flow without `alerts` alerts its tenant's default, set through the API while the service
/// runs: the next run's failure reaches the default's webhook, and the API's delivery log shows
/// it under the tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_alerts_the_tenant_default_set_through_the_api() {
    let (mock, mock_url) = support::start(0).await;
    mock.state.lock().unwrap().refuse.insert("13".into());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    let flow = support::write_flow(&flows, "acme-hooked", &mock_url, json!({"type": "webhook"}));
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&flow).unwrap()).unwrap();
    doc["tenant"] = json!("acme");
    std::fs::write(&flow, doc.to_string()).unwrap();
    let (code, out) = support::ferry(&db, &["tenant", "add", "acme"]);
    assert_eq!(code, 0, "{out}");
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let listen = format!("127.0.0.1:{port}");
    let mut serve = support::ferry_command()
        .args([
            "serve",
            "--listen",
            &listen,
            "--flows",
            flows.to_str().unwrap(),
        ])
        .env("FERRY_DATABASE_URL", &db)
        .env("FERRY_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    wait_healthy(&url, &log).await;

    let http = reqwest::Client::new();
    let put = http
        .put(format!("{url}/api/v1/tenants/acme/alerts"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"channels": [{"type": "webhook", "url": format!("{mock_url}/alerts")}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());

    let (_, listing) = support::ferry(&db, &["flows", "list"]);
    let hook_path = listing
        .split_whitespace()
        .find(|w| w.starts_with("/hooks/acme-hooked/"))
        .unwrap_or_else(|| panic!("no webhook address in {listing}"))
        .to_string();
    let answer = http
        .post(format!("{url}{hook_path}"))
        .json(&json!([{"id": 13, "name": "#13", "total_price": "13.00"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let run_id = answer.json::<Value>().await.unwrap()["run_id"]
        .as_i64()
        .unwrap();
    let run = support::wait_finished(&db, run_id, Duration::from_secs(60)).await;
    assert_eq!(run.status.as_str(), "failed");

    let mut alert = None;
    for _ in 0..100 {
        alert = mock.state.lock().unwrap().alerts.first().cloned();
        if alert.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alert = alert.expect("a failure alert to the tenant's default channel");
    assert_eq!(alert["kind"], "failure");
    assert_eq!(alert["flow"]["id"], "acme-hooked");
    assert_eq!(alert["run"]["id"], run_id);

    // The delivery is logged once the webhook answered: wait for the row.
    let mut deliveries = Value::Null;
    for _ in 0..50 {
        deliveries = http
            .get(format!("{url}/api/v1/alert-deliveries?tenant=acme"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if deliveries["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = deliveries["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{deliveries}");
    assert_eq!(rows[0]["tenant_id"], "acme");
    assert_eq!(rows[0]["run_id"], run_id);
    assert_eq!(rows[0]["kind"], "failure");
    assert_eq!(rows[0]["status"], "sent", "{deliveries}");

    serve.kill().unwrap();
    serve.wait().unwrap();
}

/// Schedules are claimed with a compare-and-set, so two nodes ticking together start one run.
struct NoConnect;

#[async_trait]
impl Connect for NoConnect {
    async fn connect(
        &self,
        _: &Flow,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Arc<dyn ConnectorInstance>> {
        anyhow::bail!("connection `{name}`: not needed by this test")
    }
    fn resolve(&self, text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_schedule_fires_once_across_two_nodes_on_postgres() {
    let schema = support::PgSchema::create().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = support::write_flow(
        dir.path(),
        "every5",
        "http://127.0.0.1:9",
        json!({"type": "schedule", "interval": "5m", "timezone": "Europe/Paris"}),
    );
    let open = || Runtime::open(&schema.url, Arc::new(NoConnect), RuntimeSettings::default());
    let (a, b) = (open().await.unwrap(), open().await.unwrap());
    let text = std::fs::read_to_string(&flow).unwrap();
    a.import_flow(&text, "every5.json", dir.path(), |_, _| Vec::new())
        .await
        .unwrap();
    let spec = a.store.list_schedules().await.unwrap()[0].spec.clone();
    let mut started = 0;
    for round in 0..5 {
        // Make it due now, as if five minutes had passed.
        let due = ferry_engine::runtime::stamp(chrono::Utc::now() - chrono::Duration::seconds(1));
        a.store.delete_schedule("every5").await.unwrap();
        a.store.set_schedule("every5", &spec, &due).await.unwrap();
        let (ra, rb) = tokio::join!(schedule_once(&a), schedule_once(&b));
        let fired = ra.unwrap().len() + rb.unwrap().len();
        assert_eq!(fired, 1, "round {round}: one firing, not {fired}");
        started += fired;
    }
    let runs = a.store.list_runs(Some("every5"), 100).await.unwrap();
    assert_eq!(runs.len(), started);
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
    let schedules = a.store.list_schedules().await.unwrap();
    assert!(schedules[0].next_run_at > ferry_engine::runtime::stamp(chrono::Utc::now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_share_one_postgres_queue_and_survive_a_kill() {
    let (mock, mock_url) = support::start(0).await;
    let schema = support::PgSchema::create().await;
    let dir = tempfile::tempdir().unwrap();
    let flow = support::write_flow(dir.path(), "pg", &mock_url, json!({"type": "manual"}));
    let (code, out) = support::ferry(&schema.url, &["flows", "import", flow.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // Eight runs of 250 given records each, 2,000 distinct keys.
    let mut runs = Vec::new();
    for batch in 0..8 {
        let records: Vec<Value> = (0..250)
            .map(|i| {
                let id = batch * 1000 + i;
                json!({"id": id, "name": format!("#{id}"), "total_price": "1.00"})
            })
            .collect();
        let input = dir.path().join(format!("batch{batch}.json"));
        std::fs::write(&input, serde_json::to_string(&records).unwrap()).unwrap();
        let (code, out) = support::ferry(
            &schema.url,
            &["trigger", "pg", "--input", input.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{out}");
        runs.push(batch as i64 + 1);
    }
    let log = dir.path().join("workers.log");
    // A lease of 4 s: on a loaded machine, 2 s made live workers' renewals late (their fence
    // closes, the run waits for its lease to expire), which slows the test down. Stalled
    // workers have their own test (tests/stalled_worker.rs); this one is about killed workers.
    let args = ["worker", "--lease-secs", "4", "--concurrency", "2"];
    let mut first = support::spawn_ferry(&schema.url, &args, &log);
    let mut second = support::spawn_ferry(&schema.url, &args, &log);
    // Kill one of them mid-way; the other (and the lease) take over its runs.
    let mut rx = mock.answered.subscribe();
    tokio::time::timeout(Duration::from_secs(120), rx.wait_for(|n| *n >= 500))
        .await
        .expect("workers send")
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    for run_id in &runs {
        let run = support::wait_finished(&schema.url, *run_id, Duration::from_secs(180)).await;
        assert_eq!(
            run.status.as_str(),
            "succeeded",
            "run {run_id}: {:?}",
            run.error
        );
    }
    second.kill().unwrap();
    second.wait().unwrap();

    let effects = mock.effects();
    assert_eq!(effects.len(), 2000, "every record committed");
    assert!(
        effects.values().all(|n| *n == 1),
        "no record committed twice; workers' log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();
    let owners: i64 = sqlx::query_scalar("select count(distinct lease_owner) from run")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "2 worker processes on Postgres: 8 runs, 2000 records, runs finished by {owners} worker(s), one killed mid-way"
    );
    assert!(owners >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_the_run_back_and_another_worker_finishes_it() {
    let (mock, mock_url) = support::start(5_000).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let flow = support::write_flow(dir.path(), "term", &mock_url, json!({"type": "manual"}));
    let (code, out) = support::ferry(&db, &["flows", "import", flow.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = support::ferry(&db, &["trigger", "term"]);
    assert_eq!(code, 0, "{out}");
    let log = dir.path().join("workers.log");
    let mut first = support::spawn_ferry(&db, &["worker"], &log);
    let mut rx = mock.answered.subscribe();
    tokio::time::timeout(Duration::from_secs(120), rx.wait_for(|n| *n >= 300))
        .await
        .expect("the worker sends")
        .unwrap();
    let stopping = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    let status = first.wait().unwrap();
    let took = stopping.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(30), "stopping took {took:?}");
    let sent_before = mock.answered();
    assert!(
        sent_before < 5_000,
        "the run had not finished when it was stopped"
    );
    let store = ferry_engine::store::open(&db).await.unwrap();
    let run = store.get_run(1).await.unwrap().unwrap();
    assert_eq!(
        run.status.as_str(),
        "queued",
        "given back to the queue, not closed; worker's log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let mut second = support::spawn_ferry(&db, &["worker"], &log);
    let run = support::wait_finished(&db, 1, Duration::from_secs(180)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    let effects = mock.effects();
    assert_eq!(effects.len(), 5_000);
    assert!(effects.values().all(|n| *n == 1), "nothing sent twice");
    println!(
        "SIGTERM: worker stopped in {:.1} s after {sent_before} of 5000 records; the next worker finished the run",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_told_to_wait_an_hour_is_parked_and_retried_when_its_time_comes() {
    let (mock, mock_url) = support::start(20).await;
    mock.state.lock().unwrap().throttle.insert("7".into());
    let dir = tempfile::tempdir().unwrap();
    let db_file = dir.path().join("ferry.db");
    let db = format!("sqlite://{}", db_file.display());
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    support::write_flow(&flows, "parked", &mock_url, json!({"type": "manual"}));
    let port = support::free_port();
    let log = dir.path().join("serve.log");
    let mut serve = support::spawn_ferry(
        &db,
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--flows",
            flows.to_str().unwrap(),
        ],
        &log,
    );
    wait_healthy(&format!("http://127.0.0.1:{port}"), &log).await;
    let (code, out) = support::ferry(&db, &["trigger", "parked", "--wait"]);
    // The run ends at once (no hour-long sleep), with record 7 parked in the error queue.
    assert_eq!(code, 1, "{out}");
    let (_, failed) = support::ferry(&db, &["failed", "parked"]);
    assert!(
        failed.contains("parked: retried automatically at"),
        "{failed}"
    );
    assert!(!mock.effects().contains_key("7"));
    let sent_first = mock.effects().len();

    // The pause is stored, so a restarted process holds it too. (Read through the store, which
    // waits for the busy file, while the service still writes.)
    let paused = ferry_engine::store::open(&db)
        .await
        .unwrap()
        .target_pause("default", &format!("http:{mock_url}"))
        .await
        .unwrap()
        .expect("the target's pause is stored");
    assert_eq!(paused.retry_after_ms, 3_600_000);

    // An hour later: the process is restarted, and the target's pause and the retry time moved
    // into the past; the service retries the parked records by itself.
    serve.kill().unwrap();
    serve.wait().unwrap();
    mock.state.lock().unwrap().throttle.clear();
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    for past in [
        "update failed_record set retry_at = '2000-01-01T00:00:00.000Z'",
        "update target_pause set paused_until = '2000-01-01T00:00:00.000Z'",
    ] {
        sqlx::query(past).execute(&pool).await.unwrap();
    }
    let mut serve = support::spawn_ferry(
        &db,
        &["serve", "--listen", &format!("127.0.0.1:{port}")],
        &log,
    );
    wait_healthy(&format!("http://127.0.0.1:{port}"), &log).await;
    let store = ferry_engine::store::open(&db).await.unwrap();
    let mut retried = None;
    for _ in 0..100 {
        let runs = store.list_runs(Some("parked"), 10).await.unwrap();
        if let Some(run) = runs.iter().find(|r| r.trigger == "retry") {
            retried = Some(run.id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run_id = retried.expect("a retry run");
    let run = support::wait_finished(&db, run_id, Duration::from_secs(60)).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    // Every record once: those sent at first, and the parked ones (7 and those after the pause).
    let effects = mock.effects();
    assert_eq!(effects.len(), 20, "sent at first: {sent_first}");
    assert!(effects.values().all(|n| *n == 1));
    let (_, failed) = support::ferry(&db, &["failed", "parked"]);
    assert!(failed.contains("No failed records"), "{failed}");
    serve.kill().unwrap();
    serve.wait().unwrap();
}
