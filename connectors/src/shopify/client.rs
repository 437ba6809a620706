//! The Shopify client: the store's versioned Admin API root, the access token header and the
//! per-connection leaky bucket, over the `http` connector's client; plus the one GraphQL query
//! the REST API lacks (a variant by SKU).

use std::sync::Arc;

use ferry_engine::connector::ConnectorError;
use reqwest::Method;
use serde_json::{Value, json};

use super::config::ShopifyConfig;
use super::rate_limit::{Clock, DEFAULT_BURST, LeakyBucket};
use crate::http::client::HttpClient;
use crate::http::{ApiKeyLocation, Auth, HttpConfig};
use crate::json_api::{JsonApi, id_text, within};

/// Header carrying the Admin API access token.
pub const ACCESS_TOKEN_HEADER: &str = "X-Shopify-Access-Token";

/// Builds the API client of one connection. No I/O.
pub(crate) fn build(
    config: &ShopifyConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
) -> Result<JsonApi, ConnectorError> {
    if config.access_token.trim().is_empty() {
        return Err(ConnectorError::Config(
            "`access_token` is empty; create a custom app in the Shopify admin and paste its Admin API access token".into(),
        ));
    }
    let version = config.api_version.trim();
    let well_formed = version == "unstable"
        || (version.len() == 7
            && version.as_bytes()[4] == b'-'
            && version
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 4 || b.is_ascii_digit()));
    if !well_formed {
        return Err(ConnectorError::Config(format!(
            "`api_version` {version:?} is not a Shopify API version such as \"2024-10\""
        )));
    }
    let base_url = format!("{}/admin/api/{version}", shop_root(&config.shop_url)?);
    let http_config = HttpConfig {
        base_url,
        headers: Default::default(),
        auth: Auth::ApiKey {
            name: ACCESS_TOKEN_HEADER.into(),
            value: config.access_token.trim().into(),
            location: ApiKeyLocation::Header,
        },
        timeout_ms: config.timeout_ms,
        health_path: None,
    };
    let bucket = Arc::new(LeakyBucket::new(DEFAULT_BURST, clock));
    let client = HttpClient::new(&http_config, http)?.with_throttle(bucket);
    Ok(JsonApi {
        client: Arc::new(client),
    })
}

/// `my-store` → `https://my-store.myshopify.com`; URLs are kept (without a trailing `/`).
fn shop_root(shop_url: &str) -> Result<String, ConnectorError> {
    let shop = shop_url.trim().trim_end_matches('/');
    if shop.is_empty() {
        return Err(ConnectorError::Config(
            "`shop_url` is empty; give the store's address, e.g. my-store.myshopify.com".into(),
        ));
    }
    let root = if shop.starts_with("http://") || shop.starts_with("https://") {
        shop.to_string()
    } else if shop.contains('.') {
        format!("https://{shop}")
    } else {
        format!("https://{shop}.myshopify.com")
    };
    let parsed = url::Url::parse(&root).map_err(|e| {
        ConnectorError::Config(format!("`shop_url` {shop_url:?} is not an address: {e}"))
    })?;
    if !parsed.has_host() || !matches!(parsed.path(), "" | "/") {
        return Err(ConnectorError::Config(format!(
            "`shop_url` {shop_url:?} should be the store's address only, e.g. https://my-store.myshopify.com"
        )));
    }
    Ok(root)
}

/// A product variant found by SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariantRef {
    pub(crate) product_id: String,
    pub(crate) variant_id: String,
    /// The variant's inventory item (where its stock is set), when Shopify says.
    pub(crate) inventory_item_id: Option<String>,
}

const VARIANT_BY_SKU: &str = "query VariantBySku($q: String!) { productVariants(first: 1, query: $q) { edges { node { legacyResourceId sku product { legacyResourceId } inventoryItem { legacyResourceId } } } } }";

/// The variant whose SKU is exactly `sku`, through the GraphQL Admin API (the REST API cannot
/// filter by SKU).
pub(crate) async fn variant_by_sku(
    api: &JsonApi,
    sku: &str,
) -> Result<Option<VariantRef>, ConnectorError> {
    let escaped = sku.replace('\\', "\\\\").replace('"', "\\\"");
    let body =
        json!({ "query": VARIANT_BY_SKU, "variables": { "q": format!("sku:\"{escaped}\"") } });
    let context = format!("looking up SKU {sku:?}");
    let (ack, answer) = api
        .request(Method::POST, "graphql.json", &[], Some(&body))
        .await
        .map_err(|e| within(e, &context))?;
    if let Some(errors) = answer.get("errors").filter(|e| !e.is_null()) {
        let throttled = errors
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e["extensions"]["code"] == "THROTTLED"));
        let message = format!("{context}: GraphQL errors: {errors}");
        return Err(if throttled {
            ConnectorError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(1)),
                message,
                status: ack.status,
            }
        } else {
            ConnectorError::Permanent {
                message,
                status: ack.status,
                body: ack.body,
            }
        });
    }
    let edges = answer["data"]["productVariants"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // The search is by token; keep only an exact match.
    Ok(edges
        .iter()
        .find_map(|edge| {
            let node = &edge["node"];
            (node["sku"].as_str() == Some(sku)).then(|| VariantRef {
                product_id: id_text(&node["product"]["legacyResourceId"]).unwrap_or_default(),
                variant_id: id_text(&node["legacyResourceId"]).unwrap_or_default(),
                inventory_item_id: id_text(&node["inventoryItem"]["legacyResourceId"]),
            })
        })
        .filter(|v| !v.product_id.is_empty()))
}

/// An order's id from its key: the id itself when numeric, else looked up by name (`#1001`).
pub(crate) async fn order_id(api: &JsonApi, key: &str) -> Result<Option<String>, ConnectorError> {
    if let Some(id) = id_text(&Value::String(key.into())) {
        return Ok(Some(id));
    }
    let answer = api
        .get(
            "orders.json",
            &[
                ("name", key.to_string()),
                ("status", "any".into()),
                ("fields", "id,name".into()),
            ],
        )
        .await
        .map_err(|e| within(e, &format!("looking up order {key:?}")))?;
    Ok(answer["orders"]
        .as_array()
        .and_then(|orders| orders.iter().find(|o| o["name"] == key))
        .and_then(|o| id_text(&o["id"])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_addresses_are_normalised() {
        assert_eq!(
            shop_root("my-store").unwrap(),
            "https://my-store.myshopify.com"
        );
        assert_eq!(
            shop_root(" my-store.myshopify.com/ ").unwrap(),
            "https://my-store.myshopify.com"
        );
        assert_eq!(
            shop_root("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(matches!(shop_root(""), Err(ConnectorError::Config(_))));
        assert!(matches!(
            shop_root("https://my-store.myshopify.com/admin"),
            Err(ConnectorError::Config(_))
        ));
    }
}
