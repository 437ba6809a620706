//! `ferry serve`'s API on stored connections and templates, end to end through the binary: a
//! connection with a bearer token is stored (the token never comes back), "test connection"
//! reaches a local mock through the outbound guard and fails with the refused token redacted,
//! the connectors list the binary's kinds, and a stock template is enabled with the stored
//! connection from `--templates`.

mod support;

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "canary-serve-4c1d-token";
const WRONG: &str = "canary-serve-88ee-wrong";

/// A vendor whose `/health` accepts only [`TOKEN`] and echoes any other.
async fn vendor() -> String {
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if auth == format!("Bearer {TOKEN}") {
                (StatusCode::OK, "{}".to_string())
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "{{\"error\":\"token {} refused\"}}",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stores_tests_and_binds_connections_without_showing_credentials() {
    let vendor = vendor().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let templates = concat!(env!("CARGO_MANIFEST_DIR"), "/flows/templates");
    let file = std::fs::File::create(&log).unwrap();
    let mut serve = support::ferry_command()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--templates", templates])
        .env("FERRY_DATABASE_URL", &db)
        .env("FERRY_ADMIN_PASSWORD", "admin password for the test")
        .env(
            "FERRY_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .env_remove("FERRY_MASTER_KEY_FILE")
        .env("FERRY_LOG", "warn")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..300 {
        if http.get(format!("{url}/health")).send().await.is_ok() {
            up = true;
            break;
        }
        if serve.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "{}", std::fs::read_to_string(&log).unwrap_or_default());
    let session = support::session::Session::login(
        &http,
        &url,
        "admin@localhost",
        "admin password for the test",
    )
    .await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = session.on(http.request(method, format!("{url}{path}")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, text)
        }
    };
    let mut answers = Vec::new();
    let (status, text) = call(
        reqwest::Method::POST,
        "/api/v1/tenants",
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let base = "/api/v1/tenants/acme/connections";
    let (status, text) = call(
        reqwest::Method::POST,
        base,
        Some(json!({"name": "shop", "connector": "http", "config": {
            "base_url": vendor, "health_path": "/health",
            "auth": {"type": "bearer", "token": TOKEN},
        }})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    answers.push(text);
    let (status, text) = call(reqwest::Method::POST, &format!("{base}/shop/test"), None).await;
    assert_eq!(status, 200);
    let tested: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(tested["ok"], true, "{text}");
    answers.push(text);

    let (status, text) = call(
        reqwest::Method::PATCH,
        &format!("{base}/shop"),
        Some(json!({"config": {"auth": {"token": WRONG}}})),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    answers.push(text);
    let (_, text) = call(reqwest::Method::POST, &format!("{base}/shop/test"), None).await;
    let failed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(failed["ok"], false, "{text}");
    answers.push(text);

    let (status, text) = call(reqwest::Method::GET, "/api/v1/connectors", None).await;
    assert_eq!(status, 200);
    let connectors: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<&str> = connectors["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    for kind in ["http", "shopify", "woocommerce", "exact_online"] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }

    // The stock template takes `shopify` and `exact_online` slots; both bound to stored names.
    let shop = json!({"shop_url": vendor, "access_token": TOKEN});
    let erp = json!({
        "base_url": vendor, "division": 1, "client_id": "ferry",
        "client_secret": TOKEN, "refresh_token": TOKEN,
    });
    for (name, kind, config) in [
        ("my-shop", "shopify", shop),
        ("my-erp", "exact_online", erp),
    ] {
        let (status, text) = call(
            reqwest::Method::POST,
            base,
            Some(json!({"name": name, "connector": kind, "config": config})),
        )
        .await;
        assert_eq!(status, 201, "{text}");
        answers.push(text);
    }
    let (status, text) = call(
        reqwest::Method::POST,
        "/api/v1/tenants/acme/templates/shopify-orders-to-exact-online/enable",
        Some(json!({"connections": {"shop": "my-shop", "erp": "my-erp"},
                    "settings": {"customer_code_prefix": "ACME"}})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let (status, text) = call(
        reqwest::Method::GET,
        "/api/v1/flows/acme-shopify-orders-to-exact-online",
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let flow: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        flow["definition"]["connections"]["shop"]["stored"],
        "my-shop"
    );
    answers.push(text);

    let _ = std::process::Command::new("kill")
        .arg(serve.id().to_string())
        .status();
    let _ = serve.wait();
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    for text in answers.iter().chain([&server_log]) {
        for secret in [TOKEN, WRONG] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
    }
}
