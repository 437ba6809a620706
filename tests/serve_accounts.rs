//! `ferry serve` and accounts: the first admin is created on first start with a password
//! printed once (and not again on the next start), `--demo` creates the `demo` tenant with a
//! merchant and the demo flow whose run finishes against the built-in mock (which the
//! merchant's "Test connection" may reach too), the merchant sees only its tenant, and
//! `ferry token create` prints a working token.

mod support;

use support::session::Session;

use std::time::Duration;

use serde_json::{Value, json};

async fn wait_for(log: &std::path::Path, what: &str) -> String {
    for _ in 0..300 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "`{what}` never appeared: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn stop(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_creates_the_first_admin_and_the_demo_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ferry.db").display());
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let start = |log: &std::path::Path| {
        std::process::Command::new(support::ferry_bin())
            .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
            .env("FERRY_DATABASE_URL", &db)
            .env("FERRY_DEMO_PASSWORD", "demo merchant pw")
            .env_remove("FERRY_ADMIN_PASSWORD")
            .env_remove("FERRY_ADMIN_TOKEN")
            .env("FERRY_LOG", "warn")
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap()
    };
    let mut serve = start(&log);
    let out = wait_for(&log, "Ferry is serving").await;
    let line = out
        .lines()
        .find(|l| l.starts_with("Created the first admin admin@localhost with password "))
        .unwrap_or_else(|| panic!("no admin password printed: {out}"));
    let password = line
        .trim_start_matches("Created the first admin admin@localhost with password ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(
        out.contains("Created the demo merchant demo@localhost"),
        "{out}"
    );
    assert!(
        !out.contains("demo merchant pw"),
        "a given password is never printed"
    );

    let http = reqwest::Client::builder().build().unwrap();
    let admin = Session::login(&http, &url, "admin@localhost", &password).await;
    let get = |path: &str, session: &Session| session.on(http.get(format!("{url}{path}"))).send();
    // The demo run reads the mock shop and writes the mock ERP inside the service.
    let mut finished = Value::Null;
    for _ in 0..300 {
        let runs: Value = get("/api/v1/runs?flow_id=demo-shop-orders-to-erp", &admin)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if runs["runs"][0]["finished_at"].is_string() {
            finished = runs["runs"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        finished["counts"]["created"].as_i64().unwrap_or(0) > 0,
        "{finished}"
    );

    let merchant = Session::login(&http, &url, "demo@localhost", "demo merchant pw").await;
    let flows: Value = get("/api/v1/flows", &merchant)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flows["flows"].as_array().unwrap().len(), 1, "{flows}");
    assert_eq!(flows["flows"][0]["tenant"], "demo");
    assert_eq!(get("/api/v1/users", &merchant).await.unwrap().status(), 403);
    // "Test connection" of a merchant's connection to the demo mock reaches it, like the
    // demo's runs do (the outbound guard refuses loopback to everything else).
    let mock = out
        .split("mock shop and ERP on ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c == ';' || c.is_whitespace()).next())
        .unwrap_or_else(|| panic!("no mock address printed: {out}"));
    let post = |path: &str, body: Value| {
        merchant
            .on(http.post(format!("{url}{path}")))
            .json(&body)
            .send()
    };
    let shop = json!({"name": "shop", "connector": "http", "config": {
        "base_url": mock, "health_path": "/admin/api/2024-10/orders.json",
        "auth": {"type": "api_key", "name": "X-Shopify-Access-Token", "value": "demo-token"},
    }});
    let created = post("/api/v1/tenants/demo/connections", shop)
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let tested: Value = post("/api/v1/tenants/demo/connections/shop/test", json!(null))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tested, json!({"ok": true, "message": null}));
    stop(&mut serve);

    // A second start finds the admin and the demo and creates nothing.
    let log2 = dir.path().join("serve2.log");
    let mut again = start(&log2);
    let out = wait_for(&log2, "Ferry is serving").await;
    assert!(!out.contains("Created"), "{out}");
    stop(&mut again);

    let (code, token) = support::ferry(&db, &["token", "create", "--user", "demo@localhost"]);
    assert_eq!(code, 0, "{token}");
    let token = token.trim().to_string();
    assert!(token.starts_with("fy_"), "{token}");
    let log3 = dir.path().join("serve3.log");
    let mut third = start(&log3);
    wait_for(&log3, "Ferry is serving").await;
    let me: Value = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "demo@localhost");
    stop(&mut third);
}
