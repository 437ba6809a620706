//! The `woocommerce` connection config and operation parameters, as users write them in a flow.
//!
//! The doc comments here are the UI help text (they end up in the JSON schema).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest page WooCommerce serves (`per_page`).
pub const MAX_PAGE_SIZE: u32 = 100;

/// A WooCommerce store reached through its REST API v3 (`/wp-json/wc/v3`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WooCommerceConfig {
    /// The store's address, e.g. `https://shop.example.com` (WordPress installed in a folder:
    /// `https://example.com/shop`). Requests go to `<store_url>/wp-json/wc/v3/…`.
    pub store_url: String,
    /// REST API consumer key (`ck_…`), from WooCommerce → Settings → Advanced → REST API.
    pub consumer_key: String,
    /// REST API consumer secret (`cs_…`).
    pub consumer_secret: String,
    /// Send the key and secret as `consumer_key`/`consumer_secret` query parameters instead of
    /// HTTP Basic authentication. Needed on servers that drop the `Authorization` header; always
    /// used for `http://` addresses (local test stores).
    #[serde(default)]
    pub query_string_auth: bool,
    /// How long one request may take, in milliseconds, before it is abandoned and retried later.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl WooCommerceConfig {
    /// A config to start from.
    pub fn example() -> Self {
        WooCommerceConfig {
            store_url: "https://shop.example.com".into(),
            consumer_key: "ck_example".into(),
            consumer_secret: "cs_example".into(),
            query_string_auth: false,
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// The secret stays out of logs and error messages.
impl fmt::Debug for WooCommerceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooCommerceConfig")
            .field("store_url", &self.store_url)
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"***")
            .field("query_string_auth", &self.query_string_auth)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

fn default_per_page() -> u32 {
    MAX_PAGE_SIZE
}

fn yes() -> bool {
    true
}

/// Parameters of `get_orders`. Orders come oldest change first, so an incremental run that
/// stops halfway resumes without skipping any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetOrdersParams {
    /// Order statuses to read, e.g. `["processing", "completed"]`. Empty: every status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    /// Only orders modified after this time (ISO 8601, UTC unless it has an offset). Point the
    /// flow's `incremental.param` here (`"param": "modified_after"`, `"field":
    /// "$.date_modified_gmt"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_after: Option<String>,
    /// Only orders created after this time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Records per page, 1 to 100.
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

/// Parameters of `get_products`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetProductsParams {
    /// Product status: `publish`, `draft`, `pending`, `private`. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Product type: `simple`, `variable`, `grouped`, `external`. Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Only the product with this SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Only products modified after this time (ISO 8601); the incremental cursor's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_after: Option<String>,
    /// Read the variations of variable products too, into each product's
    /// `variation_details` (one extra request per variable product). Default true.
    #[serde(default = "yes")]
    pub include_variations: bool,
    /// Records per page, 1 to 100.
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

/// Parameters of `get_customers`. WooCommerce cannot filter customers by modification date;
/// they come in id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCustomersParams {
    /// Role filter: `all` (default), `customer`, `subscriber`, `administrator`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Only the customer with this email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Records per page, 1 to 100.
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

/// Parameters of `get_refunds`: the refunds of one order, or of every order (changed after
/// `modified_after`) that has any. Each refund gets an `order_id` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRefundsParams {
    /// Read only this order's refunds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<u64>,
    /// Only refunds of orders modified after this time (ISO 8601); the incremental cursor's
    /// place (a refund modifies its order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_after: Option<String>,
    /// Records per page, 1 to 100.
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

/// Parameters of `update_stock`. Each record carries `stock_quantity` and either
/// `product_id` (plus `variation_id` for a variation) or `sku`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStockParams {}

/// Parameters of `add_order_note`. Each record carries `order_id` and either `note` or
/// shipment details (`tracking_number`, `tracking_company`, `tracking_url`) that are written
/// as the note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOrderNoteParams {
    /// Show the note to the customer (WooCommerce emails it), when a record does not say
    /// (`customer_note`).
    #[serde(default)]
    pub customer_note: bool,
    /// Also set the order's status to `completed` after adding the note (for shipments).
    #[serde(default)]
    pub complete_order: bool,
}

/// Parameters of `upsert_product`. Each record is a WooCommerce product (`name`, `sku`,
/// `regular_price`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertProductParams {
    /// When a record has no `id` and Ferry has no target id for it, look for an existing
    /// product by `sku` before creating one (default true).
    #[serde(default = "yes")]
    pub match_by_sku: bool,
}

impl Default for UpsertProductParams {
    fn default() -> Self {
        UpsertProductParams { match_by_sku: true }
    }
}

/// Parameters of `upsert_customer`. Each record is a WooCommerce customer (`email`,
/// `first_name`, `billing`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertCustomerParams {
    /// When a record has no `id` and Ferry has no target id for it, look for an existing
    /// customer by `email` before creating one (default true).
    #[serde(default = "yes")]
    pub match_by_email: bool,
}

impl Default for UpsertCustomerParams {
    fn default() -> Self {
        UpsertCustomerParams {
            match_by_email: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn example_config_round_trips_and_hides_the_secret() {
        let example = WooCommerceConfig::example();
        let value = serde_json::to_value(&example).unwrap();
        assert_eq!(
            serde_json::from_value::<WooCommerceConfig>(value).unwrap(),
            example
        );
        let shown = format!("{example:?}");
        assert!(!shown.contains("cs_example") && shown.contains("ck_example"));
    }

    #[test]
    fn product_params_read_variations_in_full_pages_by_default() {
        let p: GetProductsParams = serde_json::from_value(json!({ "type": "variable" })).unwrap();
        assert!(p.include_variations);
        assert_eq!(p.per_page, 100);
        assert_eq!(p.r#type.as_deref(), Some("variable"));
    }
}
