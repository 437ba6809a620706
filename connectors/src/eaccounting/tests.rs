//! Tests of the `eaccounting` connector over real HTTP against a local axum mock of API v2
//! and Visma Connect's token endpoint (`crate::test_support`), answering with the
//! hand-written fixtures (`fixtures/`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
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

const TOKEN_PATH: &str = "/connect/token";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/src/eaccounting/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn config(mock: &Mock, expires_at: Option<u64>) -> Value {
    let mut config = json!({
        "base_url": format!("{}/v2", mock.base),
        "token_url": format!("{}{TOKEN_PATH}", mock.base),
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

fn later(clock: &ManualWallClock, secs: u64) -> u64 {
    use crate::wall_clock::WallClock;
    clock.unix_now().as_secs() + secs
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

fn company_settings() -> axum::routing::MethodRouter {
    get(|| async { axum::Json(json!({ "Name": "Demo SAS", "CountryCode": "FR" })) })
}

#[test]
fn spec_offers_every_operation_with_schema_and_sample() {
    let spec = EAccounting.spec();
    assert_eq!(spec.kind, "eaccounting");
    let names: Vec<_> = spec.operations.iter().map(|op| op.name).collect();
    assert_eq!(
        names,
        [
            "get_customers",
            "get_articles",
            "get_orders",
            "get_invoice_drafts",
            "get_vat_codes",
            "get_terms_of_payment",
            "upsert_customer",
            "upsert_article",
            "create_order",
            "create_invoice_draft",
        ]
    );
    for op in &spec.operations {
        assert!(op.sample_record.is_object(), "{} sample", op.name);
        assert_eq!(op.params_schema["type"], "object", "{} params", op.name);
    }
}

#[tokio::test]
async fn customers_are_read_across_three_pages_until_total_number_of_pages() {
    let customers = fixture("customers.json")["Data"].clone();
    let router = Router::new().route(
        "/v2/customers",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let all = customers.as_array().unwrap().clone();
            async move {
                let page: usize = q["$page"].parse().unwrap();
                let size: usize = q["$pagesize"].parse().unwrap();
                let data: Vec<Value> = all.iter().skip((page - 1) * size).take(size).cloned().collect();
                axum::Json(json!({
                    "Meta": { "CurrentPage": page, "PageSize": size, "TotalNumberOfPages": all.len().div_ceil(size), "TotalNumberOfResults": all.len() },
                    "Data": data,
                }))
            }
        }),
    );
    let mock = Mock::start(router, TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(later(&clock, 3600))), &clock);
    let incremental = Incremental {
        field: "$.ChangedUtc".into(),
        param: "changed_since".into(),
        overlap_minutes: 0,
        start: None,
    };
    let params = params_with_cursor(
        &json!({ "page_size": 2, "filter": "IsActive eq true" }),
        &incremental,
        Some(&json!("2026-01-01T00:00:00Z")),
    )
    .unwrap();
    let pages = read_all(conn.as_ref(), "get_customers", params)
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.records.len()).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    let countries: Vec<_> = pages
        .iter()
        .flat_map(|p| p.records.iter().map(|r| r["InvoiceCountryCode"].clone()))
        .collect();
    assert_eq!(countries, ["FR", "BE", "DE", "NL", "CH"]);
    let seen = mock.seen();
    assert_eq!(seen.len(), 3, "no request past the last page");
    assert_eq!(
        seen.iter()
            .map(|s| s.query["$page"].clone())
            .collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    for s in &seen {
        assert_eq!(
            s.query["$filter"],
            "ChangedUtc gt 2026-01-01T00:00:00Z and (IsActive eq true)"
        );
        assert_eq!(s.headers["authorization"], "Bearer access-0");
    }
}

#[tokio::test]
async fn reference_lists_are_read_and_refuse_a_change_date() {
    let mut router = Router::new();
    for (path, file) in [
        ("/v2/vatcodes", "vat_codes.json"),
        ("/v2/termsofpayment", "terms_of_payment.json"),
        ("/v2/articles", "articles.json"),
        ("/v2/orders", "orders.json"),
        ("/v2/customerinvoicedrafts", "invoice_drafts.json"),
    ] {
        let body = fixture(file);
        router = router.route(path, get(move || async move { axum::Json(body) }));
    }
    let mock = Mock::start(router, TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(later(&clock, 3600))), &clock);
    let vat = read_all(conn.as_ref(), "get_vat_codes", Value::Null)
        .await
        .unwrap();
    let rates: Vec<_> = vat[0]
        .records
        .iter()
        .map(|r| r["VatRate"].as_f64().unwrap())
        .collect();
    assert_eq!(rates, [0.2, 0.055, 0.21, 0.19, 0.0, 0.0]);
    let terms = read_all(conn.as_ref(), "get_terms_of_payment", Value::Null)
        .await
        .unwrap();
    assert_eq!(terms[0].records[0]["NumberOfDays"], 30);
    let articles = read_all(conn.as_ref(), "get_articles", Value::Null)
        .await
        .unwrap();
    assert_eq!(articles[0].records[0]["Number"], "CONF-FRAISE-370");
    let orders = read_all(
        conn.as_ref(),
        "get_orders",
        json!({ "changed_since": "2026-01-05T11:00:00+01:00" }),
    )
    .await
    .unwrap();
    assert_eq!(orders[0].records[0]["Rows"][1]["VatRate"], 0.055);
    assert_eq!(
        mock.seen()[3].query["$filter"],
        "ModifiedUtc gt 2026-01-05T10:00:00Z"
    );
    let drafts = read_all(conn.as_ref(), "get_invoice_drafts", Value::Null)
        .await
        .unwrap();
    assert_eq!(drafts[0].records[0]["EuThirdParty"], true);
    let err = read_all(
        conn.as_ref(),
        "get_vat_codes",
        json!({ "changed_since": "2026-01-01" }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("changed_since")),
        "{err}"
    );
    let err = read_all(conn.as_ref(), "get_articles", json!({ "page_size": 5000 }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Config(m) if m.contains("page_size")),
        "{err}"
    );
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry_once_for_concurrent_requests_and_on_a_401() {
    let mock = Mock::start(
        Router::new().route("/v2/companysettings", company_settings()),
        TOKEN_PATH,
    )
    .await;
    let clock = Arc::new(ManualWallClock::default());
    // 20 s left: refreshed before the first request, once for eight of them.
    let conn = connect(&config(&mock, Some(later(&clock, 20))), &clock);
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
    assert!(
        mock.seen()
            .iter()
            .all(|s| s.headers["authorization"] == "Bearer access-1")
    );
    // Revoked on Visma's side: the next request gets a 401, refreshes with the rotated
    // refresh token and goes through.
    *mock.tokens.valid.lock().unwrap() = "revoked-by-visma".into();
    clock.advance(Duration::from_secs(10));
    conn.health_check().await.unwrap();
    assert_eq!(mock.tokens.refreshes(), 2);
    assert_eq!(
        *mock.tokens.refresh_tokens.lock().unwrap(),
        ["refresh-0", "refresh-1"]
    );
}

#[tokio::test]
async fn a_refused_refresh_token_is_an_auth_error_that_says_to_reconnect() {
    let mock = Mock::start(
        Router::new().route("/v2/companysettings", company_settings()),
        TOKEN_PATH,
    )
    .await;
    mock.tokens.refuse.store(true, Ordering::SeqCst);
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, None), &clock);
    let err = conn.health_check().await.unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Auth(m) if m.contains("reconnect")),
        "{err}"
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_with_retry_after() {
    let router = Router::new().route(
        "/v2/customers",
        get(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "30")],
                axum::Json(json!({ "ErrorCode": 4290, "ErrorMessage": "Too many requests" })),
            )
        }),
    );
    let mock = Mock::start(router, TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(later(&clock, 3600))), &clock);
    let err = read_all(conn.as_ref(), "get_customers", Value::Null)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::RateLimited { retry_after: Some(wait), .. } if *wait == Duration::from_secs(30)),
        "{err:?}"
    );
}

fn write_router() -> Router {
    Router::new()
        .route(
            "/v2/customers",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let f = q.get("$filter").cloned().unwrap_or_default();
                let found = f == "CustomerNumber eq '1004'"
                    || f == "EmailAddress eq 'inkoop@vandijkhoreca.nl'";
                let data = if found {
                    json!([{ "Id": "0f1e0000-0000-4000-8000-000000000004" }])
                } else {
                    json!([])
                };
                axum::Json(json!({ "Meta": { "TotalNumberOfPages": 1 }, "Data": data }))
            })
            .post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["Id"] = json!("0f1e0000-0000-4000-8000-000000000099");
                (StatusCode::CREATED, axum::Json(body))
            }),
        )
        .route(
            "/v2/customers/{id}",
            put(|axum::Json(body): axum::Json<Value>| async move { axum::Json(body) }),
        )
        .route(
            "/v2/orders",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let found =
                    q.get("$filter").map(String::as_str) == Some("YourReference eq 'SHOP-1001'");
                let data = if found {
                    json!([{ "Id": "0d000000-0000-4000-8000-000000000001" }])
                } else {
                    json!([])
                };
                axum::Json(json!({ "Meta": { "TotalNumberOfPages": 1 }, "Data": data }))
            })
            .post(|axum::Json(mut body): axum::Json<Value>| async move {
                if body["CustomerId"] == "0f1e0000-0000-4000-8000-00000000dead" {
                    return (StatusCode::BAD_REQUEST, axum::Json(fixture("error.json")))
                        .into_response();
                }
                body["Id"] = json!("0d000000-0000-4000-8000-000000000077");
                (StatusCode::CREATED, axum::Json(body)).into_response()
            }),
        )
        .route(
            "/v2/customerinvoicedrafts",
            axum::routing::post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["Id"] = json!("1d000000-0000-4000-8000-000000000055");
                (StatusCode::CREATED, axum::Json(body))
            }),
        )
}

async fn write_mock() -> (Mock, Arc<dyn ConnectorInstance>) {
    let mock = Mock::start(write_router(), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(later(&clock, 3600))), &clock);
    (mock, conn)
}

#[tokio::test]
async fn upsert_customer_updates_the_customer_with_the_same_number_and_creates_others() {
    let (mock, conn) = write_mock().await;
    // Fields listed in `_create_only` are kept out of updates.
    let mut existing = fixture("customer.json");
    existing["_create_only"] = json!(["TermsOfPaymentId"]);
    let mut new = json!({ "CustomerNumber": "1006", "Name": "Épicerie Fine Lyon", "EmailAddress": "achats@epicerie-lyon.fr", "InvoiceCountryCode": "FR", "IsPrivatePerson": false });
    let sent_new = new.clone();
    new["_create_only"] = json!(["IsPrivatePerson"]);
    let results = conn
        .write(
            "upsert_customer",
            &Value::Null,
            &[
                rec("1004", WriteAction::Create, existing),
                rec("1006", WriteAction::Create, new),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("0f1e0000-0000-4000-8000-000000000004")
    );
    assert_eq!(
        results[1].as_ref().unwrap().target_id.as_deref(),
        Some("0f1e0000-0000-4000-8000-000000000099")
    );
    let seen = mock.seen();
    let calls: Vec<_> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /v2/customers",
            "PUT /v2/customers/0f1e0000-0000-4000-8000-000000000004",
            "GET /v2/customers",
            "GET /v2/customers",
            "POST /v2/customers",
        ]
    );
    assert_eq!(seen[1].body["Id"], "0f1e0000-0000-4000-8000-000000000004");
    assert_eq!(seen[1].body["VatNumber"], "NL859876543B01");
    assert_eq!(seen[1].body.get("TermsOfPaymentId"), None);
    assert_eq!(seen[1].body.get("_create_only"), None);
    assert_eq!(
        seen[3].query["$filter"],
        "EmailAddress eq 'achats@epicerie-lyon.fr'"
    );
    assert_eq!(seen[4].body, sent_new);
    for key in ["1004", "inkoop@vandijkhoreca.nl"] {
        let found = conn
            .lookup("upsert_customer", &Value::Null, key)
            .await
            .unwrap();
        assert!(
            matches!(found, Lookup::Found(ref a) if a.target_id.as_deref() == Some("0f1e0000-0000-4000-8000-000000000004")),
            "{key}"
        );
    }
}

#[tokio::test]
async fn orders_and_invoice_drafts_are_created_with_rows_and_errors_keep_eaccountings_text() {
    let (mock, conn) = write_mock().await;
    let mut refused = fixture("order.json");
    refused["CustomerId"] = json!("0f1e0000-0000-4000-8000-00000000dead");
    let mut no_rows = fixture("order.json");
    no_rows["Rows"] = json!([]);
    let results = conn
        .write(
            "create_order",
            &Value::Null,
            &[
                rec("SHOP-1001", WriteAction::Create, fixture("order.json")),
                rec("SHOP-1003", WriteAction::Create, refused),
                rec("SHOP-1004", WriteAction::Create, no_rows),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap().target_id.as_deref(),
        Some("0d000000-0000-4000-8000-000000000077")
    );
    let err = results[1].as_ref().unwrap_err();
    assert!(
        matches!(err, ConnectorError::Permanent { message, status: Some(400), body: Some(_) }
            if message.contains("record `SHOP-1003`") && message.contains("The customer does not exist") && message.contains("4005")),
        "{err:?}"
    );
    let err = results[2].as_ref().unwrap_err();
    assert!(
        err.to_string().contains("SHOP-1004") && err.to_string().contains("Rows"),
        "{err}"
    );
    assert_eq!(mock.seen().len(), 2, "the record without rows was not sent");
    let draft = conn
        .write(
            "create_invoice_draft",
            &Value::Null,
            &[rec(
                "SHOP-1002",
                WriteAction::Create,
                fixture("invoice_draft.json"),
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        draft[0].as_ref().unwrap().target_id.as_deref(),
        Some("1d000000-0000-4000-8000-000000000055")
    );
    assert_eq!(
        mock.seen()[2].body["Rows"][1]["Text"],
        "Intra-community supply: VAT reverse charged, buyer NL859876543B01"
    );
    let found = conn
        .lookup("create_order", &Value::Null, "SHOP-1001")
        .await
        .unwrap();
    assert!(
        matches!(found, Lookup::Found(ref a) if a.target_id.as_deref() == Some("0d000000-0000-4000-8000-000000000001"))
    );
    assert!(matches!(
        conn.lookup("create_order", &Value::Null, "SHOP-9")
            .await
            .unwrap(),
        Lookup::Absent
    ));
}

#[tokio::test]
async fn bad_connection_settings_are_config_errors() {
    for (config, needle) in [
        (
            json!({ "client_id": "a", "client_secret": "b", "refresh_token": "" }),
            "refresh_token",
        ),
        (
            json!({ "base_url": "eaccountingapi.vismaonline.com", "client_id": "a", "client_secret": "b", "refresh_token": "c" }),
            "base_url",
        ),
        (
            json!({ "token_url": "not a url", "client_id": "a", "client_secret": "b", "refresh_token": "c" }),
            "token URL",
        ),
    ] {
        let err = EAccounting.build(&config, &context()).await.err().unwrap();
        assert!(
            matches!(&err, ConnectorError::Config(m) if m.contains(needle)),
            "{config}: {err}"
        );
    }
}

/// Customers and articles a company holds, found by `Field eq 'value'`; created customers get
/// `cust-new`, orders `order-new`.
fn resolving_router() -> Router {
    let find = |rows: Vec<(&'static str, &'static str, &'static str)>| {
        get(move |Query(q): Query<HashMap<String, String>>| {
            let rows = rows.clone();
            async move {
                let f = q.get("$filter").cloned().unwrap_or_default();
                let data: Vec<Value> = rows
                    .iter()
                    .filter(|(field, value, _)| f == format!("{field} eq '{value}'"))
                    .map(|(_, _, id)| json!({ "Id": id }))
                    .collect();
                axum::Json(json!({ "Meta": { "TotalNumberOfPages": 1 }, "Data": data }))
            }
        })
    };
    Router::new()
        .route(
            "/v2/customers",
            find(vec![
                ("CustomerNumber", "9000", "cust-default"),
                ("VatNumber", "BE0123456789", "cust-vat"),
            ])
            .post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["Id"] = json!("cust-new");
                (StatusCode::CREATED, axum::Json(body))
            }),
        )
        .route(
            "/v2/articles",
            find(vec![("Number", "CONF-FRAISE-370", "art-1")]),
        )
        .route(
            "/v2/orders",
            axum::routing::post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["Id"] = json!("order-new");
                (StatusCode::CREATED, axum::Json(body))
            }),
        )
}

#[tokio::test]
async fn orders_find_or_create_their_customer_and_articles_by_number() {
    let mock = Mock::start(resolving_router(), TOKEN_PATH).await;
    let clock = Arc::new(ManualWallClock::default());
    let conn = connect(&config(&mock, Some(later(&clock, 3600))), &clock);
    let rows = json!([{ "ArticleNumber": "CONF-FRAISE-370", "Quantity": 2, "UnitPrice": 4.9 }, { "Text": "Shipping", "Quantity": 1, "UnitPrice": 6 }]);
    let customer = |email: &str, vat: &str| json!({ "_match_by": ["EmailAddress", "VatNumber"], "Name": "Brasserie Wout", "EmailAddress": email, "VatNumber": vat, "IsPrivatePerson": false });
    let results = conn
        .write(
            "create_order",
            &Value::Null,
            &[
                rec("#1", WriteAction::Create, json!({ "YourReference": "#1", "Customer": customer("a@b.be", "BE0123456789"), "Rows": rows })),
                rec("#2", WriteAction::Create, json!({ "YourReference": "#2", "Customer": customer("new@b.be", ""), "Rows": rows })),
                rec("#3", WriteAction::Create, json!({ "YourReference": "#3", "CustomerNumber": "9000", "Rows": rows })),
                rec("#4", WriteAction::Create, json!({ "YourReference": "#4", "CustomerNumber": "404", "Rows": rows })),
                rec("#5", WriteAction::Create, json!({ "YourReference": "#5", "CustomerNumber": "9000", "Rows": [{ "ArticleNumber": "GONE", "Quantity": 1 }] })),
            ],
        )
        .await
        .unwrap();
    let seen = mock.seen();
    let posted = |path: &str| -> Vec<Value> {
        seen.iter()
            .filter(|s| s.method == "POST" && s.path == path)
            .map(|s| s.body.clone())
            .collect()
    };
    let sent_rows = json!([{ "ArticleId": "art-1", "Quantity": 2, "UnitPrice": 4.9 }, { "Text": "Shipping", "Quantity": 1, "UnitPrice": 6 }]);
    assert_eq!(
        posted("/v2/orders"),
        [
            json!({ "YourReference": "#1", "CustomerId": "cust-vat", "Rows": sent_rows }),
            json!({ "YourReference": "#2", "CustomerId": "cust-new", "Rows": sent_rows }),
            json!({ "YourReference": "#3", "CustomerId": "cust-default", "Rows": sent_rows }),
        ]
    );
    assert_eq!(
        posted("/v2/customers"),
        [
            json!({ "Name": "Brasserie Wout", "EmailAddress": "new@b.be", "VatNumber": "", "IsPrivatePerson": false })
        ]
    );
    let err = results[3].as_ref().unwrap_err().to_string();
    assert!(err.contains("the default customer `404`"), "{err}");
    let err = results[4].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("`Rows[0].ArticleNumber`: no article has number `GONE`"),
        "{err}"
    );
}

#[tokio::test]
async fn skip_existing_acks_an_order_already_in_eaccounting_without_creating_it() {
    let (mock, conn) = write_mock().await;
    let results = conn
        .write(
            "create_order",
            &json!({ "skip_existing": true }),
            &[rec("SHOP-1001", WriteAction::Create, fixture("order.json"))],
        )
        .await
        .unwrap();
    let ack = results[0].as_ref().unwrap();
    assert_eq!(
        ack.target_id.as_deref(),
        Some("0d000000-0000-4000-8000-000000000001")
    );
    let seen = mock.seen();
    assert!(seen.iter().all(|s| s.method == "GET"), "nothing created");
    assert_eq!(seen[0].query["$filter"], "YourReference eq 'SHOP-1001'");
}
