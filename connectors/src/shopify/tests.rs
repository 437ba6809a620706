//! Tests of the `shopify` connector over real HTTP against a local axum mock of the Admin REST
//! API on `127.0.0.1:0`, answering with Shopify's documented payloads (`fixtures/`) and
//! recording every request it receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
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

use super::rate_limit::tests::ManualClock;
use super::*;

const VERSION_PATH: &str = "/admin/api/2024-10";
const TOKEN: &str = "shpat_test_token";

// ---------------------------------------------------------------------------------------------
// Mock store

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

struct Mock {
    base: String,
    log: Log,
}

impl Mock {
    async fn start(router: Router) -> Mock {
        let log: Log = Arc::default();
        let app = router.layer(from_fn_with_state(log.clone(), record));
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

    fn config(&self) -> Value {
        json!({ "shop_url": self.base, "access_token": TOKEN })
    }

    async fn connect(&self) -> Arc<dyn ConnectorInstance> {
        Shopify.build(&self.config(), &context()).await.unwrap()
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

fn context() -> ConnectorContext {
    ConnectorContext::new(reqwest::Client::new(), std::env::temp_dir())
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/src/shopify/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn route(path: &str) -> String {
    format!("{VERSION_PATH}/{path}")
}

/// `n` copies of the documented order, with ids `first..first+n` and increasing `updated_at`.
fn orders(n: u64, first: u64) -> Vec<Value> {
    let order = fixture("orders.json")["orders"][0].clone();
    (0..n)
        .map(|i| {
            let mut o = order.clone();
            o["id"] = json!(first + i);
            o["updated_at"] = json!(format!("2026-03-0{}T10:00:00Z", i + 1));
            o
        })
        .collect()
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

/// An order list endpoint serving `pool` in pages of `limit`, linked by `page_info` tokens
/// (`p<offset>`), the way Shopify does: the next link carries only `limit` and `page_info`.
fn paged_orders(pool: Arc<Vec<Value>>) -> Router {
    Router::new().route(
        &route("orders.json"),
        get(
            move |headers: HeaderMap,
                  axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>| {
                let pool = pool.clone();
                async move {
                    let limit: usize = query["limit"].parse().unwrap();
                    let offset: usize = query
                        .get("page_info")
                        .map(|p| p.trim_start_matches('p').parse().unwrap())
                        .unwrap_or(0);
                    let items: Vec<Value> =
                        pool.iter().skip(offset).take(limit).cloned().collect();
                    let mut response = axum::Json(json!({ "orders": items })).into_response();
                    if offset + limit < pool.len() {
                        let host = headers["host"].to_str().unwrap().to_string();
                        let next = format!(
                            "<http://{host}{VERSION_PATH}/orders.json?limit={limit}&page_info=p{}>; rel=\"next\"",
                            offset + limit
                        );
                        response
                            .headers_mut()
                            .insert("link", next.parse().unwrap());
                    }
                    response
                }
            },
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Spec and config

#[test]
fn spec_offers_every_operation_with_schema_and_vendor_sample() {
    let spec = Shopify.spec();
    assert_eq!(spec.kind, "shopify");
    assert_eq!(
        spec.config_schema["required"],
        json!(["shop_url", "access_token"])
    );
    let expected = [
        ("get_orders", Direction::Read, "email"),
        ("get_products", Direction::Read, "variants"),
        ("get_customers", Direction::Read, "default_address"),
        ("get_inventory_levels", Direction::Read, "inventory_item_id"),
        ("set_inventory_level", Direction::Write, "available"),
        ("create_fulfillment", Direction::Write, "tracking_number"),
        ("upsert_product", Direction::Write, "variants"),
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
            "{name} sample lacks {field}: {}",
            op.sample_record
        );
    }
    let orders = spec.operation("get_orders").unwrap();
    assert!(orders.params_schema["properties"]["updated_at_min"].is_object());
}

#[tokio::test]
async fn bad_connection_settings_are_config_errors() {
    for config in [
        json!({ "shop_url": "my-store", "access_token": " " }),
        json!({ "shop_url": "", "access_token": "t" }),
        json!({ "shop_url": "my-store", "access_token": "t", "api_version": "latest" }),
        json!({ "shop_url": "my-store", "access_token": "t", "token": "x" }),
    ] {
        let err = Shopify.build(&config, &context()).await.err().unwrap();
        assert!(matches!(err, ConnectorError::Config(_)), "{config}: {err}");
    }
    assert!(
        Shopify
            .build(
                &serde_json::to_value(ShopifyConfig::example()).unwrap(),
                &context()
            )
            .await
            .is_ok()
    );
}

#[test]
fn webhook_signature_verifies_the_raw_body_only_with_the_right_secret() {
    let body = serde_json::to_vec(&fixture("orders.json")["orders"][0]).unwrap();
    let header = crate::webhook::sign_base64_hmac_sha256(b"hush", &body);
    assert!(verify_webhook("hush", &body, &header));
    assert!(!verify_webhook("other secret", &body, &header));
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert!(!verify_webhook("hush", &tampered, &header));
    assert!(!verify_webhook("hush", &body, ""));
    assert!(!verify_webhook("hush", &body, "bm90IHRoZSBzaWduYXR1cmU="));
}

// ---------------------------------------------------------------------------------------------
// Reading

#[tokio::test]
async fn get_orders_follows_link_header_pages_with_token_and_versioned_path() {
    let mock = Mock::start(paged_orders(Arc::new(orders(5, 1000)))).await;
    let conn = mock.connect().await;
    let pages = read_all(
        conn.as_ref(),
        "get_orders",
        json!({ "financial_status": "paid", "limit": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.records.len()).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    assert_eq!(ids(&pages), [1000, 1001, 1002, 1003, 1004]);
    assert_eq!(pages[0].records[0]["email"], "bob.norman@hostmail.com");
    let seen = mock.seen();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.path, "/admin/api/2024-10/orders.json");
        assert_eq!(request.headers["x-shopify-access-token"], TOKEN);
    }
    assert_eq!(seen[0].query["status"], "any");
    assert_eq!(seen[0].query["financial_status"], "paid");
    assert_eq!(
        seen[1].query.get("page_info").map(String::as_str),
        Some("p2")
    );
    assert_eq!(
        seen[2].query.get("page_info").map(String::as_str),
        Some("p4")
    );
    // Shopify refuses filters next to page_info: the followed link carries none.
    assert!(!seen[1].query.contains_key("financial_status"));
}

#[tokio::test]
async fn incremental_cursor_reaches_updated_at_min() {
    let mock = Mock::start(paged_orders(Arc::new(orders(1, 7)))).await;
    let conn = mock.connect().await;
    let incremental = Incremental {
        field: "$.updated_at".into(),
        param: "updated_at_min".into(),
        overlap_minutes: 5,
        start: None,
    };
    let params = params_with_cursor(
        &json!({ "status": "open" }),
        &incremental,
        Some(&json!("2026-03-01T12:00:00Z")),
    )
    .unwrap();
    let pages = read_all(conn.as_ref(), "get_orders", params).await.unwrap();
    assert_eq!(ids(&pages), [7]);
    let seen = mock.seen();
    assert_eq!(seen[0].query["updated_at_min"], "2026-03-01T11:55:00Z");
    assert_eq!(seen[0].query["order"], "updated_at asc");
    assert_eq!(seen[0].query["status"], "open");
}

#[tokio::test]
async fn products_customers_and_inventory_levels_are_read_from_their_lists() {
    let product = fixture("product.json")["product"].clone();
    let customer = fixture("customer.json")["customer"].clone();
    let levels = fixture("inventory_levels.json");
    let mock = Mock::start(
        Router::new()
            .route(
                &route("products.json"),
                get(move || async move { axum::Json(json!({ "products": [product] })) }),
            )
            .route(
                &route("customers.json"),
                get(move || async move { axum::Json(json!({ "customers": [customer] })) }),
            )
            .route(
                &route("inventory_levels.json"),
                get(move || async move { axum::Json(levels) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let products = read_all(conn.as_ref(), "get_products", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        products[0].records[0]["variants"].as_array().unwrap().len(),
        4
    );
    let customers = read_all(
        conn.as_ref(),
        "get_customers",
        json!({ "updated_at_min": "2026-01-01T00:00:00Z" }),
    )
    .await
    .unwrap();
    assert_eq!(customers[0].records[0]["email"], "bob.norman@hostmail.com");
    let levels = read_all(
        conn.as_ref(),
        "get_inventory_levels",
        json!({ "location_ids": [487838322, 905684977] }),
    )
    .await
    .unwrap();
    assert_eq!(levels[0].records.len(), 4);
    let seen = mock.seen();
    assert_eq!(seen[1].query["updated_at_min"], "2026-01-01T00:00:00Z");
    assert_eq!(seen[2].query["location_ids"], "487838322,905684977");
    assert_eq!(seen[2].query["limit"], "250");
}

#[tokio::test]
async fn rate_limit_429_carries_retry_after_and_the_same_request_then_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let order = orders(1, 42);
    let mock = Mock::start(Router::new().route(
        &route("orders.json"),
        get(move || {
            let order = order.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "2.0"), (rate_limit::CALL_LIMIT_HEADER, "40/40")],
                        axum::Json(json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." })),
                    )
                        .into_response()
                } else {
                    axum::Json(json!({ "orders": order })).into_response()
                }
            }
        }),
    ))
    .await;
    let conn = mock.connect().await;
    let mut reader = conn
        .read(
            "get_orders",
            ReadRequest {
                params: json!({ "updated_at_min": "2026-01-01T00:00:00Z" }),
                cursor: None,
                ..ReadRequest::default()
            },
        )
        .await
        .unwrap();
    let err = reader.next_page().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::RateLimited { status: Some(429), message, .. } if message.contains("Exceeded 2 calls")),
        "{err}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert!(err.is_retryable());
    // The engine retries: the reader repeats the same request.
    let page = reader.next_page().await.unwrap().unwrap();
    assert_eq!(ids(&[page]), [42]);
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].query, seen[1].query);
}

#[tokio::test]
async fn refused_token_is_an_auth_error_for_health_check_reads_and_writes() {
    let unauthorized = || async {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" }),
            ),
        )
    };
    let mock = Mock::start(
        Router::new()
            .route(&route("shop.json"), get(unauthorized))
            .route(
                &route("customers.json"),
                get(unauthorized).post(unauthorized),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let err = conn.health_check().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Auth(m) if m.contains("Invalid API key") && m.contains("shop.json")),
        "{err}"
    );
    assert!(!err.is_retryable());
    let err = read_all(conn.as_ref(), "get_customers", Value::Null)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err}");
    let results = conn
        .write(
            "upsert_customer",
            &json!({ "match_by_email": false }),
            &[rec(
                "c-1",
                WriteAction::Create,
                json!({ "email": "a@example.com" }),
            )],
        )
        .await
        .unwrap();
    assert!(matches!(&results[0], Err(ConnectorError::Auth(m)) if m.contains("record `c-1`")));
}

#[tokio::test]
async fn health_check_reads_shop_json() {
    let mock = Mock::start(Router::new().route(
        &route("shop.json"),
        get(|| async {
            axum::Json(json!({ "shop": { "id": 690933842, "name": "Apple Computers" } }))
        }),
    ))
    .await;
    mock.connect().await.health_check().await.unwrap();
    assert_eq!(mock.seen()[0].path, "/admin/api/2024-10/shop.json");
}

// ---------------------------------------------------------------------------------------------
// Rate limit

/// The mock plays Shopify's bucket by counting: it admits `allowance` requests (40, plus what
/// the test lets leak) and answers 429 to any beyond, recording a violation.
#[tokio::test]
async fn leaky_bucket_never_sends_more_than_the_burst() {
    let received = Arc::new(AtomicUsize::new(0));
    let allowance = Arc::new(AtomicUsize::new(40));
    let violations = Arc::new(AtomicUsize::new(0));
    let (r, a, v) = (received.clone(), allowance.clone(), violations.clone());
    let mock = Mock::start(Router::new().route(
        &route("shop.json"),
        get(move || {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            let allowed = a.load(Ordering::SeqCst);
            if n > allowed {
                v.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if n > allowed {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "1.0")],
                        "{}",
                    )
                        .into_response();
                }
                let used = format!("{}/40", 40 - (allowed - n).min(40));
                (
                    [(rate_limit::CALL_LIMIT_HEADER, used)],
                    axum::Json(json!({ "shop": { "id": 1 } })),
                )
                    .into_response()
            }
        }),
    ))
    .await;
    let clock = Arc::new(ManualClock::default());
    let conn = build_with_clock(&mock.config(), &context(), clock.clone()).unwrap();
    let tasks: Vec<_> = (0..45)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.health_check().await })
        })
        .collect();
    // With the clock stopped, nothing leaks: exactly the burst goes out and is answered, and
    // the other five wait however long we give them.
    wait_until(|| tasks.iter().filter(|t| t.is_finished()).count() >= 40).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.load(Ordering::SeqCst), 40);
    assert_eq!(tasks.iter().filter(|t| t.is_finished()).count(), 40);
    // 2.5 s leak 5 requests, on both sides.
    allowance.fetch_add(5, Ordering::SeqCst);
    clock.advance(Duration::from_millis(2500));
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(received.load(Ordering::SeqCst), 45);
    assert_eq!(violations.load(Ordering::SeqCst), 0);
}

async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 10 s");
}

// ---------------------------------------------------------------------------------------------
// Writing

#[tokio::test]
async fn set_inventory_level_posts_item_location_and_quantity() {
    let level = fixture("inventory_level.json");
    let mock = Mock::start(Router::new().route(
        &route("inventory_levels/set.json"),
        post(move || async move { axum::Json(level) }),
    ))
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "set_inventory_level",
            &json!({ "location_id": 905684977 }),
            &[
                rec(
                    "IPOD2008PINK",
                    WriteAction::Create,
                    json!({ "inventory_item_id": 808950810, "available": 6 }),
                ),
                rec(
                    "IPOD2008RED",
                    WriteAction::Create,
                    json!({ "inventory_item_id": "49148385", "location_id": 1, "available": "3" }),
                ),
                rec(
                    "IPOD2008BLUE",
                    WriteAction::Create,
                    json!({ "inventory_item_id": 5, "available": "many" }),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("808950810")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("49148385")
    );
    let err = results[2].as_ref().unwrap_err();
    assert!(
        matches!(err, ConnectorError::Permanent { .. })
            && err.to_string().contains("record `IPOD2008BLUE`")
            && err.to_string().contains("`available`"),
        "{err}"
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 2, "the bad record is not sent");
    assert_eq!(
        seen[0].body,
        json!({ "location_id": 905684977, "inventory_item_id": 808950810, "available": 6 })
    );
    assert_eq!(
        seen[1].body,
        json!({ "location_id": 1, "inventory_item_id": 49148385, "available": 3 })
    );
    // Setting an absolute level twice is harmless: a crashed send is simply sent again.
    assert!(matches!(
        conn.lookup("set_inventory_level", &Value::Null, "IPOD2008PINK")
            .await
            .unwrap(),
        Lookup::Absent
    ));
}

#[tokio::test]
async fn create_fulfillment_fulfills_open_fulfillment_orders_with_tracking() {
    let fulfillment_orders = fixture("fulfillment_orders.json");
    let fulfillment = fixture("fulfillment.json");
    let listed = json!({ "fulfillments": [fulfillment["fulfillment"].clone()] });
    let mock = Mock::start(
        Router::new()
            .route(
                &route("orders/450789469/fulfillment_orders.json"),
                get(move || async move { axum::Json(fulfillment_orders) }),
            )
            .route(
                &route("fulfillments.json"),
                post(move || async move { (StatusCode::CREATED, axum::Json(fulfillment)) }),
            )
            .route(
                &route("orders/450789469/fulfillments.json"),
                get(move || async move { axum::Json(listed) }),
            )
            .route(
                &route("orders.json"),
                get(|| async {
                    axum::Json(json!({ "orders": [{ "id": 450789469, "name": "#1001" }] }))
                }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "create_fulfillment",
            &json!({ "notify_customer": true }),
            &[rec(
                "#1001",
                WriteAction::Create,
                json!({ "order_id": 450789469, "tracking_number": "1Z2345", "tracking_company": "UPS", "tracking_url": "https://www.ups.com/track?tracknum=1Z2345" }),
            )],
        )
        .await
        .unwrap();
    let ack = results[0].as_ref().unwrap();
    assert_eq!(ack.target_id.as_deref(), Some("255858046"));
    assert_eq!(ack.status, Some(201));
    let seen = mock.seen();
    assert_eq!(seen[1].path, "/admin/api/2024-10/fulfillments.json");
    assert_eq!(
        seen[1].body,
        json!({ "fulfillment": {
            "line_items_by_fulfillment_order": [{ "fulfillment_order_id": 1046000778 }],
            "tracking_info": { "number": "1Z2345", "company": "UPS", "url": "https://www.ups.com/track?tracknum=1Z2345" },
            "notify_customer": true,
        }})
    );
    // After a crash, the order's fulfillments tell whether the send went through; the key may
    // be the order's name.
    let found = conn
        .lookup("create_fulfillment", &Value::Null, "#1001")
        .await
        .unwrap();
    assert!(matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("255858046")));
    let seen = mock.seen();
    assert_eq!(seen[2].query["name"], "#1001");
}

#[tokio::test]
async fn fulfillment_of_an_order_without_open_fulfillment_orders_fails_that_record() {
    let mock = Mock::start(Router::new().route(
        &route("orders/1/fulfillment_orders.json"),
        get(|| async {
            axum::Json(json!({ "fulfillment_orders": [{ "id": 9, "status": "closed" }] }))
        }),
    ))
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "create_fulfillment",
            &Value::Null,
            &[rec("o-1", WriteAction::Create, json!({ "order_id": 1 }))],
        )
        .await
        .unwrap();
    let err = results[0].as_ref().unwrap_err();
    assert!(
        err.to_string().contains("no open fulfillment order"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

/// A GraphQL endpoint that knows the documented product's variants by SKU.
fn graphql_variants() -> axum::routing::MethodRouter {
    post(|axum::Json(body): axum::Json<Value>| async move {
        let product = fixture("product.json")["product"].clone();
        let wanted = body["variables"]["q"].as_str().unwrap().to_string();
        let edges: Vec<Value> = product["variants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| wanted == format!("sku:\"{}\"", v["sku"].as_str().unwrap()))
            .map(|v| {
                json!({ "node": {
                    "legacyResourceId": v["id"].to_string(),
                    "sku": v["sku"],
                    "product": { "legacyResourceId": product["id"].to_string() },
                    // The fixture's variants carry no inventory item id; the variant's id stands in.
                    "inventoryItem": { "legacyResourceId": v["id"].to_string() },
                }})
            })
            .collect();
        axum::Json(json!({ "data": { "productVariants": { "edges": edges } } }))
    })
}

#[tokio::test]
async fn upsert_product_updates_the_product_found_by_sku_keeping_variant_ids() {
    let product = fixture("product.json");
    let answer = product.clone();
    let mock = Mock::start(
        Router::new()
            .route(&route("graphql.json"), graphql_variants())
            .route(
                &route("products/632910392.json"),
                get(move || async move { axum::Json(product) })
                    .put(move || async move { axum::Json(answer) }),
            )
            .route(
                &route("products.json"),
                post(|axum::Json(body): axum::Json<Value>| async move {
                    let mut created = body["product"].clone();
                    created["id"] = json!(1071559748);
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({ "product": created })),
                    )
                }),
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
                    "IPOD2008PINK",
                    WriteAction::Create,
                    json!({ "title": "IPod Nano - 8GB", "variants": [{ "sku": "IPOD2008PINK", "price": "189.00" }, { "sku": "IPOD2008NEW", "price": "189.00" }] }),
                ),
                rec(
                    "BURTON-1",
                    WriteAction::Create,
                    json!({ "title": "Burton Custom Freestyle 151", "variants": [{ "sku": "BURTON-1", "price": "10.00" }] }),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("632910392")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("1071559748")
    );
    let seen = mock.seen();
    let put = seen.iter().find(|s| s.method == "PUT").unwrap();
    assert_eq!(put.path, "/admin/api/2024-10/products/632910392.json");
    assert_eq!(put.body["product"]["id"], 632910392);
    assert_eq!(put.body["product"]["variants"][0]["id"], 808950810);
    assert!(put.body["product"]["variants"][1].get("id").is_none());
    let created = seen
        .iter()
        .find(|s| s.method == "POST" && s.path.ends_with("products.json"))
        .unwrap();
    assert_eq!(
        created.body["product"]["title"],
        "Burton Custom Freestyle 151"
    );

    // Lookup by SKU after a crash.
    let found = conn
        .lookup("upsert_product", &Value::Null, "IPOD2008RED")
        .await
        .unwrap();
    assert!(matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("632910392")));
    let absent = conn
        .lookup("upsert_product", &Value::Null, "NOPE")
        .await
        .unwrap();
    assert!(matches!(absent, Lookup::Absent));
}

#[tokio::test]
async fn rejected_product_keeps_shopify_422_body_in_the_error() {
    let mock = Mock::start(Router::new().route(
        &route("products.json"),
        post(|| async {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({ "errors": { "title": ["can't be blank"] } })),
            )
        }),
    ))
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "upsert_product",
            &json!({ "match_by_sku": false }),
            &[rec(
                "SKU-9",
                WriteAction::Create,
                json!({ "body_html": "no title" }),
            )],
        )
        .await
        .unwrap();
    let err = results[0].as_ref().unwrap_err();
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
    assert!(err.body().unwrap().contains("can't be blank"));
    let text = err.to_string();
    assert!(
        text.contains("record `SKU-9`") && text.contains("POST") && text.contains("products.json"),
        "{text}"
    );
}

#[tokio::test]
async fn upsert_customer_updates_by_target_id_or_email_and_creates_otherwise() {
    let customer = fixture("customer.json");
    let (c1, c2) = (customer.clone(), customer.clone());
    let mock = Mock::start(
        Router::new()
            .route(
                &route("customers/search.json"),
                get(
                    move |axum::extract::Query(q): axum::extract::Query<
                        HashMap<String, String>,
                    >| async move {
                        let hit = q["query"] == "email:\"bob.norman@hostmail.com\"";
                        let customers = if hit {
                            vec![c1["customer"].clone()]
                        } else {
                            vec![]
                        };
                        axum::Json(json!({ "customers": customers }))
                    },
                ),
            )
            .route(
                &route("customers/207119551.json"),
                put(move || async move { axum::Json(c2) }),
            )
            .route(
                &route("customers/5.json"),
                put(|| async { axum::Json(json!({ "customer": { "id": 5 } })) }),
            )
            .route(
                &route("customers.json"),
                post(|| async {
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({ "customer": { "id": 1073339460 } })),
                    )
                }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "upsert_customer",
            &Value::Null,
            &[
                rec(
                    "bob",
                    WriteAction::Create,
                    json!({ "email": "Bob.Norman@hostmail.com", "note": "VIP" }),
                ),
                rec(
                    "new",
                    WriteAction::Create,
                    json!({ "email": "steve.lastnameson@example.com" }),
                ),
                rec(
                    "known",
                    WriteAction::Update {
                        target_id: "5".into(),
                    },
                    json!({ "note": "x" }),
                ),
            ],
        )
        .await
        .unwrap();
    let targets: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().unwrap().target_id.clone().unwrap())
        .collect();
    assert_eq!(targets, ["207119551", "1073339460", "5"]);
    let seen = mock.seen();
    let put = seen
        .iter()
        .find(|s| s.path.ends_with("207119551.json"))
        .unwrap();
    assert_eq!(
        put.body,
        json!({ "customer": { "id": 207119551, "email": "Bob.Norman@hostmail.com", "note": "VIP" } })
    );
    let found = conn
        .lookup("upsert_customer", &Value::Null, "bob.norman@hostmail.com")
        .await
        .unwrap();
    assert!(matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("207119551")));
}

#[tokio::test]
async fn graphql_throttling_during_a_sku_lookup_is_rate_limited() {
    let mock = Mock::start(Router::new().route(
        &route("graphql.json"),
        post(|| async {
            axum::Json(json!({
                "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED" } }],
                "extensions": { "cost": { "requestedQueryCost": 3, "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": 0.0, "restoreRate": 50.0 } } }
            }))
        }),
    ))
    .await;
    let conn = mock.connect().await;
    let err = conn
        .lookup("upsert_product", &Value::Null, "IPOD2008PINK")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::RateLimited { message, .. } if message.contains("IPOD2008PINK")),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn changed_tracking_of_a_sent_fulfillment_updates_its_tracking() {
    let fulfillment = fixture("fulfillment.json");
    let mock = Mock::start(Router::new().route(
        &route("fulfillments/255858046/update_tracking.json"),
        post(move || async move { axum::Json(fulfillment) }),
    ))
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "create_fulfillment",
            &Value::Null,
            &[rec(
                "#1001",
                WriteAction::Update {
                    target_id: "255858046".into(),
                },
                json!({ "order_id": 450789469, "tracking_number": "1Z9999", "tracking_company": "UPS" }),
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("255858046")
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 1, "no new fulfillment is made");
    assert_eq!(
        seen[0].body,
        json!({ "fulfillment": { "tracking_info": { "number": "1Z9999", "company": "UPS" }, "notify_customer": false } })
    );
}

#[tokio::test]
async fn partial_shipment_fulfills_only_the_lines_and_quantities_given() {
    let fulfillment_orders = fixture("fulfillment_orders.json");
    let order = fixture("order.json");
    let fulfillment = fixture("fulfillment.json");
    let mock = Mock::start(
        Router::new()
            .route(
                &route("orders/450789469/fulfillment_orders.json"),
                get(move || async move { axum::Json(fulfillment_orders) }),
            )
            .route(
                &route("orders/450789469.json"),
                get(move || async move { axum::Json(order) }),
            )
            .route(
                &route("fulfillments.json"),
                post(move || async move { (StatusCode::CREATED, axum::Json(fulfillment)) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "create_fulfillment",
            &Value::Null,
            &[
                rec(
                    "#1001",
                    WriteAction::Create,
                    json!({ "order_id": 450789469, "tracking_number": "1Z1", "line_items": [{ "sku": "IPOD2008RED", "quantity": 1 }] }),
                ),
                rec(
                    "#1001-b",
                    WriteAction::Create,
                    json!({ "order_id": 450789469, "line_items": [{ "line_item_id": 466157049, "quantity": 2 }] }),
                ),
                rec(
                    "#1001-c",
                    WriteAction::Create,
                    json!({ "order_id": 450789469, "line_items": [{ "sku": "IPOD2008RED" }] }),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("255858046")
    );
    let too_many = results[1].as_ref().unwrap_err().to_string();
    assert!(
        too_many.contains("record `#1001-b`")
            && too_many.contains("line item 466157049: 2 to ship but only 1 left"),
        "{too_many}"
    );
    let no_quantity = results[2].as_ref().unwrap_err().to_string();
    assert!(
        no_quantity.contains("`line_items[0].quantity`"),
        "{no_quantity}"
    );
    let posted: Vec<Seen> = mock
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posted.len(), 1, "records with bad lines are not sent");
    assert_eq!(
        posted[0].body["fulfillment"]["line_items_by_fulfillment_order"],
        json!([{ "fulfillment_order_id": 1046000778, "fulfillment_order_line_items": [{ "id": 1058737483, "quantity": 1 }] }])
    );
}

// ---------------------------------------------------------------------------------------------
// What ERP-side templates send: SKUs, order names, fields kept on update

#[tokio::test]
async fn stock_by_sku_goes_to_the_variants_inventory_item() {
    let level = fixture("inventory_level.json");
    let mock = Mock::start(
        Router::new()
            .route(&route("graphql.json"), graphql_variants())
            .route(
                &route("inventory_levels/set.json"),
                post(move || async move { axum::Json(level) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "set_inventory_level",
            &json!({ "location_id": 905684977 }),
            &[
                rec(
                    "IPOD2008PINK",
                    WriteAction::Create,
                    json!({ "sku": "IPOD2008PINK", "available": 6 }),
                ),
                rec(
                    "NOPE",
                    WriteAction::Create,
                    json!({ "sku": "NOPE", "available": 1 }),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("808950810")
    );
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("no variant with an inventory item has SKU \"NOPE\""),
        "{err}"
    );
    let sets: Vec<Value> = mock
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("set.json"))
        .map(|s| s.body)
        .collect();
    assert_eq!(
        sets,
        [json!({ "location_id": 905684977, "inventory_item_id": 808950810, "available": 6 })]
    );
}

#[tokio::test]
async fn fulfillment_finds_the_order_by_name() {
    let fulfillment_orders = fixture("fulfillment_orders.json");
    let fulfillment = fixture("fulfillment.json");
    let mock = Mock::start(
        Router::new()
            .route(
                &route("orders.json"),
                get(|| async {
                    axum::Json(json!({ "orders": [{ "id": 450789469, "name": "#1001" }] }))
                }),
            )
            .route(
                &route("orders/450789469/fulfillment_orders.json"),
                get(move || async move { axum::Json(fulfillment_orders) }),
            )
            .route(
                &route("fulfillments.json"),
                post(move || async move { (StatusCode::CREATED, axum::Json(fulfillment)) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let results = conn
        .write(
            "create_fulfillment",
            &Value::Null,
            &[
                rec(
                    "d-1",
                    WriteAction::Create,
                    json!({ "order_name": "#1001", "tracking_number": "1Z" }),
                ),
                rec("d-2", WriteAction::Create, json!({ "order_name": "#9999" })),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("255858046")
    );
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("no order is named \"#9999\""), "{err}");
    assert_eq!(mock.seen()[0].query["name"], "#1001");
}

#[tokio::test]
async fn create_only_fields_are_sent_on_creation_and_left_out_of_updates() {
    let answer = fixture("product.json");
    let created = answer.clone();
    let mock = Mock::start(
        Router::new()
            .route(&route("graphql.json"), graphql_variants())
            .route(
                &route("products/632910392.json"),
                get({
                    let a = answer.clone();
                    move || async move { axum::Json(a) }
                })
                .put(move || async move { axum::Json(answer) }),
            )
            .route(
                &route("products.json"),
                post(move || async move { (StatusCode::CREATED, axum::Json(created)) }),
            ),
    )
    .await;
    let conn = mock.connect().await;
    let product = |sku: &str| {
        json!({ "title": "IPod", "body_html": "<p>ERP text</p>", "_create_only": ["body_html", "barcode"],
                "variants": [{ "sku": sku, "price": "199.00", "barcode": "123" }] })
    };
    let results = conn
        .write(
            "upsert_product",
            &Value::Null,
            &[
                rec("IPOD2008PINK", WriteAction::Create, product("IPOD2008PINK")),
                rec("NEW-SKU", WriteAction::Create, product("NEW-SKU")),
            ],
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let seen = mock.seen();
    let put = seen.iter().find(|s| s.method == "PUT").unwrap();
    assert_eq!(
        put.body["product"]["body_html"],
        Value::Null,
        "kept out of the update"
    );
    assert_eq!(put.body["product"]["variants"][0]["barcode"], Value::Null);
    assert_eq!(put.body["product"]["variants"][0]["price"], "199.00");
    let post = seen
        .iter()
        .find(|s| s.method == "POST" && s.path.ends_with("products.json"))
        .unwrap();
    assert_eq!(
        post.body,
        json!({ "product": { "title": "IPod", "body_html": "<p>ERP text</p>",
                "variants": [{ "sku": "NEW-SKU", "price": "199.00", "barcode": "123" }] } })
    );
}
