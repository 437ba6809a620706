//! Tests of the `http` connector against a local axum stub on `127.0.0.1:0` that serves vendor
//! payloads (Shopify, WooCommerce) and records every request it receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, Page, ReadRequest, WriteAction,
    WriteRecord,
};
use serde_json::{Value, json};

use super::{Auth, Http, HttpConfig, HttpWriteParams};

// ---------------------------------------------------------------------------------------------
// Stub server

/// One request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

struct Stub {
    base: String,
    log: Log,
}

impl Stub {
    /// Serves `router` on a fresh 127.0.0.1 port, recording every request.
    async fn start(router: Router) -> Stub {
        let log: Log = Arc::default();
        let app = router.layer(from_fn_with_state(log.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Stub {
            base: format!("http://{addr}"),
            log,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// A connection to this stub; `extra` is merged into the config.
    async fn connect(&self, extra: Value) -> Arc<dyn ConnectorInstance> {
        let mut config = json!({ "base_url": self.base });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            config[k] = v;
        }
        connect(config).await
    }
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn connect(config: Value) -> Arc<dyn ConnectorInstance> {
    let cx = ConnectorContext::new(reqwest::Client::new(), std::env::temp_dir());
    Http.build(&config, &cx).await.unwrap()
}

/// A vendor payload from the connector fixtures: `shopify/orders.json` is
/// `src/shopify/fixtures/orders.json`.
fn sample(relative: &str) -> Value {
    let (vendor, file) = relative.split_once('/').unwrap();
    let path = format!(
        "{}/src/{vendor}/fixtures/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `n` Shopify orders (the documented sample) with ids `first..first+n`.
fn shopify_orders(n: u64, first: u64) -> Vec<Value> {
    let order = sample("shopify/orders.json")["orders"][0].clone();
    (0..n)
        .map(|i| {
            let mut o = order.clone();
            o["id"] = json!(first + i);
            o
        })
        .collect()
}

/// `n` WooCommerce orders (the documented list response) with ids `first..first+n`.
fn woo_orders(n: u64, first: u64) -> Vec<Value> {
    let list = sample("woocommerce/orders.json");
    let list = list.as_array().unwrap();
    (0..n)
        .map(|i| {
            let mut o = list[i as usize % list.len()].clone();
            o["id"] = json!(first + i);
            o
        })
        .collect()
}

fn q(pairs: &HashMap<String, String>, key: &str) -> Option<String> {
    pairs.get(key).cloned()
}

fn num(pairs: &HashMap<String, String>, key: &str) -> usize {
    pairs
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("query lacks {key}: {pairs:?}"))
}

async fn read_all(
    conn: &dyn ConnectorInstance,
    params: Value,
) -> Result<Vec<Page>, ConnectorError> {
    let mut reader = conn
        .read(
            "read",
            ReadRequest {
                params,
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await?;
    let mut pages = Vec::new();
    while let Some(page) = reader.next_page().await? {
        pages.push(page);
    }
    Ok(pages)
}

fn sizes(pages: &[Page]) -> Vec<usize> {
    pages.iter().map(|p| p.records.len()).collect()
}

fn ids(pages: &[Page]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|p| &p.records)
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

fn rec(key: &str, action: WriteAction, payload: Value) -> WriteRecord {
    WriteRecord {
        key: key.into(),
        action,
        payload,
        text: None,
    }
}

fn update(target_id: &str) -> WriteAction {
    WriteAction::Update {
        target_id: target_id.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Config and spec

#[tokio::test]
async fn example_config_round_trips_and_builds() {
    let example = HttpConfig::example();
    let value = serde_json::to_value(&example).unwrap();
    assert_eq!(
        value["auth"],
        json!({ "type": "basic", "username": "ck_example", "password": "cs_example" })
    );
    assert_eq!(
        serde_json::from_value::<HttpConfig>(value.clone()).unwrap(),
        example
    );
    let cx = ConnectorContext::new(reqwest::Client::new(), std::env::temp_dir());
    assert!(Http.build(&value, &cx).await.is_ok());

    let params = HttpWriteParams::example();
    let value = serde_json::to_value(&params).unwrap();
    assert_eq!(value["update_method"], "PUT");
    assert_eq!(
        serde_json::from_value::<HttpWriteParams>(value).unwrap(),
        params
    );

    let defaults: HttpConfig =
        serde_json::from_value(json!({ "base_url": "https://a.example" })).unwrap();
    assert_eq!(defaults.timeout_ms, 30_000);
    assert_eq!(defaults.auth, Auth::None);
    let err = serde_json::from_value::<HttpConfig>(
        json!({ "base_url": "https://a.example", "timeout": 5 }),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
    let err = Http
        .build(
            &json!({ "base_url": "https://a.example", "auth": { "type": "oauth" } }),
            &cx,
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ConnectorError::Config(_)));
}

#[test]
fn auth_debug_output_hides_secrets() {
    let auth = Auth::Basic {
        username: "ck_1".into(),
        password: "cs_secret".into(),
    };
    let shown = format!("{auth:?}");
    assert!(
        shown.contains("ck_1") && !shown.contains("cs_secret"),
        "{shown}"
    );
    let shown = format!(
        "{:?}",
        Auth::Bearer {
            token: "tok_secret".into()
        }
    );
    assert!(!shown.contains("tok_secret"), "{shown}");
}

#[test]
fn spec_describes_both_operations_with_schemas_and_samples() {
    let spec = Http.spec();
    assert_eq!(spec.kind, "http");
    assert!(
        spec.config_schema["properties"]["base_url"]["description"]
            .as_str()
            .unwrap()
            .contains("Root URL")
    );
    let read = spec.operation("read").unwrap();
    let schema = read.params_schema.to_string();
    for style in ["page_number", "offset", "cursor", "link_header"] {
        assert!(schema.contains(style), "read params schema lacks {style}");
    }
    assert!(read.sample_record["id"].is_number());
    let write = spec.operation("write").unwrap();
    assert_eq!(write.params_schema["required"], json!(["path"]));
    assert!(write.sample_record.is_object());
}

// ---------------------------------------------------------------------------------------------
// Reading and pagination

#[tokio::test]
async fn page_number_reads_until_a_short_page() {
    let orders = Arc::new(shopify_orders(5, 1000));
    let pool = orders.clone();
    let stub = Stub::start(Router::new().route(
        "/admin/api/2024-07/orders.json",
        get(
            move |Query(query): Query<HashMap<String, String>>| async move {
                let (page, limit) = (num(&query, "page"), num(&query, "limit"));
                let items: Vec<Value> = pool
                    .iter()
                    .skip((page - 1) * limit)
                    .take(limit)
                    .cloned()
                    .collect();
                axum::Json(json!({ "orders": items }))
            },
        ),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let pages = read_all(
        conn.as_ref(),
        json!({
            "path": "/admin/api/2024-07/orders.json",
            "query": { "status": "any" },
            "records_path": "orders",
            "pagination": { "type": "page_number", "size": 2 }
        }),
    )
    .await
    .unwrap();
    assert_eq!(sizes(&pages), [2, 2, 1]);
    assert_eq!(ids(&pages), [1000, 1001, 1002, 1003, 1004]);
    assert_eq!(pages[0].records[0]["email"], orders[0]["email"]);
    let seen = stub.seen();
    assert_eq!(seen.len(), 3, "a short page ends the read");
    for (i, request) in seen.iter().enumerate() {
        assert_eq!(request.method, "GET");
        assert_eq!(q(&request.query, "page"), Some((i + 1).to_string()));
        assert_eq!(q(&request.query, "limit").as_deref(), Some("2"));
        assert_eq!(q(&request.query, "status").as_deref(), Some("any"));
    }
}

/// WooCommerce-style list endpoint: the body is the array, `X-WP-TotalPages` when `total_pages`.
fn woo_router(total: u64, with_total_pages: bool) -> Router {
    let pool = Arc::new(woo_orders(total, 700));
    Router::new().route(
        "/wp-json/wc/v3/orders",
        get(
            move |Query(query): Query<HashMap<String, String>>| async move {
                let (page, per_page) = (num(&query, "page"), num(&query, "per_page"));
                let items: Vec<Value> = pool
                    .iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .cloned()
                    .collect();
                let total_pages = (pool.len()).div_ceil(per_page);
                let mut headers = HeaderMap::new();
                if with_total_pages {
                    headers.insert("X-WP-Total", pool.len().into());
                    headers.insert("X-WP-TotalPages", total_pages.into());
                }
                (headers, axum::Json(Value::Array(items)))
            },
        ),
    )
}

#[tokio::test]
async fn page_number_stops_after_x_wp_total_pages_or_on_an_empty_page() {
    let params = json!({
        "path": "/wp-json/wc/v3/orders",
        "pagination": { "type": "page_number", "param": "page", "size_param": "per_page", "size": 2 }
    });
    // With the header: two full pages and no third request.
    let stub = Stub::start(woo_router(4, true)).await;
    let pages = read_all(stub.connect(json!({})).await.as_ref(), params.clone())
        .await
        .unwrap();
    assert_eq!(sizes(&pages), [2, 2]);
    assert_eq!(ids(&pages), [700, 701, 702, 703]);
    assert_eq!(
        pages[0].records[0]["billing"]["email"],
        "john.doe@example.com"
    );
    let pages_asked: Vec<_> = stub
        .seen()
        .iter()
        .map(|s| q(&s.query, "page").unwrap())
        .collect();
    assert_eq!(pages_asked, ["1", "2"]);

    // Without it: the empty third page ends the read and is not handed out.
    let stub = Stub::start(woo_router(4, false)).await;
    let pages = read_all(stub.connect(json!({})).await.as_ref(), params)
        .await
        .unwrap();
    assert_eq!(sizes(&pages), [2, 2]);
    let pages_asked: Vec<_> = stub
        .seen()
        .iter()
        .map(|s| q(&s.query, "page").unwrap())
        .collect();
    assert_eq!(pages_asked, ["1", "2", "3"]);
}

#[tokio::test]
async fn offset_pagination_advances_by_page_size() {
    let pool = Arc::new(woo_orders(5, 10));
    let stub = Stub::start(Router::new().route(
        "/api/items",
        get(
            move |Query(query): Query<HashMap<String, String>>| async move {
                let (offset, limit) = (num(&query, "offset"), num(&query, "limit"));
                let items: Vec<Value> = pool.iter().skip(offset).take(limit).cloned().collect();
                axum::Json(json!({ "data": { "items": items, "total": pool.len() } }))
            },
        ),
    ))
    .await;
    let conn = stub
        .connect(json!({ "base_url": format!("{}/api", stub.base) }))
        .await;
    let pages = read_all(
        conn.as_ref(),
        json!({ "path": "items", "records_path": "data.items", "pagination": { "type": "offset", "size": 2 } }),
    )
    .await
    .unwrap();
    assert_eq!(sizes(&pages), [2, 2, 1]);
    assert_eq!(ids(&pages), [10, 11, 12, 13, 14]);
    let offsets: Vec<_> = stub
        .seen()
        .iter()
        .map(|s| {
            (
                q(&s.query, "offset").unwrap(),
                q(&s.query, "limit").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        [
            ("0".into(), "2".into()),
            ("2".into(), "2".into()),
            ("4".into(), "2".into())
        ]
    );
}

/// Reads `/orders` (records at `orders`) by cursor: the stub answers the cursor it is sent in
/// `after` (none on the first request) with `answer`, and the next cursor is read at
/// `next_path`. Returns the pages and the cursors the stub was sent.
async fn read_by_cursor(
    next_path: &str,
    answer: impl Fn(Option<&str>) -> Value + Clone + Send + Sync + 'static,
) -> (Vec<Page>, Vec<Option<String>>) {
    let stub = Stub::start(Router::new().route(
        "/orders",
        get(move |Query(query): Query<HashMap<String, String>>| {
            let answer = answer.clone();
            async move { axum::Json(answer(query.get("after").map(String::as_str))) }
        }),
    ))
    .await;
    let pages = read_all(
        stub.connect(json!({})).await.as_ref(),
        json!({
            "path": "/orders",
            "records_path": "orders",
            "pagination": { "type": "cursor", "param": "after", "next_path": next_path }
        }),
    )
    .await
    .unwrap();
    let cursors = stub.seen().iter().map(|s| q(&s.query, "after")).collect();
    (pages, cursors)
}

#[tokio::test]
async fn cursor_pagination_follows_the_body_cursor_until_null() {
    let pool = woo_orders(3, 500);
    // The middle page is empty but still points on; it must not end the read.
    let (pages, cursors) = read_by_cursor("meta.next_cursor", move |after| match after {
        None => json!({ "orders": [pool[0], pool[1]], "meta": { "next_cursor": "c2" } }),
        Some("c2") => json!({ "orders": [], "meta": { "next_cursor": "c3" } }),
        Some("c3") => json!({ "orders": [pool[2]], "meta": { "next_cursor": null } }),
        Some(other) => panic!("unexpected cursor {other}"),
    })
    .await;
    assert_eq!(sizes(&pages), [2, 1]);
    assert_eq!(ids(&pages), [500, 501, 502]);
    assert_eq!(cursors, [None, Some("c2".into()), Some("c3".into())]);
}

#[tokio::test]
async fn a_cursor_read_from_inside_the_list_is_followed() {
    // `next_path` points into the records: the list is parsed whole for it.
    let pool = woo_orders(3, 700);
    let (pages, cursors) = read_by_cursor("orders.1.id", move |after| match after {
        None => json!({ "orders": [pool[0], pool[1]] }),
        Some("701") => json!({ "orders": [pool[2]] }),
        Some(other) => panic!("unexpected cursor {other}"),
    })
    .await;
    // The second page has no element 1: its cursor is missing and the read ends there.
    assert_eq!(ids(&pages), [700, 701, 702]);
    assert_eq!(cursors, [None, Some("701".into())]);
}

#[tokio::test]
async fn cursor_that_does_not_move_is_an_error_not_a_loop() {
    let stub = Stub::start(Router::new().route(
        "/orders",
        get(|| async { axum::Json(json!({ "orders": [{ "id": 1 }], "next": "same" })) }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let err = read_all(
        conn.as_ref(),
        json!({ "path": "/orders", "records_path": "orders", "pagination": { "type": "cursor", "next_path": "next" } }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent { message, .. } if message.contains("same cursor")),
        "{err}"
    );
    assert_eq!(stub.seen().len(), 2);
}

/// Shopify's REST pagination: `page_info` links in the `Link` header, three pages.
fn shopify_link_router(base: Arc<Mutex<String>>) -> Router {
    let pool = Arc::new(shopify_orders(5, 450789469));
    Router::new().route(
        "/admin/api/2024-07/orders.json",
        get(move |Query(query): Query<HashMap<String, String>>| async move {
            let base = base.lock().unwrap().clone();
            let link = |info: &str, rel: &str| format!("<{base}/admin/api/2024-07/orders.json?limit=2&page_info={info}>; rel=\"{rel}\"");
            let (items, links) = match query.get("page_info").map(String::as_str) {
                None => (&pool[0..2], link("p2", "next")),
                Some("p2") => (&pool[2..4], format!("{}, {}", link("p1", "previous"), link("p3", "next"))),
                Some("p3") => (&pool[4..5], link("p2", "previous")),
                Some(other) => panic!("unexpected page_info {other}"),
            };
            ([(header::LINK, links)], axum::Json(json!({ "orders": items }))).into_response()
        }),
    )
}

#[tokio::test]
async fn link_header_pagination_follows_rel_next() {
    let base = Arc::new(Mutex::new(String::new()));
    let stub = Stub::start(shopify_link_router(base.clone())).await;
    *base.lock().unwrap() = stub.base.clone();
    let pages = read_all(
        stub.connect(json!({ "auth": { "type": "api_key", "name": "X-Shopify-Access-Token", "value": "shpat_1" } }))
            .await
            .as_ref(),
        json!({
            "path": "/admin/api/2024-07/orders.json",
            "query": { "limit": 2, "status": "any" },
            "records_path": "orders",
            "pagination": { "type": "link_header" }
        }),
    )
    .await
    .unwrap();
    assert_eq!(sizes(&pages), [2, 2, 1]);
    assert_eq!(ids(&pages), (450789469..450789474).collect::<Vec<_>>());
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(q(&seen[0].query, "status").as_deref(), Some("any"));
    // Later pages use the link exactly: Shopify refuses other filters next to page_info.
    assert_eq!(
        seen[1].query,
        HashMap::from([
            ("limit".into(), "2".into()),
            ("page_info".into(), "p2".into())
        ])
    );
    assert_eq!(q(&seen[2].query, "page_info").as_deref(), Some("p3"));
    assert!(
        seen.iter()
            .all(|s| s.headers["x-shopify-access-token"] == "shpat_1")
    );
}

#[tokio::test]
async fn link_to_another_host_is_refused() {
    let stub = Stub::start(Router::new().route(
        "/items",
        get(|| async {
            (
                [(
                    header::LINK,
                    "<http://127.0.0.2:9/items?page=2>; rel=\"next\"",
                )],
                axum::Json(json!([{ "id": 1 }])),
            )
        }),
    ))
    .await;
    let conn = stub
        .connect(json!({ "auth": { "type": "bearer", "token": "t" } }))
        .await;
    let err = read_all(
        conn.as_ref(),
        json!({ "path": "/items", "pagination": { "type": "link_header" } }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Permanent { message, .. } if message.contains("another host")),
        "{err}"
    );
    assert_eq!(stub.seen().len(), 1);
}

#[tokio::test]
async fn missing_records_path_is_permanent_and_names_the_fields() {
    let stub = Stub::start(Router::new().route(
        "/orders.json",
        get(|| async { axum::Json(sample("shopify/orders.json")) }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let err = read_all(
        conn.as_ref(),
        json!({ "path": "/orders.json", "records_path": "data" }),
    )
    .await
    .unwrap_err();
    match &err {
        ConnectorError::Permanent {
            message,
            status,
            body,
        } => {
            assert!(
                message.contains("\"data\"") && message.contains("orders"),
                "{message}"
            );
            assert_eq!(*status, Some(200));
            assert!(body.as_deref().unwrap().contains("450789469"));
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    // The right path reads the single documented order.
    let pages = read_all(
        conn.as_ref(),
        json!({ "path": "/orders.json", "records_path": "orders" }),
    )
    .await
    .unwrap();
    assert_eq!(ids(&pages), [450789469]);
}

// ---------------------------------------------------------------------------------------------
// Auth and headers

/// Answers every GET on `/me` with `[]`.
async fn auth_stub() -> Stub {
    Stub::start(Router::new().route("/me", get(|| async { axum::Json(json!([])) }))).await
}

#[tokio::test]
async fn bearer_and_basic_auth_send_authorization_headers() {
    let stub = auth_stub().await;
    let params = json!({ "path": "/me" });
    let bearer = stub.connect(json!({ "auth": { "type": "bearer", "token": "tok_123" }, "headers": { "X-Tenant": "acme" } })).await;
    read_all(bearer.as_ref(), params.clone()).await.unwrap();
    let basic = stub
        .connect(json!({ "auth": { "type": "basic", "username": "ck_1", "password": "cs_2" } }))
        .await;
    read_all(basic.as_ref(), params).await.unwrap();

    let seen = stub.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer tok_123");
    assert_eq!(seen[0].headers["x-tenant"], "acme");
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert_eq!(seen[1].headers["authorization"], "Basic Y2tfMTpjc18y");
    assert!(seen[1].headers.get("x-tenant").is_none());
}

#[tokio::test]
async fn api_key_goes_in_a_header_or_the_query() {
    let stub = auth_stub().await;
    let in_header = stub.connect(json!({ "auth": { "type": "api_key", "name": "X-API-Key", "value": "k1", "in": "header" } })).await;
    read_all(in_header.as_ref(), json!({ "path": "/me" }))
        .await
        .unwrap();
    let in_query = stub.connect(json!({ "auth": { "type": "api_key", "name": "api_key", "value": "k2", "in": "query" } })).await;
    read_all(
        in_query.as_ref(),
        json!({ "path": "/me", "query": { "fields": "id" } }),
    )
    .await
    .unwrap();
    in_query.health_check().await.unwrap();

    let seen = stub.seen();
    assert_eq!(seen[0].headers["x-api-key"], "k1");
    assert!(seen[0].query.is_empty());
    assert_eq!(
        seen[1].query,
        HashMap::from([
            ("fields".into(), "id".into()),
            ("api_key".into(), "k2".into())
        ])
    );
    assert!(
        seen[1].headers.get("authorization").is_none() && seen[1].headers.get("api_key").is_none()
    );
    assert_eq!(
        q(&seen[2].query, "api_key").as_deref(),
        Some("k2"),
        "health check authenticates too"
    );
}

#[tokio::test]
async fn query_api_key_is_added_to_followed_links_and_masked_in_errors() {
    let base = Arc::new(Mutex::new(String::new()));
    let stub = Stub::start(shopify_link_router(base.clone()).route(
        "/fail",
        get(|| async { (StatusCode::NOT_FOUND, "no such thing") }),
    ))
    .await;
    *base.lock().unwrap() = stub.base.clone();
    let conn = stub.connect(json!({ "auth": { "type": "api_key", "name": "key", "value": "s3cret", "in": "query" } })).await;
    let pages = read_all(
        conn.as_ref(),
        json!({ "path": "/admin/api/2024-07/orders.json", "records_path": "orders", "pagination": { "type": "link_header" } }),
    )
    .await
    .unwrap();
    assert_eq!(pages.len(), 3);
    assert!(
        stub.seen()
            .iter()
            .all(|s| q(&s.query, "key").as_deref() == Some("s3cret"))
    );
    let refused = ConnectorContext::new(reqwest::Client::new(), std::env::temp_dir());
    let conn = Http
        .build(&json!({ "base_url": closed_port_url().await, "auth": { "type": "api_key", "name": "key", "value": "s3cret", "in": "query" } }), &refused)
        .await
        .unwrap();
    let err = conn.health_check().await.unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Writing

#[tokio::test]
async fn single_write_posts_an_object_and_reads_the_id() {
    let stub = Stub::start(Router::new().route(
        "/admin/api/2024-07/orders.json",
        post(|| async {
            (
                StatusCode::CREATED,
                axum::Json(sample("shopify/order.json")),
            )
        }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let payload = json!({ "order": { "email": "foo@example.com", "line_items": [{ "variant_id": 447654529, "quantity": 1 }] } });
    let params = json!({ "path": "/admin/api/2024-07/orders.json", "id_path": "order.id" });
    let acks = conn
        .write(
            "write",
            &params,
            &[rec("A-1", WriteAction::Create, payload.clone())],
        )
        .await
        .unwrap();
    assert_eq!(acks.len(), 1);
    let ack = acks[0].as_ref().unwrap();
    assert_eq!(ack.status, Some(201));
    assert_eq!(ack.target_id.as_deref(), Some("450789469"));
    assert!(ack.body.as_deref().unwrap().starts_with("{\"order\""));
    assert!(ack.body.as_deref().unwrap().len() <= 2000);

    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].body, payload);
    assert_eq!(seen[0].headers["content-type"], "application/json");
}

#[tokio::test]
async fn batch_write_sends_one_array_and_acks_each_record() {
    let stub = Stub::start(Router::new().route(
        "/orders",
        post(|axum::Json(batch): axum::Json<Vec<Value>>| async move {
            let created: Vec<Value> = batch
                .iter()
                .enumerate()
                .map(|(i, o)| json!({ "id": 9000 + i, "number": o["number"] }))
                .collect();
            (StatusCode::CREATED, axum::Json(created))
        }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let orders = woo_orders(3, 1);
    let records: Vec<_> = orders
        .iter()
        .map(|o| rec(&o["id"].to_string(), WriteAction::Create, o.clone()))
        .collect();
    let acks = conn
        .write(
            "write",
            &json!({ "path": "/orders", "id_path": "id" }),
            &records,
        )
        .await
        .unwrap();
    let ids: Vec<_> = acks
        .iter()
        .map(|a| a.as_ref().unwrap().target_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["9000", "9001", "9002"]);
    assert!(
        acks[1]
            .as_ref()
            .unwrap()
            .body
            .as_deref()
            .unwrap()
            .contains("9001")
    );

    let seen = stub.seen();
    assert_eq!(seen.len(), 1, "one request for the batch");
    assert_eq!(seen[0].body, Value::Array(orders));
}

#[tokio::test]
async fn always_array_wraps_a_single_record() {
    let stub = Stub::start(Router::new().route(
        "/batch",
        post(|| async { axum::Json(json!({ "ids": [77] })) }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let params = json!({ "path": "/batch", "always_array": true, "id_path": "ids" });
    let acks = conn
        .write(
            "write",
            &params,
            &[rec("k", WriteAction::Create, json!({ "a": 1 }))],
        )
        .await
        .unwrap();
    assert_eq!(stub.seen()[0].body, json!([{ "a": 1 }]));
    // `ids` is an array of one: for a single record that is not an id.
    assert_eq!(acks[0].as_ref().unwrap().target_id, None);
}

#[tokio::test]
async fn update_uses_update_path_and_method_with_the_target_id() {
    let stub = Stub::start(
        Router::new()
            .route(
                "/orders",
                post(|| async { (StatusCode::CREATED, axum::Json(json!({ "id": 800 }))) }),
            )
            .route(
                "/orders/{id}",
                put(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        axum::Json(json!({ "id": id }))
                    },
                ),
            ),
    )
    .await;
    let conn = stub.connect(json!({})).await;
    let params = serde_json::to_value(HttpWriteParams::example()).unwrap();
    let records = [
        rec("k1", update("727"), json!({ "n": 1 })),
        rec("k2", WriteAction::Create, json!({ "n": 2 })),
    ];
    let acks = conn.write("write", &params, &records).await.unwrap();
    assert_eq!(acks[0].as_ref().unwrap().target_id.as_deref(), Some("727"));
    assert_eq!(acks[0].as_ref().unwrap().status, Some(200));
    assert_eq!(acks[1].as_ref().unwrap().target_id.as_deref(), Some("800"));
    assert_eq!(acks[1].as_ref().unwrap().status, Some(201));

    let seen = stub.seen();
    let requests: Vec<_> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str(), s.body.clone()))
        .collect();
    assert_eq!(
        requests,
        [
            ("PUT", "/orders/727", json!({ "n": 1 })),
            ("POST", "/orders", json!({ "n": 2 }))
        ]
    );
}

#[tokio::test]
async fn key_placeholder_is_encoded_and_target_id_needs_an_update() {
    let stub = Stub::start(
        Router::new().route("/products/{sku}", put(|| async { StatusCode::NO_CONTENT })),
    )
    .await;
    let conn = stub.connect(json!({})).await;
    let params = json!({ "path": "/products/{key}", "method": "PUT" });
    let acks = conn
        .write(
            "write",
            &params,
            &[rec("A/B 1", WriteAction::Create, json!({ "stock": 3 }))],
        )
        .await
        .unwrap();
    let ack = acks[0].as_ref().unwrap();
    assert_eq!(
        (ack.status, ack.body.as_deref(), ack.target_id.as_deref()),
        (Some(204), None, None)
    );
    assert_eq!(stub.seen()[0].path, "/products/A%2FB%201");

    let params = json!({ "path": "/products/{target_id}" });
    let acks = conn
        .write(
            "write",
            &params,
            &[rec("new", WriteAction::Create, json!({}))],
        )
        .await
        .unwrap();
    assert!(
        matches!(&acks[0], Err(ConnectorError::Config(m)) if m.contains("update_path")),
        "{acks:?}"
    );
    assert_eq!(stub.seen().len(), 1, "nothing sent for the bad record");
}

// ---------------------------------------------------------------------------------------------
// Failures

#[tokio::test]
async fn too_many_requests_is_rate_limited_with_the_retry_after_wait() {
    let stub = Stub::start(
        Router::new().route(
            "/orders",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "2")],
                    "Exceeded 2 calls per second",
                )
            })
            .post(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "2")],
                    "",
                )
            }),
        ),
    )
    .await;
    let conn = stub.connect(json!({})).await;
    let err = read_all(conn.as_ref(), json!({ "path": "/orders" }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::RateLimited { status: Some(429), message, .. } if message.contains("Exceeded")),
        "{err}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert!(err.is_retryable());

    let err = conn
        .write(
            "write",
            &json!({ "path": "/orders" }),
            &[rec("1", WriteAction::Create, json!({}))],
        )
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(
        stub.seen().len(),
        2,
        "the connector does not retry by itself"
    );
}

#[tokio::test]
async fn asking_again_after_a_failed_page_repeats_the_same_request() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let stub = Stub::start(Router::new().route(
        "/items",
        get(
            move |Query(query): Query<HashMap<String, String>>| async move {
                let call = {
                    let mut calls = counter.lock().unwrap();
                    *calls += 1;
                    *calls
                };
                match (call, num(&query, "page")) {
                    (2, _) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(json!({ "message": "busy" })),
                    ),
                    (_, page) if page <= 2 => (StatusCode::OK, axum::Json(json!([{ "id": page }]))),
                    _ => (StatusCode::OK, axum::Json(json!([]))),
                }
            },
        ),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let params = json!({ "path": "/items", "pagination": { "type": "page_number", "size": 1 } });
    let mut reader = conn
        .read(
            "read",
            ReadRequest {
                params,
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        reader.next_page().await.unwrap().unwrap().records,
        [json!({ "id": 1 })]
    );
    let err = reader.next_page().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Transient { status: Some(503), body: Some(b), .. } if b.contains("busy")),
        "{err}"
    );
    assert_eq!(
        reader.next_page().await.unwrap().unwrap().records,
        [json!({ "id": 2 })]
    );
    assert!(reader.next_page().await.unwrap().is_none());
    let pages: Vec<_> = stub
        .seen()
        .iter()
        .map(|s| q(&s.query, "page").unwrap())
        .collect();
    assert_eq!(pages, ["1", "2", "2", "3"]);
}

#[tokio::test]
async fn service_unavailable_is_transient() {
    let stub = Stub::start(Router::new().route(
        "/orders",
        post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let err = conn
        .write(
            "write",
            &json!({ "path": "/orders" }),
            &[rec("1", WriteAction::Create, json!({}))],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ConnectorError::Transient {
                status: Some(503),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.body(), Some("down for maintenance"));
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), None);
}

#[tokio::test]
async fn unprocessable_entity_is_permanent_with_status_and_body() {
    let error = json!({ "code": "rest_invalid_param", "message": "Invalid parameter(s): line_items", "data": { "status": 422 } });
    let body = error.clone();
    let stub = Stub::start(Router::new().route(
        "/wp-json/wc/v3/orders",
        post(move || async move { (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)) }),
    ))
    .await;
    let conn = stub.connect(json!({})).await;
    let records = [rec(
        "727",
        WriteAction::Create,
        woo_orders(1, 727)[0].clone(),
    )];
    let err = conn
        .write(
            "write",
            &json!({ "path": "/wp-json/wc/v3/orders" }),
            &records,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Permanent {
                status: Some(422),
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    let sent_back: Value = serde_json::from_str(err.body().unwrap()).unwrap();
    assert_eq!(sent_back, error);
}

#[tokio::test]
async fn unauthorized_is_auth_for_reads_writes_and_health_checks() {
    let stub = Stub::start(Router::new().fallback(|| async {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "errors": "[API] Invalid API key or access token" })),
        )
    }))
    .await;
    let conn = stub
        .connect(json!({ "auth": { "type": "bearer", "token": "expired" } }))
        .await;
    let read = read_all(conn.as_ref(), json!({ "path": "/orders.json" }))
        .await
        .unwrap_err();
    let write = conn
        .write(
            "write",
            &json!({ "path": "/orders.json" }),
            &[rec("1", WriteAction::Create, json!({}))],
        )
        .await
        .unwrap_err();
    let health = conn.health_check().await.unwrap_err();
    for err in [read, write, health] {
        assert!(
            matches!(&err, ConnectorError::Auth(m) if m.contains("401") && m.contains("Invalid API key")),
            "{err}"
        );
        assert!(!err.is_retryable());
    }
}

/// A URL on 127.0.0.1 where nothing listens.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn connection_refused_is_not_connected() {
    let conn = connect(json!({ "base_url": closed_port_url().await })).await;
    let health = conn.health_check().await.unwrap_err();
    let write = conn
        .write(
            "write",
            &json!({ "path": "/x" }),
            &[rec("1", WriteAction::Create, json!({}))],
        )
        .await
        .unwrap_err();
    let read = read_all(conn.as_ref(), json!({ "path": "/x" }))
        .await
        .unwrap_err();
    for err in [health, write, read] {
        assert!(
            matches!(&err, ConnectorError::NotConnected(m) if m.contains("127.0.0.1")),
            "{err}"
        );
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn slow_answer_times_out_as_transient() {
    let stub = Stub::start(Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            axum::Json(json!([]))
        }),
    ))
    .await;
    let conn = stub.connect(json!({ "timeout_ms": 200 })).await;
    let started = std::time::Instant::now();
    let err = read_all(conn.as_ref(), json!({ "path": "/slow" }))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(&err, ConnectorError::Transient { status: None, message, .. } if message.contains("200 ms")),
        "{err}"
    );
}

#[tokio::test]
async fn health_check_accepts_answers_below_500() {
    let stub = Stub::start(
        Router::new()
            .route(
                "/broken",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route("/forbidden", get(|| async { StatusCode::FORBIDDEN })),
    )
    .await;
    // The root is a 404 on the stub: reachable, so healthy.
    stub.connect(json!({})).await.health_check().await.unwrap();
    let err = stub
        .connect(json!({ "health_path": "/broken" }))
        .await
        .health_check()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Transient {
                status: Some(500),
                ..
            }
        ),
        "{err}"
    );
    let err = stub
        .connect(json!({ "health_path": "/forbidden" }))
        .await
        .health_check()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    let paths: Vec<_> = stub.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/", "/broken", "/forbidden"]);
}

#[tokio::test]
async fn bad_params_are_config_errors() {
    let conn = connect(json!({ "base_url": "http://127.0.0.1:9" })).await;
    for params in [
        json!({ "path": "/x", "pagination": { "type": "page_number" } }),
        json!({ "path": "/x", "pagination": { "type": "offset", "size": 0 } }),
        json!({ "path": "/x", "pagination": { "type": "cursor", "next_path": "" } }),
        json!({ "path": "/x", "paginate": true }),
    ] {
        let err = conn
            .read(
                "read",
                ReadRequest {
                    params: params.clone(),
                    cursor: None,
                    ..ReadRequest::default()
                },
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ConnectorError::Config(_)), "{params}: {err}");
    }
    let err = conn
        .write("write", &json!({ "method": "POST" }), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("path")),
        "{err}"
    );
    let err = conn
        .write("send", &json!({ "path": "/x" }), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)));
}

// ---------------------------------------------------------------------------------------------
// Outbound-address guard

#[tokio::test]
async fn guarded_client_refusal_is_a_config_error_that_is_not_retried() {
    let stub = Stub::start(Router::new().route("/orders", get(|| async { "[]" }))).await;
    let cx = ConnectorContext::new(
        ferry_engine::outbound::guard(
            reqwest::Client::builder(),
            ferry_engine::outbound::AllowList::none(),
        )
        .build()
        .unwrap(),
        std::env::temp_dir(),
    );
    let conn = Http
        .build(
            &json!({"base_url": stub.base, "auth": {"type": "api_key", "name": "key", "value": "query-secret-99", "in": "query"}}),
            &cx,
        )
        .await
        .unwrap();
    let err = match conn
        .read(
            "read",
            ReadRequest {
                params: json!({"path": "/orders"}),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
    {
        Ok(mut reader) => reader.next_page().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(err, ConnectorError::Config(_)), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("refused to connect to 127.0.0.1"), "{text}");
    assert!(text.contains("loopback"), "{text}");
    assert!(!text.contains("query-secret-99"), "{text}");
    assert!(stub.seen().is_empty(), "nothing reached the stub");
}
