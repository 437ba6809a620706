//! The read operations: list endpoints walked with the `http` connector's reader in page-number
//! style (`page`/`per_page`, stopping at `X-WP-TotalPages` or a short page), and a wrapper
//! ([`ExpandingReader`]) for the two reads that need a request per record: the variations of
//! variable products and the refunds of orders.
//!
//! The wrapper keeps a page until all of its extra requests succeeded, so a retryable failure
//! halfway through repeats only what is missing and loses no record.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_engine::connector::{ConnectorError, Page, RecordReader};
use serde_json::{Value, json};

use super::KIND;
use super::config::{
    GetCustomersParams, GetOrdersParams, GetProductsParams, GetRefundsParams, MAX_PAGE_SIZE,
};
use crate::http::pagination::HttpReader;
use crate::http::{HttpReadParams, Pagination, QueryValue};
use crate::json_api::{JsonApi, id_text, within};

/// Field added to variable products with their variations.
pub const VARIATIONS_FIELD: &str = "variation_details";

/// Opens the reader of read operation `operation`.
pub(crate) fn open(
    api: &JsonApi,
    operation: &str,
    params: &Value,
) -> Result<Box<dyn RecordReader>, ConnectorError> {
    let mut query = BTreeMap::new();
    let mut set = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            query.insert(name.to_string(), QueryValue::String(value));
        }
    };
    let (path, per_page, expand) = match operation {
        "get_orders" => {
            let p: GetOrdersParams = crate::parse_params(KIND, operation, params)?;
            let dated = p.modified_after.is_some() || p.after.is_some();
            set("status", (!p.status.is_empty()).then(|| p.status.join(",")));
            set("modified_after", p.modified_after);
            set("after", p.after);
            set("dates_are_gmt", dated.then(|| "true".into()));
            set("orderby", Some("date".into()));
            set("order", Some("asc".into()));
            ("orders".to_string(), p.per_page, Expand::Nothing)
        }
        "get_products" => {
            let p: GetProductsParams = crate::parse_params(KIND, operation, params)?;
            set(
                "dates_are_gmt",
                p.modified_after.is_some().then(|| "true".into()),
            );
            set("status", p.status);
            set("type", p.r#type);
            set("sku", p.sku);
            set("modified_after", p.modified_after);
            let expand = if p.include_variations {
                Expand::Variations
            } else {
                Expand::Nothing
            };
            ("products".to_string(), p.per_page, expand)
        }
        "get_customers" => {
            let p: GetCustomersParams = crate::parse_params(KIND, operation, params)?;
            set("role", Some(p.role.unwrap_or_else(|| "all".into())));
            set("email", p.email);
            set("orderby", Some("id".into()));
            set("order", Some("asc".into()));
            ("customers".to_string(), p.per_page, Expand::Nothing)
        }
        "get_refunds" => {
            let p: GetRefundsParams = crate::parse_params(KIND, operation, params)?;
            match p.order_id {
                Some(order) => (
                    format!("orders/{order}/refunds"),
                    p.per_page,
                    Expand::OrderId(order),
                ),
                None => {
                    set(
                        "dates_are_gmt",
                        p.modified_after.is_some().then(|| "true".into()),
                    );
                    set("modified_after", p.modified_after);
                    set("orderby", Some("date".into()));
                    set("order", Some("asc".into()));
                    ("orders".to_string(), p.per_page, Expand::Refunds)
                }
            }
        }
        other => return Err(super::unknown_operation(other)),
    };
    check_per_page(operation, per_page)?;
    let list = HttpReadParams {
        path,
        query,
        records_path: String::new(),
        pagination: pages(per_page),
    };
    let inner = HttpReader::new(api.client.clone(), list)?;
    Ok(Box::new(ExpandingReader {
        api: api.clone(),
        inner,
        expand,
        pending: None,
    }))
}

fn check_per_page(operation: &str, per_page: u32) -> Result<(), ConnectorError> {
    if (1..=MAX_PAGE_SIZE).contains(&per_page) {
        Ok(())
    } else {
        Err(ConnectorError::Config(format!(
            "`{operation}` param `per_page` is {per_page}; WooCommerce serves 1 to {MAX_PAGE_SIZE} records a page"
        )))
    }
}

fn pages(per_page: u32) -> Pagination {
    Pagination::PageNumber {
        param: "page".into(),
        start: 1,
        size_param: "per_page".into(),
        size: u64::from(per_page),
    }
}

/// What each record of a page needs before it is handed out.
#[derive(Debug, Clone, Copy)]
enum Expand {
    /// Nothing: records go out as listed.
    Nothing,
    /// Variable products get their variations in [`VARIATIONS_FIELD`].
    Variations,
    /// Each order with refunds is replaced by its refunds (each with `order_id`).
    Refunds,
    /// The records are this order's refunds; each gets `order_id`.
    OrderId(u64),
}

/// A page being completed: the listed records and the results so far.
#[derive(Debug)]
struct Pending {
    listed: Vec<Value>,
    done: Vec<Value>,
}

/// Walks a list and completes each page with per-record requests.
struct ExpandingReader {
    api: JsonApi,
    inner: HttpReader,
    expand: Expand,
    pending: Option<Pending>,
}

#[async_trait]
impl RecordReader for ExpandingReader {
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        loop {
            if self.pending.is_none() {
                let Some(page) = self.inner.next_page().await? else {
                    return Ok(None);
                };
                self.pending = Some(Pending {
                    listed: page.records,
                    done: Vec::new(),
                });
            }
            let Some(pending) = self.pending.as_mut() else {
                continue;
            };
            // A record leaves `listed` only once it is complete, so a retry after an error
            // resumes with the record that failed.
            while let Some(record) = pending.listed.first() {
                let expanded = expand(&self.api, self.expand, record.clone()).await?;
                pending.listed.remove(0);
                pending.done.extend(expanded);
            }
            let records = self.pending.take().map(|p| p.done).unwrap_or_default();
            // An orders page without refunds gives nothing; read on.
            if !records.is_empty() {
                return Ok(Some(Page {
                    records,
                    cursor: None,
                    text: None,
                }));
            }
        }
    }
}

/// The records `record` becomes.
async fn expand(
    api: &JsonApi,
    how: Expand,
    mut record: Value,
) -> Result<Vec<Value>, ConnectorError> {
    match how {
        Expand::Nothing => Ok(vec![record]),
        Expand::OrderId(order) => {
            record["order_id"] = json!(order);
            Ok(vec![record])
        }
        Expand::Variations => {
            if record["type"] == "variable"
                && let Some(id) = id_text(&record["id"])
            {
                let variations = list_all(api, &format!("products/{id}/variations"))
                    .await
                    .map_err(|e| within(e, &format!("product {id}")))?;
                record[VARIATIONS_FIELD] = Value::Array(variations);
            }
            Ok(vec![record])
        }
        Expand::Refunds => {
            let has_refunds = record["refunds"].as_array().is_some_and(|r| !r.is_empty());
            let Some(order) = id_text(&record["id"]).filter(|_| has_refunds) else {
                return Ok(Vec::new());
            };
            let mut refunds = list_all(api, &format!("orders/{order}/refunds"))
                .await
                .map_err(|e| within(e, &format!("order {order}")))?;
            for refund in &mut refunds {
                refund["order_id"] = record["id"].clone();
            }
            Ok(refunds)
        }
    }
}

/// Every element of a short list endpoint (variations, refunds), page by page.
async fn list_all(api: &JsonApi, path: &str) -> Result<Vec<Value>, ConnectorError> {
    let mut all = Vec::new();
    for page in 1u32.. {
        let answer = api
            .get(
                path,
                &[
                    ("per_page", MAX_PAGE_SIZE.to_string()),
                    ("page", page.to_string()),
                ],
            )
            .await?;
        let Value::Array(items) = answer else {
            return Err(ConnectorError::Permanent {
                message: format!("GET {path}: expected a list, got {}", kind_of(&answer)),
                status: None,
                body: None,
            });
        };
        let short = items.len() < MAX_PAGE_SIZE as usize;
        all.extend(items);
        if short {
            break;
        }
    }
    Ok(all)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
