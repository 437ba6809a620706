//! Local mocks of Shopify's Admin REST API and Exact Online's REST API for the template tests:
//! they answer in the vendors' documented shapes, keep what was written (so a second run finds
//! what the first created) and record every write, which tests compare with the templates'
//! expected output.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn parts(request: Request) -> (Method, String, Value) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.method, parts.uri.path().to_string(), body)
}

// ---------------------------------------------------------------------------------------------
// Exact Online

/// What the Exact mock holds: rows per entity set (`crm/Accounts`), and every write.
#[derive(Default)]
pub struct Exact {
    pub rows: HashMap<String, Vec<Value>>,
    /// (entity set, body) of every POST, in order.
    pub posted: Vec<(String, Value)>,
    /// (entity set, id, body) of every PUT, in order.
    pub put: Vec<(String, String, Value)>,
    pub next_id: u64,
    /// Refreshes granted so far: like Exact, each one invalidates the refresh token and the
    /// access token before it, so only `refresh-{n}` and `access-{n}` are valid.
    pub refreshes: u64,
    /// `expires_in` of the access tokens it grants, in seconds (Exact: 600).
    pub token_lifetime: u64,
    /// Refresh tokens presented to the token endpoint, in order, refused ones included.
    pub refresh_tokens_seen: Vec<String>,
}

impl Exact {
    /// The bodies POSTed to `entity`.
    pub fn posted_to(&self, entity: &str) -> Vec<Value> {
        self.posted
            .iter()
            .filter(|(e, _)| e == entity)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

pub type SharedExact = Arc<Mutex<Exact>>;

/// Starts the Exact mock (division 123456); returns it and its base URL.
pub async fn exact(rows: HashMap<String, Vec<Value>>) -> (SharedExact, String) {
    let state: SharedExact = Arc::new(Mutex::new(Exact {
        rows,
        token_lifetime: 600,
        ..Exact::default()
    }));
    let app = Router::new()
        .route("/api/oauth2/token", post(exact_token))
        .route("/api/v1/123456/{*rest}", any(exact_api))
        .with_state(state.clone());
    (state.clone(), serve(app).await)
}

/// Exact's token endpoint: a refresh token works once; the answer carries the next one.
async fn exact_token(State(state): State<SharedExact>, body: String) -> Response {
    // The mock's tokens need no URL decoding.
    let presented = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("refresh_token="))
        .unwrap_or_default()
        .to_string();
    let mut exact = state.lock().unwrap();
    exact.refresh_tokens_seen.push(presented.clone());
    if presented != format!("refresh-{}", exact.refreshes) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant", "error_description": "refresh token is invalid or already used" })),
        )
            .into_response();
    }
    exact.refreshes += 1;
    let n = exact.refreshes;
    // Exact sends `expires_in` as a string.
    axum::Json(
        json!({ "access_token": format!("access-{n}"), "token_type": "bearer",
        "expires_in": exact.token_lifetime.to_string(), "refresh_token": format!("refresh-{n}") }),
    )
    .into_response()
}

/// The connection file of an Exact slot for the mock at `url`.
pub fn exact_connection(url: &str) -> Value {
    json!({ "connector": "exact_online", "config": {
        "base_url": url, "division": 123456, "client_id": "client-1", "client_secret": "secret-1",
        "refresh_token": "refresh-0", "access_token": "access-0", "expires_at": 4102444800u64 } })
}

fn id_field(entity: &str) -> &'static str {
    match entity {
        "salesorder/SalesOrders" => "OrderID",
        "salesinvoice/SalesInvoices" => "InvoiceID",
        "salesorder/GoodsDeliveries" => "EntryID",
        _ => "ID",
    }
}

/// Whether `row` passes an OData filter of `and`-joined clauses: `Field eq 'text'`,
/// `Field eq true`, `Modified ge datetime'…'` (compared to the second).
fn passes(row: &Value, filter: &str) -> bool {
    filter.split(" and ").all(|clause| {
        let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
        if let Some((field, value)) = clause.split_once(" ge datetime'") {
            let since = &value.trim_end_matches('\'')[..19.min(value.len())];
            let at = row[field].as_str().unwrap_or("");
            return &at[..19.min(at.len())] >= since;
        }
        let Some((field, value)) = clause.split_once(" eq ") else {
            return true;
        };
        match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(text) => row[field].as_str() == Some(&text.replace("''", "'")),
            None => serde_json::from_str::<Value>(value).ok().as_ref() == Some(&row[field]),
        }
    })
}

/// OData's shape of a record: expanded lines as `{"results": […]}`.
fn odata(row: &Value) -> Value {
    let mut row = row.clone();
    if let Some(map) = row.as_object_mut() {
        for (k, v) in map.iter_mut() {
            if k.ends_with("Lines") && v.is_array() {
                *v = json!({ "results": v.clone() });
            }
        }
    }
    row
}

async fn exact_api(
    State(state): State<SharedExact>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let bearer = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (method, path, body) = parts(request).await;
    let rest = path.trim_start_matches("/api/v1/123456/").to_string();
    let mut exact = state.lock().unwrap();
    if bearer != format!("Bearer access-{}", exact.refreshes) {
        return (
            StatusCode::UNAUTHORIZED,
            "the access token is invalid or expired",
        )
            .into_response();
    }
    // `crm/Accounts(guid'…')`
    let (entity, guid) = match rest.split_once("(guid'") {
        Some((e, g)) => (e.to_string(), Some(g.trim_end_matches("')").to_string())),
        None => (rest.clone(), None),
    };
    let idf = id_field(&entity);
    match (method, guid) {
        (Method::GET, None) => {
            let filter = query.get("$filter").cloned().unwrap_or_default();
            let rows: Vec<Value> = exact
                .rows
                .get(&entity)
                .into_iter()
                .flatten()
                .filter(|r| passes(r, &filter))
                .map(odata)
                .collect();
            axum::Json(json!({ "d": { "results": rows } })).into_response()
        }
        (Method::POST, None) => {
            exact.next_id += 1;
            let id = format!("00000000-0000-4000-8000-{:012}", exact.next_id);
            exact.posted.push((entity.clone(), body.clone()));
            let mut row = body;
            row[idf] = json!(id);
            exact.rows.entry(entity).or_default().push(row.clone());
            (StatusCode::CREATED, axum::Json(json!({ "d": row }))).into_response()
        }
        (Method::PUT, Some(id)) => {
            exact.put.push((entity.clone(), id.clone(), body.clone()));
            if let Some(row) = exact
                .rows
                .get_mut(&entity)
                .and_then(|rows| rows.iter_mut().find(|r| r[idf] == json!(id)))
                && let (Some(row), Some(body)) = (row.as_object_mut(), body.as_object())
            {
                row.extend(body.clone());
            }
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Shopify

/// What the Shopify mock holds, and every write.
#[derive(Default)]
pub struct Shop {
    pub orders: Vec<Value>,
    pub customers: Vec<Value>,
    pub products: Vec<Value>,
    /// Bodies of `POST products.json` and `PUT products/{id}.json`, as (method, body).
    pub product_writes: Vec<(String, Value)>,
    /// Bodies of `POST inventory_levels/set.json`.
    pub inventory_sets: Vec<Value>,
    /// Bodies of `POST fulfillments.json` and `…/update_tracking.json`.
    pub fulfillments: Vec<Value>,
    /// Quantity fulfilled per order line id.
    pub fulfilled: HashMap<u64, i64>,
    pub next_id: u64,
}

pub type SharedShop = Arc<Mutex<Shop>>;

/// Starts the Shopify mock; returns it and its address (the `shop_url`).
pub async fn shopify(shop: Shop) -> (SharedShop, String) {
    let state: SharedShop = Arc::new(Mutex::new(shop));
    let app = Router::new()
        .route("/admin/api/2024-10/{*rest}", any(shopify_api))
        .with_state(state.clone());
    (state.clone(), serve(app).await)
}

/// The connection file of a Shopify slot for the mock at `url`.
pub fn shopify_connection(url: &str) -> Value {
    json!({ "connector": "shopify", "config": { "shop_url": url, "access_token": "shpat_templates" } })
}

fn merge(into: &mut Value, from: &Map<String, Value>) {
    if let Some(map) = into.as_object_mut() {
        for (k, v) in from {
            if k != "variants" {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

async fn shopify_api(
    State(state): State<SharedShop>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (method, path, body) = parts(request).await;
    let rest = path.trim_start_matches("/admin/api/2024-10/").to_string();
    let mut shop = state.lock().unwrap();
    let segments: Vec<&str> = rest.split('/').collect();
    let json_id = |s: &str| s.trim_end_matches(".json").parse::<u64>().ok();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["orders.json"]) => {
            let orders: Vec<Value> = shop
                .orders
                .iter()
                .filter(|o| query.get("name").is_none_or(|n| o["name"] == json!(n)))
                .cloned()
                .collect();
            axum::Json(json!({ "orders": orders })).into_response()
        }
        ("GET", ["orders", id]) => {
            let order = shop.orders.iter().find(|o| o["id"].as_u64() == json_id(id));
            axum::Json(json!({ "order": order })).into_response()
        }
        ("GET", ["orders", id, "fulfillment_orders.json"]) => {
            let Some(order) = shop.orders.iter().find(|o| o["id"].as_u64() == json_id(id)) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let lines: Vec<Value> = order["line_items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let id = l["id"].as_u64().unwrap();
                    let left = l["quantity"].as_i64().unwrap()
                        - shop.fulfilled.get(&id).copied().unwrap_or(0);
                    json!({ "id": id + 1, "line_item_id": id, "quantity": l["quantity"], "fulfillable_quantity": left })
                })
                .collect();
            let open = lines
                .iter()
                .any(|l| l["fulfillable_quantity"].as_i64() > Some(0));
            axum::Json(json!({ "fulfillment_orders": [{
                "id": order["id"].as_u64().unwrap() + 7, "order_id": order["id"],
                "assigned_location_id": 905684977, "status": if open { "open" } else { "closed" },
                "line_items": lines }] }))
            .into_response()
        }
        ("POST", ["fulfillments.json"]) => {
            shop.fulfillments.push(body.clone());
            for group in body["fulfillment"]["line_items_by_fulfillment_order"]
                .as_array()
                .unwrap()
            {
                for line in group["fulfillment_order_line_items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    // Fulfillment-order line ids are the order line's id + 1 here.
                    let id = line["id"].as_u64().unwrap() - 1;
                    *shop.fulfilled.entry(id).or_default() += line["quantity"].as_i64().unwrap();
                }
            }
            shop.next_id += 1;
            let id = 255858000 + shop.next_id;
            (
                StatusCode::CREATED,
                axum::Json(json!({ "fulfillment": { "id": id, "status": "success" } })),
            )
                .into_response()
        }
        ("POST", ["fulfillments", id, "update_tracking.json"]) => {
            shop.fulfillments.push(body.clone());
            axum::Json(json!({ "fulfillment": { "id": id.parse::<u64>().unwrap() } }))
                .into_response()
        }
        ("GET", ["customers.json"]) => {
            axum::Json(json!({ "customers": shop.customers })).into_response()
        }
        ("POST", ["graphql.json"]) => {
            let wanted = body["variables"]["q"].as_str().unwrap_or("").to_string();
            let edges: Vec<Value> = shop
                .products
                .iter()
                .flat_map(|p| {
                    p["variants"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |v| (p["id"].clone(), v))
                })
                .filter(|(_, v)| wanted == format!("sku:\"{}\"", v["sku"].as_str().unwrap_or("")))
                .map(|(pid, v)| {
                    json!({ "node": { "legacyResourceId": v["id"].to_string(), "sku": v["sku"],
                        "product": { "legacyResourceId": pid.to_string() },
                        "inventoryItem": { "legacyResourceId": v["inventory_item_id"].to_string() } } })
                })
                .collect();
            axum::Json(json!({ "data": { "productVariants": { "edges": edges } } })).into_response()
        }
        ("POST", ["products.json"]) => {
            shop.product_writes.push(("POST".into(), body.clone()));
            shop.next_id += 1;
            let n = shop.next_id;
            let mut product = body["product"].clone();
            product["id"] = json!(632910000 + n);
            if let Some(variants) = product["variants"].as_array_mut() {
                for (i, v) in variants.iter_mut().enumerate() {
                    v["id"] = json!(808950000 + n * 10 + i as u64);
                    v["inventory_item_id"] = json!(39072000 + n * 10 + i as u64);
                }
            }
            shop.products.push(product.clone());
            (
                StatusCode::CREATED,
                axum::Json(json!({ "product": product })),
            )
                .into_response()
        }
        (m, ["products", id]) if m == "GET" || m == "PUT" => {
            let id = json_id(id);
            if m == "PUT" {
                shop.product_writes.push(("PUT".into(), body.clone()));
            }
            let Some(product) = shop.products.iter_mut().find(|p| p["id"].as_u64() == id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            if let Some(changes) = body["product"].as_object() {
                merge(product, changes);
            }
            axum::Json(json!({ "product": product })).into_response()
        }
        ("POST", ["inventory_levels", "set.json"]) => {
            shop.inventory_sets.push(body.clone());
            axum::Json(json!({ "inventory_level": body })).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Visma eAccounting

/// What the eAccounting mock holds: rows per list (`customers`, `articles`), and every write
/// as (method, path, body).
#[derive(Default)]
pub struct EAccounting {
    pub rows: HashMap<String, Vec<Value>>,
    pub writes: Vec<(String, String, Value)>,
    pub next_id: u64,
}

pub type SharedEAccounting = Arc<Mutex<EAccounting>>;

/// Starts the eAccounting mock (API under `/v2`); returns it and its base URL.
pub async fn eaccounting(rows: HashMap<String, Vec<Value>>) -> (SharedEAccounting, String) {
    let state: SharedEAccounting = Arc::new(Mutex::new(EAccounting {
        rows,
        ..EAccounting::default()
    }));
    let app = Router::new()
        .route("/v2/{*rest}", any(eaccounting_api))
        .with_state(state.clone());
    (state.clone(), serve(app).await)
}

/// The connection file of an eAccounting slot for the mock at `url`.
pub fn eaccounting_connection(url: &str) -> Value {
    json!({ "connector": "eaccounting", "config": {
        "base_url": format!("{url}/v2"), "token_url": format!("{url}/token"),
        "client_id": "client-1", "client_secret": "secret-1", "refresh_token": "refresh-0",
        "access_token": "access-0", "expires_at": 4102444800u64 } })
}

async fn eaccounting_api(
    State(state): State<SharedEAccounting>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (method, path, body) = parts(request).await;
    let rest = path.trim_start_matches("/v2/").to_string();
    let mut ea = state.lock().unwrap();
    let (list, id) = match rest.split_once('/') {
        Some((l, id)) => (l.to_string(), Some(id.to_string())),
        None => (rest.clone(), None),
    };
    match (method, id) {
        (Method::GET, None) => {
            let page: usize = query.get("$page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let filter = query.get("$filter").cloned().unwrap_or_default();
            let data: Vec<Value> = if page > 1 {
                Vec::new()
            } else {
                ea.rows
                    .get(&list)
                    .into_iter()
                    .flatten()
                    .filter(|r| passes(r, &filter))
                    .cloned()
                    .collect()
            };
            axum::Json(
                json!({ "Meta": { "CurrentPage": page, "TotalNumberOfPages": 1 }, "Data": data }),
            )
            .into_response()
        }
        (Method::POST, None) => {
            ea.next_id += 1;
            let id = format!("0e000000-0000-4000-8000-{:012}", ea.next_id);
            ea.writes.push(("POST".into(), list.clone(), body.clone()));
            let mut row = body;
            row["Id"] = json!(id);
            ea.rows.entry(list).or_default().push(row.clone());
            (StatusCode::CREATED, axum::Json(row)).into_response()
        }
        (Method::PUT, Some(id)) => {
            ea.writes
                .push(("PUT".into(), format!("{list}/{id}"), body.clone()));
            if let Some(row) = ea
                .rows
                .get_mut(&list)
                .and_then(|rows| rows.iter_mut().find(|r| r["Id"] == json!(id)))
                && let (Some(row), Some(body)) = (row.as_object_mut(), body.as_object())
            {
                row.extend(body.clone());
            }
            axum::Json(body).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// WooCommerce

/// What the WooCommerce mock holds, and every write as (method, path, body).
#[derive(Default)]
pub struct Woo {
    pub orders: Vec<Value>,
    pub customers: Vec<Value>,
    pub products: Vec<Value>,
    pub writes: Vec<(String, String, Value)>,
    pub next_id: u64,
}

pub type SharedWoo = Arc<Mutex<Woo>>;

/// Starts the WooCommerce mock; returns it and its address (the `store_url`).
pub async fn woocommerce(woo: Woo) -> (SharedWoo, String) {
    let state: SharedWoo = Arc::new(Mutex::new(woo));
    let app = Router::new()
        .route("/wp-json/wc/v3/{*rest}", any(woocommerce_api))
        .with_state(state.clone());
    (state.clone(), serve(app).await)
}

/// The connection file of a WooCommerce slot for the mock at `url`.
pub fn woocommerce_connection(url: &str) -> Value {
    json!({ "connector": "woocommerce", "config": { "store_url": url, "consumer_key": "ck_templates", "consumer_secret": "cs_templates" } })
}

/// WooCommerce's `PUT <list>/{id}`: the body's fields merged into the object with that id,
/// which is answered.
fn put_into(list: &mut [Value], id: &str, body: &Value) -> Response {
    let id: u64 = id.parse().unwrap_or(0);
    let Some(object) = list.iter_mut().find(|o| o["id"] == json!(id)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let (Some(o), Some(b)) = (object.as_object_mut(), body.as_object()) {
        o.extend(b.clone());
    }
    axum::Json(object.clone()).into_response()
}

async fn woocommerce_api(
    State(state): State<SharedWoo>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let (method, path, body) = parts(request).await;
    let rest = path.trim_start_matches("/wp-json/wc/v3/").to_string();
    let mut woo = state.lock().unwrap();
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let listing = |items: Vec<Value>| {
        let items = if page > 1 { Vec::new() } else { items };
        (
            [("X-WP-TotalPages", "1"), ("X-WP-Total", "1")],
            axum::Json(Value::Array(items)),
        )
            .into_response()
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["customers"]) => listing(woo.customers.clone()),
        ("GET", ["orders"]) => listing(woo.orders.clone()),
        ("GET", ["products"]) => {
            let found = woo
                .products
                .iter()
                .filter(|p| query.get("sku").is_none_or(|s| p["sku"] == json!(s)))
                .cloned()
                .collect();
            listing(found)
        }
        ("POST", ["products"]) => {
            woo.writes.push(("POST".into(), rest.clone(), body.clone()));
            woo.next_id += 1;
            let mut product = body;
            product["id"] = json!(900 + woo.next_id);
            product["parent_id"] = json!(0);
            woo.products.push(product.clone());
            (StatusCode::CREATED, axum::Json(product)).into_response()
        }
        ("PUT", ["products", id]) => {
            woo.writes.push(("PUT".into(), rest.clone(), body.clone()));
            put_into(&mut woo.products, id, &body)
        }
        ("POST", ["orders", _, "notes"]) => {
            woo.writes.push(("POST".into(), rest.clone(), body.clone()));
            woo.next_id += 1;
            let mut note = body;
            note["id"] = json!(2800 + woo.next_id);
            (StatusCode::CREATED, axum::Json(note)).into_response()
        }
        ("PUT", ["orders", id]) => {
            woo.writes.push(("PUT".into(), rest.clone(), body.clone()));
            put_into(&mut woo.orders, id, &body)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
