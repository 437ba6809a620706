//! The demo's mock webshop and mock ERP, one HTTP server on a free port of 127.0.0.1.
//!
//! The shop answers like the Shopify Admin REST API: `GET /admin/api/2024-10/orders.json` with
//! `limit` (at most 250) and `status`, an `X-Shopify-Access-Token` header, and cursor pages
//! linked by `Link: <…page_info=…>; rel="next"` (and `rel="previous"`); a `page_info` request
//! accepts no other filter than `limit`, as on Shopify. `POST /admin/demo/touch?n=3` edits
//! orders as a merchant would, so that the next run has updates.
//!
//! The ERP takes sales orders with a bearer token: `POST /api/v1/salesorders` answers
//! 201 `{"id": "SO-10001"}`, `PUT /api/v1/salesorders/{id}` answers 200, and both refuse an
//! order without a customer email with 422 and an `{"error": {"code", "message"}}` body.
//!
//! It also receives alert webhooks, so "send test alert" has somewhere to go in the demo:
//! `POST /hooks/alerts` (or any path below it) keeps the JSON body and answers 200;
//! `GET /admin/demo/alerts` lists what came, oldest first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::data;

/// The shop's page size when the request gives no `limit`.
const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` Shopify accepts.
const MAX_LIMIT: usize = 250;
/// The orders listing.
pub const ORDERS_PATH: &str = "/admin/api/2024-10/orders.json";
/// Where the mock takes alert webhooks (and any path below it).
pub const ALERTS_PATH: &str = "/hooks/alerts";
/// First sales order number the ERP hands out.
const FIRST_SALES_ORDER: u64 = 10_001;

/// What the shop and the ERP hold.
#[derive(Default)]
struct Backend {
    orders: Vec<Value>,
    touched: Vec<u64>,
    /// Sales orders by id.
    sales_orders: BTreeMap<String, Value>,
    next_sales_order: u64,
    creates: usize,
    updates: usize,
    refusals: usize,
    /// Alert webhook bodies received, with the path they were posted to.
    alerts: Vec<Value>,
}

type Shared = Arc<Mutex<Backend>>;

fn lock(state: &Shared) -> MutexGuard<'_, Backend> {
    // A panicking handler cannot leave the demo data half-written in a way that matters.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running mock; it stops with the process.
pub struct Mock {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The address it listens on; the demo allows exactly this one past the outbound guard.
    pub addr: std::net::SocketAddr,
    state: Shared,
}

/// What the ERP received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErpCounts {
    /// Sales orders created.
    pub creates: usize,
    /// Sales orders updated.
    pub updates: usize,
    /// Requests refused with 422.
    pub refusals: usize,
}

impl Mock {
    /// Edits `n` orders in the shop (see [`data::touch`]); returns what changed.
    pub fn touch(&self, n: usize) -> Vec<String> {
        let mut state = lock(&self.state);
        let Backend {
            orders, touched, ..
        } = &mut *state;
        data::touch(orders, touched, n)
    }

    /// What the ERP received so far.
    pub fn erp_counts(&self) -> ErpCounts {
        let state = lock(&self.state);
        ErpCounts {
            creates: state.creates,
            updates: state.updates,
            refusals: state.refusals,
        }
    }
}

/// Starts the mock on a free port of 127.0.0.1.
pub async fn start() -> anyhow::Result<Mock> {
    let state: Shared = Arc::new(Mutex::new(Backend {
        orders: data::orders(),
        next_sales_order: FIRST_SALES_ORDER,
        ..Default::default()
    }));
    let app = Router::new()
        .route(ORDERS_PATH, get(list_orders))
        .route("/admin/demo/touch", post(touch_orders))
        .route("/api/v1/salesorders", post(create_sales_order))
        .route("/api/v1/salesorders/{id}", put(update_sales_order))
        .route(ALERTS_PATH, post(receive_alert))
        .route(&format!("{ALERTS_PATH}/{{*rest}}"), post(receive_alert))
        .route("/admin/demo/alerts", get(received_alerts))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "The demo's mock server stopped.");
        }
    });
    Ok(Mock { url, addr, state })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Shopify's answer to a missing or wrong access token.
fn shop_unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
    )
}

fn has_shop_token(headers: &HeaderMap) -> bool {
    headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty())
}

/// A `page_info` cursor: opaque to clients, like Shopify's. It holds the last id of the
/// previous page and the direction.
fn page_info(last_id: u64, direction: &str) -> String {
    format!("{direction}:{last_id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_page_info(token: &str) -> Option<(String, u64)> {
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let (direction, id) = text.split_once(':')?;
    Some((direction.to_string(), id.parse().ok()?))
}

async fn list_orders(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !has_shop_token(&headers) {
        return shop_unauthorized();
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(l)) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"errors": {"limit": format!("must be a number between 1 and {MAX_LIMIT}")}}),
            );
        }
    };
    if let Some(status) = q.get("status")
        && !["any", "open", "closed", "cancelled"].contains(&status.as_str())
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"errors": {"status": "must be one of any, open, closed, cancelled"}}),
        );
    }
    let orders = lock(&state).orders.clone();
    // Orders come by ascending id. Every demo order is open, so every status but `closed` and
    // `cancelled` lists them all.
    let (start, end) = match q.get("page_info") {
        None => {
            if matches!(
                q.get("status").map(String::as_str),
                Some("closed" | "cancelled")
            ) {
                (0, 0)
            } else {
                (0, limit.min(orders.len()))
            }
        }
        Some(token) => {
            if let Some(other) = q
                .keys()
                .find(|k| !["page_info", "limit"].contains(&k.as_str()))
            {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"page_info": format!("`{other}` cannot be combined with page_info; only `limit` can")}}),
                );
            }
            let Some((direction, id)) = parse_page_info(token) else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"errors": {"page_info": "Invalid value."}}),
                );
            };
            if direction == "next" {
                let start = orders.partition_point(|o| o["id"].as_u64() <= Some(id));
                (start, (start + limit).min(orders.len()))
            } else {
                let end = orders.partition_point(|o| o["id"].as_u64() < Some(id));
                (end.saturating_sub(limit), end)
            }
        }
    };
    let page = &orders[start..end];
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let link = |direction: &str, id: &Value| {
        format!(
            "<http://{host}{ORDERS_PATH}?limit={limit}&page_info={}>; rel=\"{direction}\"",
            page_info(id.as_u64().unwrap_or(0), direction)
        )
    };
    let mut links = Vec::new();
    if start > 0
        && let Some(first) = page.first()
    {
        links.push(link("previous", &first["id"]));
    }
    if end < orders.len()
        && let Some(last) = page.last()
    {
        links.push(link("next", &last["id"]));
    }
    let mut response = axum::Json(json!({ "orders": page })).into_response();
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

async fn touch_orders(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let n = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(3);
    let mut state = lock(&state);
    let Backend {
        orders, touched, ..
    } = &mut *state;
    let changes = data::touch(orders, touched, n);
    json_response(StatusCode::OK, json!({ "changed": changes }))
}

/// An alert webhook: kept with the path it came to, answered 200.
async fn receive_alert(
    State(state): State<Shared>,
    uri: axum::http::Uri,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut state = lock(&state);
    state.alerts.push(json!({"path": uri.path(), "body": body}));
    json_response(StatusCode::OK, json!({"received": state.alerts.len()}))
}

/// The alert webhooks received so far, oldest first.
async fn received_alerts(State(state): State<Shared>) -> Response {
    json_response(StatusCode::OK, json!({"alerts": lock(&state).alerts}))
}

fn erp_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

/// The ERP's checks: a bearer token, then a sales order with a customer email.
fn erp_refusal(state: &Shared, headers: &HeaderMap, order: &Value) -> Option<Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty());
    if !bearer {
        return Some(erp_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send an API token as `Authorization: Bearer …`.",
        ));
    }
    if !order.is_object() {
        lock(state).refusals += 1;
        return Some(erp_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "A sales order is one JSON object.",
        ));
    }
    let email = order
        .pointer("/customer/email")
        .and_then(Value::as_str)
        .unwrap_or("");
    if email.trim().is_empty() {
        lock(state).refusals += 1;
        let number = order["order_number"].as_str().unwrap_or("?");
        return Some(erp_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_email",
            &format!(
                "Sales order {number}: customer.email is required to create the customer account."
            ),
        ));
    }
    None
}

async fn create_sales_order(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::Json(order): axum::Json<Value>,
) -> Response {
    if let Some(refusal) = erp_refusal(&state, &headers, &order) {
        return refusal;
    }
    let mut state = lock(&state);
    let id = format!("SO-{}", state.next_sales_order);
    state.next_sales_order += 1;
    state.creates += 1;
    state.sales_orders.insert(id.clone(), order);
    json_response(
        StatusCode::CREATED,
        json!({"id": id, "status": "open", "created": true}),
    )
}

async fn update_sales_order(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Json(order): axum::Json<Value>,
) -> Response {
    if let Some(refusal) = erp_refusal(&state, &headers, &order) {
        return refusal;
    }
    // The mock ERP forgets its sales orders when the demo ends, while the store's ledger
    // remembers them: a later demo updates them, so any id the ERP could have made is accepted.
    let known = id
        .strip_prefix("SO-")
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n >= FIRST_SALES_ORDER);
    if !known {
        return erp_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("No sales order {id}."),
        );
    }
    let mut state = lock(&state);
    state.updates += 1;
    state.sales_orders.insert(id.clone(), order);
    json_response(StatusCode::OK, json!({"id": id, "status": "open"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_link(response: &reqwest::Response) -> Option<String> {
        let link = response.headers().get("link")?.to_str().ok()?;
        link.split(", ")
            .find(|l| l.ends_with("rel=\"next\""))
            .and_then(|l| l.strip_prefix('<'))
            .and_then(|l| l.split_once('>'))
            .map(|(url, _)| url.to_string())
    }

    #[tokio::test]
    async fn alert_webhooks_are_kept_and_listed() {
        let mock = start().await.unwrap();
        let http = reqwest::Client::new();
        for path in [ALERTS_PATH, "/hooks/alerts/acme/T0K3N"] {
            let answer = http
                .post(format!("{}{path}", mock.url))
                .json(&json!({"kind": "test"}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
        }
        let listed: Value = http
            .get(format!("{}/admin/demo/alerts", mock.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            listed["alerts"],
            json!([
                {"path": "/hooks/alerts", "body": {"kind": "test"}},
                {"path": "/hooks/alerts/acme/T0K3N", "body": {"kind": "test"}}
            ])
        );
    }

    #[tokio::test]
    async fn orders_come_in_linked_pages_like_shopify() {
        let mock = start().await.unwrap();
        let http = reqwest::Client::new();
        let get = |url: String| http.get(url).header("X-Shopify-Access-Token", "t").send();
        let unauthorized = http
            .get(format!("{}{ORDERS_PATH}", mock.url))
            .send()
            .await
            .unwrap();
        assert_eq!(unauthorized.status(), 401);

        let mut url = Some(format!("{}{ORDERS_PATH}?limit=15&status=any", mock.url));
        let mut ids = Vec::new();
        let mut pages = 0;
        while let Some(u) = url {
            let response = get(u).await.unwrap();
            assert_eq!(response.status(), 200);
            let link = response
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_string());
            if pages > 0 {
                assert!(link.as_deref().unwrap().contains("rel=\"previous\""));
            }
            url = next_link(&response);
            let body: Value = response.json().await.unwrap();
            ids.extend(
                body["orders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["id"].as_u64().unwrap()),
            );
            pages += 1;
        }
        assert_eq!(pages, 3);
        assert_eq!(
            ids,
            (0..data::ORDER_COUNT)
                .map(data::order_id)
                .collect::<Vec<_>>()
        );

        let token = page_info(data::order_id(14), "next");
        let combined = get(format!(
            "{}{ORDERS_PATH}?status=any&page_info={token}",
            mock.url
        ))
        .await
        .unwrap();
        assert_eq!(combined.status(), 400);
        assert_eq!(
            parse_page_info(&token),
            Some(("next".into(), data::order_id(14)))
        );
    }

    #[tokio::test]
    async fn erp_creates_updates_and_refuses_an_order_without_email() {
        let mock = start().await.unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/salesorders", mock.url);
        let order = json!({"order_number": "#1001", "customer": {"email": "a@b.eu"}});
        let created = http
            .post(&url)
            .bearer_auth("t")
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let body: Value = created.json().await.unwrap();
        assert_eq!(body["id"], "SO-10001");
        let updated = http
            .put(format!("{url}/SO-10001"))
            .bearer_auth("t")
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(updated.status(), 200);
        let refused = http
            .post(&url)
            .bearer_auth("t")
            .json(&json!({"order_number": "#1014", "customer": {"email": ""}}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "missing_email");
        let anonymous = http.post(&url).json(&order).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(
            mock.erp_counts(),
            ErpCounts {
                creates: 1,
                updates: 1,
                refusals: 1
            }
        );

        let touched = http
            .post(format!("{}/admin/demo/touch?n=2", mock.url))
            .send()
            .await
            .unwrap();
        let body: Value = touched.json().await.unwrap();
        assert_eq!(body["changed"].as_array().unwrap().len(), 2);
        assert_eq!(mock.touch(1).len(), 1);
    }
}
