//! The web UI beside the API: `ferry serve` serves the built Svelte app (`ui/dist`) from a
//! folder, and every path that is not the API's falls back to its `index.html`, so the app's
//! own routes survive a reload. The API, webhooks and `/health` keep their JSON answers
//! (an unknown `/api/…` path is a JSON 404, never the app). Without a built UI, the same paths
//! answer a short page that says how to build it, and the service still starts.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use tower_http::services::{ServeDir, ServeFile};
use tower_service::Service;

/// Where `ferry serve` looks for the built UI unless told otherwise.
pub const DEFAULT_UI_DIR: &str = "ui/dist";

/// Path prefixes that belong to the API router, never to the UI.
const API_PREFIXES: [&str; 3] = ["/api", "/hooks", "/health"];

/// Whether the UI in `dir` has been built (a folder without `index.html` is not a UI).
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// Whether `path` belongs to the API router (`/api`, `/api/…`, `/hooks/…`, `/health`).
fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `api` with the UI of `dir` behind it: the API's paths go to `api`, the rest to the UI.
///
/// The split is by path prefix in one fallback rather than by routes: a route such as
/// `/api/{*rest}` would hand its own path parameter down to the API's handlers, whose `Path`
/// extractors would then see one parameter too many.
pub fn with_ui(api: Router, dir: &Path) -> Router {
    let ui = if is_built(dir) {
        let index = dir.join("index.html");
        Router::new().fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
    } else {
        let hint = not_built_page(dir);
        Router::new().fallback(move || async move {
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store")],
                Html(hint),
            )
                .into_response()
        })
    };
    Router::new().fallback(move |request: Request| async move {
        let mut to = match is_api_path(request.uri().path()) {
            true => api,
            false => ui,
        };
        // A `Router` is always ready; polling keeps to the `Service` contract all the same.
        match std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut to, cx)).await {
            Ok(()) => Service::<Request>::call(&mut to, request).await,
            Err(never) => match never {},
        }
    })
}

/// The page served when `dir` holds no built UI.
fn not_built_page(dir: &Path) -> String {
    let dir = html_escape(&dir.display().to_string());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Ferry</title></head><body \
         style=\"font-family: sans-serif; max-width: 40rem; margin: 3rem auto\">\
         <h1>Ferry is running</h1>\
         <p>The API answers under <a href=\"/api/v1/openapi.json\">/api/v1</a>, but the web UI \
         is not built: there is no <code>index.html</code> in <code>{dir}</code>.</p>\
         <p>Build it with <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code> (or start \
         Ferry with <code>scripts/start.sh</code>), or point <code>--ui-dir</code> / \
         <code>FERRY_UI_DIR</code> at a built UI, then reload this page.</p></body></html>"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_page_names_the_folder_escaped() {
        let page = not_built_page(Path::new("/tmp/<ui>"));
        assert!(page.contains("/tmp/&lt;ui&gt;"), "{page}");
        assert!(page.contains("npm run build"), "{page}");
    }

    #[test]
    fn api_paths_are_told_from_ui_paths_by_whole_segments() {
        for api in ["/api", "/api/v1/runs/1/records", "/hooks/f/t", "/health"] {
            assert!(is_api_path(api), "{api}");
        }
        for ui in ["/", "/apis", "/healthy", "/assets/app.js", "/runs/1"] {
            assert!(!is_api_path(ui), "{ui}");
        }
    }

    #[test]
    fn a_folder_without_index_html_is_not_built() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_built(dir.path()));
        std::fs::write(dir.path().join("index.html"), "<html></html>").unwrap();
        assert!(is_built(dir.path()));
    }
}
