//! The API's behaviour beyond the permission matrix (see `api_isolation.rs` for that): login
//! and the session cookie, tokens shown once and revoked, the one error format for every bad
//! request, flow create/validate/export, run filters and one record's payloads, the audit log,
//! and the OpenAPI document. Real HTTP against the real router on a SQLite file.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, Direction,
    OperationSpec, ReadRequest, RecordReader, Registry, WriteAck, WriteRecord,
};
use ferry_engine::credential::{Connections, MasterKey};
use ferry_engine::http::auth::{hash_password, new_secret, secret_hash};
use ferry_engine::runtime::{Runtime, RuntimeSettings};
use ferry_engine::store::{NewUser, Outcome, RecordEntry, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

#[path = "support/no_connect.rs"]
mod no_connect;
use no_connect::NoConnect;

#[path = "support/openapi_check.rs"]
mod openapi_check;

/// A connector whose health check asks `{url}/ping` with its `token` as bearer token, like the
/// shop connectors ask their vendor's "who am I" endpoint; registered under its own kind and,
/// for the template test, under the kinds a template's slots take.
struct Vault(&'static str);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultConfig {
    url: String,
    token: String,
}

struct VaultInstance {
    config: VaultConfig,
    http: reqwest::Client,
}

#[async_trait]
impl ConnectorInstance for VaultInstance {
    async fn health_check(&self) -> Result<(), ConnectorError> {
        let response = self
            .http
            .get(format!("{}/ping", self.config.url))
            .bearer_auth(&self.config.token)
            .send()
            .await
            .map_err(|e| ConnectorError::Config(format!("cannot reach the vault: {e}")))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            // The mock echoes the token it refused: the answer must not.
            Err(ConnectorError::Auth(format!(
                "the vault refused token {}: HTTP {status}: {body}",
                self.config.token
            )))
        }
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
            operations: vec![OperationSpec {
                name: "get_secrets",
                direction: Direction::Read,
                summary: "Secrets changed since the last run",
                params_schema: json!({"type": "object"}),
                sample_record: json!({"id": 7, "label": "db", "tags": ["prod"]}),
            }],
        }
    }
    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        let config = serde_json::from_value::<VaultConfig>(config.clone())
            .map_err(|e| ConnectorError::Config(format!("invalid `vault` config: {e}")))?;
        Ok(Arc::new(VaultInstance {
            config,
            http: cx.http.clone(),
        }))
    }
}

/// A local vault that accepts one token and echoes any other in its refusal.
async fn vault_mock(accepted: &'static str) -> String {
    use axum::http::{HeaderMap, StatusCode as Status};
    let app = axum::Router::new().route(
        "/ping",
        axum::routing::get(move |headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if auth == format!("Bearer {accepted}") {
                (Status::OK, "{\"ok\":true}".to_string())
            } else {
                (
                    Status::UNAUTHORIZED,
                    format!(
                        "{{\"error\":\"unknown token {}\"}}",
                        auth.trim_start_matches("Bearer ")
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The stock templates of the repository.
fn templates_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/templates")
}

struct Api {
    url: String,
    rt: Arc<Runtime>,
    admin_token: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
        let rt = Runtime::open(&db, Arc::new(NoConnect), RuntimeSettings::default())
            .await
            .unwrap();
        let admin = rt
            .store
            .create_user(&NewUser {
                email: "admin@example.com".into(),
                password_hash: hash_password(PASSWORD),
                role: Role::Admin,
                tenants: vec![],
            })
            .await
            .unwrap()
            .unwrap();
        let admin_token = new_secret("fy_");
        rt.store
            .create_token(admin.id, "test", &secret_hash(&admin_token), "fy_")
            .await
            .unwrap();
        let connections = Connections::new(
            ferry_engine::store::open_connection_store(&db)
                .await
                .unwrap(),
            Some(MasterKey::generate()),
            Registry::default()
                .with(Vault("vault"))
                .with(Vault("shopify"))
                .with(Vault("exact_online")),
        );
        let state = ferry_engine::http::AppState::new(rt.clone(), None)
            .with_connections(connections, reqwest::Client::new())
            .with_templates(templates_dir());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = ferry_engine::http::router_with(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Api {
            url,
            rt,
            admin_token,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
    }

    /// Logs in as the admin: the session cookie (`ferry_session=…`) and the login answer's
    /// CSRF token.
    async fn login(&self) -> (String, String) {
        let response = self
            .http
            .post(format!("{}/api/v1/login", self.url))
            .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        (cookie, body["csrf_token"].as_str().unwrap().to_string())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn flow_json(id: &str, tenant: &str) -> Value {
    json!({
        "version": 1, "id": id, "name": "Orders", "tenant": tenant, "trigger": {"type": "webhook"},
        "connections": {
            "shop": {"connector": "http", "config": {"base_url": "http://127.0.0.1:9"}},
            "erp": {"connector": "http", "config": {"base_url": "http://127.0.0.1:9"}}
        },
        "source": {"connection": "shop", "operation": "read", "params": {"path": "/orders"}, "key": "$.id"},
        "steps": [{"id": "to_erp", "type": "mapping", "fields": [
            {"target": "number", "value": {"type": "jsonpath", "path": "$.id"}}
        ]}],
        "target": {"connection": "erp", "operation": "write", "params": {"path": "/sink", "method": "POST"}}
    })
}

use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_lock_the_email_for_a_while() {
    let api = Api::start().await;
    let login = |email: &str, password: &str| {
        api.http
            .post(format!("{}/api/v1/login", api.url))
            .header("x-forwarded-proto", "https")
            .json(&json!({"email": email, "password": password}))
    };
    // Behind an HTTPS proxy the session cookie is `Secure`.
    let response = login("admin@example.com", PASSWORD).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure"),
        "{:?}",
        response.headers()["set-cookie"]
    );
    for attempt in 1..=10 {
        let (status, body) = api
            .send(login("Admin@example.com", "guess {attempt}"))
            .await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    // Now even the right password waits; the answer says for how long.
    let response = login("admin@example.com", PASSWORD).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_login_attempts", "{body}");
    // Bearer tokens keep working.
    let (status, _) = api
        .send(
            api.http
                .get(format!("{}/api/v1/me", api.url))
                .bearer_auth(&api.admin_token),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_session_cookie_that_logout_ends() {
    let api = Api::start().await;
    let login = |password: &str| {
        api.http
            .post(format!("{}/api/v1/login", api.url))
            .json(&json!({"email": "ADMIN@example.com", "password": password}))
    };
    let (status, body) = api.send(login("wrong password!")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_credentials");

    let response = login(PASSWORD).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("ferry_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    // Only a hash of the session id is stored.
    let id = session.trim_start_matches("ferry_session=");
    let raw: Vec<String> = sqlx::query_scalar("select id_hash from session")
        .fetch_all(
            &sqlx::SqlitePool::connect(&format!(
                "sqlite://{}",
                api._dir.path().join("ferry.db").display()
            ))
            .await
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(raw, [secret_hash(id)]);

    let me = |cookie: &str| {
        api.http
            .get(format!("{}/api/v1/me", api.url))
            .header("cookie", cookie.to_string())
    };
    let (status, body) = api.send(me(&session)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], "admin@example.com");
    assert_eq!(body["user"]["role"], "admin");
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let (status, _) = api
        .send(
            api.http
                .post(format!("{}/api/v1/logout", api.url))
                .header("cookie", session.clone())
                .header("x-csrf-token", csrf),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = api.send(me(&session)).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, _) = api
        .send(api.http.get(format!("{}/api/v1/runs", api.url)))
        .await;
    assert_eq!(status, 401, "no credentials");
    let (status, _) = api
        .send(
            api.http
                .get(format!("{}/api/v1/runs", api.url))
                .bearer_auth("fy_forged"),
        )
        .await;
    assert_eq!(status, 401, "unknown token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_that_change_something_need_the_sessions_csrf_token_and_own_origin() {
    let api = Api::start().await;
    let (cookie, token) = api.login().await;
    let (_, other_token) = api.login().await;
    assert_ne!(token, other_token, "each session has its own token");
    let tenants = || async {
        let (status, body) = api
            .send(
                api.http
                    .get(format!("{}/api/v1/tenants", api.url))
                    .header("cookie", &cookie),
            )
            .await;
        assert_eq!(status, 200, "reading needs no token: {body}");
        body["tenants"].as_array().unwrap().len()
    };
    let before = tenants().await;
    let create = |id: &str| {
        api.http
            .post(format!("{}/api/v1/tenants", api.url))
            .header("cookie", &cookie)
            .json(&json!({"id": id, "name": id}))
    };
    let refused = [
        (create("t1"), "csrf_token_missing"),
        (
            create("t2").header("x-csrf-token", "not-a-token"),
            "csrf_token_invalid",
        ),
        (
            create("t3").header("x-csrf-token", &other_token),
            "csrf_token_invalid",
        ),
        (
            create("t4")
                .header("x-csrf-token", &token)
                .header("origin", "http://evil.example"),
            "cross_origin_request",
        ),
        (
            create("t5")
                .header("x-csrf-token", &token)
                .header("origin", "null"),
            "cross_origin_request",
        ),
    ];
    for (request, code) in refused {
        let (status, body) = api.send(request).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 20);
    }
    assert_eq!(
        tenants().await,
        before,
        "no refused request created a tenant"
    );

    let (status, body) = api.send(create("ok1").header("x-csrf-token", &token)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .send(
            create("ok2")
                .header("x-csrf-token", &token)
                .header("origin", &api.url),
        )
        .await;
    assert_eq!(status, 201, "the server's own origin: {body}");

    // A reloaded page finds the token in `/me`; a bearer caller has none and needs none.
    let (_, me) = api
        .send(
            api.http
                .get(format!("{}/api/v1/me", api.url))
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(me["csrf_token"], token.as_str());
    let (_, me) = api.send(api.req(reqwest::Method::GET, "/api/v1/me")).await;
    assert_eq!(me["csrf_token"], Value::Null);
    let (status, body) = api
        .send(
            api.req(reqwest::Method::POST, "/api/v1/tenants")
                .header("origin", "http://evil.example")
                .json(&json!({"id": "bearer", "name": "Bearer"})),
        )
        .await;
    assert_eq!(status, 201, "bearer requests are exempt: {body}");
    // Webhooks are authenticated by their URL token: a cookie and a foreign origin change nothing.
    let (status, body) = api
        .send(
            api.req(reqwest::Method::POST, "/api/v1/flows")
                .json(&flow_json("hooked", "default")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let hook = api
        .rt
        .store
        .get_flow("hooked")
        .await
        .unwrap()
        .unwrap()
        .webhook_token;
    let (status, body) = api
        .send(
            api.http
                .post(format!("{}/hooks/hooked/{hook}", api.url))
                .header("cookie", &cookie)
                .header("origin", "http://evil.example")
                .json(&json!({"id": "#1"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // Login itself needs no token (there is no session yet).
    let (status, _) = api
        .send(
            api.http
                .post(format!("{}/api/v1/login", api.url))
                .header("origin", &api.url)
                .json(&json!({"email": "admin@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_shown_once_and_stops_when_revoked() {
    let api = Api::start().await;
    let (status, created) = api
        .send(
            api.req(Method::POST, "/api/v1/tokens")
                .json(&json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("fy_") && token.len() > 40);
    let (_, listed) = api.send(api.req(Method::GET, "/api/v1/tokens")).await;
    assert!(
        !listed.to_string().contains(&token),
        "listing never shows a token"
    );
    let as_new = |path: &str| {
        api.http
            .get(format!("{}{path}", api.url))
            .bearer_auth(&token)
    };
    assert_eq!(api.send(as_new("/api/v1/me")).await.0, 200);
    let path = format!("/api/v1/tokens/{}", created["id"]);
    assert_eq!(api.send(api.req(Method::DELETE, &path)).await.0, 204);
    assert_eq!(api.send(as_new("/api/v1/me")).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_answers_4xx_in_the_one_error_format() {
    let api = Api::start().await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            api.req(Method::POST, "/api/v1/tenants").header("content-type", "application/json").body("{\"id\": "),
            400,
            "malformed_json",
        ),
        (
            api.req(Method::POST, "/api/v1/tenants").json(&json!({"id": "a", "colour": "red"})),
            422,
            "invalid_body",
        ),
        (
            api.req(Method::POST, "/api/v1/tenants").json(&json!({"id": 7})),
            422,
            "invalid_body",
        ),
        (
            api.req(Method::POST, "/api/v1/tenants").body("id=a"),
            415,
            "unsupported_media_type",
        ),
        (
            api.req(Method::POST, "/api/v1/tenants").json(&json!({"id": "Not Valid!"})),
            422,
            "invalid_field",
        ),
        (api.req(Method::GET, "/api/v1/runs?limit=many"), 400, "invalid_query"),
        (api.req(Method::GET, "/api/v1/runs?colour=red"), 400, "invalid_query"),
        (api.req(Method::GET, "/api/v1/runs?from=yesterday"), 422, "invalid_query"),
        (api.req(Method::GET, "/api/v1/runs?status=done"), 422, "invalid_query"),
        (api.req(Method::GET, "/api/v1/runs/abc"), 400, "invalid_path"),
        (api.req(Method::GET, "/api/v1/runs/42"), 404, "run_not_found"),
        (api.req(Method::GET, "/api/v1/nothing"), 404, "route_not_found"),
        (api.req(Method::PATCH, "/api/v1/runs"), 405, "method_not_allowed"),
        (
            api.req(Method::POST, "/api/v1/users").json(&json!({"email": "m@x.com", "password": "short", "role": "merchant", "tenants": ["default"]})),
            422,
            "weak_password",
        ),
        (
            api.req(Method::POST, "/api/v1/users").json(&json!({"email": "m@x.com", "password": PASSWORD, "role": "owner"})),
            422,
            "invalid_field",
        ),
        (
            api.req(Method::POST, "/api/v1/flows/nope/replay").json(&json!({"keys": "1001"})),
            404,
            "flow_not_found",
        ),
    ];
    for (request, status, code) in cases {
        let (got, body) = api.send(request).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_are_created_validated_exported_and_audited() {
    let api = Api::start().await;
    api.rt.store.create_tenant("acme", "Acme").await.unwrap();
    let mut bad = flow_json("orders", "acme");
    bad["steps"][0]["fields"][0]["value"]["path"] = json!("$..[");
    bad["target"]["connection"] = json!("nowhere");
    let (status, body) = api
        .send(api.req(Method::POST, "/api/v1/flows").json(&bad))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_flow");
    let issues = body["error"]["details"]["issues"].as_array().unwrap();
    assert!(issues.len() >= 2, "every issue at once: {body}");
    assert!(
        issues
            .iter()
            .any(|i| i["path"].as_str().unwrap().contains("target")),
        "{body}"
    );
    let (status, checked) = api
        .send(api.req(Method::POST, "/api/v1/flows/validate").json(&bad))
        .await;
    assert_eq!(status, 200);
    assert_eq!(checked["valid"], false);
    assert_eq!(checked["issues"].as_array().unwrap().len(), issues.len());

    let text = serde_json::to_string_pretty(&flow_json("orders", "acme")).unwrap();
    let (status, created) = api
        .send(
            api.req(Method::POST, "/api/v1/flows")
                .header("content-type", "application/json")
                .body(text.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["tenant"], "acme");
    let (status, again) = api
        .send(
            api.req(Method::POST, "/api/v1/flows")
                .json(&flow_json("orders", "default")),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "flow_id_taken");
    let exported = api
        .req(Method::GET, "/api/v1/flows/orders/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(exported, text, "export gives back the file as imported");
    let (status, moved) = api
        .send(
            api.req(Method::PUT, "/api/v1/flows/orders")
                .json(&flow_json("orders", "default")),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(moved["error"]["code"], "tenant_change");
    let (status, _) = api
        .send(
            api.req(Method::PUT, "/api/v1/flows/orders")
                .json(&flow_json("orders", "acme")),
        )
        .await;
    assert_eq!(status, 200);
    let (status, run) = api
        .send(api.req(Method::POST, "/api/v1/flows/orders/runs"))
        .await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(
        api.send(api.req(Method::DELETE, "/api/v1/flows/orders"))
            .await
            .0,
        204
    );
    assert_eq!(
        api.send(api.req(Method::GET, "/api/v1/flows/orders"))
            .await
            .0,
        404
    );

    let (_, audit) = api.send(api.req(Method::GET, "/api/v1/audit")).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["flow.delete", "run.trigger", "flow.update", "flow.create"]
    );
    assert_eq!(audit["entries"][0]["user_email"], "admin@example.com");
    assert_eq!(audit["entries"][0]["tenant_id"], "acme");
    assert_eq!(audit["next_before"], Value::Null, "one page holds them all");

    // Filters, and pages by `before`.
    let actions_of = |audit: &Value| -> Vec<String> {
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, flows_only) = api
        .send(api.req(
            Method::GET,
            "/api/v1/audit?action=flow.&object=orders&user=ADMIN@",
        ))
        .await;
    assert_eq!(
        actions_of(&flows_only),
        ["flow.delete", "flow.update", "flow.create"]
    );
    let (_, first) = api
        .send(api.req(Method::GET, "/api/v1/audit?limit=2&tenant=acme"))
        .await;
    assert_eq!(actions_of(&first), ["flow.delete", "run.trigger"]);
    let before = first["next_before"]
        .as_i64()
        .expect("a full page names the next");
    let (_, second) = api
        .send(api.req(
            Method::GET,
            &format!("/api/v1/audit?limit=2&tenant=acme&before={before}"),
        ))
        .await;
    assert_eq!(actions_of(&second), ["flow.update", "flow.create"]);
    assert_eq!(second["next_before"], Value::Null, "the last page says so");
    let (_, other) = api
        .send(api.req(
            Method::GET,
            "/api/v1/audit?tenant=globex&since=2000-01-01T00:00:00Z",
        ))
        .await;
    assert_eq!(actions_of(&other), Vec::<String>::new());
    let (status, bad) = api
        .send(api.req(Method::GET, "/api/v1/audit?until=yesterday"))
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"]["details"]["field"], "until");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_filter_by_business_key_and_show_one_records_payloads() {
    let api = Api::start().await;
    let (status, _) = api
        .send(
            api.req(Method::POST, "/api/v1/flows")
                .json(&flow_json("orders", "default")),
        )
        .await;
    assert_eq!(status, 201);
    let (_, first) = api
        .send(api.req(Method::POST, "/api/v1/flows/orders/runs"))
        .await;
    let (_, second) = api
        .send(api.req(Method::POST, "/api/v1/flows/orders/runs"))
        .await;
    let run_id = second["run_id"].as_i64().unwrap();
    api.rt
        .store
        .record_outcomes(
            &[RecordEntry {
                run_id,
                seq: 0,
                flow_id: "orders".into(),
                source_key: Some("#1042".into()),
                outcome: Outcome::Failed,
                step_id: None,
                input: Some(json!({"id": "#1042", "total": "12.50"}).to_string()),
                in_page: None,
                output: Some(json!({"number": "#1042"}).to_string()),
                response_status: Some(422),
                response_body: Some("{\"message\":\"customer missing\"}".into()),
                target_id: None,
                error: Some("rejected: HTTP 422".into()),
                attempts: 1,
                retry_at: None,
            }],
            &[],
        )
        .await
        .unwrap();
    let (_, runs) = api
        .send(api.req(Method::GET, "/api/v1/runs?key=%231042"))
        .await;
    let ids: Vec<i64> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [run_id], "{runs}");
    let (_, all) = api
        .send(api.req(
            Method::GET,
            "/api/v1/runs?flow_id=orders&status=queued&from=2020-01-01T00:00:00Z",
        ))
        .await;
    assert_eq!(
        all["runs"].as_array().unwrap().len(),
        2,
        "{all} (first {first})"
    );
    let (_, none) = api
        .send(api.req(Method::GET, "/api/v1/runs?to=2020-01-01T00:00:00Z"))
        .await;
    assert!(none["runs"].as_array().unwrap().is_empty());

    let (_, records) = api
        .send(api.req(
            Method::GET,
            &format!("/api/v1/runs/{run_id}/records?outcome=failed"),
        ))
        .await;
    assert_eq!(records["records"][0]["business_key"], "#1042");
    assert!(
        records["records"][0].get("input").is_none(),
        "lists leave payloads out"
    );
    let (status, record) = api
        .send(api.req(Method::GET, &format!("/api/v1/runs/{run_id}/records/0")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(record["input"]["total"], "12.50");
    assert_eq!(record["output"]["number"], "#1042");
    assert_eq!(record["response_status"], 422);
    assert_eq!(
        record["response_body"],
        "{\"message\":\"customer missing\"}"
    );
    assert_eq!(
        api.send(api.req(Method::GET, &format!("/api/v1/runs/{run_id}/records/7")))
            .await
            .0,
        404
    );

    let (_, failed) = api
        .send(api.req(Method::GET, "/api/v1/flows/orders/failed"))
        .await;
    assert_eq!(failed["failed"][0]["business_key"], "#1042");
    let (status, replayed) = api
        .send(
            api.req(Method::POST, "/api/v1/flows/orders/replay")
                .json(&json!({"keys": ["#1042"]})),
        )
        .await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["records"], 1);
    let (_, audit) = api
        .send(api.req(Method::GET, "/api/v1/audit?limit=1"))
        .await;
    assert_eq!(audit["entries"][0]["action"], "record.replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_public_and_lists_every_route() {
    let api = Api::start().await;
    let (status, doc) = api
        .send(api.http.get(format!("{}/api/v1/openapi.json", api.url)))
        .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(
        doc["paths"]["/api/v1/login"]["post"]["security"],
        json!([]),
        "login is public"
    );
    assert!(doc["paths"]["/api/v1/runs/{run_id}"]["get"]["parameters"][0]["name"] == "run_id");
    let routes = ferry_engine::http::route_table();
    for r in &routes {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not documented", r.method, r.path);
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, routes.len());
}

/// Fails unless `answer` matches the schema the OpenAPI document gives the `status` answer of
/// `method path`.
fn assert_documented(method: &str, path: &str, status: u16, answer: &Value) {
    let doc = ferry_engine::http::openapi_document();
    let schema = openapi_check::documented_answer(&doc, method, path, status);
    let wrong = openapi_check::mismatches(answer, schema, &doc);
    assert!(
        wrong.is_empty(),
        "{method} {path}: {answer}\n{}",
        wrong.join("\n")
    );
}

/// Bodies that are free-form on purpose: (method, path, "request" or "response").
const FREE_FORM_BODIES: &[(&str, &str, &str)] = &[
    // A webhook takes whatever record (or array of records) the sender's system posts.
    ("post", "/hooks/{flow_id}/{token}", "request"),
    // The OpenAPI document describes itself; its schema is the OpenAPI specification's.
    ("get", "/api/v1/openapi.json", "response"),
];

/// Whether `schema` says nothing about the JSON it describes: no schema, `{}`, or an object
/// without properties (after following a `$ref` into the components).
fn says_nothing(schema: &Value, doc: &Value) -> bool {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return says_nothing(&doc["components"]["schemas"][name], doc);
    }
    let Some(object) = schema.as_object() else {
        return true; // `true`, `null` or a missing schema
    };
    let describing = [
        "properties",
        "items",
        "oneOf",
        "anyOf",
        "allOf",
        "enum",
        "const",
        "additionalProperties",
    ];
    let typed_scalar = object
        .get("type")
        .is_some_and(|t| t != "object" && t != &json!(["object"]));
    !typed_scalar && !describing.iter().any(|k| object.contains_key(*k))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_body_in_the_openapi_document_has_a_real_schema() {
    let doc = ferry_engine::http::openapi_document();
    let mut vague = Vec::new();
    let mut free_form_seen = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut bodies = Vec::new();
            if !op["requestBody"].is_null() {
                bodies.push((
                    "request",
                    &op["requestBody"]["content"]["application/json"]["schema"],
                ));
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                if status != "204" && response["content"].is_null() {
                    vague.push(format!(
                        "{method} {path}: answer {status} has no JSON content"
                    ));
                }
                if !response["content"].is_null() {
                    bodies.push((
                        "response",
                        &response["content"]["application/json"]["schema"],
                    ));
                }
            }
            for (side, schema) in bodies {
                let allowed = FREE_FORM_BODIES.contains(&(method.as_str(), path.as_str(), side));
                match (says_nothing(schema, &doc), allowed) {
                    (true, true) => free_form_seen.push((method.clone(), path.clone(), side)),
                    (true, false) => vague.push(format!("{method} {path}: {side} body has no schema")),
                    (false, true) => vague.push(format!(
                        "{method} {path}: {side} body has a schema now; take it off FREE_FORM_BODIES"
                    )),
                    (false, false) => {}
                }
            }
        }
    }
    assert!(vague.is_empty(), "{}", vague.join("\n"));
    assert_eq!(
        free_form_seen.len(),
        FREE_FORM_BODIES.len(),
        "{free_form_seen:?}"
    );
    // The main bodies are named types in the components, described field by field.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Flow",
        "AlertSettings",
        "Run",
        "RecordDetail",
        "SessionAnswer",
        "Connection",
    ] {
        assert!(
            schemas[name]["properties"].is_object() || schemas[name]["oneOf"].is_array(),
            "{name}: {}",
            schemas[name]
        );
    }
    let deliveries = &doc["paths"]["/api/v1/alert-deliveries"]["get"]["parameters"];
    let names: Vec<&str> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["kind", "status", "since", "until"] {
        assert!(names.contains(&name), "{names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_the_schemas_the_openapi_document_gives_them() {
    let api = Api::start().await;
    let doc = ferry_engine::http::openapi_document();
    // Calls `method url` (documented as `path`) and checks its answer against the document.
    let conforming = |method: Method, url: String, path: &'static str, body: Option<Value>| {
        let api = &api;
        let doc = &doc;
        async move {
            let mut request = api.req(method.clone(), &url);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let (status, answer) = api.send(request).await;
            assert!(status.is_success(), "{method} {url}: {status} {answer}");
            let schema =
                openapi_check::documented_answer(doc, method.as_str(), path, status.as_u16());
            let wrong = openapi_check::mismatches(&answer, schema, doc);
            assert!(
                wrong.is_empty(),
                "{method} {url}: {answer}\n{}",
                wrong.join("\n")
            );
            answer
        }
    };
    // The check itself refuses an answer that lacks a field, has an extra one, or a wrong type.
    let me = openapi_check::documented_answer(&doc, "GET", "/api/v1/me", 200);
    for wrong in [
        json!({"user": {"id": 1}, "csrf_token": null}),
        json!({"user": {"id": 1, "email": "a@b.c", "role": "admin", "tenants": [], "disabled": false, "created_at": "x", "extra": 1}, "csrf_token": null}),
        json!({"user": {"id": "1", "email": "a@b.c", "role": "admin", "tenants": [], "disabled": false, "created_at": "x"}, "csrf_token": null}),
    ] {
        assert!(
            !openapi_check::mismatches(&wrong, me, &doc).is_empty(),
            "{wrong}"
        );
    }
    let get = Method::GET;
    let post = Method::POST;
    conforming(get.clone(), "/health".into(), "/health", None).await;
    conforming(get.clone(), "/api/v1/me".into(), "/api/v1/me", None).await;
    conforming(
        post.clone(),
        "/api/v1/tenants".into(),
        "/api/v1/tenants",
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/tenants".into(),
        "/api/v1/tenants",
        None,
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/tenants/acme".into(),
        "/api/v1/tenants/{tenant_id}",
        None,
    )
    .await;
    let user = conforming(
        post.clone(),
        "/api/v1/users".into(),
        "/api/v1/users",
        Some(json!({"email": "m@acme.test", "password": PASSWORD, "role": "merchant", "tenants": ["acme"]})),
    )
    .await;
    conforming(get.clone(), "/api/v1/users".into(), "/api/v1/users", None).await;
    conforming(
        post.clone(),
        format!("/api/v1/users/{}/disable", user["id"]),
        "/api/v1/users/{user_id}/disable",
        None,
    )
    .await;
    conforming(
        post.clone(),
        "/api/v1/tokens".into(),
        "/api/v1/tokens",
        Some(json!({"name": "ci"})),
    )
    .await;
    conforming(get.clone(), "/api/v1/tokens".into(), "/api/v1/tokens", None).await;
    conforming(
        get.clone(),
        "/api/v1/connectors".into(),
        "/api/v1/connectors",
        None,
    )
    .await;
    let connections = "/api/v1/tenants/{tenant_id}/connections";
    conforming(
        post.clone(),
        "/api/v1/tenants/acme/connections".into(),
        connections,
        Some(json!({"name": "vault", "connector": "vault", "config": {"url": "http://127.0.0.1:9", "token": "s3cret"}})),
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/tenants/acme/connections".into(),
        connections,
        None,
    )
    .await;
    conforming(
        Method::PATCH,
        "/api/v1/tenants/acme/connections/vault".into(),
        "/api/v1/tenants/{tenant_id}/connections/{name}",
        Some(json!({"config": {"url": "http://127.0.0.1:10"}})),
    )
    .await;
    let alerts = json!({"channels": [{"type": "email", "to": "ops@acme.test"}]});
    conforming(
        Method::PUT,
        "/api/v1/tenants/acme/alerts".into(),
        "/api/v1/tenants/{tenant_id}/alerts",
        Some(alerts),
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/tenants/acme/alerts".into(),
        "/api/v1/tenants/{tenant_id}/alerts",
        None,
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/templates".into(),
        "/api/v1/templates",
        None,
    )
    .await;

    conforming(
        post.clone(),
        "/api/v1/flows".into(),
        "/api/v1/flows",
        Some(flow_json("orders", "acme")),
    )
    .await;
    conforming(
        post.clone(),
        "/api/v1/flows/validate".into(),
        "/api/v1/flows/validate",
        Some(flow_json("x", "acme")),
    )
    .await;
    conforming(get.clone(), "/api/v1/flows".into(), "/api/v1/flows", None).await;
    conforming(
        get.clone(),
        "/api/v1/flows/orders".into(),
        "/api/v1/flows/{flow_id}",
        None,
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/flows/orders/export".into(),
        "/api/v1/flows/{flow_id}/export",
        None,
    )
    .await;
    let mut renamed = flow_json("orders", "acme");
    renamed["name"] = json!("Orders, renamed");
    conforming(
        Method::PUT,
        "/api/v1/flows/orders".into(),
        "/api/v1/flows/{flow_id}",
        Some(renamed),
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/flows/orders/versions".into(),
        "/api/v1/flows/{flow_id}/versions",
        None,
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/flows/orders/versions/1".into(),
        "/api/v1/flows/{flow_id}/versions/{version}",
        None,
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/flows/orders/diff?from=1&to=2".into(),
        "/api/v1/flows/{flow_id}/diff",
        None,
    )
    .await;
    conforming(
        post.clone(),
        "/api/v1/flows/orders/versions/1/rollback".into(),
        "/api/v1/flows/{flow_id}/versions/{version}/rollback",
        None,
    )
    .await;
    let started = conforming(
        post.clone(),
        "/api/v1/flows/orders/runs".into(),
        "/api/v1/flows/{flow_id}/runs",
        None,
    )
    .await;
    let run_id = started["run_id"].as_i64().unwrap();
    api.rt
        .store
        .record_outcomes(
            &[RecordEntry {
                run_id,
                seq: 0,
                flow_id: "orders".into(),
                source_key: Some("#7".into()),
                outcome: Outcome::Failed,
                step_id: Some("to_erp".into()),
                input: Some(json!({"id": "#7"}).to_string()),
                in_page: None,
                output: Some(json!({"number": "#7"}).to_string()),
                response_status: Some(422),
                response_body: Some("{\"message\":\"no\"}".into()),
                target_id: None,
                error: Some("rejected: HTTP 422".into()),
                attempts: 1,
                retry_at: None,
            }],
            &[],
        )
        .await
        .unwrap();
    conforming(get.clone(), "/api/v1/runs".into(), "/api/v1/runs", None).await;
    conforming(
        get.clone(),
        format!("/api/v1/runs/{run_id}"),
        "/api/v1/runs/{run_id}",
        None,
    )
    .await;
    conforming(
        get.clone(),
        format!("/api/v1/runs/{run_id}/records"),
        "/api/v1/runs/{run_id}/records",
        None,
    )
    .await;
    conforming(
        get.clone(),
        format!("/api/v1/runs/{run_id}/records/0"),
        "/api/v1/runs/{run_id}/records/{seq}",
        None,
    )
    .await;
    let failed = conforming(
        get.clone(),
        "/api/v1/flows/orders/failed".into(),
        "/api/v1/flows/{flow_id}/failed",
        None,
    )
    .await;
    assert_eq!(failed["failed"].as_array().unwrap().len(), 1, "{failed}");
    conforming(
        post.clone(),
        "/api/v1/flows/orders/replay".into(),
        "/api/v1/flows/{flow_id}/replay",
        Some(json!({"keys": ["#7"]})),
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/schedules".into(),
        "/api/v1/schedules",
        None,
    )
    .await;
    conforming(
        get.clone(),
        "/api/v1/alert-deliveries".into(),
        "/api/v1/alert-deliveries",
        None,
    )
    .await;
    conforming(get.clone(), "/api/v1/audit".into(), "/api/v1/audit", None).await;
    let preview = json!({
        "step": {"id": "map", "type": "mapping", "fields": [
            {"target": "number", "value": {"type": "jsonpath", "path": "$.id"}}
        ]},
        "record": {"id": "#9"}
    });
    let mapped = conforming(
        post.clone(),
        "/api/v1/preview".into(),
        "/api/v1/preview",
        Some(preview),
    )
    .await;
    assert_eq!(mapped["output"]["number"], "#9", "{mapped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_save_publishes_a_version_that_can_be_diffed_and_rolled_back() {
    let api = Api::start().await;
    let v1 = flow_json("orders", "default");
    let (status, created) = api
        .send(api.req(Method::POST, "/api/v1/flows").json(&v1))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["version_no"], 1,
        "a save answers its version's number"
    );
    let mut v2 = v1.clone();
    v2["steps"][0]["fields"][0]["target"] = json!("order_number");
    let (status, updated) = api
        .send(api.req(Method::PUT, "/api/v1/flows/orders").json(&v2))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version_no"], 2);

    let (_, versions) = api
        .send(api.req(Method::GET, "/api/v1/flows/orders/versions"))
        .await;
    let listed: Vec<i64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [2, 1]);
    assert_eq!(
        versions["versions"][0]["hash"], updated["version"],
        "`version` of a save answer stays the definition's hash"
    );
    assert_eq!(versions["versions"][0]["published_by"], "admin@example.com");
    let (_, diff) = api
        .send(api.req(Method::GET, "/api/v1/flows/orders/diff?from=1&to=2"))
        .await;
    assert_eq!(
        diff["changes"],
        json!([{"path": "/steps/0/fields/0/target", "from": "number", "to": "order_number"}])
    );
    assert_eq!(
        api.send(api.req(Method::GET, "/api/v1/flows/orders/diff?from=1&to=9"))
            .await
            .0,
        404
    );

    let (status, rolled) = api
        .send(api.req(Method::POST, "/api/v1/flows/orders/versions/1/rollback"))
        .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["version"], 3);
    let (_, one) = api
        .send(api.req(Method::GET, "/api/v1/flows/orders/versions/1"))
        .await;
    assert_eq!(rolled["hash"], one["hash"], "version 3 is version 1 again");
    let (_, current) = api.send(api.req(Method::GET, "/api/v1/flows/orders")).await;
    assert_eq!(
        current["definition"]["steps"][0]["fields"][0]["target"],
        "number"
    );
    let (_, versions) = api
        .send(api.req(Method::GET, "/api/v1/flows/orders/versions/2"))
        .await;
    assert_eq!(
        versions["definition"]["steps"][0]["fields"][0]["target"], "order_number",
        "old versions stay as they were"
    );
}

const SECRET: &str = "canary-9f3e-vault-secret";
const WRONG_SECRET: &str = "canary-71ab-wrong-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_credentials_are_write_only_and_merge_patches_keep_them() {
    let api = Api::start().await;
    api.rt.store.create_tenant("acme", "Acme").await.unwrap();
    let vault = vault_mock(SECRET).await;
    let base = "/api/v1/tenants/acme/connections";
    let mut answers = Vec::new();

    let (status, created) = api
        .send(api.req(Method::POST, base).json(&json!({
            "name": "vault", "connector": "vault",
            "config": {"url": "http://127.0.0.1:9", "token": SECRET},
        })))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["config"]["token"], "<set>");
    assert_eq!(created["config"]["url"], "http://127.0.0.1:9");
    assert_eq!(created["credentials"], json!(["token"]));
    answers.push(created);

    // A merge patch that changes only the URL keeps the stored token: the test passes with it.
    let (status, patched) = api
        .send(
            api.req(Method::PATCH, &format!("{base}/vault"))
                .json(&json!({"config": {"url": vault}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["config"]["token"], "<set>");
    assert_eq!(patched["config"]["url"], vault.as_str());
    answers.push(patched);
    let (status, tested) = api
        .send(api.req(Method::POST, &format!("{base}/vault/test")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(tested["ok"], true, "{tested}");
    answers.push(tested);

    // Sending `"<set>"` back (what a form shows) keeps it too.
    let (status, patched) = api
        .send(
            api.req(Method::PATCH, &format!("{base}/vault"))
                .json(&json!({"config": {"token": "<set>"}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (_, tested) = api
        .send(api.req(Method::POST, &format!("{base}/vault/test")))
        .await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_documented(
        "POST",
        "/api/v1/tenants/{tenant_id}/connections/{name}/test",
        200,
        &tested,
    );
    answers.extend([patched, tested]);

    // A wrong token fails the test; the vault echoes it, the answer redacts it.
    let (status, patched) = api
        .send(
            api.req(Method::PATCH, &format!("{base}/vault"))
                .json(&json!({"config": {"token": WRONG_SECRET}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let (status, failed) = api
        .send(api.req(Method::POST, &format!("{base}/vault/test")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(failed["ok"], false, "{failed}");
    let test_path = "/api/v1/tenants/{tenant_id}/connections/{name}/test";
    assert_documented("POST", test_path, 200, &failed);
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("refused"), "{message}");
    assert!(message.contains("401"), "{message}");
    answers.extend([patched, failed]);

    let (status, list) = api.send(api.req(Method::GET, base)).await;
    assert_eq!(status, 200);
    assert_eq!(list["connections"][0]["name"], "vault");
    assert_eq!(list["connections"][0]["config"]["token"], "<set>");
    let (status, one) = api
        .send(api.req(Method::GET, &format!("{base}/vault")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["config"]["token"], "<set>");
    answers.extend([list, one]);

    // Mistakes answer 4xx naming what to fix.
    let (status, taken) = api
        .send(api.req(Method::POST, base).json(&json!({
            "name": "vault", "connector": "vault", "config": {"url": vault, "token": SECRET},
        })))
        .await;
    assert_eq!(
        (status.as_u16(), taken["error"]["code"].as_str()),
        (409, Some("connection_exists"))
    );
    let (status, unknown) = api
        .send(api.req(Method::POST, base).json(&json!({
            "name": "other", "connector": "nope", "config": {"token": SECRET},
        })))
        .await;
    assert_eq!(
        (status.as_u16(), unknown["error"]["code"].as_str()),
        (422, Some("unknown_connector"))
    );
    let (status, bad) = api
        .send(api.req(Method::POST, base).json(&json!({
            "name": "bad", "connector": "vault", "config": {"token": SECRET, "colour": "red"},
        })))
        .await;
    assert_eq!(
        (status.as_u16(), bad["error"]["code"].as_str()),
        (422, Some("invalid_config")),
        "{bad}"
    );
    let (status, named) = api
        .send(api.req(Method::POST, base).json(&json!({
            "name": "no spaces", "connector": "vault", "config": {},
        })))
        .await;
    assert_eq!(
        (status.as_u16(), named["error"]["code"].as_str()),
        (422, Some("invalid_name"))
    );
    let (status, missing) = api
        .send(api.req(Method::GET, "/api/v1/tenants/nope/connections"))
        .await;
    assert_eq!(
        (status.as_u16(), missing["error"]["code"].as_str()),
        (404, Some("tenant_not_found"))
    );
    answers.extend([taken, unknown, bad, named, missing]);

    let (status, _) = api
        .send(api.req(Method::DELETE, &format!("{base}/vault")))
        .await;
    assert_eq!(status, 204);
    let (status, gone) = api
        .send(api.req(Method::GET, &format!("{base}/vault")))
        .await;
    assert_eq!(
        (status.as_u16(), gone["error"]["code"].as_str()),
        (404, Some("connection_not_found"))
    );
    answers.push(gone);

    let (_, audit) = api.send(api.req(Method::GET, "/api/v1/audit")).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "connection.create",
        "connection.update",
        "connection.test",
        "connection.delete",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    answers.push(audit);

    for answer in &answers {
        let text = answer.to_string();
        for secret in [SECRET, WRONG_SECRET] {
            assert!(
                !text.contains(secret),
                "an answer holds a credential: {text}"
            );
        }
    }
    // At rest the credentials are sealed: the database file holds neither in clear.
    let db = std::fs::read(api._dir.path().join("ferry.db")).unwrap();
    for secret in [SECRET, WRONG_SECRET] {
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_answer_503_without_a_connection_store() {
    let api = Api::start().await;
    api.rt.store.create_tenant("acme", "Acme").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = ferry_engine::http::router(api.rt.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let response = api
        .http
        .get(format!("{url}/api/v1/tenants/acme/connections"))
        .bearer_auth(&api.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "connections_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ferry serve")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_list_their_operations_record_schema_and_credentials() {
    let api = Api::start().await;
    let registry = Arc::new(Registry::default().with(Vault("vault")));
    let state = ferry_engine::http::AppState::new(api.rt.clone(), Some(registry));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = ferry_engine::http::router_with(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) = api
        .send(
            api.http
                .get(format!("{url}/api/v1/connectors"))
                .bearer_auth(&api.admin_token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let vault = &body["connectors"][0];
    assert_eq!(vault["kind"], "vault");
    assert_eq!(vault["credentials"], json!(["token"]));
    assert_eq!(vault["config_schema"]["type"], "object");
    let op = &vault["operations"][0];
    assert_eq!(op["name"], "get_secrets");
    assert_eq!(op["side"], "get");
    assert_eq!(op["sample_record"]["label"], "db");
    assert_eq!(op["record_schema"]["properties"]["id"]["type"], "integer");
    assert_eq!(
        op["record_schema"]["properties"]["tags"]["items"]["type"],
        "string"
    );
    // Anonymous callers get nothing.
    let anonymous = api
        .http
        .get(format!("{url}/api/v1/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_a_template_stores_a_runnable_flow_bound_to_stored_connections() {
    let api = Api::start().await;
    api.rt.store.create_tenant("acme", "Acme").await.unwrap();
    for (name, kind) in [
        ("my-shop", "shopify"),
        ("my-erp", "exact_online"),
        ("my-vault", "vault"),
    ] {
        let (status, body) = api
            .send(
                api.req(Method::POST, "/api/v1/tenants/acme/connections")
                    .json(&json!({
                        "name": name, "connector": kind,
                        "config": {"url": "http://127.0.0.1:9", "token": SECRET},
                    })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let template = "shopify-orders-to-exact-online";

    let (status, list) = api.send(api.req(Method::GET, "/api/v1/templates")).await;
    assert_eq!(status, 200, "{list}");
    let listed = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == template)
        .unwrap();
    assert_eq!(listed["category"], "orders");
    assert_eq!(listed["slots"]["shop"]["connector"], "shopify");
    assert_eq!(listed["slots"]["erp"]["connector"], "exact_online");
    assert_eq!(listed["settings"]["order_statuses"]["type"], "string_list");
    assert_eq!(
        listed["settings"]["order_statuses"]["default"],
        json!(["paid"])
    );
    assert_eq!(listed["settings"]["customer_code_length"]["default"], 9);

    let enable = format!("/api/v1/tenants/acme/templates/{template}/enable");
    let (status, enabled) = api
        .send(api.req(Method::POST, &enable).json(&json!({
            "connections": {"shop": "my-shop", "erp": "my-erp"},
            "settings": {"order_statuses": ["paid", "authorized"], "customer_code_prefix": "ACME"},
        })))
        .await;
    assert_eq!(status, 201, "{enabled}");
    let flow_id = format!("acme-{template}");
    assert_eq!(enabled["id"], flow_id.as_str());
    assert_eq!(enabled["tenant"], "acme");
    assert_eq!(enabled["version_no"], 1);
    assert_documented(
        "POST",
        "/api/v1/tenants/{tenant_id}/templates/{template_id}/enable",
        201,
        &enabled,
    );

    // Stored with its bindings and the settings merged over the defaults.
    let (status, flow) = api
        .send(api.req(Method::GET, &format!("/api/v1/flows/{flow_id}")))
        .await;
    assert_eq!(status, 200, "{flow}");
    assert_documented("GET", "/api/v1/flows/{flow_id}", 200, &flow);
    let definition = &flow["definition"];
    assert_eq!(definition["tenant"], "acme");
    assert_eq!(definition["connections"]["shop"]["stored"], "my-shop");
    assert_eq!(definition["connections"]["shop"]["connector"], "shopify");
    assert_eq!(definition["connections"]["erp"]["stored"], "my-erp");
    assert_eq!(definition["settings"]["customer_code_prefix"], "ACME");
    assert_eq!(definition["settings"]["customer_code_length"], 9);
    assert_eq!(
        definition["settings"]["order_statuses"],
        json!(["paid", "authorized"])
    );
    assert!(!flow.to_string().contains(SECRET));
    // The stored text parses, validates and compiles as a flow file.
    let text = definition.to_string();
    let parsed = ferry_engine::flow::parse_flow(&text, "enabled").unwrap();
    assert!(ferry_engine::flow::validate(&parsed, None, Some(&text)).is_empty());
    // Runnable: the runtime queues a run of it.
    let (status, run) = api
        .send(api.req(Method::POST, &format!("/api/v1/flows/{flow_id}/runs")))
        .await;
    assert_eq!(status, 202, "{run}");
    assert!(run["run_id"].as_i64().is_some());

    // Every wrong choice answers 422 with the slot or setting it is about.
    let (status, refused) = api
        .send(api.req(Method::POST, &enable).json(&json!({
            "connections": {"shop": "my-vault", "erp": "ghost", "warehouse": "my-erp"},
            "settings": {"customer_code_length": "nine", "colour": "red"},
        })))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_template_choice");
    let fields: Vec<&str> = refused["error"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for field in [
        "connections.shop",
        "connections.erp",
        "connections.warehouse",
        "settings.customer_code_length",
        "settings.colour",
    ] {
        assert!(
            fields.contains(&field),
            "{field} not in {fields:?}: {refused}"
        );
    }
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );
    assert!(
        refused
            .to_string()
            .contains("takes a `shopify` connection; `my-vault` is `vault`"),
        "{refused}"
    );

    let (status, missing) = api
        .send(
            api.req(
                Method::POST,
                "/api/v1/tenants/acme/templates/no-such/enable",
            )
            .json(&json!({})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "template_not_found");
    let (status, unbound) = api
        .send(api.req(Method::POST, &enable).json(&json!({})))
        .await;
    assert_eq!(status, 422);
    assert!(
        unbound["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`shop`")
    );

    let (_, audit) = api.send(api.req(Method::GET, "/api/v1/audit")).await;
    assert!(audit.to_string().contains("template.enable"));
}
