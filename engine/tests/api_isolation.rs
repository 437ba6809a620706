//! The isolation test: every route of the router (from its one route table), called as every
//! role and anonymously, against objects of the caller's tenant and of another tenant, must
//! answer what `docs/security.md`'s permission matrix says; another tenant's object is 404 and
//! no answer to a non-admin holds any of the other tenant's planted data. Real HTTP against the
//! real router, on a SQLite file and on Postgres.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::alert::{AlertSettings, Alerter};
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, ReadRequest,
    RecordReader, Registry, WriteAck, WriteRecord,
};
use ferry_engine::credential::{Connections, MasterKey, NewConnection};
use ferry_engine::http::auth::{hash_password, new_secret, secret_hash};
use ferry_engine::http::{RouteSpec, route_table};
use ferry_engine::runtime::{Runtime, RuntimeSettings};
use ferry_engine::store::{
    AlertKind, DeliveryStatus, FlowRecord, NewAlertDelivery, NewRun, NewUser, Outcome, RecordEntry,
    Role,
};
use serde_json::{Value, json};

#[path = "support/pg_schema.rs"]
mod pg_schema;

/// In every string planted in tenant B's objects; no answer to a non-admin may contain it.
const CANARY: &str = "zq7canary";
const PASSWORD: &str = "correct horse battery";
const ROLES: [&str; 5] = ["anonymous", "admin", "integrator", "merchant", "support"];
const TENANT_A: &str = "acme";
const TENANT_B: &str = "globex";

#[path = "support/no_connect.rs"]
mod no_connect;
use no_connect::NoConnect;

/// A connector with one credential whose health check always passes (no network here),
/// under `vault` and under the kinds the template test binds (`shopify`, `exact_online`).
struct Vault(&'static str);

struct VaultInstance;

#[async_trait]
impl ConnectorInstance for VaultInstance {
    async fn health_check(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn read(&self, _: &str, _: ReadRequest) -> Result<Box<dyn RecordReader>, ConnectorError> {
        Err(ConnectorError::Config("no reads".into()))
    }
    async fn write(
        &self,
        _: &str,
        _: &Value,
        _: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Connector for Vault {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            kind: self.0,
            summary: "test connector with one credential",
            config_schema: json!({"type": "object"}),
            credentials: vec!["token"],
            operations: vec![],
        }
    }
    async fn build(
        &self,
        _: &Value,
        _: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        Ok(Arc::new(VaultInstance))
    }
}

/// The stored connection `main` of `tenant`; B's carries the canary in its URL and token.
fn connection_config(tenant: &str) -> Value {
    let mark = if tenant == TENANT_B { CANARY } else { "plain" };
    json!({"url": format!("http://127.0.0.1:9/{mark}"), "token": format!("secret-{mark}")})
}

/// Stores `main` (what the connection endpoints act on) and, for enabling a template, `shop`
/// and `erp` of the kinds its slots take; each only when missing.
async fn store_connection(conns: &Connections, tenant: &str) {
    for (name, connector) in [
        ("main", "vault"),
        ("shop", "shopify"),
        ("erp", "exact_online"),
    ] {
        if conns.get(tenant, name).await.is_ok() {
            continue;
        }
        conns
            .create(
                tenant,
                &NewConnection {
                    name: name.into(),
                    connector: connector.into(),
                    config: connection_config(tenant),
                },
            )
            .await
            .unwrap();
    }
}

/// The flow file of `id` in `tenant`; B's carries the canary in its name and settings.
fn flow_json(id: &str, tenant: &str) -> Value {
    let mark = if tenant == TENANT_B { CANARY } else { "plain" };
    json!({
        "version": 1,
        "id": id,
        "name": format!("Orders {mark}"),
        "tenant": tenant,
        "trigger": {"type": "webhook"},
        "connections": {
            "shop": {"connector": "http", "config": {"base_url": format!("http://127.0.0.1:9/{mark}")}},
            "erp": {"connector": "http", "config": {"base_url": "http://127.0.0.1:9"}}
        },
        "source": {"connection": "shop", "operation": "read", "params": {"path": "/orders"}, "key": "$.id"},
        "steps": [{"id": "to_erp", "type": "mapping", "fields": [
            {"target": "number", "value": {"type": "jsonpath", "path": "$.id"}}
        ]}],
        "target": {"connection": "erp", "operation": "write", "params": {"path": "/sink", "method": "POST"}}
    })
}

/// The default alert settings of `tenant`: one email channel (no SMTP server here, so a test
/// alert fails without leaving the machine); B's recipient carries the canary.
fn tenant_alerts(tenant: &str) -> AlertSettings {
    let mark = if tenant == TENANT_B { CANARY } else { "plain" };
    serde_json::from_value(json!({
        "channels": [{"type": "email", "to": format!("ops-{mark}@{tenant}.example")}],
        "heartbeat_hours": 24
    }))
    .unwrap()
}

/// One tenant's objects.
struct TenantObjects {
    flow_id: String,
    hook_token: String,
    run_id: i64,
    /// A merchant of the tenant that users endpoints act on.
    victim_id: i64,
    /// A token of the victim.
    victim_token_id: i64,
}

struct Fixture {
    url: String,
    rt: Arc<Runtime>,
    /// Role → (user id, email, token) of the role's user in tenant A.
    callers: BTreeMap<&'static str, (i64, String, String)>,
    tenants: BTreeMap<&'static str, TenantObjects>,
    connections: Connections,
}

async fn setup(db_url: &str) -> Fixture {
    let settings = RuntimeSettings {
        alerter: Some(Alerter::new(
            None,
            reqwest::Client::new(),
            "http://ferry.test",
        )),
        ..RuntimeSettings::default()
    };
    let rt = Runtime::open(db_url, Arc::new(NoConnect), settings)
        .await
        .unwrap();
    let store = &rt.store;
    let connections = Connections::new(
        ferry_engine::store::open_connection_store(db_url)
            .await
            .unwrap(),
        Some(MasterKey::generate()),
        Registry::default()
            .with(Vault("vault"))
            .with(Vault("shopify"))
            .with(Vault("exact_online")),
    );
    store
        .create_tenant(TENANT_A, "Acme")
        .await
        .unwrap()
        .unwrap();
    store
        .create_tenant(TENANT_B, &format!("Globex {CANARY}"))
        .await
        .unwrap()
        .unwrap();
    let hash = hash_password(PASSWORD);
    let mut callers = BTreeMap::new();
    for (role, name) in [
        (Role::Admin, "admin"),
        (Role::Integrator, "integrator"),
        (Role::Merchant, "merchant"),
        (Role::Support, "support"),
    ] {
        let tenants = if role == Role::Admin {
            vec![]
        } else {
            vec![TENANT_A.to_string()]
        };
        let email = format!("{name}@acme.example");
        let user = store
            .create_user(&NewUser {
                email: email.clone(),
                password_hash: hash.clone(),
                role,
                tenants,
            })
            .await
            .unwrap()
            .unwrap();
        let token = new_secret("fy_");
        store
            .create_token(user.id, "test", &secret_hash(&token), &token[..10])
            .await
            .unwrap();
        callers.insert(name, (user.id, email, token));
    }
    let mut tenants = BTreeMap::new();
    for tenant in [TENANT_A, TENANT_B] {
        let mark = if tenant == TENANT_B { CANARY } else { "plain" };
        let flow_id = format!("{tenant}_orders");
        let hook_token = format!("hook-{tenant}-token");
        upsert_flow(&rt, &flow_id, tenant, &hook_token).await;
        store_connection(&connections, tenant).await;
        store
            .publish_version(
                tenant,
                &flow_id,
                &flow_json(&flow_id, tenant).to_string(),
                "v1",
                "setup",
            )
            .await
            .unwrap();
        let run_id = store
            .create_queued_run(
                &NewRun {
                    flow_id: flow_id.clone(),
                    flow_version: "v1".into(),
                    trigger: "webhook".into(),
                },
                &[],
            )
            .await
            .unwrap();
        let input =
            json!({"id": format!("order-{mark}"), "email": format!("buyer-{mark}@example.com")});
        store
            .record_outcomes(
                &[RecordEntry {
                    run_id,
                    seq: 0,
                    flow_id: flow_id.clone(),
                    source_key: Some(format!("order-{mark}")),
                    outcome: Outcome::Failed,
                    step_id: Some("to_erp".into()),
                    input: Some(input.to_string()),
                    in_page: None,
                    output: Some(json!({"number": format!("order-{mark}")}).to_string()),
                    response_status: Some(422),
                    response_body: Some(format!("{{\"error\":\"refused {mark}\"}}")),
                    target_id: None,
                    error: Some(format!("rejected {mark}: HTTP 422")),
                    attempts: 1,
                    retry_at: None,
                }],
                &[],
            )
            .await
            .unwrap();
        let victim = store
            .create_user(&NewUser {
                email: format!("victim-{mark}@{tenant}.example"),
                password_hash: hash.clone(),
                role: Role::Merchant,
                tenants: vec![tenant.to_string()],
            })
            .await
            .unwrap()
            .unwrap();
        let victim_token = new_secret("fy_");
        let victim_token_id = store
            .create_token(
                victim.id,
                mark,
                &secret_hash(&victim_token),
                &victim_token[..10],
            )
            .await
            .unwrap()
            .id;
        store
            .set_tenant_alerts(tenant, &tenant_alerts(tenant))
            .await
            .unwrap();
        store
            .record_alert_delivery(&NewAlertDelivery {
                flow_id: flow_id.clone(),
                run_id: Some(run_id),
                channel: "email".into(),
                recipient: format!("ops-{mark}@{tenant}.example"),
                kind: AlertKind::Failure,
                status: DeliveryStatus::Failed,
                error: Some(format!("refused for {mark}")),
            })
            .await
            .unwrap();
        store
            .append_audit(&ferry_engine::store::NewAudit {
                user_id: Some(victim.id),
                user_email: victim.email.clone(),
                tenant_id: Some(tenant.to_string()),
                action: "flow.update".into(),
                object_type: "flow".into(),
                object_id: flow_id.clone(),
                detail: Some(format!("changed by {mark}")),
            })
            .await
            .unwrap();
        tenants.insert(
            tenant,
            TenantObjects {
                flow_id,
                hook_token,
                run_id,
                victim_id: victim.id,
                victim_token_id,
            },
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = ferry_engine::http::AppState::new(rt.clone(), None)
        .with_connections(connections.clone(), reqwest::Client::new())
        .with_templates(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/templates"),
        );
    let app = ferry_engine::http::router_with(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Fixture {
        url,
        rt,
        callers,
        tenants,
        connections,
    }
}

async fn upsert_flow(rt: &Runtime, id: &str, tenant: &str, hook_token: &str) {
    let definition = flow_json(id, tenant).to_string();
    rt.store
        .upsert_flow(&FlowRecord {
            id: id.into(),
            name: flow_json(id, tenant)["name"].as_str().unwrap().into(),
            definition,
            version: "v1".into(),
            base_dir: String::new(),
            enabled: true,
            webhook_token: hook_token.into(),
            tenant: tenant.into(),
        })
        .await
        .unwrap();
}

/// Puts back what the previous call may have changed (a deleted flow, a disabled user).
async fn restore(f: &Fixture) {
    for (tenant, objects) in &f.tenants {
        if f.rt
            .store
            .get_flow(&objects.flow_id)
            .await
            .unwrap()
            .is_none()
        {
            upsert_flow(&f.rt, &objects.flow_id, tenant, &objects.hook_token).await;
        }
        if f.connections.get(tenant, "main").await.is_err() {
            store_connection(&f.connections, tenant).await;
        }
        if f.rt.store.tenant_alerts(tenant).await.unwrap().is_none() {
            f.rt.store
                .set_tenant_alerts(tenant, &tenant_alerts(tenant))
                .await
                .unwrap();
        }
        f.rt.store
            .set_user_disabled(objects.victim_id, false)
            .await
            .unwrap();
    }
}

/// The matrix of `docs/security.md`: "METHOD path" → answer per column of [`ROLES`].
fn documented_matrix() -> BTreeMap<String, Vec<u16>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md"))
        .unwrap();
    doc.lines()
        .filter(|l| {
            ["| `GET ", "| `POST ", "| `PUT ", "| `PATCH ", "| `DELETE "]
                .iter()
                .any(|m| l.starts_with(m))
        })
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let endpoint = cells[0].trim_matches('`').to_string();
            let answers = cells[1..]
                .iter()
                .map(|c| {
                    c.parse()
                        .unwrap_or_else(|_| panic!("`{c}` in row {endpoint}"))
                })
                .collect();
            (endpoint, answers)
        })
        .collect()
}

/// Whether the route names an object of a tenant (in its path, or the body of a new flow).
fn names_object(route: &RouteSpec) -> bool {
    (route.path.contains('{') && !route.path.starts_with("/hooks/"))
        || (route.method == "POST" && route.path == "/api/v1/flows")
}

struct Call {
    status: u16,
    body: String,
}

/// Calls `route` as `role` on the objects of `tenant`.
async fn call(f: &Fixture, n: usize, route: &RouteSpec, role: &str, tenant: &str) -> Call {
    let objects = &f.tenants[tenant];
    let caller = f.callers.get(role);
    // The caller's own token, created for this call, is what the token routes act on in its
    // own tenant; in the other tenant it is the other tenant's victim's token.
    let own_token_id = match caller {
        Some((id, _, _)) => {
            f.rt.store
                .create_token(
                    *id,
                    "to revoke",
                    &secret_hash(&format!("t{n}{role}")),
                    "fy_x",
                )
                .await
                .unwrap()
                .id
        }
        None => objects.victim_token_id,
    };
    let token_id = if tenant == TENANT_A {
        own_token_id
    } else {
        objects.victim_token_id
    };
    let path = route
        .path
        .replace("{flow_id}", &objects.flow_id)
        .replace("{token}", &objects.hook_token)
        .replace("{run_id}", &objects.run_id.to_string())
        .replace("{seq}", "0")
        .replace("{version}", "1")
        .replace("{tenant_id}", tenant)
        .replace("{name}", "main")
        .replace("{template_id}", "shopify-orders-to-exact-online")
        .replace("{user_id}", &objects.victim_id.to_string())
        .replace("{token_id}", &token_id.to_string());
    let login_email = caller
        .map(|c| c.1.clone())
        .unwrap_or_else(|| "merchant@acme.example".into());
    let body: Option<Value> = match (route.method, route.path) {
        ("POST", "/hooks/{flow_id}/{token}") => Some(json!({"id": format!("hooked-{n}")})),
        ("POST", "/api/v1/login") => Some(json!({"email": login_email, "password": PASSWORD})),
        ("PUT", "/api/v1/me/password") => {
            Some(json!({"current_password": PASSWORD, "new_password": PASSWORD}))
        }
        ("POST", "/api/v1/tenants") => Some(json!({"id": format!("t{n}"), "name": "New"})),
        ("POST", "/api/v1/users") => Some(json!({
            "email": format!("new{n}@{tenant}.example"), "password": PASSWORD,
            "role": "merchant", "tenants": [tenant],
        })),
        ("POST", "/api/v1/tokens") => Some(json!({"name": "new"})),
        ("POST", "/api/v1/flows") => Some(flow_json(&format!("new_{n}"), tenant)),
        ("POST", "/api/v1/flows/validate") => Some(flow_json("checked", tenant)),
        ("PUT", "/api/v1/flows/{flow_id}") => Some(flow_json(&objects.flow_id, tenant)),
        ("POST", "/api/v1/flows/{flow_id}/replay") => Some(json!({})),
        ("POST", "/api/v1/tenants/{tenant_id}/connections") => Some(json!({
            "name": format!("new{n}"), "connector": "vault", "config": connection_config(tenant),
        })),
        ("POST", "/api/v1/tenants/{tenant_id}/templates/{template_id}/enable") => {
            Some(json!({"connections": {"shop": "shop", "erp": "erp"}}))
        }
        ("PATCH", "/api/v1/tenants/{tenant_id}/connections/{name}") => {
            Some(json!({"config": {"url": "http://127.0.0.1:9/changed"}}))
        }
        ("PUT", "/api/v1/tenants/{tenant_id}/alerts") => {
            Some(serde_json::to_value(tenant_alerts(tenant)).unwrap())
        }
        ("POST", "/api/v1/preview") => Some(json!({
            "step": flow_json("preview", tenant)["steps"][0], "record": {"id": "1001"},
        })),
        _ => None,
    };
    // Lists are asked for the tenant too: another tenant's list must come back empty.
    let query = match route.path {
        "/api/v1/flows" | "/api/v1/runs" if route.method == "GET" => format!("?tenant={tenant}"),
        // Asked by flow too: another tenant's flow's deliveries must not come back.
        "/api/v1/alert-deliveries" => format!("?tenant={tenant}&flow={}", objects.flow_id),
        "/api/v1/flows/{flow_id}/diff" => "?from=1&to=1".to_string(),
        _ => String::new(),
    };
    let http = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
    let mut request = http.request(method, format!("{}{path}{query}", f.url));
    if let Some((_, _, token)) = caller {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    Call {
        status: response.status().as_u16(),
        body: response.text().await.unwrap(),
    }
}

async fn isolation(db_url: &str) {
    let f = setup(db_url).await;
    let matrix = documented_matrix();
    let routes = route_table();
    let in_router: Vec<String> = routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    for endpoint in &in_router {
        assert!(
            matrix.contains_key(endpoint),
            "{endpoint} is routed but missing from docs/security.md's matrix"
        );
    }
    for endpoint in matrix.keys() {
        assert!(
            in_router.contains(endpoint),
            "docs/security.md documents {endpoint}, which the router does not have"
        );
    }

    let mut calls = 0;
    let mut failures = Vec::new();
    // The admin sees tenant B: its answers must hold the canary, or the leak check checks nothing.
    let mut admin_saw_canary = 0;
    for route in &routes {
        let documented = &matrix[&format!("{} {}", route.method, route.path)];
        for (column, role) in ROLES.iter().enumerate() {
            for tenant in [TENANT_A, TENANT_B] {
                restore(&f).await;
                calls += 1;
                let expected = if tenant == TENANT_B
                    && !route.public
                    && *role != "anonymous"
                    && *role != "admin"
                    && names_object(route)
                {
                    404
                } else {
                    documented[column]
                };
                let answer = call(&f, calls, route, role, tenant).await;
                let what = format!(
                    "{} {} as {role} on {tenant}'s objects",
                    route.method, route.path
                );
                if answer.status != expected {
                    failures.push(format!(
                        "{what}: {} instead of {expected}: {}",
                        answer.status, answer.body
                    ));
                }
                let holds_canary = answer.body.to_lowercase().contains(CANARY);
                if *role == "admin" && holds_canary {
                    admin_saw_canary += 1;
                }
                if *role != "admin" && holds_canary {
                    failures.push(format!(
                        "{what}: the answer holds {TENANT_B}'s data: {}",
                        answer.body
                    ));
                }
                if answer.status >= 400 {
                    let error: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
                    if !error["error"]["code"].is_string() || !error["error"]["message"].is_string()
                    {
                        failures.push(format!("{what}: not the error format: {}", answer.body));
                    }
                }
            }
        }
    }
    println!(
        "isolation: {} endpoints × {} roles × 2 tenants = {calls} calls, {} failures",
        routes.len(),
        ROLES.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        admin_saw_canary >= 8,
        "only {admin_saw_canary} admin answers showed tenant B's planted data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_every_role_as_documented_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    isolation(&format!(
        "sqlite://{}",
        dir.path().join("ferry.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_every_role_as_documented_on_postgres() {
    let schema = pg_schema::PgSchema::create().await;
    // apalis' `hstore` type lives in `public`.
    isolation(&format!("{}%2Cpublic", schema.url)).await;
}
