//! The `woocommerce` connector: a store's REST API v3 (`/wp-json/wc/v3/…`), authenticated with
//! a consumer key and secret (HTTP Basic over https; query parameters on request or over http).
//!
//! - Reads (`get_orders`, `get_products` with variations, `get_customers`, `get_refunds`) walk
//!   `page`/`per_page` pages with the `http` connector's reader, stopping at
//!   `X-WP-TotalPages`. `modified_after` is where a flow's incremental cursor goes.
//! - Writes (`update_stock`, `add_order_note`, `upsert_product`, `upsert_customer`) send one
//!   record at a time and ack with the store's id; `lookup` finds products by SKU and
//!   customers by email after a crash.
//! - [`verify_webhook`] checks the `X-WC-Webhook-Signature` header of a webhook delivery.
//!
//! Answers are classified like the `http` connector's: 401/403 `Auth` (WooCommerce answers 401
//! `woocommerce_rest_cannot_view` to a wrong key), 400 `Permanent` with WooCommerce's
//! `{"code","message"}` body, 429 `RateLimited` with `Retry-After`, 5xx `Transient`.

mod config;
mod read;
mod write;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, Direction,
    Lookup, OperationSpec, ReadRequest, RecordReader, WriteAck, WriteRecord,
};
use serde_json::{Value, json};

pub use config::{
    AddOrderNoteParams, GetCustomersParams, GetOrdersParams, GetProductsParams, GetRefundsParams,
    MAX_PAGE_SIZE, UpdateStockParams, UpsertCustomerParams, UpsertProductParams, WooCommerceConfig,
};
pub use read::VARIATIONS_FIELD;

use crate::http::client::HttpClient;
use crate::http::{Auth, HttpConfig};
use crate::json_api::JsonApi;

/// Connector kind, as flows name it.
pub const KIND: &str = "woocommerce";

/// Header of a webhook delivery carrying its signature.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";

/// Whether a webhook delivery is genuine: `header_value` (the `X-WC-Webhook-Signature`
/// header) must be the base64 HMAC-SHA256 of the raw request body under the webhook's secret.
/// Pass the body exactly as received. The comparison is constant-time.
pub fn verify_webhook(secret: &str, raw_body: &[u8], header_value: &str) -> bool {
    crate::webhook::verify_base64_hmac_sha256(secret.as_bytes(), raw_body, header_value)
}

/// The `woocommerce` connector; register it with `Registry::default().with(WooCommerce)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WooCommerce;

/// The first element of a documented list response.
fn first(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    value.get(0).cloned().unwrap_or(value)
}

#[async_trait]
impl Connector for WooCommerce {
    fn spec(&self) -> ConnectorSpec {
        let op = |name, direction, summary, params_schema, sample_record| OperationSpec {
            name,
            direction,
            summary,
            params_schema,
            sample_record,
        };
        let mut variable_product = first(include_str!("fixtures/products.json"));
        variable_product[VARIATIONS_FIELD] =
            first(include_str!("fixtures/product_variations.json"))
                .as_object()
                .map(|v| json!([v]))
                .unwrap_or(Value::Null);
        let mut refund = first(include_str!("fixtures/order_refunds.json"));
        refund["order_id"] = json!(723);
        ConnectorSpec {
            kind: KIND,
            summary: "WooCommerce store (REST API v3): orders, products, customers, refunds, stock.",
            config_schema: schemars::schema_for!(WooCommerceConfig).to_value(),
            credentials: vec!["consumer_key", "consumer_secret"],
            operations: vec![
                op(
                    "get_orders",
                    Direction::Read,
                    "Orders, filtered by status and modification date.",
                    schemars::schema_for!(GetOrdersParams).to_value(),
                    first(include_str!("fixtures/orders.json")),
                ),
                op(
                    "get_products",
                    Direction::Read,
                    "Products; variable products with their variations.",
                    schemars::schema_for!(GetProductsParams).to_value(),
                    variable_product,
                ),
                op(
                    "get_customers",
                    Direction::Read,
                    "Customers with billing and shipping addresses.",
                    schemars::schema_for!(GetCustomersParams).to_value(),
                    first(include_str!("fixtures/customers.json")),
                ),
                op(
                    "get_refunds",
                    Direction::Read,
                    "Refunds of one order, or of every order changed since a date.",
                    schemars::schema_for!(GetRefundsParams).to_value(),
                    refund,
                ),
                op(
                    "update_stock",
                    Direction::Write,
                    "Set the stock quantity of a product or variation (by id or SKU).",
                    schemars::schema_for!(UpdateStockParams).to_value(),
                    json!({ "product_id": 799, "variation_id": 732, "sku": "SYI-BLACK", "stock_quantity": 12 }),
                ),
                op(
                    "add_order_note",
                    Direction::Write,
                    "Add a note to an order, e.g. the shipment's tracking number.",
                    schemars::schema_for!(AddOrderNoteParams).to_value(),
                    json!({
                        "order_id": 723,
                        "tracking_number": "1Z2345",
                        "tracking_company": "UPS",
                        "tracking_url": "https://www.ups.com/track?tracknum=1Z2345",
                        "customer_note": true,
                    }),
                ),
                op(
                    "upsert_product",
                    Direction::Write,
                    "Create a product, or update it when it exists (by id or SKU).",
                    schemars::schema_for!(UpsertProductParams).to_value(),
                    serde_json::from_str(include_str!("fixtures/product.json"))
                        .unwrap_or(Value::Null),
                ),
                op(
                    "upsert_customer",
                    Direction::Write,
                    "Create a customer, or update it when it exists (by id or email).",
                    schemars::schema_for!(UpsertCustomerParams).to_value(),
                    serde_json::from_str(include_str!("fixtures/customer.json"))
                        .unwrap_or(Value::Null),
                ),
            ],
        }
    }

    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        let config: WooCommerceConfig = crate::parse_config(KIND, config)?;
        let api = build_client(&config, cx.http.clone())?;
        Ok(Arc::new(WooCommerceInstance { api }))
    }
}

/// The store's API root with its credentials. No I/O.
fn build_client(
    config: &WooCommerceConfig,
    http: reqwest::Client,
) -> Result<JsonApi, ConnectorError> {
    let store = config.store_url.trim().trim_end_matches('/');
    if !(store.starts_with("https://") || store.starts_with("http://")) {
        return Err(ConnectorError::Config(format!(
            "`store_url` {:?} must start with https:// (or http:// for a local test store)",
            config.store_url
        )));
    }
    let (key, secret) = (config.consumer_key.trim(), config.consumer_secret.trim());
    if key.is_empty() || secret.is_empty() {
        return Err(ConnectorError::Config(
            "`consumer_key` and `consumer_secret` are required; create a key under WooCommerce → Settings → Advanced → REST API".into(),
        ));
    }
    let in_query = credentials_in_query(config);
    let http_config = HttpConfig {
        base_url: format!("{store}/wp-json/wc/v3"),
        headers: Default::default(),
        auth: if in_query {
            Auth::None
        } else {
            Auth::Basic {
                username: key.into(),
                password: secret.into(),
            }
        },
        timeout_ms: config.timeout_ms,
        health_path: None,
    };
    let mut client = HttpClient::new(&http_config, http)?;
    if in_query {
        client = client.with_query_credentials(vec![
            ("consumer_key".into(), key.into()),
            ("consumer_secret".into(), secret.into()),
        ]);
    }
    Ok(JsonApi {
        client: Arc::new(client),
    })
}

/// Whether the key pair goes in the query string: when asked, and always over plain http (HTTP
/// Basic would need https; WooCommerce itself then wants OAuth 1.0a, which test stores skip).
fn credentials_in_query(config: &WooCommerceConfig) -> bool {
    config.query_string_auth || config.store_url.trim().starts_with("http://")
}

/// A `woocommerce` connection.
#[derive(Debug)]
struct WooCommerceInstance {
    api: JsonApi,
}

#[async_trait]
impl ConnectorInstance for WooCommerceInstance {
    /// GETs one order: proves the address, the key and its read permission.
    async fn health_check(&self) -> Result<(), ConnectorError> {
        let answer = self.api.get("orders", &[("per_page", "1".into())]).await?;
        if answer.is_array() {
            Ok(())
        } else {
            Err(ConnectorError::Permanent {
                message: "GET orders answered without a list; is `store_url` a WooCommerce store?"
                    .into(),
                status: None,
                body: Some(crate::http::status::excerpt(answer.to_string().as_bytes())),
            })
        }
    }

    async fn read(
        &self,
        operation: &str,
        request: ReadRequest,
    ) -> Result<Box<dyn RecordReader>, ConnectorError> {
        read::open(&self.api, operation, &request.params)
    }

    async fn write(
        &self,
        operation: &str,
        params: &Value,
        records: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        write::write(&self.api, operation, params, records).await
    }

    async fn lookup(
        &self,
        operation: &str,
        params: &Value,
        key: &str,
    ) -> Result<Lookup, ConnectorError> {
        write::lookup(&self.api, operation, params, key).await
    }
}

fn unknown_operation(operation: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "the `woocommerce` connector has no operation `{operation}`; it offers get_orders, get_products, get_customers, get_refunds, update_stock, add_order_note, upsert_product and upsert_customer"
    ))
}
