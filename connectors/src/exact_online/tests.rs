//! Tests of the `exact_online` connector over real HTTP against a local axum mock of the REST
//! API and its OAuth2 token endpoint (`crate::test_support`), answering with the hand-written
//! fixtures (`fixtures/`). Time is a manual wall clock: token expiry and the per-minute
//! limit move only when a test says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use ferry_engine::connector::{
    Connector, ConnectorError, ConnectorInstance, Lookup, Page, ReadRequest, WriteAction,
    WriteRecord,
};
use ferry_engine::flow::Incremental;
use ferry_engine::run::cursor::params_with_cursor;
use serde_json::{Value, json};

use super::*;
use crate::test_support::{Mock, context};
use crate::wall_clock::tests::ManualWallClock;

const DIVISION: &str = "/api/v1/123456";
const TOKEN_PATH: &str = "/api/oauth2/token";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/src/exact_online/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn route(entity: &str) -> String {
    format!("{DIVISION}/{entity}")
}

/// A connection config for `mock`, with `access-0` valid until `expires_at` when given.
fn config(mock: &Mock, expires_at: Option<u64>) -> Value {
    let mut config = json!({
        "base_url": mock.base,
        "division": 123456,
        "client_id": "client-1",
        "client_secret": "secret-1",
        "refresh_token": "refresh-0",
    });
    if let Some(at) = expires_at {
        config["access_token"] = json!("access-0");
        config["expires_at"] = json!(at);
    }
    config
}

fn connect(config: &Value, clock: &Arc<ManualWallClock>) -> Arc<dyn ConnectorInstance> {
    build_with_clock(config, &context(), clock.clone()).unwrap()
}

/// Seconds since the epoch, `ahead` from the clock's now.
fn in_secs(clock: &ManualWallClock, ahead: u64) -> u64 {
    clock.unix_now().as_secs() + ahead
}

fn divisions() -> axum::routing::MethodRouter {
    get(|| async {
        axum::Json(json!({ "d": { "results": [{ "Code": 123456, "Description": "Demo BV" }] } }))
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

fn rec(key: &str, action: WriteAction, payload: Value) -> WriteRecord {
    WriteRecord {
        key: key.into(),
        action,
        payload,
        text: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Spec and config

#[test]
fn spec_offers_every_operation_with_schema_and_sample() {
    let spec = ExactOnline.spec();
    assert_eq!(spec.kind, "exact_online");
    let names: Vec<_> = spec.operations.iter().map(|op| op.name).collect();
    assert_eq!(
        names,
        [
            "get_sales_orders",
            "get_sales_invoices",
            "get_accounts",
            "get_contacts",
            "get_items",
            "get_stock_positions",
            "get_goods_deliveries",
            "create_sales_order",
            "create_sales_invoice",
            "create_account",
            "create_contact",
            "upsert_item",
        ]
    );
    for op in &spec.operations {
        assert!(op.sample_record.is_object(), "{} sample", op.name);
        assert_eq!(op.params_schema["type"], "object", "{} params", op.name);
    }
    let order = &spec.operation("get_sales_orders").unwrap().sample_record;
    assert_eq!(order["Modified"], "2026-01-05T10:30:00.000");
    assert_eq!(order["SalesOrderLines"][1]["VATCode"], "FR55");
    assert!(order.get("__metadata").is_none());
    assert_eq!(spec.config_schema["type"], "object");
}

#[tokio::test]
async fn bad_connection_settings_are_config_errors() {
    for (config, needle) in [
        (
            json!({ "division": 1, "client_id": "a", "client_secret": "b" }),
            "refresh_token",
        ),
        (
            json!({ "division": 0, "client_id": "a", "client_secret": "b", "refresh_token": "c" }),
            "division",
        ),
        (
            json!({ "division": 1, "client_id": "a", "client_secret": "", "refresh_token": "c" }),
            "client_secret",
        ),
        (
            json!({ "base_url": "start.exactonline.nl", "division": 1, "client_id": "a", "client_secret": "b", "refresh_token": "c" }),
            "base_url",
        ),
    ] {
        let err = ExactOnline.build(&config, &context()).await.err().unwrap();
        assert!(
            matches!(&err, ConnectorError::Config(m) if m.contains(needle)),
            "{config}: {err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth2

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_first_and_the_rotated_refresh_token_used_next() {
    let mock = Mock::start(
        Router::new().route(&route("system/Divisions"), divisions()),
        TOKEN_PATH,
    )
    .await;
    let clock = Arc::new(ManualWallClock::default());
    // 30 s left: under the 60 s margin, so the first request refreshes before it goes out.
    let conn = connect(&config(&mock, Some(in_secs(&clock, 30))), &clock);
    conn.health_check().await.unwrap();
    assert_eq!(mock.tokens.refreshes(), 1);
    let seen = mock.seen();
    assert_eq!(seen.len(), 1, "no request went out with the old token");
    assert_eq!(seen[0].headers["authorization"], "Bearer access-1");
    // The new token lives 600 s: still fine after 500 s, refreshed at 545 s.
    clock.advance(Duration::from_secs(500));
    conn.health_check().await.unwrap();
    assert_eq!(mock.tokens.refreshes(), 1);
    clock.advance(Duration::from_secs(45));
    conn.health_check().await.unwrap();
    assert_eq!(mock.tokens.refreshes(), 2);
    assert_eq!(
        *mock.tokens.refresh_tokens.lock().unwrap(),
        ["refresh-0", "refresh-1"],
        "Exact's rotated refresh token is used for the second refresh"
    );
    assert_eq!(mock.seen()[2].headers["authorization"], "Bearer access-2");
}

#[tokio::test]
async fn a_valid_token_is_used_without_refreshing() {
    let mock = Mock::start(
        Router::new().route(&route("system/Divisions"), divisions()),
        TOKEN_PATH,
    )
    .await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 300))), &clock);
    conn.health_check().await.unwrap();
    assert_eq!(mock.tokens.refreshes(), 0);
    assert_eq!(mock.seen()[0].headers["authorization"], "Bearer access-0");
}

#[tokio::test]
async fn eight_concurrent_requests_without_a_token_cause_one_refresh() {
    let mock = Mock::start(
        Router::new().route(&route("system/Divisions"), divisions()),
        TOKEN_PATH,
    )
    .await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, None), &clock);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.health_check().await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(mock.tokens.refreshes(), 1);
    let seen = mock.seen();
    assert_eq!(seen.len(), 8);
    assert!(
        seen.iter()
            .all(|s| s.headers["authorization"] == "Bearer access-1")
    );
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_for_eight_concurrent_requests_which_are_sent_again() {
    let mock = Mock::start(
        Router::new().route(&route("system/Divisions"), divisions()),
        TOKEN_PATH,
    )
    .await;
    let clock = Arc::new(ManualWallClock::default());
    let mut config = config(&mock, Some(in_secs(&clock, 3600)));
    // Revoked early: Exact refuses it although it has not expired.
    config["access_token"] = json!("revoked");
    let conn = connect(&config, &clock);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.health_check().await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(mock.tokens.refreshes(), 1);
    let seen = mock.seen();
    assert_eq!(seen.len(), 16, "each request once refused, once accepted");
    assert_eq!(
        seen.iter()
            .filter(|s| s.headers["authorization"] == "Bearer access-1")
            .count(),
        8
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_an_auth_error_that_says_to_reconnect() {
    let mock = Mock::start(
        Router::new().route(&route("system/Divisions"), divisions()),
        TOKEN_PATH,
    )
    .await;
    mock.tokens.refuse.store(true, Ordering::SeqCst);
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, None), &clock);
    let err = conn.health_check().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Auth(m) if m.contains("reconnect") && m.contains("invalid_grant") && m.contains("has expired")),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(mock.seen().is_empty(), "no API request without a token");
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Sales orders in three pages of two, linked by `__next` with a `$skiptoken`.
fn paged_sales_orders(base: Arc<std::sync::OnceLock<String>>) -> Router {
    let page = fixture("sales_orders.json");
    Router::new().route(
        &route("salesorder/SalesOrders"),
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let page = page.clone();
                let base = base.get().cloned().unwrap_or_default();
                async move {
                    let n: usize = match q.get("$skiptoken").map(String::as_str) {
                        None => 0,
                        Some("p2") => 1,
                        Some("p3") => 2,
                        Some(other) => panic!("unexpected skiptoken {other}"),
                    };
                    let mut records = page["d"]["results"].as_array().unwrap().clone();
                    for (i, r) in records.iter_mut().enumerate() {
                        r["YourRef"] = json!(format!("SHOP-{}", n * 2 + i + 1));
                    }
                    let mut d = json!({ "results": records });
                    if n < 2 {
                        d["__next"] = json!(format!(
                            "{base}{DIVISION}/salesorder/SalesOrders?$skiptoken=p{}",
                            n + 2
                        ));
                    }
                    axum::Json(json!({ "d": d }))
                }
            },
        ),
    )
}

#[tokio::test]
async fn sales_orders_are_read_across_three_pages_from_the_incremental_cursor() {
    let base = Arc::new(std::sync::OnceLock::new());
    let mock = Mock::start(paged_sales_orders(base.clone()), TOKEN_PATH).await;
    base.set(mock.base.clone()).unwrap();
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    let incremental = Incremental {
        field: "$.Modified".into(),
        param: "modified_since".into(),
        overlap_minutes: 5,
        start: None,
    };
    let params = params_with_cursor(
        &json!({ "filter": "Status eq 12" }),
        &incremental,
        Some(&json!("2026-01-05T10:30:00.000")),
    )
    .unwrap();
    let pages = read_all(conn.as_ref(), "get_sales_orders", params)
        .await
        .unwrap();
    let refs: Vec<_> = pages
        .iter()
        .flat_map(|p| {
            p.records
                .iter()
                .map(|r| r["YourRef"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        refs,
        ["SHOP-1", "SHOP-2", "SHOP-3", "SHOP-4", "SHOP-5", "SHOP-6"]
    );
    let first = &pages[0].records[0];
    assert_eq!(first["Modified"], "2026-01-05T10:30:00.000");
    assert_eq!(first["SalesOrderLines"].as_array().unwrap().len(), 2);
    let seen = mock.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].query["$filter"],
        "Modified ge datetime'2026-01-05T10:25:00.000' and (Status eq 12)"
    );
    assert_eq!(seen[0].query["$expand"], "SalesOrderLines");
    assert!(seen[0].query["$select"].starts_with("OrderID,OrderNumber,YourRef"));
    assert_eq!(seen[0].headers["accept"], "application/json");
    assert_eq!(seen[1].query["$skiptoken"], "p2");
    assert_eq!(seen[2].query["$skiptoken"], "p3");
}

#[tokio::test]
async fn other_entity_sets_are_read_with_their_paths_and_selected_fields() {
    let mut router = Router::new();
    for (entity, file) in [
        ("crm/Accounts", "accounts.json"),
        ("crm/Contacts", "contacts.json"),
        ("logistics/Items", "items.json"),
        ("inventory/ItemWarehouses", "stock_positions.json"),
        ("salesorder/GoodsDeliveries", "goods_deliveries.json"),
        ("salesinvoice/SalesInvoices", "sales_invoices.json"),
    ] {
        let body = fixture(file);
        router = router.route(&route(entity), get(move || async move { axum::Json(body) }));
    }
    let mock = Mock::start(router, TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    let accounts = read_all(
        conn.as_ref(),
        "get_accounts",
        json!({ "select": ["ID", "Name", "Country", "VATNumber"] }),
    )
    .await
    .unwrap();
    let countries: Vec<_> = accounts[0]
        .records
        .iter()
        .map(|r| r["Country"].clone())
        .collect();
    assert_eq!(countries, ["FR", "BE", "DE", "NL", "CH"]);
    assert_eq!(mock.seen()[0].query["$select"], "ID,Name,Country,VATNumber");
    let stock = read_all(conn.as_ref(), "get_stock_positions", Value::Null)
        .await
        .unwrap();
    assert_eq!(stock[0].records[0]["CurrentStock"], 240.0);
    let deliveries = read_all(conn.as_ref(), "get_goods_deliveries", Value::Null)
        .await
        .unwrap();
    assert_eq!(deliveries[0].records[0]["TrackingNumber"], "6A12345678901");
    assert_eq!(
        deliveries[0].records[0]["GoodsDeliveryLines"][0]["QuantityDelivered"],
        4.0
    );
    let invoices = read_all(conn.as_ref(), "get_sales_invoices", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        invoices[0].records[0]["SalesInvoiceLines"][0]["VATCode"],
        "ICL0"
    );
    let contacts = read_all(conn.as_ref(), "get_contacts", Value::Null)
        .await
        .unwrap();
    assert_eq!(
        contacts[0].records[0]["Email"],
        "claire@boulangerie-martin.fr"
    );
    let items = read_all(conn.as_ref(), "get_items", Value::Null)
        .await
        .unwrap();
    assert_eq!(items[0].records[0]["SalesVatCode"], "FR55");
    let paths: Vec<_> = mock.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths[1], route("inventory/ItemWarehouses"));
    let err = read_all(
        conn.as_ref(),
        "get_items",
        json!({ "modified_since": "last week" }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("modified_since")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rate limits and errors

#[tokio::test]
async fn an_exhausted_minute_makes_the_next_request_wait_for_the_reset() {
    let clock = Arc::new(ManualWallClock::default());
    let received = Arc::new(AtomicUsize::new(0));
    let (c, r) = (clock.clone(), received.clone());
    let router = Router::new().route(
        &route("system/Divisions"),
        get(move || {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            let reset = (c.unix_now() + Duration::from_secs(30))
                .as_millis()
                .to_string();
            async move {
                // The first answer uses up the minute; later ones open a new one.
                let remaining = if n == 1 { "0" } else { "59" };
                (
                    [
                        ("x-ratelimit-minutely-remaining", remaining.to_string()),
                        ("x-ratelimit-minutely-reset", reset),
                        ("x-ratelimit-remaining", "4999".to_string()),
                    ],
                    axum::Json(json!({ "d": { "results": [] } })),
                )
            }
        }),
    );
    let mock = Mock::start(router, TOKEN_PATH).await;
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    conn.health_check().await.unwrap();
    let second = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.health_check().await })
    };
    // With the clock stopped the minute never ends: the request waits however long we give it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.load(Ordering::SeqCst), 1);
    assert!(!second.is_finished());
    clock.advance(Duration::from_secs(30));
    second.await.unwrap().unwrap();
    assert_eq!(received.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_429_on_the_daily_limit_is_rate_limited_until_its_reset_and_stops_further_calls() {
    let clock = Arc::new(ManualWallClock::default());
    let received = Arc::new(AtomicUsize::new(0));
    let (c, r) = (clock.clone(), received.clone());
    let router = Router::new().route(
        &route("system/Divisions"),
        get(move || {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            let reset = (c.unix_now() + Duration::from_secs(3600))
                .as_millis()
                .to_string();
            async move {
                if n > 1 {
                    return (
                        [("x-ratelimit-remaining", "4999".to_string())],
                        axum::Json(json!({ "d": { "results": [] } })),
                    )
                        .into_response();
                }
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        ("x-ratelimit-remaining", "0".to_string()),
                        ("x-ratelimit-reset", reset),
                        ("x-ratelimit-minutely-remaining", "42".to_string()),
                    ],
                    axum::Json(json!({ "error": { "code": "", "message": { "lang": "", "value": "API rate limit exceeded" } } })),
                )
                    .into_response()
            }
        }),
    );
    let mock = Mock::start(router, TOKEN_PATH).await;
    let conn = connect(&config(&mock, Some(in_secs(&clock, 7200))), &clock);
    let err = conn.health_check().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::RateLimited { retry_after: Some(wait), status: Some(429), message }
            if *wait == Duration::from_secs(3600) && message.contains("API rate limit exceeded")),
        "{err:?}"
    );
    // The day is used up: later calls fail at once, without a request, until the reset.
    clock.advance(Duration::from_secs(600));
    let err = conn.health_check().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::RateLimited { retry_after: Some(wait), status: None, message }
            if *wait == Duration::from_secs(3000) && message.contains("daily")),
        "{err:?}"
    );
    assert_eq!(received.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(3000));
    conn.health_check().await.unwrap();
    assert_eq!(received.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Writing

#[derive(Default)]
struct Store {
    created: AtomicUsize,
}

fn write_router(store: Arc<Store>) -> Router {
    let s = store.clone();
    Router::new()
        .route(
            &route("salesorder/SalesOrders"),
            get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let found =
                        q.get("$filter").map(String::as_str) == Some("YourRef eq 'SHOP-1001'");
                    let results = if found {
                        json!([{ "OrderID": "5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e01" }])
                    } else {
                        json!([])
                    };
                    axum::Json(json!({ "d": { "results": results } }))
                },
            )
            .post(move |axum::Json(body): axum::Json<Value>| {
                let s = s.clone();
                async move {
                    s.created.fetch_add(1, Ordering::SeqCst);
                    if body["OrderedBy"] == "a1000000-0000-4000-8000-00000000dead" {
                        return (StatusCode::BAD_REQUEST, axum::Json(fixture("error.json")))
                            .into_response();
                    }
                    let mut d = body.clone();
                    d["OrderID"] = json!("5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e99");
                    (StatusCode::CREATED, axum::Json(json!({ "d": d }))).into_response()
                }
            }),
        )
        .route(
            &route("logistics/Items"),
            get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let found =
                        q.get("$filter").map(String::as_str) == Some("Code eq 'CONF-FRAISE-370'");
                    let results = if found {
                        json!([{ "ID": "b2000000-0000-4000-8000-000000000001" }])
                    } else {
                        json!([])
                    };
                    axum::Json(json!({ "d": { "results": results } }))
                },
            )
            .post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["ID"] = json!("b2000000-0000-4000-8000-000000000077");
                (StatusCode::CREATED, axum::Json(json!({ "d": body })))
            }),
        )
        .route(
            &route("crm/Accounts"),
            get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let f = q.get("$filter").cloned().unwrap_or_default();
                    let found = f == "Email eq 'inkoop@vandijkhoreca.nl'"
                        || f == format!("Code eq '{:>18}'", "1004");
                    let results = if found {
                        json!([{ "ID": "a1000000-0000-4000-8000-000000000004" }])
                    } else {
                        json!([])
                    };
                    axum::Json(json!({ "d": { "results": results } }))
                },
            )
            .post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["ID"] = json!("a1000000-0000-4000-8000-000000000099");
                (StatusCode::CREATED, axum::Json(json!({ "d": body })))
            }),
        )
        .fallback(any(|| async { StatusCode::NO_CONTENT }))
}

async fn write_mock() -> (Mock, Arc<dyn ConnectorInstance>, Arc<Store>) {
    let store = Arc::new(Store::default());
    let mock = Mock::start(write_router(store.clone()), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    (mock, conn, store)
}

#[tokio::test]
async fn create_sales_order_posts_the_order_with_its_lines_and_acks_with_the_order_id() {
    let (mock, conn, _) = write_mock().await;
    let order = fixture("sales_order.json");
    let results = conn
        .write(
            "create_sales_order",
            &Value::Null,
            &[rec("SHOP-1001", WriteAction::Create, order.clone())],
        )
        .await
        .unwrap();
    let ack = results[0].as_ref().unwrap();
    assert_eq!(
        ack.target_id.as_deref(),
        Some("5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e99")
    );
    assert_eq!(ack.status, Some(201));
    let seen = mock.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, route("salesorder/SalesOrders"));
    assert_eq!(seen[0].body, order);
    assert_eq!(seen[0].headers["content-type"], "application/json");
    // Found again by YourRef after a crash.
    let found = conn
        .lookup("create_sales_order", &Value::Null, "SHOP-1001")
        .await
        .unwrap();
    assert!(
        matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e01"))
    );
    let absent = conn
        .lookup("create_sales_order", &Value::Null, "SHOP-404")
        .await
        .unwrap();
    assert!(matches!(absent, Lookup::Absent));
    assert_eq!(mock.seen()[1].query["$select"], "OrderID");
}

#[tokio::test]
async fn exacts_error_text_is_kept_and_bad_records_fail_alone_before_sending() {
    let (mock, conn, store) = write_mock().await;
    let mut refused = fixture("sales_order.json");
    refused["OrderedBy"] = json!("a1000000-0000-4000-8000-00000000dead");
    let mut no_lines = fixture("sales_order.json");
    no_lines["SalesOrderLines"] = json!([]);
    let mut no_quantity = fixture("sales_order.json");
    no_quantity["SalesOrderLines"][1]["Quantity"] = json!("4");
    let results = conn
        .write(
            "create_sales_order",
            &Value::Null,
            &[
                rec("SHOP-1", WriteAction::Create, refused),
                rec("SHOP-2", WriteAction::Create, no_lines),
                rec("SHOP-3", WriteAction::Create, no_quantity),
                rec("SHOP-4", WriteAction::Create, fixture("sales_order.json")),
            ],
        )
        .await
        .unwrap();
    let err = results[0].as_ref().unwrap_err();
    assert!(
        matches!(err, ConnectorError::Permanent { message, status: Some(400), body: Some(body) }
            if message.contains("record `SHOP-1`") && message.contains("Mandatory: Ordered by") && body.contains("\"lang\"")),
        "{err:?}"
    );
    let err = results[1].as_ref().unwrap_err();
    assert!(
        err.to_string().contains("SHOP-2") && err.to_string().contains("SalesOrderLines"),
        "{err}"
    );
    let err = results[2].as_ref().unwrap_err();
    assert!(
        err.to_string().contains("SalesOrderLines[1].Quantity"),
        "{err}"
    );
    assert!(results[3].is_ok());
    assert_eq!(
        store.created.load(Ordering::SeqCst),
        2,
        "only the valid-looking records were sent"
    );
    assert_eq!(mock.seen().len(), 2);
}

#[tokio::test]
async fn upsert_item_updates_the_item_with_the_same_code_and_creates_others() {
    let (mock, conn, _) = write_mock().await;
    let existing = fixture("item.json");
    let mut new = fixture("item.json");
    new["Code"] = json!("CONF-ABRICOT-370");
    new["Description"] = json!("Confiture d'abricot 370 g");
    let results = conn
        .write(
            "upsert_item",
            &Value::Null,
            &[
                rec("CONF-FRAISE-370", WriteAction::Create, existing.clone()),
                rec("CONF-ABRICOT-370", WriteAction::Create, new),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("b2000000-0000-4000-8000-000000000001")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("b2000000-0000-4000-8000-000000000077")
    );
    let seen = mock.seen();
    let methods: Vec<_> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PUT", "GET", "POST"]);
    assert_eq!(
        seen[1].path,
        route("logistics/Items(guid'b2000000-0000-4000-8000-000000000001')")
    );
    assert_eq!(seen[1].body, existing);
}

#[tokio::test]
async fn accounts_are_created_as_customers_updated_by_target_id_and_found_by_email_or_padded_code()
{
    let (mock, conn, _) = write_mock().await;
    let mut account = fixture("account.json");
    account.as_object_mut().unwrap().remove("Status");
    let results = conn
        .write(
            "create_account",
            &Value::Null,
            &[
                rec(
                    "inkoop@vandijkhoreca.nl",
                    WriteAction::Create,
                    account.clone(),
                ),
                rec(
                    "other@example.com",
                    WriteAction::Update {
                        target_id: "a1000000-0000-4000-8000-000000000002".into(),
                    },
                    json!({ "Name": "Brasserie Dupont", "Country": "BE" }),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("a1000000-0000-4000-8000-000000000099")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("a1000000-0000-4000-8000-000000000002")
    );
    let seen = mock.seen();
    assert_eq!(seen[0].body["Status"], "C");
    assert_eq!(seen[0].body["VATNumber"], "NL859876543B01");
    assert_eq!(seen[1].method, "PUT");
    for key in ["inkoop@vandijkhoreca.nl", "1004"] {
        let found = conn
            .lookup("create_account", &Value::Null, key)
            .await
            .unwrap();
        assert!(
            matches!(found, Lookup::Found(ref ack) if ack.target_id.as_deref() == Some("a1000000-0000-4000-8000-000000000004")),
            "{key}"
        );
    }
}

#[tokio::test]
async fn unknown_operations_are_config_errors() {
    let (_mock, conn, _) = write_mock().await;
    let err = conn
        .write("send_invoice", &Value::Null, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("create_sales_order")),
        "{err}"
    );
    let err = read_all(conn.as_ref(), "get_orders", Value::Null)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Config(_)));
}

// ---------------------------------------------------------------------------------------------
// Resolving what a shop record names by business key

/// Accounts and items an administration holds, found by `Field eq 'value'` filters.
fn lookup_router() -> Router {
    let find = |rows: Vec<(&'static str, &'static str, &'static str)>| {
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let rows = rows.clone();
                async move {
                    let f = q.get("$filter").cloned().unwrap_or_default();
                    let results: Vec<Value> = rows
                        .iter()
                        .filter(|(field, value, _)| f == format!("{field} eq '{value}'"))
                        .map(|(_, _, id)| json!({ "ID": id }))
                        .collect();
                    axum::Json(json!({ "d": { "results": results } }))
                }
            },
        )
    };
    let accounts = find(vec![
        ("VATNumber", "BE0123456789", "acc-vat"),
        ("Code", "WEB0001", "acc-default"),
        ("Email", "known@example.eu", "acc-known"),
    ])
    .post(|axum::Json(mut body): axum::Json<Value>| async move {
        body["ID"] = json!("acc-new");
        (StatusCode::CREATED, axum::Json(json!({ "d": body })))
    });
    Router::new()
        .route(&route("crm/Accounts"), accounts)
        .route(
            &route("crm/Contacts"),
            axum::routing::post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["ID"] = json!("contact-new");
                (StatusCode::CREATED, axum::Json(json!({ "d": body })))
            }),
        )
        .route(
            &route("logistics/Items"),
            find(vec![("Code", "CONF-FRAISE-370", "item-1")]),
        )
        .route(
            &route("salesorder/SalesOrders"),
            axum::routing::post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["OrderID"] = json!("order-new");
                (StatusCode::CREATED, axum::Json(json!({ "d": body })))
            }),
        )
        .fallback(any(|| async { StatusCode::NO_CONTENT }))
}

#[tokio::test]
async fn sales_orders_find_or_create_their_customer_and_items_by_business_key() {
    let mock = Mock::start(lookup_router(), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    let lines = json!([{ "ItemCode": "CONF-FRAISE-370", "Quantity": 2 }]);
    let customer = |email: &str, vat: &str| {
        json!({ "_match_by": ["Email", "ChamberOfCommerce", "VATNumber"],
                "Account": { "Name": "Brasserie Wout", "Email": email, "VATNumber": vat, "ChamberOfCommerce": "" },
                "Contact": { "FirstName": "Wout", "LastName": "Peeters", "Email": email } })
    };
    let results = conn
        .write(
            "create_sales_order",
            &Value::Null,
            &[
                rec("#1", WriteAction::Create, json!({ "YourRef": "#1", "Customer": customer("new@example.eu", "BE0123456789"), "SalesOrderLines": lines })),
                rec("#2", WriteAction::Create, json!({ "YourRef": "#2", "Customer": customer("other@example.eu", ""), "SalesOrderLines": lines })),
                rec("#3", WriteAction::Create, json!({ "YourRef": "#3", "OrderedByCode": "WEB0001", "Customer": customer("x@y.z", ""), "SalesOrderLines": lines })),
                rec("#4", WriteAction::Create, json!({ "YourRef": "#4", "OrderedByCode": "NOPE", "SalesOrderLines": lines })),
                rec("#5", WriteAction::Create, json!({ "YourRef": "#5", "Customer": customer("known@example.eu", ""), "SalesOrderLines": [{ "ItemCode": "GONE", "Quantity": 1 }] })),
            ],
        )
        .await
        .unwrap();
    let orders: Vec<Value> = mock
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST" && s.path.ends_with("SalesOrders"))
        .map(|s| s.body)
        .collect();
    let expected_lines = json!([{ "Item": "item-1", "Quantity": 2 }]);
    // #1: found by VAT number (the email is unknown); #2: created, with its contact; #3: the
    // default debtor wins over the customer.
    assert_eq!(
        orders,
        [
            json!({ "YourRef": "#1", "OrderedBy": "acc-vat", "SalesOrderLines": expected_lines }),
            json!({ "YourRef": "#2", "OrderedBy": "acc-new", "SalesOrderLines": expected_lines }),
            json!({ "YourRef": "#3", "OrderedBy": "acc-default", "SalesOrderLines": expected_lines }),
        ]
    );
    let contact = mock
        .seen()
        .into_iter()
        .find(|s| s.path.ends_with("crm/Contacts"))
        .unwrap();
    assert_eq!(
        contact.body,
        json!({ "Account": "acc-new", "FirstName": "Wout", "LastName": "Peeters", "Email": "other@example.eu" })
    );
    let err = results[3].as_ref().unwrap_err().to_string();
    assert!(err.contains("the default debtor `NOPE`"), "{err}");
    let err = results[4].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("`SalesOrderLines[0].ItemCode`: no item has code `GONE`"),
        "{err}"
    );
}

#[tokio::test]
async fn an_account_matched_by_email_is_updated_without_its_create_only_fields() {
    let mock = Mock::start(lookup_router(), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    let account = |email: &str| {
        json!({ "Name": "KNOWN", "Email": email, "AddressLine1": "1 rue X",
                "_match_by": ["Email"], "_create_only": ["AddressLine1"] })
    };
    let results = conn
        .write(
            "create_account",
            &Value::Null,
            &[
                rec(
                    "known@example.eu",
                    WriteAction::Create,
                    account("known@example.eu"),
                ),
                rec(
                    "fresh@example.eu",
                    WriteAction::Create,
                    account("fresh@example.eu"),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("acc-known")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("acc-new")
    );
    let writes: Vec<(String, Value)> = mock
        .seen()
        .into_iter()
        .filter(|s| s.method != "GET")
        .map(|s| (s.method, s.body))
        .collect();
    assert_eq!(
        writes,
        [
            (
                "PUT".to_string(),
                json!({ "Name": "KNOWN", "Email": "known@example.eu" })
            ),
            (
                "POST".to_string(),
                json!({ "Name": "KNOWN", "Email": "fresh@example.eu", "AddressLine1": "1 rue X", "Status": "C" })
            ),
        ]
    );
}

#[tokio::test]
async fn skip_existing_acks_an_order_already_in_exact_without_creating_it() {
    let (mock, conn, store) = write_mock().await;
    let results = conn
        .write(
            "create_sales_order",
            &json!({ "skip_existing": true }),
            &[rec(
                "SHOP-1001",
                WriteAction::Create,
                fixture("sales_order.json"),
            )],
        )
        .await
        .unwrap();
    let ack = results[0].as_ref().unwrap();
    assert_eq!(
        ack.target_id.as_deref(),
        Some("5f1c9a6e-0b7d-4b8a-9d2e-1a2b3c4d5e01")
    );
    assert!(ack.body.as_deref().unwrap().contains("already in Exact"));
    assert_eq!(store.created.load(Ordering::SeqCst), 0, "nothing created");
    assert_eq!(mock.seen()[0].query["$filter"], "YourRef eq 'SHOP-1001'");
}

/// Sales invoices (one already there, `SHOP-1002`), items and G/L accounts an administration
/// holds, found by `Field eq 'value'` filters as Exact documents them.
fn invoice_router() -> Router {
    let find = |rows: Vec<(&'static str, &'static str, &'static str, &'static str)>| {
        get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let rows = rows.clone();
                async move {
                    let f = q.get("$filter").cloned().unwrap_or_default();
                    let results: Vec<Value> = rows
                        .iter()
                        .filter(|(field, value, _, _)| f == format!("{field} eq '{value}'"))
                        .map(|(_, _, id_field, id)| json!({ *id_field: id }))
                        .collect();
                    axum::Json(json!({ "d": { "results": results } }))
                }
            },
        )
    };
    Router::new()
        .route(
            &route("salesinvoice/SalesInvoices"),
            find(vec![("YourRef", "SHOP-1002", "InvoiceID", "inv-1002")]).post(
                |axum::Json(mut body): axum::Json<Value>| async move {
                    body["InvoiceID"] = json!("inv-new");
                    (StatusCode::CREATED, axum::Json(json!({ "d": body })))
                },
            ),
        )
        .route(
            &route("logistics/Items"),
            find(vec![("Code", "TABLIER-LIN", "ID", "item-apron")]),
        )
        .route(
            &route("financial/GLAccounts"),
            find(vec![("Code", "7072", "ID", "gl-7072")]),
        )
        // PUT on `SalesInvoices(guid'…')`: Exact answers 204 without a body.
        .fallback(any(|| async { StatusCode::NO_CONTENT }))
}

#[tokio::test]
async fn sales_invoices_get_their_items_and_revenue_accounts_by_code_and_are_not_created_twice() {
    let mock = Mock::start(invoice_router(), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    let invoice = fixture("sales_invoice.json");
    let mut unknown_account = invoice.clone();
    unknown_account["YourRef"] = json!("SHOP-1004");
    unknown_account["SalesInvoiceLines"][0]["GLAccountCode"] = json!("7999");
    let mut no_journal = invoice.clone();
    no_journal["Journal"] = json!("");
    let mut already_there = invoice.clone();
    already_there["YourRef"] = json!("SHOP-1002");
    let results = conn
        .write(
            "create_sales_invoice",
            &json!({ "skip_existing": true }),
            &[
                rec("SHOP-1003", WriteAction::Create, invoice.clone()),
                rec("SHOP-1004", WriteAction::Create, unknown_account),
                rec("SHOP-1005", WriteAction::Create, no_journal),
                rec("SHOP-1002", WriteAction::Create, already_there),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("inv-new")
    );
    let posted: Vec<Value> = mock
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.body)
        .collect();
    let mut expected = invoice;
    let line = expected["SalesInvoiceLines"][0].as_object_mut().unwrap();
    line.remove("ItemCode");
    line.remove("GLAccountCode");
    line.insert("Item".into(), json!("item-apron"));
    line.insert("GLAccount".into(), json!("gl-7072"));
    assert_eq!(posted, [expected], "only the first invoice is created");
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("record `SHOP-1004`")
            && err.contains("`SalesInvoiceLines[0].GLAccountCode`: no G/L account has code `7999`"),
        "{err}"
    );
    let err = results[2].as_ref().unwrap_err().to_string();
    assert!(err.contains("field `Journal`"), "{err}");
    let ack = results[3].as_ref().unwrap();
    assert_eq!(ack.target_id.as_deref(), Some("inv-1002"));
    assert!(ack.body.as_deref().unwrap().contains("already in Exact"));
    // Found again by YourRef after a crash.
    let found = conn
        .lookup("create_sales_invoice", &Value::Null, "SHOP-1002")
        .await
        .unwrap();
    assert!(matches!(found, Lookup::Found(ack) if ack.target_id.as_deref() == Some("inv-1002")));
}

#[tokio::test]
async fn an_invoice_known_to_the_ledger_is_updated_without_its_lines_or_customer() {
    let mock = Mock::start(invoice_router(), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(in_secs(&clock, 3600))), &clock);
    let mut invoice = fixture("sales_invoice.json");
    invoice["Customer"] = json!({ "Account": { "Name": "Brasserie Wout" } });
    let results = conn
        .write(
            "create_sales_invoice",
            &json!({ "skip_existing": true }),
            &[rec(
                "SHOP-1003",
                WriteAction::Update {
                    target_id: "inv-1003".into(),
                },
                invoice,
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("inv-1003")
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 1, "no lookups, one PUT: {seen:?}");
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(
        seen[0].path,
        route("salesinvoice/SalesInvoices(guid'inv-1003')")
    );
    assert_eq!(
        seen[0].body,
        json!({ "Journal": "70", "YourRef": "SHOP-1003", "OrderDate": "2026-01-06",
                "Description": "Webshop order SHOP-1003", "Currency": "EUR",
                "OrderedBy": "a1000000-0000-4000-8000-000000000002" })
    );
}
