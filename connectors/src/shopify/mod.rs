//! The `shopify` connector: a store's Admin REST API (`/admin/api/{version}/…`, default
//! `2024-10`), authenticated with a custom app's access token (`X-Shopify-Access-Token`).
//!
//! - Reads (`get_orders`, `get_products`, `get_customers`, `get_inventory_levels`) walk
//!   `Link`-header pages (`page_info`, 250 records a page) with the `http` connector's reader.
//!   `updated_at_min` is where a flow's incremental cursor goes.
//! - Writes (`set_inventory_level`, `create_fulfillment`, `upsert_product`, `upsert_customer`)
//!   send one record at a time and ack with the store's id; `lookup` finds what a crashed send
//!   may have made (product by SKU, customer by email, fulfillments of an order by id or name).
//! - Every request of a connection passes a client-side leaky bucket (module `rate_limit`:
//!   burst 40, 2 requests a second, corrected from `X-Shopify-Shop-Api-Call-Limit`); a 429 is
//!   `RateLimited` with Shopify's `Retry-After`, for the engine to retry.
//! - [`verify_webhook`] checks the `X-Shopify-Hmac-Sha256` header of a webhook delivery.
//!
//! Answers are classified like the `http` connector's: 401/403 `Auth`, 422 `Permanent` with
//! Shopify's error body, 5xx `Transient`.

mod client;
mod config;
mod rate_limit;
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

pub use client::ACCESS_TOKEN_HEADER;
pub use config::{
    CreateFulfillmentParams, DEFAULT_API_VERSION, GetCustomersParams, GetInventoryLevelsParams,
    GetOrdersParams, GetProductsParams, MAX_PAGE_SIZE, OrderStatus, SetInventoryLevelParams,
    ShopifyConfig, UpsertCustomerParams, UpsertProductParams,
};

use crate::http::pagination::HttpReader;
use crate::json_api::JsonApi;
use rate_limit::{Clock, SystemClock};

/// Connector kind, as flows name it.
pub const KIND: &str = "shopify";

/// Header of a webhook delivery carrying its signature.
pub const WEBHOOK_HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// Whether a webhook delivery is genuine: `header_value` (the `X-Shopify-Hmac-Sha256` header)
/// must be the base64 HMAC-SHA256 of the raw request body under the app's client secret
/// (`secret`). Pass the body exactly as received, before any JSON parsing. The comparison is
/// constant-time.
pub fn verify_webhook(secret: &str, raw_body: &[u8], header_value: &str) -> bool {
    crate::webhook::verify_base64_hmac_sha256(secret.as_bytes(), raw_body, header_value)
}

/// The `shopify` connector; register it with `Registry::default().with(Shopify)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shopify;

fn fixture(text: &str, wrapper: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let inner = &value[wrapper];
    match inner {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

#[async_trait]
impl Connector for Shopify {
    fn spec(&self) -> ConnectorSpec {
        let op = |name, direction, summary, params_schema, sample_record| OperationSpec {
            name,
            direction,
            summary,
            params_schema,
            sample_record,
        };
        ConnectorSpec {
            kind: KIND,
            summary: "Shopify store (Admin REST API): orders, products, customers, stock, fulfillments.",
            config_schema: schemars::schema_for!(ShopifyConfig).to_value(),
            credentials: vec!["access_token"],
            operations: vec![
                op(
                    "get_orders",
                    Direction::Read,
                    "Orders, filtered by status, payment state and modification date.",
                    schemars::schema_for!(GetOrdersParams).to_value(),
                    fixture(include_str!("fixtures/orders.json"), "orders"),
                ),
                op(
                    "get_products",
                    Direction::Read,
                    "Products with their variants and images.",
                    schemars::schema_for!(GetProductsParams).to_value(),
                    fixture(include_str!("fixtures/product.json"), "product"),
                ),
                op(
                    "get_customers",
                    Direction::Read,
                    "Customers with their default address.",
                    schemars::schema_for!(GetCustomersParams).to_value(),
                    fixture(include_str!("fixtures/customer.json"), "customer"),
                ),
                op(
                    "get_inventory_levels",
                    Direction::Read,
                    "Available quantities per inventory item and location.",
                    schemars::schema_for!(GetInventoryLevelsParams).to_value(),
                    fixture(
                        include_str!("fixtures/inventory_levels.json"),
                        "inventory_levels",
                    ),
                ),
                op(
                    "set_inventory_level",
                    Direction::Write,
                    "Set the available quantity of an inventory item at a location.",
                    schemars::schema_for!(SetInventoryLevelParams).to_value(),
                    json!({ "inventory_item_id": 808950810, "location_id": 905684977, "available": 6 }),
                ),
                op(
                    "create_fulfillment",
                    Direction::Write,
                    "Fulfill an order's open fulfillment orders with tracking details.",
                    schemars::schema_for!(CreateFulfillmentParams).to_value(),
                    json!({
                        "order_id": 450789469,
                        "tracking_number": "1Z2345",
                        "tracking_company": "UPS",
                        "tracking_url": "https://www.ups.com/track?tracknum=1Z2345",
                        "notify_customer": true,
                        "line_items": [{ "sku": "IPOD2008GREEN", "quantity": 1 }],
                    }),
                ),
                op(
                    "upsert_product",
                    Direction::Write,
                    "Create a product, or update it when it exists (by id or first variant SKU).",
                    schemars::schema_for!(UpsertProductParams).to_value(),
                    fixture(include_str!("fixtures/product.json"), "product"),
                ),
                op(
                    "upsert_customer",
                    Direction::Write,
                    "Create a customer, or update it when it exists (by id or email).",
                    schemars::schema_for!(UpsertCustomerParams).to_value(),
                    fixture(include_str!("fixtures/customer.json"), "customer"),
                ),
            ],
        }
    }

    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        build_with_clock(config, cx, Arc::new(SystemClock::new()))
    }
}

/// Builds a connection whose rate limit reads `clock`.
fn build_with_clock(
    config: &Value,
    cx: &ConnectorContext,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
    let config: ShopifyConfig = crate::parse_config(KIND, config)?;
    let api = client::build(&config, cx.http.clone(), clock)?;
    Ok(Arc::new(ShopifyInstance { api }))
}

/// A `shopify` connection.
#[derive(Debug)]
struct ShopifyInstance {
    api: JsonApi,
}

#[async_trait]
impl ConnectorInstance for ShopifyInstance {
    /// GETs `shop.json`: proves the address, the token and the API version.
    async fn health_check(&self) -> Result<(), ConnectorError> {
        let answer = self.api.get("shop.json", &[]).await?;
        if answer["shop"].is_object() {
            Ok(())
        } else {
            Err(ConnectorError::Permanent {
                message:
                    "GET shop.json answered without a `shop` object; is `shop_url` a Shopify store?"
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
        let params = read::list_request(operation, &request.params)?;
        let reader = HttpReader::new(self.api.client.clone(), params)?;
        Ok(Box::new(reader.with_projection(request.projection)))
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
        "the `shopify` connector has no operation `{operation}`; it offers get_orders, get_products, get_customers, get_inventory_levels, set_inventory_level, create_fulfillment, upsert_product and upsert_customer"
    ))
}
