//! End to end: the `ferry` binary runs the shipped Shopify and WooCommerce example flows over
//! real HTTP against local mock stores, on a temporary SQLite file. Checks that the incremental
//! cursor of one run reaches Shopify's `updated_at_min` in the next, and that an ERP stock file
//! reaches WooCommerce by SKU.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::routing::{get, put};
use serde_json::{Value, json};

fn ferry(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let db = format!("sqlite://{}", dir.join("ferry.db").display());
    let out = support::ferry_command()
        .args(args)
        .env("FERRY_DATABASE_URL", db)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn ferry_async(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ferry(&dir, &args, &env)
    })
    .await
    .unwrap()
}

fn example(name: &str) -> String {
    let path = format!("{}/flows/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

// ---------------------------------------------------------------------------------------------
// Shopify: incremental orders

#[derive(Default)]
struct Shop {
    orders: Vec<Value>,
    /// The query of every orders.json request.
    queries: Vec<HashMap<String, String>>,
}

type SharedShop = Arc<Mutex<Shop>>;

fn shop_order(i: u64, updated_at: &str) -> Value {
    json!({
        "id": 450789469 + i, "name": format!("#{}", 1000 + i), "email": format!("Buyer{i}@Example.com"),
        "financial_status": "paid", "currency": "EUR", "total_price": format!("{}.00", 10 * i),
        "updated_at": updated_at, "line_items": [{"sku": format!("SKU-{i}"), "quantity": 1}]
    })
}

/// `orders.json` with `updated_at_min` applied, in pages of `limit` linked by `page_info`.
async fn shop_orders(
    State(shop): State<SharedShop>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut shop = shop.lock().unwrap();
    shop.queries.push(q.clone());
    let limit: usize = q["limit"].parse().unwrap();
    let offset: usize = q.get("page_info").map(|p| p.parse().unwrap()).unwrap_or(0);
    let min = q.get("updated_at_min").cloned().unwrap_or_default();
    let matching: Vec<Value> = shop
        .orders
        .iter()
        .filter(|o| o["updated_at"].as_str().unwrap() >= min.as_str())
        .cloned()
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    let mut response = axum::Json(json!({ "orders": page })).into_response();
    if offset + limit < matching.len() {
        let host = headers["host"].to_str().unwrap();
        let link = format!(
            "<http://{host}/admin/api/2024-10/orders.json?limit={limit}&page_info={}>; rel=\"next\"",
            offset + limit
        );
        response.headers_mut().insert("link", link.parse().unwrap());
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_example_reads_only_orders_changed_since_the_last_run() {
    let shop: SharedShop = Arc::default();
    shop.lock().unwrap().orders = (1..=5)
        .map(|i| shop_order(i, &format!("2026-03-0{i}T10:00:00Z")))
        .collect();
    let url = serve(
        Router::new()
            .route("/admin/api/2024-10/orders.json", get(shop_orders))
            .with_state(shop.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // Two orders a page, so the first run follows Link headers.
    let flow_text = example("shopify-paid-orders-to-ndjson.json").replace(
        r#""params": {"financial_status": "paid"}"#,
        r#""params": {"financial_status": "paid", "limit": 2}"#,
    );
    let flow = dir.path().join("flow.json");
    std::fs::write(&flow, flow_text).unwrap();
    let env = [
        ("SHOPIFY_SHOP", url.as_str()),
        ("SHOPIFY_TOKEN", "shpat_e2e"),
    ];
    let flow_arg = flow.to_str().unwrap();

    let (code, out) = ferry_async(dir.path(), &["run", flow_arg], &env).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("read 5 · created 5"), "{out}");
    {
        let shop = shop.lock().unwrap();
        assert_eq!(shop.queries.len(), 3, "three pages of two");
        assert!(
            !shop.queries[0].contains_key("updated_at_min"),
            "first run reads everything"
        );
        assert_eq!(shop.queries[0]["financial_status"], "paid");
    }

    // A new order and a change to #1005 arrive; the second run asks only for recent changes.
    {
        let mut shop = shop.lock().unwrap();
        shop.queries.clear();
        shop.orders.push(shop_order(6, "2026-03-06T09:00:00Z"));
    }
    let (code, out) = ferry_async(dir.path(), &["run", flow_arg], &env).await;
    assert_eq!(code, 0, "{out}");
    {
        let shop = shop.lock().unwrap();
        // The cursor (the latest updated_at, #1005's) minus the flow's 5 minutes of overlap.
        assert_eq!(shop.queries[0]["updated_at_min"], "2026-03-05T09:55:00Z");
        assert_eq!(shop.queries[0]["order"], "updated_at asc");
    }
    // #1005 is read again (overlap) and skipped by the ledger; #1006 is new.
    assert!(out.contains("read 2 · created 1"), "{out}");
    let lines = std::fs::read_to_string(dir.path().join("out/shopify-orders.ndjson")).unwrap();
    let references: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["reference"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        references,
        ["#1001", "#1002", "#1003", "#1004", "#1005", "#1006"]
    );
}

// ---------------------------------------------------------------------------------------------
// WooCommerce: stock by SKU

#[derive(Default)]
struct Store {
    /// (path, body) of every stock update.
    puts: Vec<(String, Value)>,
}

type SharedStore = Arc<Mutex<Store>>;

async fn products_by_sku(Query(q): Query<HashMap<String, String>>) -> axum::Json<Value> {
    assert_eq!(q["consumer_key"], "ck_e2e");
    let found = match q["sku"].as_str() {
        "SYI-BLACK" => {
            json!([{ "id": 732, "parent_id": 799, "type": "variation", "sku": "SYI-BLACK" }])
        }
        "SYI-GREEN" => {
            json!([{ "id": 733, "parent_id": 799, "type": "variation", "sku": "SYI-GREEN" }])
        }
        _ => json!([]),
    };
    axum::Json(found)
}

async fn put_variation(
    State(store): State<SharedStore>,
    UrlPath((product, variation)): UrlPath<(u64, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    store.lock().unwrap().puts.push((
        format!("products/{product}/variations/{variation}"),
        body.clone(),
    ));
    axum::Json(json!({ "id": variation, "stock_quantity": body["stock_quantity"] }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_example_sets_stock_of_variations_found_by_sku() {
    let store: SharedStore = Arc::default();
    let url = serve(
        Router::new()
            .route("/wp-json/wc/v3/products", get(products_by_sku))
            .route(
                "/wp-json/wc/v3/products/{product}/variations/{variation}",
                put(put_variation),
            )
            .with_state(store.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/stock.csv"),
        "sku;quantity\nSYI-BLACK;12\nSYI-GREEN;3\nPREMIUM-TEE;\nUNKNOWN-SKU;4\n",
    )
    .unwrap();
    let flow = dir.path().join("flow.json");
    std::fs::write(&flow, example("woocommerce-stock-from-csv.json")).unwrap();
    let env = [
        ("WC_STORE_URL", url.as_str()),
        ("WC_KEY", "ck_e2e"),
        ("WC_SECRET", "cs_e2e"),
    ];
    let (code, out) = ferry_async(dir.path(), &["run", flow.to_str().unwrap()], &env).await;
    assert_eq!(code, 1, "the unknown SKU fails:\n{out}");
    assert!(out.contains("read 4 · created 2"), "{out}");
    assert!(out.contains("filtered 1 · failed 1"), "{out}");
    let puts = store.lock().unwrap().puts.clone();
    assert_eq!(
        puts,
        [
            (
                "products/799/variations/732".to_string(),
                json!({ "manage_stock": true, "stock_quantity": 12 })
            ),
            (
                "products/799/variations/733".to_string(),
                json!({ "manage_stock": true, "stock_quantity": 3 })
            ),
        ]
    );
    let (_, shown) = ferry_async(
        dir.path(),
        &["runs", "show", "1", "--outcome", "failed"],
        &env,
    )
    .await;
    assert!(
        shown.contains("UNKNOWN-SKU") && shown.contains("no product or variation has SKU"),
        "{shown}"
    );
}
