//! Alerts over the API: a tenant's default alert settings (round trip, validation naming the
//! field, another tenant's answering 404), "send test alert" over real SMTP to a local sink and
//! real HTTP to a local webhook receiver, the delivery log scoped to the caller's tenants, and
//! the precedence flow `alerts` → tenant default → installation default, on the real store
//! (SQLite file and Postgres) and through the runtime's heartbeat loop.

// This test uses the SMTP sink that accepts, not the one that refuses.
#[allow(dead_code)]
mod support;

#[path = "support/no_connect.rs"]
mod no_connect;

#[path = "support/openapi_check.rs"]
mod openapi_check;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode as Status;
use axum::routing::post;
use ferry_engine::alert::{AlertSettings, AlertSource, Alerter, SmtpSettings, effective_alerts};
use ferry_engine::flow::parse_flow;
use ferry_engine::http::auth::{hash_password, new_secret, secret_hash};
use ferry_engine::runtime::{Runtime, RuntimeSettings, heartbeat_once};
use ferry_engine::store::{
    AlertKind, DeliveryFilter, DeliveryStatus, FlowRecord, NewAlertDelivery, NewRun, NewUser, Role,
    RunCounts, RunStatus, ServiceStore,
};
use no_connect::NoConnect;
use reqwest::Method;
use serde_json::{Value, json};
use support::pg_schema::PgSchema;
use support::smtp_sink::SmtpSink;

const PASSWORD: &str = "correct horse battery";
const ACME: &str = "acme";
const GLOBEX: &str = "globex";

/// What the webhook receiver got: (name in the URL, JSON body), in order.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A local webhook receiver: `/ok/{name}` keeps (name, JSON body), `/broken` answers 500.
async fn webhook_receiver() -> (String, Received) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    async fn ok(
        State(seen): State<Received>,
        axum::extract::Path(name): axum::extract::Path<String>,
        axum::Json(body): axum::Json<Value>,
    ) -> Status {
        seen.lock().unwrap().push((name, body));
        Status::NO_CONTENT
    }
    let app = Router::new()
        .route("/ok/{name}", post(ok))
        .route(
            "/broken",
            post(|| async { (Status::INTERNAL_SERVER_ERROR, "alert inbox is down") }),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

fn settings(value: Value) -> AlertSettings {
    serde_json::from_value(value).unwrap()
}

/// A flow file of `tenant`; `alerts` is its own alert settings, if any.
fn flow_json(id: &str, tenant: &str, alerts: Option<Value>) -> Value {
    let mut flow = json!({
        "version": 1, "id": id, "name": format!("Orders of {tenant}"), "tenant": tenant,
        "trigger": {"type": "webhook"},
        "connections": {"shop": {"connector": "http", "config": {"base_url": "http://127.0.0.1:9"}}},
        "source": {"connection": "shop", "operation": "read", "params": {"path": "/orders"}},
        "target": {"connection": "shop", "operation": "write", "params": {"path": "/erp"}}
    });
    if let Some(alerts) = alerts {
        flow["alerts"] = alerts;
    }
    flow
}

async fn store_flow(store: &dyn ServiceStore, id: &str, tenant: &str, alerts: Option<Value>) {
    store
        .upsert_flow(&FlowRecord {
            id: id.into(),
            name: format!("Orders of {tenant}"),
            definition: flow_json(id, tenant, alerts).to_string(),
            version: "v1".into(),
            base_dir: String::new(),
            enabled: true,
            webhook_token: format!("hook-{id}"),
            tenant: tenant.into(),
        })
        .await
        .unwrap();
}

/// The server under test: tenants `acme` and `globex`, each with a flow without `alerts`
/// (`<tenant>_orders`), `acme_own` with alerts of its own, an alerter sending through the SMTP
/// sink, and an installation default that posts to `/ok/installation`.
struct Api {
    url: String,
    rt: Arc<Runtime>,
    http: reqwest::Client,
    /// Role name → token: `admin`, `merchant` and `support` of acme, `globex` (its merchant).
    tokens: std::collections::BTreeMap<&'static str, String>,
    sink: SmtpSink,
    hooks: String,
    received: Received,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
        let sink = SmtpSink::start().await;
        let (hooks, received) = webhook_receiver().await;
        let smtp = SmtpSettings::plain(
            &sink.addr.ip().to_string(),
            sink.addr.port(),
            "Ferry <ferry@ferry.test>",
        );
        let rt = Runtime::open(
            &db,
            Arc::new(NoConnect),
            RuntimeSettings {
                alerter: Some(Alerter::new(
                    Some(smtp),
                    reqwest::Client::new(),
                    "https://ferry.test",
                )),
                default_alerts: Some(settings(json!({"channels": [
                    {"type": "webhook", "url": format!("{hooks}/ok/installation")}
                ]}))),
                ..RuntimeSettings::default()
            },
        )
        .await
        .unwrap();
        let store = &*rt.store;
        for tenant in [ACME, GLOBEX] {
            store.create_tenant(tenant, tenant).await.unwrap().unwrap();
            store_flow(store, &format!("{tenant}_orders"), tenant, None).await;
        }
        let own = json!({"channels": [{"type": "webhook", "url": format!("{hooks}/ok/flow")}]});
        store_flow(store, "acme_own", ACME, Some(own)).await;
        let mut tokens = std::collections::BTreeMap::new();
        for (name, role, tenant) in [
            ("admin", Role::Admin, None),
            ("merchant", Role::Merchant, Some(ACME)),
            ("support", Role::Support, Some(ACME)),
            ("globex", Role::Merchant, Some(GLOBEX)),
        ] {
            let user = store
                .create_user(&NewUser {
                    email: format!("{name}@example.com"),
                    password_hash: hash_password(PASSWORD),
                    role,
                    tenants: tenant.map(|t| vec![t.to_string()]).unwrap_or_default(),
                })
                .await
                .unwrap()
                .unwrap();
            let token = new_secret("fy_");
            store
                .create_token(user.id, "test", &secret_hash(&token), "fy_")
                .await
                .unwrap();
            tokens.insert(name, token);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app =
            ferry_engine::http::router_with(ferry_engine::http::AppState::new(rt.clone(), None));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Api {
            url,
            rt,
            http: reqwest::Client::new(),
            tokens,
            sink,
            hooks,
            received,
            _dir: dir,
        }
    }

    /// `method path` as `who`, with a JSON `body` when given: (status, JSON answer).
    async fn call(
        &self,
        who: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.tokens[who]);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    fn received(&self, name: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_default_round_trips_and_is_refused_with_the_bad_field_named() {
    let api = Api::start().await;
    let path = "/api/v1/tenants/acme/alerts";
    let (status, body) = api.call("merchant", Method::GET, path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"tenant_id": "acme", "alerts": null, "updated_at": null})
    );

    let wanted = json!({
        "channels": [
            {"type": "email", "to": "ops@acme.test, Jane <jane@acme.test>",
             "subject": "{flow}: {status}", "on": "both"},
            {"type": "webhook", "url": "https://hooks.acme.test/T0K3N", "on": "failure"}
        ],
        "heartbeat_hours": 12
    });
    let (status, put) = api
        .call("merchant", Method::PUT, path, Some(wanted.clone()))
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["alerts"], wanted);
    let (status, got) = api.call("support", Method::GET, path, None).await;
    assert_eq!(status, 200, "support reads settings: {got}");
    assert_eq!(got["alerts"], wanted);
    assert!(got["updated_at"].as_str().unwrap().ends_with('Z'));

    // Every bad field is reported with its path; nothing is stored.
    let bad = json!({"channels": [
        {"type": "email", "to": "ops@acme.test, not-an-address"},
        {"type": "webhook", "url": "ftp://hooks.acme.test/x"}
    ]});
    let (status, refused) = api.call("merchant", Method::PUT, path, Some(bad)).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_alerts");
    assert_eq!(refused["error"]["details"]["field"], "channels[0].to");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("channels[0].to: recipient 2 `not-an-address` is not an email address"),
        "{message}"
    );
    let issues = refused["error"]["details"]["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 2, "{issues:?}");
    assert_eq!(issues[1]["path"], "channels[1].url");
    assert_eq!(
        issues[1]["message"],
        "webhook URL must be http or https, not `ftp`"
    );
    // Unknown fields and channel types answer in the same error format.
    let (status, unknown) = api
        .call(
            "merchant",
            Method::PUT,
            path,
            Some(json!({"channels": [{"type": "sms", "to": "+31"}]})),
        )
        .await;
    assert_eq!(status, 422, "{unknown}");
    assert_eq!(unknown["error"]["code"], "invalid_body");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant `sms`"),
        "{unknown}"
    );
    assert_eq!(
        api.call("merchant", Method::GET, path, None).await.1["alerts"],
        wanted
    );

    // Support may read, not change.
    let (status, forbidden) = api
        .call("support", Method::PUT, path, Some(wanted.clone()))
        .await;
    assert_eq!(status, 403, "{forbidden}");
    assert_eq!(forbidden["error"]["code"], "forbidden");
    assert_eq!(api.call("support", Method::DELETE, path, None).await.0, 403);

    // Another tenant's settings are 404 like a missing tenant, with none of their data.
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"channels": []}))),
        (Method::DELETE, None),
    ] {
        let (status, answer) = api.call("globex", method.clone(), path, body.clone()).await;
        assert_eq!(status, 404, "{method} {answer}");
        assert_eq!(answer["error"]["code"], "tenant_not_found");
        assert!(!answer.to_string().contains("acme.test"), "{answer}");
        let (missing_status, missing) = api
            .call("globex", method, "/api/v1/tenants/nobody/alerts", body)
            .await;
        assert_eq!(missing_status, 404);
        assert_eq!(missing["error"]["code"], "tenant_not_found");
    }
    assert_eq!(
        api.call(
            "merchant",
            Method::GET,
            "/api/v1/tenants/globex/alerts",
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.call("merchant", Method::GET, path, None).await.1["alerts"],
        wanted,
        "untouched by globex"
    );

    let (status, _) = api.call("merchant", Method::DELETE, path, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        api.call("admin", Method::GET, path, None).await.1["alerts"],
        Value::Null
    );
    let (_, audit) = api.call("admin", Method::GET, "/api/v1/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["alerts.delete", "alerts.update"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_reaches_smtp_and_webhooks_and_the_log_shows_only_the_callers_tenant() {
    let api = Api::start().await;
    let hooks = &api.hooks;
    let acme_default = json!({"channels": [
        {"type": "email", "to": "ops@acme.test, Jane <jane@acme.test>", "on": "success"},
        {"type": "webhook", "url": format!("{hooks}/ok/acme"), "on": "failure"},
        {"type": "webhook", "url": format!("{hooks}/broken")}
    ]});
    let (status, body) = api
        .call(
            "merchant",
            Method::PUT,
            "/api/v1/tenants/acme/alerts",
            Some(acme_default),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The tenant's default: every channel, whatever its `on`.
    let (status, answer) = api
        .call(
            "merchant",
            Method::POST,
            "/api/v1/flows/acme_orders/alerts/test",
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "tenant");
    let deliveries = answer["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3, "{answer}");
    assert_eq!(deliveries[0]["channel"], "email");
    assert_eq!(
        deliveries[0]["recipient"],
        "ops@acme.test, Jane <jane@acme.test>"
    );
    assert_eq!(deliveries[0]["status"], "sent", "{answer}");
    assert_eq!(deliveries[1]["status"], "sent", "{answer}");
    assert_eq!(deliveries[2]["status"], "failed");
    let error = deliveries[2]["error"].as_str().unwrap();
    assert!(
        error.contains("500") && error.contains("alert inbox is down"),
        "{error}"
    );

    let mails = api.sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "ferry@ferry.test");
    assert_eq!(mails[0].to, ["ops@acme.test", "jane@acme.test"]);
    assert_eq!(
        mails[0].header("Subject").unwrap(),
        "[Ferry] Orders of acme: test (0 failed)"
    );
    assert!(
        mails[0]
            .body()
            .contains("test alert for flow Orders of acme (acme_orders)"),
        "{}",
        mails[0].body()
    );
    let posted = api.received("acme");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["kind"], "test");
    assert_eq!(posted[0]["flow"]["id"], "acme_orders");

    // A flow's own `alerts` win over the tenant's default.
    let (status, own) = api
        .call(
            "merchant",
            Method::POST,
            "/api/v1/flows/acme_own/alerts/test",
            None,
        )
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["source"], "flow");
    assert_eq!(api.received("flow").len(), 1);
    assert_eq!(api.received("acme").len(), 1, "the default was not used");

    // Support may read the log but not send; another tenant's flow is 404.
    let (status, _) = api
        .call(
            "support",
            Method::POST,
            "/api/v1/flows/acme_orders/alerts/test",
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, hidden) = api
        .call(
            "globex",
            Method::POST,
            "/api/v1/flows/acme_orders/alerts/test",
            None,
        )
        .await;
    assert_eq!(status, 404, "{hidden}");
    assert_eq!(hidden["error"]["code"], "flow_not_found");

    // globex has no default: the installation's applies to its flow.
    let (status, globex) = api
        .call(
            "globex",
            Method::POST,
            "/api/v1/flows/globex_orders/alerts/test",
            None,
        )
        .await;
    assert_eq!(status, 200, "{globex}");
    assert_eq!(globex["source"], "installation");
    let doc = ferry_engine::http::openapi_document();
    let documented = |path: &str, answer: &Value| {
        let method = if path.ends_with("/test") {
            "POST"
        } else {
            "GET"
        };
        let schema = openapi_check::documented_answer(&doc, method, path, 200);
        let wrong = openapi_check::mismatches(answer, schema, &doc);
        assert!(wrong.is_empty(), "{path}: {answer}\n{}", wrong.join("\n"));
    };
    documented("/api/v1/flows/{flow_id}/alerts/test", &globex);
    assert_eq!(api.received("installation").len(), 1);

    // The log: acme's callers see acme's four deliveries (newest first), never globex's.
    let (status, log) = api
        .call("support", Method::GET, "/api/v1/alert-deliveries", None)
        .await;
    assert_eq!(status, 200, "{log}");
    documented("/api/v1/alert-deliveries", &log);
    let rows = log["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{log}");
    assert!(rows.iter().all(|d| d["tenant_id"] == "acme"), "{log}");
    assert!(rows.iter().all(|d| d["kind"] == "test"), "{log}");
    assert_eq!(rows[0]["flow_id"], "acme_own");
    let email = rows
        .iter()
        .find(|d| d["channel"] == "email")
        .expect("the email delivery");
    assert_eq!(email["recipient"], "ops@acme.test, Jane <jane@acme.test>");
    assert_eq!(email["status"], "sent");
    assert_eq!(email["run_id"], Value::Null);
    let broken = rows.iter().find(|d| d["status"] == "failed").unwrap();
    assert!(
        broken["error"].as_str().unwrap().contains("500"),
        "{broken}"
    );
    assert!(!log.to_string().contains("globex_orders"), "{log}");

    let (_, one) = api
        .call(
            "merchant",
            Method::GET,
            "/api/v1/alert-deliveries?flow=acme_own&limit=5",
            None,
        )
        .await;
    assert_eq!(one["deliveries"].as_array().unwrap().len(), 1, "{one}");
    for query in ["?flow=globex_orders", "?tenant=globex"] {
        let (status, other) = api
            .call(
                "merchant",
                Method::GET,
                &format!("/api/v1/alert-deliveries{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(other["deliveries"], json!([]), "{query}: {other}");
    }
    let (_, theirs) = api
        .call("globex", Method::GET, "/api/v1/alert-deliveries", None)
        .await;
    let theirs = theirs["deliveries"].as_array().unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["flow_id"], "globex_orders");
    let (_, all) = api
        .call(
            "admin",
            Method::GET,
            "/api/v1/alert-deliveries?limit=100",
            None,
        )
        .await;
    assert_eq!(all["deliveries"].as_array().unwrap().len(), 5);
    let (status, bad) = api
        .call(
            "admin",
            Method::GET,
            "/api/v1/alert-deliveries?limit=many",
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["code"], "invalid_query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_filters_by_kind_status_and_time() {
    let api = Api::start().await;
    // Four deliveries about acme's flow, one day apart (their times set in the file, since the
    // store stamps `now`): failure/sent, failure/failed, heartbeat/sent, test/failed.
    let logged = [
        (
            AlertKind::Failure,
            DeliveryStatus::Sent,
            "2026-11-01T08:00:00.000Z",
        ),
        (
            AlertKind::Failure,
            DeliveryStatus::Failed,
            "2026-11-02T08:00:00.000Z",
        ),
        (
            AlertKind::Heartbeat,
            DeliveryStatus::Sent,
            "2026-11-03T08:00:00.000Z",
        ),
        (
            AlertKind::Test,
            DeliveryStatus::Failed,
            "2026-11-04T08:00:00.000Z",
        ),
    ];
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        api._dir.path().join("ferry.db").display()
    ))
    .await
    .unwrap();
    for (kind, status, at) in logged {
        let id = api
            .rt
            .store
            .record_alert_delivery(&NewAlertDelivery {
                flow_id: "acme_orders".into(),
                run_id: None,
                channel: "webhook".into(),
                recipient: "https://hooks.acme.test/alerts".into(),
                kind,
                status,
                error: (status == DeliveryStatus::Failed).then(|| "HTTP 500".into()),
            })
            .await
            .unwrap();
        sqlx::query("update alert_delivery set created_at = ? where id = ?")
            .bind(at)
            .bind(id)
            .execute(&db)
            .await
            .unwrap();
    }
    let list = |query: &'static str| {
        let api = &api;
        async move {
            let (status, body) = api
                .call(
                    "support",
                    Method::GET,
                    &format!("/api/v1/alert-deliveries?{query}"),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            body["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    format!(
                        "{}/{}@{}",
                        d["kind"].as_str().unwrap(),
                        d["status"].as_str().unwrap(),
                        &d["created_at"].as_str().unwrap()[..10]
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("kind=failure").await,
        ["failure/failed@2026-11-02", "failure/sent@2026-11-01"]
    );
    assert_eq!(
        list("status=failed").await,
        ["test/failed@2026-11-04", "failure/failed@2026-11-02"]
    );
    assert_eq!(
        list("kind=failure&status=sent").await,
        ["failure/sent@2026-11-01"]
    );
    // Both ends are inclusive; a zone offset is converted to UTC.
    assert_eq!(
        list("since=2026-11-02T08:00:00Z&until=2026-11-03T10:00:00%2B02:00").await,
        ["heartbeat/sent@2026-11-03", "failure/failed@2026-11-02"]
    );
    assert_eq!(
        list("until=2026-11-01T08:00:00Z").await,
        ["failure/sent@2026-11-01"]
    );
    assert!(list("since=2026-12-01T00:00:00Z").await.is_empty());
    // Another tenant's caller gets none of them, whatever the filter.
    let (_, theirs) = api
        .call(
            "globex",
            Method::GET,
            "/api/v1/alert-deliveries?kind=failure",
            None,
        )
        .await;
    assert_eq!(theirs["deliveries"], json!([]));

    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("kind=panic", "kind"),
        ("status=lost", "status"),
    ] {
        let (status, bad) = api
            .call(
                "admin",
                Method::GET,
                &format!("/api/v1/alert-deliveries?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 422, "{query}: {bad}");
        assert_eq!(bad["error"]["code"], "invalid_query", "{query}");
        assert_eq!(bad["error"]["details"]["field"], field, "{query}");
        let message = bad["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_without_any_channel_says_where_to_set_them() {
    let api = Api::start().await;
    // The tenant's default replaces the installation's whole: no channels means none.
    api.call(
        "merchant",
        Method::PUT,
        "/api/v1/tenants/acme/alerts",
        Some(json!({"channels": []})),
    )
    .await;
    let (status, answer) = api
        .call(
            "merchant",
            Method::POST,
            "/api/v1/flows/acme_orders/alerts/test",
            None,
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "no_alert_channels");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /api/v1/tenants/acme/alerts"),
        "{answer}"
    );
    assert!(api.received("installation").is_empty());
}

/// The heartbeat loop of the runtime takes a flow's channels from its tenant's stored default
/// when the flow has no `alerts`, for a tenant other than `default` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_uses_the_tenants_stored_default() {
    let api = Api::start().await;
    let hooks = &api.hooks;
    let store = &*api.rt.store;
    store
        .set_tenant_alerts(
            ACME,
            &settings(json!({
                "channels": [{"type": "webhook", "url": format!("{hooks}/ok/acme")}],
                "heartbeat_hours": 1
            })),
        )
        .await
        .unwrap();
    let run_id = store
        .create_run(&NewRun {
            flow_id: "acme_orders".into(),
            flow_version: "v1".into(),
            trigger: "manual".into(),
        })
        .await
        .unwrap();
    store
        .finish_run(run_id, RunStatus::Succeeded, &RunCounts::default(), None)
        .await
        .unwrap();
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        api._dir.path().join("ferry.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "update run set started_at = '2020-01-01T00:00:00.000Z', \
         finished_at = '2020-01-01T00:00:00.000Z' where id = $1",
    )
    .bind(run_id)
    .execute(&pool)
    .await
    .unwrap();

    assert_eq!(heartbeat_once(&api.rt).await.unwrap(), 1);
    let posted = api.received("acme");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["kind"], "heartbeat");
    assert_eq!(posted[0]["flow"]["id"], "acme_orders");
    let logged = store
        .alert_deliveries(&DeliveryFilter {
            tenants: Some(vec![ACME.into()]),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].kind, AlertKind::Heartbeat);
    assert_eq!(logged[0].tenant_id, ACME);
}

/// Flow `alerts`, else the tenant's stored default, else the installation's: on the real store.
async fn precedence(store: Arc<dyn ServiceStore>) {
    let installation = settings(json!({"channels": [
        {"type": "email", "to": "installation@ferry.test"}
    ]}));
    let tenant_default = settings(json!({
        "channels": [{"type": "email", "to": "ops@acme.test"}],
        "heartbeat_hours": 6
    }));
    store.create_tenant(ACME, "Acme").await.unwrap().unwrap();
    store
        .create_tenant(GLOBEX, "Globex")
        .await
        .unwrap()
        .unwrap();
    let own = json!({"channels": [{"type": "email", "to": "flow@acme.test"}]});
    let with_alerts =
        parse_flow(&flow_json("acme_own", ACME, Some(own)).to_string(), "own").unwrap();
    let silenced = parse_flow(
        &flow_json("acme_quiet", ACME, Some(json!({"channels": []}))).to_string(),
        "quiet",
    )
    .unwrap();
    let plain = parse_flow(&flow_json("acme_orders", ACME, None).to_string(), "plain").unwrap();

    let level = |e: Option<ferry_engine::alert::EffectiveAlerts>| {
        e.map(|e| {
            (
                e.source,
                e.settings.channels.len(),
                e.settings.heartbeat_hours,
            )
        })
    };
    // No tenant default yet: the installation's.
    assert_eq!(
        level(
            effective_alerts(&*store, &plain, Some(&installation))
                .await
                .unwrap()
        ),
        Some((AlertSource::Installation, 1, None))
    );
    assert_eq!(
        level(effective_alerts(&*store, &plain, None).await.unwrap()),
        None
    );

    assert!(
        store
            .set_tenant_alerts(ACME, &tenant_default)
            .await
            .unwrap()
    );
    let stored = store.tenant_alerts(ACME).await.unwrap().unwrap();
    assert_eq!(stored.settings, tenant_default);
    assert!(store.tenant_alerts(GLOBEX).await.unwrap().is_none());
    assert!(
        !store
            .set_tenant_alerts("nobody", &tenant_default)
            .await
            .unwrap(),
        "no such tenant: nothing stored"
    );
    let effective = effective_alerts(&*store, &plain, Some(&installation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(effective.source, AlertSource::Tenant);
    assert_eq!(effective.settings, tenant_default);

    // A flow's own settings replace the default whole, even when they name no channel.
    let effective = effective_alerts(&*store, &with_alerts, Some(&installation))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(effective.source, AlertSource::Flow);
    assert_eq!(effective.settings.heartbeat_hours, None);
    assert_eq!(
        level(
            effective_alerts(&*store, &silenced, Some(&installation))
                .await
                .unwrap()
        ),
        Some((AlertSource::Flow, 0, None))
    );

    // Replacing keeps one row; removing falls back to the installation.
    let changed = settings(json!({"channels": [], "heartbeat_hours": 2}));
    assert!(store.set_tenant_alerts(ACME, &changed).await.unwrap());
    assert_eq!(
        store.tenant_alerts(ACME).await.unwrap().unwrap().settings,
        changed
    );
    assert!(store.delete_tenant_alerts(ACME).await.unwrap());
    assert!(!store.delete_tenant_alerts(ACME).await.unwrap());
    assert_eq!(
        level(
            effective_alerts(&*store, &plain, Some(&installation))
                .await
                .unwrap()
        ),
        Some((AlertSource::Installation, 1, None))
    );

    // Deliveries are logged under their flow's tenant and listed by tenant.
    store_flow(&*store, "globex_orders", GLOBEX, None).await;
    for flow_id in ["globex_orders", "not_stored"] {
        store
            .record_alert_delivery(&NewAlertDelivery {
                flow_id: flow_id.into(),
                run_id: None,
                channel: "email".into(),
                recipient: "ops@globex.test".into(),
                kind: AlertKind::Test,
                status: DeliveryStatus::Sent,
                error: None,
            })
            .await
            .unwrap();
    }
    let all = store
        .alert_deliveries(&DeliveryFilter::default())
        .await
        .unwrap();
    let tenants: Vec<(&str, &str)> = all
        .iter()
        .map(|d| (d.flow_id.as_str(), d.tenant_id.as_str()))
        .collect();
    assert_eq!(
        tenants,
        [("not_stored", "default"), ("globex_orders", GLOBEX)]
    );
    let of = |tenants: Vec<String>| DeliveryFilter {
        tenants: Some(tenants),
        ..DeliveryFilter::default()
    };
    assert!(
        store
            .alert_deliveries(&of(vec![ACME.into()]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .alert_deliveries(&of(vec![]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .alert_deliveries(&of(vec![ACME.into(), GLOBEX.into()]))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn precedence_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = ferry_engine::store::SqliteStore::open(&dir.path().join("ferry.db"))
        .await
        .unwrap();
    precedence(Arc::new(store)).await;
}

#[tokio::test]
async fn precedence_on_postgres() {
    let schema = PgSchema::create().await;
    let store = ferry_engine::store::PgStore::connect(&schema.url)
        .await
        .unwrap();
    precedence(Arc::new(store)).await;
}
