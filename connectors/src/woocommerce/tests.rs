//! Tests of the `woocommerce` connector over real HTTP against a local axum mock of the REST
//! API v3 on `127.0.0.1:0`, answering with WooCommerce's documented payloads (`fixtures/`),
//! checking the consumer key and secret, and recording every request it receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, Lookup, Page, ReadRequest,
    WriteAction, WriteRecord,
};
use ferry_engine::flow::Incremental;
use ferry_engine::run::cursor::params_with_cursor;
use serde_json::{Value, json};

use super::*;

const API: &str = "/wp-json/wc/v3";
const KEY: &str = "ck_test_key";
const SECRET: &str = "cs_test_secret";

// ---------------------------------------------------------------------------------------------
// Mock store

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    body: Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

struct Mock {
    base: String,
    log: Log,
}

impl Mock {
    /// Serves `router`, refusing requests without the test key pair as WooCommerce does.
    async fn start(router: Router) -> Mock {
        let log: Log = Arc::default();
        let app = router
            .layer(axum::middleware::from_fn(check_key))
            .layer(from_fn_with_state(log.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock {
            base: format!("http://{addr}"),
            log,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    async fn connect_with(&self, key: &str, secret: &str) -> Arc<dyn ConnectorInstance> {
        let config =
            json!({ "store_url": self.base, "consumer_key": key, "consumer_secret": secret });
        WooCommerce.build(&config, &context()).await.unwrap()
    }

    async fn connect(&self) -> Arc<dyn ConnectorInstance> {
        self.connect_with(KEY, SECRET).await
    }
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let query = query_of(&parts.uri);
    log.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn query_of(uri: &axum::http::Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

async fn check_key(request: Request, next: Next) -> Response {
    let query = query_of(request.uri());
    let ok = query.get("consumer_key").map(String::as_str) == Some(KEY)
        && query.get("consumer_secret").map(String::as_str) == Some(SECRET);
    if ok {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({
            "code": "woocommerce_rest_authentication_error",
            "message": "Consumer secret is invalid.",
            "data": { "status": 401 }
        })),
    )
        .into_response()
}

fn context() -> ConnectorContext {
    ConnectorContext::new(reqwest::Client::new(), std::env::temp_dir())
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/src/woocommerce/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn route(path: &str) -> String {
    format!("{API}/{path}")
}

/// `n` documented orders with ids `first..first+n`.
fn orders(n: u64, first: u64) -> Vec<Value> {
    let list = fixture("orders.json");
    let list = list.as_array().unwrap();
    (0..n)
        .map(|i| {
            let mut o = list[i as usize % list.len()].clone();
            o["id"] = json!(first + i);
            o
        })
        .collect()
}

/// A list endpoint serving `pool` by `page`/`per_page` with WordPress's total headers.
fn paged(pool: Arc<Vec<Value>>) -> axum::routing::MethodRouter {
    get(move |Query(query): Query<HashMap<String, String>>| {
        let pool = pool.clone();
        async move {
            let page: usize = query["page"].parse().unwrap();
            let per_page: usize = query["per_page"].parse().unwrap();
            let items: Vec<Value> = pool
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let total_pages = pool.len().div_ceil(per_page);
            (
                [
                    ("x-wp-total", pool.len().to_string()),
                    ("x-wp-totalpages", total_pages.to_string()),
                ],
                axum::Json(Value::Array(items)),
            )
        }
    })
}

async fn read_all(
    conn: &dyn ConnectorInstance,
    operation: &str,
    params: Value,
) -> Result<Vec<Page>, ConnectorError> {
    let mut reader = conn
        .read(
            operation,
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

// ---------------------------------------------------------------------------------------------
// Spec, config, webhooks

#[test]
fn spec_offers_every_operation_with_schema_and_vendor_sample() {
    let spec = WooCommerce.spec();
    assert_eq!(spec.kind, "woocommerce");
    assert_eq!(
        spec.config_schema["required"],
        json!(["store_url", "consumer_key", "consumer_secret"])
    );
    let expected = [
        ("get_orders", Direction::Read, "line_items"),
        ("get_products", Direction::Read, VARIATIONS_FIELD),
        ("get_customers", Direction::Read, "billing"),
        ("get_refunds", Direction::Read, "order_id"),
        ("update_stock", Direction::Write, "stock_quantity"),
        ("add_order_note", Direction::Write, "tracking_number"),
        ("upsert_product", Direction::Write, "regular_price"),
        ("upsert_customer", Direction::Write, "email"),
    ];
    assert_eq!(spec.operations.len(), expected.len());
    for (name, direction, field) in expected {
        let op = spec
            .operation(name)
            .unwrap_or_else(|| panic!("{name} offered"));
        assert_eq!(op.direction, direction, "{name}");
        assert_eq!(op.params_schema["type"], "object", "{name}");
        assert!(
            !op.sample_record[field].is_null(),
            "{name} sample lacks {field}"
        );
    }
}

#[tokio::test]
async fn bad_connection_settings_are_config_errors() {
    for config in [
        json!({ "store_url": "shop.example.com", "consumer_key": "ck", "consumer_secret": "cs" }),
        json!({ "store_url": "https://shop.example.com", "consumer_key": "", "consumer_secret": "cs" }),
        json!({ "store_url": "https://shop.example.com", "consumer_key": "ck" }),
    ] {
        let err = WooCommerce.build(&config, &context()).await.err().unwrap();
        assert!(matches!(err, ConnectorError::Config(_)), "{config}: {err}");
    }
    let example = serde_json::to_value(WooCommerceConfig::example()).unwrap();
    assert!(WooCommerce.build(&example, &context()).await.is_ok());
}

#[test]
fn key_pair_goes_as_basic_auth_over_https_and_in_the_query_otherwise() {
    let mut config = WooCommerceConfig::example();
    assert!(!credentials_in_query(&config), "https: HTTP Basic");
    config.query_string_auth = true;
    assert!(credentials_in_query(&config), "asked for");
    config.query_string_auth = false;
    config.store_url = "http://127.0.0.1:8080".into();
    assert!(credentials_in_query(&config), "plain http");
}

#[test]
fn webhook_signature_verifies_the_raw_body_only_with_the_right_secret() {
    let body = serde_json::to_vec(&fixture("orders.json")[0]).unwrap();
    let header = crate::webhook::sign_base64_hmac_sha256(b"wc-secret", &body);
    assert!(verify_webhook("wc-secret", &body, &header));
    assert!(!verify_webhook("wc-secret-2", &body, &header));
    assert!(!verify_webhook("wc-secret", &body[1..], &header));
    assert!(!verify_webhook("wc-secret", &body, "%%%"));
}

// ---------------------------------------------------------------------------------------------
// Reading

#[tokio::test]
async fn get_orders_reads_three_pages_and_stops_at_x_wp_totalpages() {
    let mock =
        Mock::start(Router::new().route(&route("orders"), paged(Arc::new(orders(6, 100))))).await;
    let conn = mock.connect().await;
    let pages = read_all(
        conn.as_ref(),
        "get_orders",
        json!({ "status": ["processing", "completed"], "per_page": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(ids(&pages), [100, 101, 102, 103, 104, 105]);
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages[0].records[0]["billing"]["email"],
        "john.doe@example.com"
    );
    let seen = mock.seen();
    // The third page is full, yet X-WP-TotalPages says it is the last: no fourth request.
    assert_eq!(seen.len(), 3);
    for (i, request) in seen.iter().enumerate() {
        assert_eq!(request.path, "/wp-json/wc/v3/orders");
        assert_eq!(request.query["page"], (i + 1).to_string());
        assert_eq!(request.query["per_page"], "2");
        assert_eq!(request.query["status"], "processing,completed");
        assert_eq!(request.query["order"], "asc");
    }
}

#[tokio::test]
async fn incremental_cursor_reaches_modified_after_in_gmt() {
    let mock =
        Mock::start(Router::new().route(&route("orders"), paged(Arc::new(orders(1, 9))))).await;
    let conn = mock.connect().await;
    let incremental = Incremental {
        field: "$.date_modified_gmt".into(),
        param: "modified_after".into(),
        overlap_minutes: 0,
        start: None,
    };
    let params = params_with_cursor(
        &Value::Null,
        &incremental,
        Some(&json!("2026-03-01T12:00:00Z")),
    )
    .unwrap();
    let pages = read_all(conn.as_ref(), "get_orders", params).await.unwrap();
    assert_eq!(ids(&pages), [9]);
    let seen = mock.seen();
    assert_eq!(seen[0].query["modified_after"], "2026-03-01T12:00:00Z");
    assert_eq!(seen[0].query["dates_are_gmt"], "true");
}

#[tokio::test]
async fn variable_products_come_with_their_variations() {
    let products = fixture("products.json");
    let variations = fixture("product_variations.json");
    let mock = Mock::start(
        Router::new()
            .route(
                &route("products"),
                get(move || async move { axum::Json(products) }),
            )
            .route(
                &route("products/799/variations"),
                get(move || async move { axum::Json(variations) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let pages = read_all(
        conn.as_ref(),
        "get_products",
        json!({ "status": "publish" }),
    )
    .await
    .unwrap();
    let records = &pages[0].records;
    assert_eq!(ids(&pages), [799, 794]);
    let skus: Vec<&str> = records[0][VARIATIONS_FIELD]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["SYI-BLACK", "SYI-GREEN"]);
    assert!(
        records[1].get(VARIATIONS_FIELD).is_none(),
        "simple products have none"
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].query["status"], "publish");
}

#[tokio::test]
async fn refunds_are_read_for_orders_that_have_them() {
    let list = fixture("orders.json");
    let refunds = fixture("order_refunds.json");
    let (r1, r2) = (refunds.clone(), refunds.clone());
    let mock = Mock::start(
        Router::new()
            .route(
                &route("orders"),
                get(move || async move { axum::Json(list) }),
            )
            .route(
                &route("orders/723/refunds"),
                get(move || async move { axum::Json(r1) }),
            )
            .route(
                &route("orders/5/refunds"),
                get(move || async move { axum::Json(r2) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let pages = read_all(
        conn.as_ref(),
        "get_refunds",
        json!({ "modified_after": "2017-01-01T00:00:00Z" }),
    )
    .await
    .unwrap();
    assert_eq!(ids(&pages), [726, 724]);
    assert!(pages[0].records.iter().all(|r| r["order_id"] == 723));
    assert_eq!(pages[0].records[0]["amount"], "10.00");
    // Order 727 has no refunds: no request for it.
    assert!(!mock.seen().iter().any(|s| s.path.contains("727")));

    let pages = read_all(conn.as_ref(), "get_refunds", json!({ "order_id": 5 }))
        .await
        .unwrap();
    assert_eq!(ids(&pages), [726, 724]);
    assert!(pages[0].records.iter().all(|r| r["order_id"] == 5));
}

#[tokio::test]
async fn wrong_key_is_an_auth_error_that_does_not_show_the_secret() {
    let mock =
        Mock::start(Router::new().route(&route("orders"), get(|| async { axum::Json(json!([])) })))
            .await;
    let conn = mock.connect_with(KEY, "cs_wrong_secret").await;
    let err = conn.health_check().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    assert!(text.contains("Consumer secret is invalid"), "{text}");
    assert!(!text.contains("cs_wrong_secret"), "{text}");
    let err = read_all(conn.as_ref(), "get_orders", Value::Null)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    // The right key passes.
    mock.connect().await.health_check().await.unwrap();
}

#[tokio::test]
async fn rate_limit_429_carries_retry_after_and_the_same_request_then_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pool = Arc::new(orders(1, 1));
    let mock = Mock::start(Router::new().route(
        &route("customers"),
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let pool = pool.clone();
            async move {
                if n == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "3")],
                        "slow down",
                    )
                        .into_response()
                } else {
                    axum::Json(Value::Array(pool.to_vec())).into_response()
                }
            }
        }),
    ))
    .await;
    let conn = mock.connect().await;
    let mut reader = conn
        .read(
            "get_customers",
            ReadRequest {
                params: Value::Null,
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    let err = reader.next_page().await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert!(err.is_retryable());
    assert_eq!(ids(&[reader.next_page().await.unwrap().unwrap()]), [1]);
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].query, seen[1].query);
    assert_eq!(seen[0].query["role"], "all");
}

#[tokio::test]
async fn failed_variation_request_is_retried_without_losing_the_page() {
    let products = fixture("products.json");
    let variations = fixture("product_variations.json");
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mock = Mock::start(
        Router::new()
            .route(
                &route("products"),
                get(move || async move { axum::Json(products) }),
            )
            .route(
                &route("products/799/variations"),
                get(move || {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let variations = variations.clone();
                    async move {
                        if n == 0 {
                            (StatusCode::BAD_GATEWAY, "upstream down").into_response()
                        } else {
                            axum::Json(variations).into_response()
                        }
                    }
                }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let mut reader = conn
        .read(
            "get_products",
            ReadRequest {
                params: Value::Null,
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    let err = reader.next_page().await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Transient {
                status: Some(502),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("product 799"), "{err}");
    let page = reader.next_page().await.unwrap().unwrap();
    assert_eq!(ids(std::slice::from_ref(&page)), [799, 794]);
    assert_eq!(
        page.records[0][VARIATIONS_FIELD].as_array().unwrap().len(),
        2
    );
    assert!(reader.next_page().await.unwrap().is_none());
    let product_lists = mock
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/products"))
        .count();
    assert_eq!(product_lists, 1, "the product list is not fetched again");
}

// ---------------------------------------------------------------------------------------------
// Writing

#[tokio::test]
async fn update_stock_puts_quantities_on_products_and_variations() {
    let variations = fixture("product_variations.json");
    let variation = variations[0].clone();
    let mock = Mock::start(
        Router::new()
            .route(
                &route("products"),
                get(move || {
                    let mut v = variation.clone();
                    v["type"] = json!("variation");
                    v["parent_id"] = json!(799);
                    async move { axum::Json(json!([v])) }
                }),
            )
            .route(
                &route("products/794"),
                put(|axum::Json(body): axum::Json<Value>| async move {
                    axum::Json(json!({ "id": 794, "stock_quantity": body["stock_quantity"] }))
                }),
            )
            .route(
                &route("products/799/variations/732"),
                put(|axum::Json(body): axum::Json<Value>| async move {
                    axum::Json(json!({ "id": 732, "stock_quantity": body["stock_quantity"] }))
                }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "update_stock",
            &Value::Null,
            &[
                rec(
                    "P-794",
                    WriteAction::Create,
                    json!({ "product_id": 794, "stock_quantity": 20 }),
                ),
                rec(
                    "SYI-BLACK",
                    WriteAction::Create,
                    json!({ "sku": "SYI-BLACK", "stock_quantity": "7" }),
                ),
                rec("bad", WriteAction::Create, json!({ "product_id": 794 })),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("794")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("732")
    );
    let err = results[2].as_ref().unwrap_err();
    assert!(
        err.to_string().contains("record `bad`") && err.to_string().contains("`stock_quantity`"),
        "{err}"
    );
    let puts: Vec<Seen> = mock
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(
        puts[0].body,
        json!({ "manage_stock": true, "stock_quantity": 20 })
    );
    assert_eq!(puts[1].path, "/wp-json/wc/v3/products/799/variations/732");
    assert_eq!(puts[1].body["stock_quantity"], 7);
    assert!(matches!(
        conn.lookup("update_stock", &Value::Null, "SYI-BLACK")
            .await
            .unwrap(),
        Lookup::Absent
    ));
}

#[tokio::test]
async fn add_order_note_writes_tracking_and_completes_the_order() {
    let mock = Mock::start(
        Router::new()
            .route(
                &route("orders/723/notes"),
                post(|axum::Json(body): axum::Json<Value>| async move {
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({ "id": 281, "author": "system", "note": body["note"], "customer_note": body["customer_note"] })),
                    )
                }),
            )
            .route(&route("orders/723"), put(|| async { axum::Json(json!({ "id": 723, "status": "completed" })) })),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "add_order_note",
            &json!({ "customer_note": true, "complete_order": true }),
            &[rec(
                "723",
                WriteAction::Create,
                json!({ "order_id": "723", "tracking_number": "1Z2345", "tracking_company": "UPS" }),
            )],
        )
        .await
        .unwrap();
    let ack = results[0].as_ref().unwrap();
    assert_eq!(ack.target_id.as_deref(), Some("281"));
    assert_eq!(ack.status, Some(201));
    let seen = mock.seen();
    assert_eq!(
        seen[0].body,
        json!({ "note": "Shipped with UPS, tracking number 1Z2345", "customer_note": true })
    );
    assert_eq!(seen[1].method, "PUT");
    assert_eq!(seen[1].body, json!({ "status": "completed" }));
    assert!(matches!(
        conn.lookup("add_order_note", &Value::Null, "723")
            .await
            .unwrap(),
        Lookup::Unsupported
    ));
}

#[tokio::test]
async fn upsert_product_updates_by_sku_and_creates_otherwise() {
    let product = fixture("product.json");
    let existing = {
        let mut p = product.clone();
        p["sku"] = json!("PREMIUM-TEE");
        p
    };
    let mock = Mock::start(
        Router::new()
            .route(
                &route("products"),
                get(move |Query(q): Query<HashMap<String, String>>| {
                    let hit = q["sku"] == "PREMIUM-TEE";
                    let existing = existing.clone();
                    async move { axum::Json(if hit { json!([existing]) } else { json!([]) }) }
                })
                .post(|axum::Json(mut body): axum::Json<Value>| async move {
                    body["id"] = json!(800);
                    (StatusCode::CREATED, axum::Json(body))
                }),
            )
            .route(
                &route("products/794"),
                put(move || async move { axum::Json(product) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "upsert_product",
            &Value::Null,
            &[
                rec(
                    "PREMIUM-TEE",
                    WriteAction::Create,
                    // The name was edited in the shop: sent on creation only.
                    json!({ "sku": "PREMIUM-TEE", "regular_price": "24.54", "name": "ERP name", "_create_only": ["name"] }),
                ),
                rec(
                    "NEW-TEE",
                    WriteAction::Create,
                    json!({ "name": "New tee", "sku": "NEW-TEE", "regular_price": "9.99", "_create_only": ["name"] }),
                ),
            ],
        )
        .await
        .unwrap();
    let targets: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().unwrap().target_id.clone().unwrap())
        .collect();
    assert_eq!(targets, ["794", "800"]);
    let seen = mock.seen();
    let put = seen.iter().find(|s| s.method == "PUT").unwrap();
    assert_eq!(
        put.body,
        json!({ "sku": "PREMIUM-TEE", "regular_price": "24.54" })
    );
    let post = seen.iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(
        post.body,
        json!({ "name": "New tee", "sku": "NEW-TEE", "regular_price": "9.99" })
    );
    let found = conn
        .lookup("upsert_product", &Value::Null, "PREMIUM-TEE")
        .await
        .unwrap();
    assert!(matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("794")));
    assert!(matches!(
        conn.lookup("upsert_product", &Value::Null, "GONE")
            .await
            .unwrap(),
        Lookup::Absent
    ));
}

#[tokio::test]
async fn rejected_customer_keeps_woocommerce_error_body() {
    let mock = Mock::start(Router::new().route(
        &route("customers"),
        get(|| async { axum::Json(json!([])) }).post(|| async {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "code": "registration-error-email-exists",
                    "message": "An account is already registered with your email address.",
                    "data": { "status": 400 }
                })),
            )
        }),
    ))
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "upsert_customer",
            &Value::Null,
            &[rec(
                "c-9",
                WriteAction::Create,
                json!({ "email": "john.doe@example.com" }),
            )],
        )
        .await
        .unwrap();
    let err = results[0].as_ref().unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Permanent {
                status: Some(400),
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.body()
            .unwrap()
            .contains("registration-error-email-exists")
    );
    assert!(err.to_string().contains("record `c-9`"), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[tokio::test]
async fn upsert_customer_updates_the_customer_found_by_email() {
    let customers = fixture("customers.json");
    let updated = fixture("customer.json");
    let mock = Mock::start(
        Router::new()
            .route(
                &route("customers"),
                get(move |Query(q): Query<HashMap<String, String>>| {
                    let found: Vec<Value> = customers
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|c| c["email"] == q["email"].as_str())
                        .cloned()
                        .collect();
                    async move { axum::Json(found) }
                }),
            )
            .route(
                &route("customers/25"),
                put(move || async move { axum::Json(updated) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "upsert_customer",
            &Value::Null,
            &[rec(
                "john",
                WriteAction::Create,
                json!({ "email": "John.Doe@example.com", "first_name": "John" }),
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("25")
    );
    let seen = mock.seen();
    assert_eq!(seen[0].query["email"], "john.doe@example.com");
    assert_eq!(seen[1].path, "/wp-json/wc/v3/customers/25");
    let found = conn
        .lookup("upsert_customer", &Value::Null, "joao.silva@example.com")
        .await
        .unwrap();
    assert!(matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("26")));
}
