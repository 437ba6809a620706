//! Alerts end to end: emails over real SMTP to a local sink, webhooks to a local axum server,
//! and the delivery log on SQLite and on a real Postgres.
//!
//! Postgres: `FERRY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each
//! test gets its own schema, dropped at the end.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{TimeDelta, Utc};
use ferry_engine::alert::{
    AlertChannel, AlertOn, AlertSettings, Alerter, FlowRef, SmtpSettings, SmtpTls, first_errors,
};
use ferry_engine::run::RunSummary;
use ferry_engine::store::{
    AlertKind, AlertStore, DeliveryFilter, DeliveryStatus, NewAlertDelivery, NewRun, Outcome,
    PgStore, RecordEntry, RunCounts, RunStatus, SqliteStore,
};
use serde_json::Value;
use sqlx::Executor;
use support::pg_schema::PgSchema;
use support::smtp_sink::SmtpSink;

/// Raw access to a test database, to move stored times into the past: heartbeats are about
/// hours of silence, and tests do not wait.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Db {
    async fn execute(&self, sql: String) {
        match self {
            Db::Sqlite(pool) => pool.execute(sqlx::AssertSqlSafe(sql)).await.map(|_| ()),
            Db::Pg(pool) => pool.execute(sqlx::AssertSqlSafe(sql)).await.map(|_| ()),
        }
        .unwrap();
    }

    /// Makes run `id` start and end `hours` ago.
    async fn backdate_run(&self, id: i64, hours: i64) {
        let at = stored(Utc::now() - TimeDelta::hours(hours));
        self.execute(format!(
            "update run set started_at = '{at}', finished_at = '{at}' where id = {id}"
        ))
        .await;
    }

    /// Makes every logged delivery `hours` old.
    async fn backdate_deliveries(&self, hours: i64) {
        let at = stored(Utc::now() - TimeDelta::hours(hours));
        self.execute(format!("update alert_delivery set created_at = '{at}'"))
            .await;
    }
}

fn stored(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

async fn pg_store() -> (Arc<dyn AlertStore>, Db, PgSchema) {
    let schema = PgSchema::create().await;
    let store = PgStore::connect(&schema.url).await.unwrap();
    let db = Db::Pg(store.pool().clone());
    (Arc::new(store), db, schema)
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn AlertStore> {
    sqlite_store_and_db(dir).await.0
}

async fn sqlite_store_and_db(dir: &tempfile::TempDir) -> (Arc<dyn AlertStore>, Db) {
    let store = SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    let db = Db::Sqlite(store.pool().clone());
    (Arc::new(store), db)
}

/// Runs one async test body against both databases.
macro_rules! on_both_databases {
    ($($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test] async fn $name() { let dir = tempfile::tempdir().unwrap(); let (store, db) = sqlite_store_and_db(&dir).await; ($body)(store, db).await; })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test] async fn $name() { let (store, db, _schema) = pg_store().await; ($body)(store, db).await; })*
        }
    };
}

fn email(to: &str, on: AlertOn) -> AlertChannel {
    AlertChannel::Email {
        to: to.to_string(),
        subject: None,
        on,
    }
}

fn settings(channels: Vec<AlertChannel>) -> AlertSettings {
    AlertSettings {
        channels,
        heartbeat_hours: None,
    }
}

fn alerter(smtp: Option<SmtpSettings>) -> Alerter {
    Alerter::new(smtp, reqwest::Client::new(), "https://ferry.shop.test/")
}

fn sink_smtp(sink: &SmtpSink) -> SmtpSettings {
    SmtpSettings::plain(
        &sink.addr.ip().to_string(),
        sink.addr.port(),
        "Ferry <ferry@shop.test>",
    )
}

fn failed_record(run_id: i64, seq: i64, key: &str, error: &str) -> RecordEntry {
    RecordEntry {
        run_id,
        seq,
        flow_id: "orders".into(),
        source_key: Some(key.into()),
        outcome: Outcome::Failed,
        step_id: Some("map".into()),
        input: Some("{}".into()),
        in_page: None,
        output: None,
        response_status: Some(422),
        response_body: None,
        target_id: None,
        error: Some(error.into()),
        attempts: 1,
        retry_at: None,
    }
}

/// A finished run of `orders` with `failed` failed records (keys `#1001`…) in the store.
async fn finished_run(store: &dyn AlertStore, status: RunStatus, failed: i64) -> RunSummary {
    let run_id = store
        .create_run(&NewRun {
            flow_id: "orders".into(),
            flow_version: "v1".into(),
            trigger: "manual".into(),
        })
        .await
        .unwrap();
    let records: Vec<RecordEntry> = (0..failed)
        .map(|i| {
            failed_record(
                run_id,
                i,
                &format!("#{}", 1001 + i),
                &format!("customer.email: missing (record {i})"),
            )
        })
        .collect();
    store.record_outcomes(&records, &[]).await.unwrap();
    let counts = RunCounts {
        read: 10 + failed,
        created: 10,
        failed,
        ..RunCounts::default()
    };
    store
        .finish_run(run_id, status, &counts, None)
        .await
        .unwrap();
    RunSummary {
        run_id,
        status,
        counts,
        error: None,
        elapsed: Duration::from_millis(800),
    }
}

/// A local webhook receiver: `/ok/{secret}` stores the JSON body, `/broken` answers 500.
async fn webhook_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    async fn ok(State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) -> StatusCode {
        seen.lock().unwrap().push(body);
        StatusCode::NO_CONTENT
    }
    async fn broken() -> (StatusCode, &'static str) {
        (StatusCode::INTERNAL_SERVER_ERROR, "database is down")
    }
    let app = Router::new()
        .route("/ok/{secret}", post(ok))
        .route("/broken", post(broken))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

on_both_databases! {
    deliveries_are_logged_and_filtered_newest_first => |store: Arc<dyn AlertStore>, _db: Db| async move {
        let mut d = NewAlertDelivery {
            flow_id: "orders".into(),
            run_id: Some(7),
            channel: "email".into(),
            recipient: "a@x.eu, b@y.fr".into(),
            kind: AlertKind::Failure,
            status: DeliveryStatus::Sent,
            error: None,
        };
        let first = store.record_alert_delivery(&d).await.unwrap();
        d.kind = AlertKind::Heartbeat;
        d.run_id = None;
        d.status = DeliveryStatus::Failed;
        d.error = Some("SMTP: 550 no such user".into());
        let second = store.record_alert_delivery(&d).await.unwrap();
        d.flow_id = "stock".into();
        store.record_alert_delivery(&d).await.unwrap();

        let all = store.alert_deliveries(&DeliveryFilter::default()).await.unwrap();
        assert_eq!(all.len(), 3);
        assert!(all[0].id > all[1].id && all[1].id > all[2].id, "newest first");

        let orders = store.alert_deliveries(&DeliveryFilter { flow_id: Some("orders".into()), ..Default::default() }).await.unwrap();
        assert_eq!(orders.iter().map(|d| d.id).collect::<Vec<_>>(), [second, first]);
        assert_eq!(orders[1].run_id, Some(7));
        assert_eq!(orders[1].recipient, "a@x.eu, b@y.fr");
        assert_eq!(orders[0].status, DeliveryStatus::Failed);
        assert_eq!(orders[0].error.as_deref(), Some("SMTP: 550 no such user"));
        assert!(orders[0].created_at.ends_with('Z') && orders[0].created_at.len() == 24);

        let heartbeats = store.alert_deliveries(&DeliveryFilter { flow_id: Some("orders".into()), kind: Some(AlertKind::Heartbeat), ..Default::default() }).await.unwrap();
        assert_eq!(heartbeats.len(), 1);
        let later = store.alert_deliveries(&DeliveryFilter { since: Some("2999-01-01T00:00:00.000Z".into()), ..Default::default() }).await.unwrap();
        assert!(later.is_empty());
    };

    flow_run_times_give_last_success_and_first_run => |store: Arc<dyn AlertStore>, _db: Db| async move {
        let failed = finished_run(&*store, RunStatus::Failed, 1).await;
        let ok = finished_run(&*store, RunStatus::Succeeded, 0).await;
        finished_run(&*store, RunStatus::Error, 0).await;
        let times = store.flow_run_times().await.unwrap();
        assert_eq!(times.len(), 1);
        let first = store.get_run(failed.run_id).await.unwrap().unwrap();
        let success = store.get_run(ok.run_id).await.unwrap().unwrap();
        assert_eq!(times[0].flow_id, "orders");
        assert_eq!(times[0].first_run_at, first.started_at);
        assert_eq!(times[0].last_success_at, success.finished_at);
    };

    heartbeat_is_sent_once_per_silence => |store: Arc<dyn AlertStore>, db: Db| async move {
        let sink = SmtpSink::start().await;
        let alerter = alerter(Some(sink_smtp(&sink)));
        let flow = FlowRef::new("orders", "Shop orders");
        let mut s = settings(vec![email("ops@shop.test", AlertOn::Failure), email("sales@shop.test", AlertOn::Success)]);
        s.heartbeat_hours = Some(24);
        let flows = [(flow.clone(), s)];
        let first = finished_run(&*store, RunStatus::Succeeded, 0).await;
        let fresh = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert!(fresh.is_empty(), "a success just now: {fresh:?}");

        db.backdate_run(first.run_id, 50).await;
        let sent = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert_eq!(sent.len(), 1, "only the channel that takes failures: {sent:?}");
        assert_eq!(sent[0].kind, AlertKind::Heartbeat);
        assert_eq!(sent[0].status, DeliveryStatus::Sent, "{:?}", sent[0].error);
        let again = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert!(again.is_empty(), "same silence, already told: {again:?}");

        let mails = sink.messages();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, ["ops@shop.test"]);
        assert!(mails[0].body().contains("no successful run for more than 24 hours"), "{}", mails[0].body());

        // A success after that alert ends the silence; when the flow goes silent again, the
        // new silence is reported.
        db.backdate_deliveries(45).await;
        let second = finished_run(&*store, RunStatus::Succeeded, 0).await;
        db.backdate_run(second.run_id, 30).await;
        let next = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert_eq!(next.len(), 1, "{next:?}");
        assert_eq!(sink.messages().len(), 2);
        let logged = store.alert_deliveries(&DeliveryFilter { kind: Some(AlertKind::Heartbeat), ..Default::default() }).await.unwrap();
        assert_eq!(logged.len(), 2);
    };

    failed_heartbeat_delivery_is_retried_after_an_hour => |store: Arc<dyn AlertStore>, db: Db| async move {
        let sink = SmtpSink::refusing_recipients("550 5.1.1 mailbox unavailable").await;
        let alerter = alerter(Some(sink_smtp(&sink)));
        let mut s = settings(vec![email("ops@shop.test", AlertOn::Both)]);
        s.heartbeat_hours = Some(2);
        let flows = [(FlowRef::new("orders", ""), s)];
        // Never succeeded: the silence runs from the first run.
        let run = finished_run(&*store, RunStatus::Failed, 1).await;
        db.backdate_run(run.run_id, 3).await;
        let first = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].status, DeliveryStatus::Failed);
        let within_hour = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert!(within_hour.is_empty(), "{within_hour:?}");
        db.backdate_deliveries(2).await;
        let after_hour = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert_eq!(after_hour.len(), 1);
    };

    flows_that_never_ran_or_have_no_heartbeat_are_not_checked => |store: Arc<dyn AlertStore>, db: Db| async move {
        let sink = SmtpSink::start().await;
        let alerter = alerter(Some(sink_smtp(&sink)));
        let run = finished_run(&*store, RunStatus::Succeeded, 0).await;
        db.backdate_run(run.run_id, 100).await;
        let mut with_heartbeat = settings(vec![email("ops@shop.test", AlertOn::Failure)]);
        with_heartbeat.heartbeat_hours = Some(1);
        let flows = [
            (FlowRef::new("never-ran", ""), with_heartbeat),
            (FlowRef::new("orders", ""), settings(vec![email("ops@shop.test", AlertOn::Failure)])),
        ];
        let sent = alerter.check_heartbeats(&*store, &flows, Utc::now()).await.unwrap();
        assert!(sent.is_empty(), "{sent:?}");
        assert!(sink.messages().is_empty());
    };
}

#[tokio::test]
async fn failed_run_emails_every_recipient_with_the_facts_and_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let sink = SmtpSink::start().await;
    let run = finished_run(&*store, RunStatus::Failed, 7).await;
    let errors = first_errors(&*store, run.run_id, 5).await.unwrap();
    assert_eq!(errors.len(), 5);
    let s = settings(vec![AlertChannel::Email {
        to: "ops@shop.test, Jane Doe <jane@erp.test>,sales@shop.test".into(),
        subject: Some("Ferry {status}: {flow} lost {failed}".into()),
        on: AlertOn::Failure,
    }]);
    let flow = FlowRef::new("orders", "Shop orders");

    let deliveries = alerter(Some(sink_smtp(&sink)))
        .notify_run_finished(&*store, &flow, &s, &run, &errors)
        .await;

    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::Sent,
        "{:?}",
        deliveries[0].error
    );
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one message for all recipients");
    let mail = &mails[0];
    assert_eq!(mail.from, "ferry@shop.test");
    assert_eq!(
        mail.to,
        ["ops@shop.test", "jane@erp.test", "sales@shop.test"]
    );
    let to = mail.header("To").unwrap();
    assert!(
        to.contains("ops@shop.test")
            && to.contains("\"Jane Doe\" <jane@erp.test>")
            && to.contains("sales@shop.test"),
        "{to}"
    );
    assert_eq!(
        mail.header("Subject").unwrap(),
        "Ferry failed: Shop orders lost 7"
    );
    let body = mail.body();
    assert!(body.contains("Flow: Shop orders (orders)"), "{body}");
    assert!(body.contains(&format!("Run: {}", run.run_id)), "{body}");
    assert!(body.contains("Failed records: 7"), "{body}");
    assert!(
        body.contains("- #1001 (step map): customer.email: missing (record 0)"),
        "{body}"
    );
    assert!(body.contains("- #1005 (step map)"), "{body}");
    assert!(
        !body.contains("#1006"),
        "only the first five errors: {body}"
    );
    assert!(
        body.contains(&format!("https://ferry.shop.test/runs/{}", run.run_id)),
        "{body}"
    );

    let logged = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].run_id, Some(run.run_id));
    assert_eq!(logged[0].kind, AlertKind::Failure);
    assert_eq!(logged[0].channel, "email");
    assert_eq!(
        logged[0].recipient,
        "ops@shop.test, Jane Doe <jane@erp.test>, sales@shop.test"
    );
}

#[tokio::test]
async fn refused_recipient_is_logged_as_a_failed_delivery_with_the_servers_reply() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let sink = SmtpSink::refusing_recipients("550 5.1.1 <ops@shop.test>: user unknown").await;
    let run = finished_run(&*store, RunStatus::Failed, 1).await;
    let s = settings(vec![email("ops@shop.test", AlertOn::Failure)]);

    let deliveries = alerter(Some(sink_smtp(&sink)))
        .notify_run_finished(&*store, &FlowRef::new("orders", ""), &s, &run, &[])
        .await;

    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert!(sink.messages().is_empty());
    let logged = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].status, DeliveryStatus::Failed);
    let error = logged[0].error.as_deref().unwrap();
    assert!(
        error.contains("550") && error.contains("user unknown"),
        "{error}"
    );
    assert!(
        error.contains(&format!("127.0.0.1:{}", sink.addr.port())),
        "names the server: {error}"
    );
}

#[tokio::test]
async fn webhook_gets_the_json_body_and_a_refusing_one_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let (base, received) = webhook_server().await;
    let run = finished_run(&*store, RunStatus::Failed, 2).await;
    let errors = first_errors(&*store, run.run_id, 5).await.unwrap();
    let s = settings(vec![
        AlertChannel::Webhook {
            url: format!("{base}/ok/s3cret-token"),
            on: AlertOn::Both,
        },
        AlertChannel::Webhook {
            url: format!("{base}/broken"),
            on: AlertOn::Failure,
        },
    ]);

    let deliveries = alerter(None)
        .notify_run_finished(
            &*store,
            &FlowRef::new("orders", "Shop orders"),
            &s,
            &run,
            &errors,
        )
        .await;

    assert_eq!(deliveries.len(), 2);
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["version"], 1);
    assert_eq!(body["kind"], "failure");
    assert_eq!(body["flow"]["id"], "orders");
    assert_eq!(body["flow"]["name"], "Shop orders");
    assert_eq!(body["run"]["id"], run.run_id);
    assert_eq!(body["run"]["status"], "failed");
    assert_eq!(
        body["run"]["url"],
        format!("https://ferry.shop.test/runs/{}", run.run_id)
    );
    assert_eq!(body["run"]["counts"]["failed"], 2);
    assert_eq!(body["failed"], 2);
    assert_eq!(body["first_errors"][1]["key"], "#1002");
    assert_eq!(
        body["first_errors"][1]["message"],
        "customer.email: missing (record 1)"
    );

    let logged = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    let ok = logged
        .iter()
        .find(|d| d.status == DeliveryStatus::Sent)
        .unwrap();
    assert!(
        ok.recipient.starts_with(&format!("{base}/ok/… #")),
        "{}",
        ok.recipient
    );
    assert!(
        !ok.recipient.contains("s3cret"),
        "the token stays out of the log"
    );
    let broken = logged
        .iter()
        .find(|d| d.status == DeliveryStatus::Failed)
        .unwrap();
    let error = broken.error.as_deref().unwrap();
    assert!(
        error.contains("500") && error.contains("database is down"),
        "{error}"
    );
}

#[tokio::test]
async fn channels_hear_only_the_outcomes_they_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let sink = SmtpSink::start().await;
    let alerter = alerter(Some(sink_smtp(&sink)));
    let s = settings(vec![
        email("failures@shop.test", AlertOn::Failure),
        email("successes@shop.test", AlertOn::Success),
        email("all@shop.test", AlertOn::Both),
    ]);
    let flow = FlowRef::new("orders", "");
    let ok = finished_run(&*store, RunStatus::Succeeded, 0).await;
    let stopped = finished_run(&*store, RunStatus::Error, 0).await;

    alerter
        .notify_run_finished(&*store, &flow, &s, &ok, &[])
        .await;
    alerter
        .notify_run_finished(&*store, &flow, &s, &stopped, &[])
        .await;

    let mut to: Vec<String> = sink
        .messages()
        .into_iter()
        .map(|m| m.to.join(","))
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "all@shop.test",
            "all@shop.test",
            "failures@shop.test",
            "successes@shop.test"
        ]
    );
    let kinds: Vec<AlertKind> = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|d| d.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == AlertKind::Success).count(),
        2
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == AlertKind::Failure).count(),
        2
    );
}

#[tokio::test]
async fn test_alert_reaches_every_channel_and_missing_smtp_is_a_logged_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let (base, received) = webhook_server().await;
    let s = settings(vec![
        email("ops@shop.test", AlertOn::Success),
        AlertChannel::Webhook {
            url: format!("{base}/ok/x"),
            on: AlertOn::Failure,
        },
    ]);

    let deliveries = alerter(None)
        .send_test_alert(&*store, &FlowRef::new("orders", ""), &s)
        .await;

    assert_eq!(deliveries.len(), 2);
    let email = deliveries.iter().find(|d| d.channel == "email").unwrap();
    assert_eq!(email.status, DeliveryStatus::Failed);
    assert_eq!(
        email.error.as_deref(),
        Some("no SMTP server configured for email alerts")
    );
    assert_eq!(received.lock().unwrap()[0]["kind"], "test");
    let logged = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    assert!(
        logged
            .iter()
            .all(|d| d.kind == AlertKind::Test && d.run_id.is_none())
    );
}

#[tokio::test]
async fn unreachable_smtp_server_fails_the_delivery_not_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    // A port nobody listens on: bind, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = finished_run(&*store, RunStatus::Failed, 1).await;
    let s = settings(vec![email("ops@shop.test", AlertOn::Failure)]);

    let deliveries = alerter(Some(SmtpSettings::plain(
        "127.0.0.1",
        port,
        "ferry@shop.test",
    )))
    .notify_run_finished(&*store, &FlowRef::new("orders", ""), &s, &run, &[])
    .await;

    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert!(
        deliveries[0]
            .error
            .as_deref()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}"))
    );
}

#[tokio::test]
async fn starttls_is_required_when_asked_for_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    // The sink does not offer STARTTLS: the message must not go out in plain text.
    let sink = SmtpSink::start().await;
    let mut smtp = sink_smtp(&sink);
    smtp.tls = SmtpTls::Starttls;
    let run = finished_run(&*store, RunStatus::Failed, 1).await;
    let s = settings(vec![email("ops@shop.test", AlertOn::Failure)]);

    let deliveries = alerter(Some(smtp))
        .notify_run_finished(&*store, &FlowRef::new("orders", ""), &s, &run, &[])
        .await;

    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert!(sink.messages().is_empty());
    let error = deliveries[0].error.as_deref().unwrap();
    assert!(error.contains("STARTTLS is not supported"), "{error}");
}

#[tokio::test]
async fn a_silent_smtp_server_fails_the_delivery_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let mut smtp = SmtpSettings::plain("127.0.0.1", port, "ferry@shop.test");
    smtp.timeout_secs = 1;
    let run = finished_run(&*store, RunStatus::Failed, 1).await;
    let s = settings(vec![email("ops@shop.test", AlertOn::Failure)]);

    let deliveries = alerter(Some(smtp))
        .notify_run_finished(&*store, &FlowRef::new("orders", ""), &s, &run, &[])
        .await;

    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert_eq!(held.lock().unwrap().len(), 1, "the alerter did connect");
    let logged = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    assert_eq!(logged[0].status, DeliveryStatus::Failed);
    assert!(
        logged[0]
            .error
            .as_deref()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}"))
    );
}
