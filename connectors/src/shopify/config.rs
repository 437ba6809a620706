//! The `shopify` connection config and operation parameters, as users write them in a flow.
//!
//! The doc comments here are the UI help text (they end up in the JSON schema).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Admin REST API version used when the connection does not name one.
pub const DEFAULT_API_VERSION: &str = "2024-10";

/// Largest page Shopify serves (`limit`).
pub const MAX_PAGE_SIZE: u32 = 250;

/// A Shopify store reached through the Admin REST API with a custom-app access token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    /// The store's address: `my-store.myshopify.com`, `https://my-store.myshopify.com`, or
    /// just `my-store`. Requests go to `<shop_url>/admin/api/<api_version>/…`.
    pub shop_url: String,
    /// Admin API access token of a custom app (`shpat_…`), sent as `X-Shopify-Access-Token`.
    /// The app needs the read/write scopes of the operations used (orders, products,
    /// customers, inventory, fulfillments).
    pub access_token: String,
    /// Admin REST API version, e.g. `2024-10`. Shopify supports each version for a year.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// How long one request may take, in milliseconds, before it is abandoned and retried later.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.into()
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl ShopifyConfig {
    /// A config to start from.
    pub fn example() -> Self {
        ShopifyConfig {
            shop_url: "https://my-store.myshopify.com".into(),
            access_token: "shpat_example".into(),
            api_version: default_api_version(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// The token stays out of logs and error messages.
impl fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("shop_url", &self.shop_url)
            .field("access_token", &"***")
            .field("api_version", &self.api_version)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

fn default_limit() -> u32 {
    MAX_PAGE_SIZE
}

/// Which orders `get_orders` lists, by their open/closed state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Every order, open, closed or cancelled (the default here; Shopify's own default is `open`).
    #[default]
    Any,
    /// Open orders only.
    Open,
    /// Closed orders only.
    Closed,
    /// Cancelled orders only.
    Cancelled,
}

impl OrderStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Any => "any",
            OrderStatus::Open => "open",
            OrderStatus::Closed => "closed",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// Parameters of `get_orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetOrdersParams {
    /// `any` (default), `open`, `closed` or `cancelled`.
    #[serde(default)]
    pub status: OrderStatus,
    /// Payment state filter: `paid`, `pending`, `authorized`, `partially_paid`, `refunded`,
    /// `voided`, `partially_refunded`, `unpaid` or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financial_status: Option<String>,
    /// Shipping state filter: `shipped`, `partial`, `unshipped`, `unfulfilled` or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_status: Option<String>,
    /// Only orders modified at or after this time (ISO 8601). Point the flow's
    /// `incremental.param` here (`"param": "updated_at_min"`) for incremental reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_min: Option<String>,
    /// Only orders created at or after this time (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at_min: Option<String>,
    /// Sort order of the listing. Default: `updated_at asc` when `updated_at_min` is set, so an
    /// incremental run that stops halfway has read the oldest changes first and resumes
    /// without skipping any. Set `""` to leave Shopify's default order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Records per page, 1 to 250.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// Parameters of `get_products`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetProductsParams {
    /// Product status filter: `active`, `archived` or `draft`. Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only products modified at or after this time (ISO 8601); the incremental cursor's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_min: Option<String>,
    /// Sort order of the listing. Default: `updated_at asc` when `updated_at_min` is set, so an
    /// incremental run that stops halfway has read the oldest changes first and resumes
    /// without skipping any. Set `""` to leave Shopify's default order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Records per page, 1 to 250.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// Parameters of `get_customers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCustomersParams {
    /// Only customers modified at or after this time (ISO 8601); the incremental cursor's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_min: Option<String>,
    /// Sort order of the listing. Default: `updated_at asc` when `updated_at_min` is set, so an
    /// incremental run that stops halfway has read the oldest changes first and resumes
    /// without skipping any. Set `""` to leave Shopify's default order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Records per page, 1 to 250.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// Parameters of `get_inventory_levels`. Shopify requires at least one location or item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInventoryLevelsParams {
    /// Locations to read (ids, up to 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_ids: Vec<u64>,
    /// Inventory items to read (ids, up to 50). A variant's `inventory_item_id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory_item_ids: Vec<u64>,
    /// Only levels changed at or after this time (ISO 8601); the incremental cursor's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_min: Option<String>,
    /// Records per page, 1 to 250.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// Parameters of `set_inventory_level`. Each record carries `inventory_item_id`, `available`
/// and, unless set here, `location_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetInventoryLevelParams {
    /// Location used for records that carry no `location_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<u64>,
}

/// Parameters of `create_fulfillment`. Each record carries `order_id` and optionally
/// `tracking_number`, `tracking_company`, `tracking_url`, `notify_customer` and `line_items`
/// (`[{"sku" or "line_item_id", "quantity"}]` for a partial shipment); without `line_items`,
/// every open fulfillment order of the order is fulfilled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFulfillmentParams {
    /// Whether Shopify emails the customer the shipping confirmation, when a record does not
    /// say (`notify_customer`).
    #[serde(default)]
    pub notify_customer: bool,
    /// Only fulfill fulfillment orders assigned to this location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<u64>,
}

/// Parameters of `upsert_product`. Each record is a Shopify product (`title`, `variants`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertProductParams {
    /// When a record has no `id` and Ferry has no target id for it, look for an existing
    /// product by the SKU of its first variant before creating one (default true).
    #[serde(default = "yes")]
    pub match_by_sku: bool,
}

impl Default for UpsertProductParams {
    fn default() -> Self {
        UpsertProductParams { match_by_sku: true }
    }
}

/// Parameters of `upsert_customer`. Each record is a Shopify customer (`email`, `first_name`, …).
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

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn example_config_round_trips_and_hides_the_token() {
        let example = ShopifyConfig::example();
        let value = serde_json::to_value(&example).unwrap();
        assert_eq!(
            serde_json::from_value::<ShopifyConfig>(value).unwrap(),
            example
        );
        assert!(!format!("{example:?}").contains("shpat_example"));
        let defaults: ShopifyConfig =
            serde_json::from_value(json!({ "shop_url": "a", "access_token": "t" })).unwrap();
        assert_eq!(defaults.api_version, DEFAULT_API_VERSION);
    }

    #[test]
    fn order_params_default_to_every_order_in_full_pages() {
        let p: GetOrdersParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(p.status, OrderStatus::Any);
        assert_eq!(p.limit, 250);
        let err = serde_json::from_value::<GetOrdersParams>(json!({ "status": "done" }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant"), "{err}");
    }
}
