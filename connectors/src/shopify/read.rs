//! The read operations: each is a list endpoint walked with the `http` connector's reader in
//! `Link`-header style (`page_info` cursors, up to 250 records a page).
//!
//! Shopify forbids other filters next to `page_info`; its next links carry only what is
//! allowed, and the reader follows them as they are.

use std::collections::BTreeMap;

use ferry_engine::connector::ConnectorError;
use serde_json::Value;

use super::KIND;
use super::config::{
    GetCustomersParams, GetInventoryLevelsParams, GetOrdersParams, GetProductsParams, MAX_PAGE_SIZE,
};
use crate::http::{HttpReadParams, Pagination, QueryValue};

/// The list request of read operation `operation` with the flow's `params`.
pub(crate) fn list_request(
    operation: &str,
    params: &Value,
) -> Result<HttpReadParams, ConnectorError> {
    let mut query = BTreeMap::new();
    let mut set = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            query.insert(name.to_string(), QueryValue::String(value));
        }
    };
    let (path, records, limit) = match operation {
        "get_orders" => {
            let p: GetOrdersParams = crate::parse_params(KIND, operation, params)?;
            set("status", Some(p.status.as_str().into()));
            set("financial_status", p.financial_status);
            set("fulfillment_status", p.fulfillment_status);
            set("order", sort_order(p.order, &p.updated_at_min));
            set("updated_at_min", p.updated_at_min);
            set("created_at_min", p.created_at_min);
            ("orders.json", "orders", p.limit)
        }
        "get_products" => {
            let p: GetProductsParams = crate::parse_params(KIND, operation, params)?;
            set("status", p.status);
            set("order", sort_order(p.order, &p.updated_at_min));
            set("updated_at_min", p.updated_at_min);
            ("products.json", "products", p.limit)
        }
        "get_customers" => {
            let p: GetCustomersParams = crate::parse_params(KIND, operation, params)?;
            set("order", sort_order(p.order, &p.updated_at_min));
            set("updated_at_min", p.updated_at_min);
            ("customers.json", "customers", p.limit)
        }
        "get_inventory_levels" => {
            let p: GetInventoryLevelsParams = crate::parse_params(KIND, operation, params)?;
            if p.location_ids.is_empty() && p.inventory_item_ids.is_empty() {
                return Err(ConnectorError::Config(
                    "`get_inventory_levels` needs `location_ids` or `inventory_item_ids`; Shopify lists levels only for given locations or items".into(),
                ));
            }
            set("location_ids", joined(&p.location_ids));
            set("inventory_item_ids", joined(&p.inventory_item_ids));
            set("updated_at_min", p.updated_at_min);
            ("inventory_levels.json", "inventory_levels", p.limit)
        }
        other => return Err(super::unknown_operation(other)),
    };
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ConnectorError::Config(format!(
            "`{operation}` param `limit` is {limit}; Shopify serves 1 to {MAX_PAGE_SIZE} records a page"
        )));
    }
    query.insert("limit".into(), QueryValue::String(limit.to_string()));
    Ok(HttpReadParams {
        path: path.into(),
        query,
        records_path: records.into(),
        pagination: Pagination::LinkHeader,
    })
}

/// The `order` to send: the one asked for (`""`: none), else oldest change first for
/// incremental reads.
fn sort_order(asked: Option<String>, updated_at_min: &Option<String>) -> Option<String> {
    asked.or_else(|| {
        updated_at_min
            .as_ref()
            .map(|_| "updated_at asc".to_string())
    })
}

fn joined(ids: &[u64]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn order_filters_become_query_parameters() {
        let request = list_request(
            "get_orders",
            &json!({ "financial_status": "paid", "updated_at_min": "2026-01-01T00:00:00Z" }),
        )
        .unwrap();
        assert_eq!(request.path, "orders.json");
        assert_eq!(request.records_path, "orders");
        let query: Vec<(String, String)> = request
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        assert_eq!(
            query,
            [
                ("financial_status".into(), "paid".into()),
                ("limit".into(), "250".into()),
                ("order".into(), "updated_at asc".into()),
                ("status".into(), "any".into()),
                ("updated_at_min".into(), "2026-01-01T00:00:00Z".into()),
            ]
        );
    }

    #[test]
    fn bad_read_params_are_config_errors_naming_the_problem() {
        for (op, params, needle) in [
            ("get_orders", json!({ "limit": 251 }), "`limit` is 251"),
            ("get_inventory_levels", json!({}), "needs `location_ids`"),
            ("get_products", json!({ "colour": "red" }), "unknown field"),
            ("get_things", json!({}), "no operation `get_things`"),
        ] {
            let err = list_request(op, &params).unwrap_err();
            assert!(
                matches!(&err, ConnectorError::Config(m) if m.contains(needle)),
                "{op}: {err}"
            );
        }
        let levels =
            list_request("get_inventory_levels", &json!({ "location_ids": [1, 2] })).unwrap();
        assert_eq!(levels.query["location_ids"].to_string(), "1,2");
    }
}
