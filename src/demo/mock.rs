//! The demo's mock webshop (Shopify Admin REST style orders with `Link` pagination) and mock ERP
//! (sales orders: create, update, and a 422 refusal for an order without an email), on a local
//! port of 127.0.0.1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

/// Orders the demo shop holds.
pub const ORDER_COUNT: usize = 40;
/// The shop's page size.
const PAGE: usize = 15;

const FIRST: [&str; 8] = [
    "Chloé", "Bram", "Lena", "Luca", "Inès", "Jonas", "Marta", "Pieter",
];
const LAST: [&str; 8] = [
    "Dubois", "Peeters", "Müller", "Rossi", "García", "Schmidt", "Nowak", "de Vries",
];
const COUNTRIES: [&str; 6] = ["FR", "BE", "DE", "IT", "ES", "NL"];
const STATUSES: [&str; 5] = ["paid", "paid", "pending", "paid", "refunded"];
const PRODUCTS: [(&str, &str, &str); 4] = [
    ("TSHIRT-ORG-M", "Organic cotton T-shirt", "24.90"),
    ("MUG-CER-01", "Ceramic mug", "12.50"),
    ("SOCK-MER-42", "Merino socks", "15.00"),
    ("TOTE-CNV", "Canvas tote bag", "19.95"),
];

#[derive(Default)]
struct Shop {
    orders: Vec<Value>,
    creates: AtomicUsize,
    updates: AtomicUsize,
}

/// A running mock.
pub struct MockShop {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    shop: Arc<Mutex<Shop>>,
}

impl MockShop {
    /// Changes the total of the first `n` paid orders, as a merchant editing orders would.
    pub fn touch(&self, n: usize) {
        let mut shop = self.shop.lock().unwrap_or_else(|p| p.into_inner());
        let paid = shop
            .orders
            .iter_mut()
            .filter(|o| o["financial_status"] == "paid" && o["email"] != "")
            .take(n);
        for order in paid {
            order["total_price"] = json!("99.00");
            order["updated_at"] = json!("2026-11-22T12:00:00+01:00");
        }
    }

    /// Sales orders the ERP created.
    pub fn creates(&self) -> usize {
        self.shop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .creates
            .load(Ordering::Relaxed)
    }

    /// Sales orders the ERP updated.
    pub fn updates(&self) -> usize {
        self.shop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .updates
            .load(Ordering::Relaxed)
    }
}

/// The demo orders: deterministic, EU customers, with two broken ones (no email; country `XX`).
pub fn orders() -> Vec<Value> {
    (0..ORDER_COUNT)
        .map(|i| {
            let (first, last) = (FIRST[i % 8], LAST[(i * 3) % 8]);
            let email = match i {
                13 => String::new(),
                _ => format!("{}.{}{}@Example.com", first.to_lowercase(), last.replace(' ', "").to_lowercase(), i),
            };
            let country = if i == 26 { "XX" } else { COUNTRIES[i % COUNTRIES.len()] };
            let lines: Vec<Value> = (0..1 + i % 3)
                .map(|j| {
                    let (sku, title, price) = PRODUCTS[(i + j) % PRODUCTS.len()];
                    json!({"id": 90_000 + i * 10 + j, "sku": sku, "title": title, "quantity": 1 + (i + j) % 2, "price": price})
                })
                .collect();
            let total: f64 = lines
                .iter()
                .map(|l| l["price"].as_str().and_then(|p| p.parse::<f64>().ok()).unwrap_or(0.0) * l["quantity"].as_f64().unwrap_or(1.0))
                .sum::<f64>()
                + 4.95;
            json!({
                "id": 5_100_000_000u64 + i as u64,
                "name": format!("#{}", 1001 + i),
                "email": email,
                "created_at": format!("2026-11-{:02}T10:{:02}:00+01:00", 1 + i % 20, i % 60),
                "updated_at": format!("2026-11-{:02}T10:{:02}:00+01:00", 1 + i % 20, i % 60),
                "financial_status": STATUSES[i % STATUSES.len()],
                "currency": "EUR",
                "total_price": format!("{total:.2}"),
                "customer": {"id": 7_000 + i, "first_name": first, "last_name": last, "email": email},
                "billing_address": {"first_name": first, "last_name": last, "address1": format!("{} Rue de la Paix", 1 + i), "city": "Paris", "zip": "75002", "country_code": country},
                "line_items": lines,
                "shipping_lines": [{"title": "Standard", "price": "4.95"}]
            })
        })
        .collect()
}

type Shared = Arc<Mutex<Shop>>;

async fn list_orders(
    State(shop): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let start: usize = q.get("page_info").and_then(|p| p.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(PAGE)
        .clamp(1, 250);
    let orders = shop
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .orders
        .clone();
    let page: Vec<Value> = orders.iter().skip(start).take(limit).cloned().collect();
    let mut response = axum::Json(json!({"orders": page})).into_response();
    if start + limit < orders.len() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let next = format!(
            "<http://{host}/admin/api/2024-10/orders.json?limit={limit}&page_info={}>; rel=\"next\"",
            start + limit
        );
        if let Ok(value) = HeaderValue::from_str(&next) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

fn refuse_without_email(order: &Value) -> Option<Response> {
    let email = order
        .pointer("/customer/email")
        .and_then(Value::as_str)
        .unwrap_or("");
    email.is_empty().then(|| {
        let body = json!({"error": {"code": "missing_email", "message": "A sales order needs the customer's email address."}});
        (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
    })
}

async fn create_order(
    State(shop): State<Shared>,
    axum::Json(order): axum::Json<Value>,
) -> Response {
    if let Some(refusal) = refuse_without_email(&order) {
        return refusal;
    }
    let n = shop
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .creates
        .fetch_add(1, Ordering::Relaxed)
        + 1;
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": format!("SO-{:05}", n), "status": "created"})),
    )
        .into_response()
}

async fn update_order(
    State(shop): State<Shared>,
    Path(id): Path<String>,
    axum::Json(order): axum::Json<Value>,
) -> Response {
    if let Some(refusal) = refuse_without_email(&order) {
        return refusal;
    }
    shop.lock()
        .unwrap_or_else(|p| p.into_inner())
        .updates
        .fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::OK,
        axum::Json(json!({"id": id, "status": "updated"})),
    )
        .into_response()
}

/// Starts the mock on a free port of 127.0.0.1.
pub async fn start() -> anyhow::Result<MockShop> {
    let shop: Shared = Arc::new(Mutex::new(Shop {
        orders: orders(),
        ..Default::default()
    }));
    let app = Router::new()
        .route("/admin/api/2024-10/orders.json", get(list_orders))
        .route("/api/v1/salesorders", post(create_order))
        .route("/api/v1/salesorders/{id}", put(update_order))
        .with_state(shop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "Demo mock server stopped.");
        }
    });
    Ok(MockShop { url, shop })
}
