//! `ferry serve` serves the web UI from `--ui-dir`: its files as they are, `index.html` for the
//! app's own routes, while the API, webhooks and `/health` keep answering JSON (an unknown
//! API path is a JSON 404, never the app). Without a built UI, `/` says how to build it.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

const INDEX: &str = "<!doctype html><html><body><div id=\"app\">ferry ui test</div></body></html>";

/// Starts `ferry serve` with `ui_dir`; returns the child and its base URL once it answers.
async fn serve(dir: &Path, ui_dir: &Path) -> (std::process::Child, String) {
    let db = format!("sqlite://{}", dir.join("ferry.db").display());
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join("serve.log");
    let mut child = support::ferry_command()
        .args(["serve", "--listen", &listen, "--ui-dir"])
        .arg(ui_dir)
        .env("FERRY_DATABASE_URL", &db)
        .env("FERRY_ADMIN_PASSWORD", "ui test admin pw")
        .env_remove("FERRY_UI_DIR")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://{listen}");
    for _ in 0..300 {
        if reqwest::get(format!("{url}/health")).await.is_ok() {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(&mut child);
    panic!(
        "ferry serve never answered: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn stop(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_the_ui_and_falls_back_to_index_for_client_routes() {
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("dist");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), INDEX).unwrap();
    std::fs::write(ui.join("assets/app.js"), "console.log('ferry');").unwrap();
    let (mut child, url) = serve(dir.path(), &ui).await;

    let (status, kind, body) = get(&format!("{url}/")).await;
    assert_eq!((status, body.as_str()), (200, INDEX));
    assert!(kind.starts_with("text/html"), "{kind}");

    let (status, kind, body) = get(&format!("{url}/assets/app.js")).await;
    assert_eq!((status, body.as_str()), (200, "console.log('ferry');"));
    assert!(kind.contains("javascript"), "{kind}");

    // A client route (the app's router owns it) gets index.html, so a reload works.
    let (status, _, body) = get(&format!("{url}/runs/12/records/3")).await;
    assert_eq!((status, body.as_str()), (200, INDEX));

    // The API keeps its JSON, also for paths it does not know.
    let (status, _, body) = get(&format!("{url}/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["info"]["title"], "Ferry API");
    for path in ["/api/v1/no-such-thing", "/api/nope", "/hooks/x"] {
        let (status, kind, body) = get(&format!("{url}{path}")).await;
        assert!(status == 404 || status == 405, "{path}: {status} {body}");
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert!(error["error"]["code"].is_string(), "{path}: {body}");
    }
    let (status, _, body) = get(&format!("{url}/api/v1/me")).await;
    assert_eq!(status, 401, "{body}");
    // Handlers with path parameters get exactly theirs (the UI's routing adds none).
    let http = reqwest::Client::new();
    let session =
        support::session::Session::login(&http, &url, "admin@localhost", "ui test admin pw").await;
    for path in ["/api/v1/runs/999", "/api/v1/runs/999/records/0"] {
        let answer = session
            .on(http.get(format!("{url}{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], "run_not_found", "{path}: {error}");
    }
    let (status, _, body) = get(&format!("{url}/health")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    stop(&mut child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_a_built_ui_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-ui-here");
    let (mut child, url) = serve(dir.path(), &missing).await;
    let (status, kind, body) = get(&format!("{url}/")).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains("npm run build"), "{body}");
    assert!(body.contains("no-ui-here"), "{body}");
    // The API is unaffected.
    let (status, _, _) = get(&format!("{url}/api/v1/me")).await;
    assert_eq!(status, 401);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("No web UI in"), "{log}");
    stop(&mut child);
}
