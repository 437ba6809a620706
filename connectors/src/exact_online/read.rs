//! The read operations: one OData entity set each, walked page by page through `d.__next`
//! (Exact serves at most 60 records a page on most entity sets), filtered with `$filter` and
//! narrowed with `$select`.
//!
//! A failed request leaves the reader where it was: calling `next_page` again after a
//! retryable error repeats the same request.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use ferry_engine::connector::{ConnectorError, Page, RecordReader};
use serde_json::Value;

use super::KIND;
use super::client::ExactApi;
use super::config::ReadParams;

/// A read operation: its name, entity set, default `$select` and navigation property read
/// along (`$expand`).
pub(crate) struct ReadOp {
    pub(crate) name: &'static str,
    pub(crate) entity: &'static str,
    pub(crate) select: &'static str,
    pub(crate) expand: Option<&'static str>,
}

/// Every read operation.
pub(crate) const READ_OPS: &[ReadOp] = &[
    ReadOp {
        name: "get_sales_orders",
        entity: "salesorder/SalesOrders",
        select: "OrderID,OrderNumber,YourRef,OrderDate,DeliveryDate,OrderedBy,OrderedByName,DeliverTo,InvoiceTo,Currency,AmountDC,AmountFC,Status,StatusDescription,DeliveryStatus,InvoiceStatus,Description,Remarks,Modified,SalesOrderLines",
        expand: Some("SalesOrderLines"),
    },
    ReadOp {
        name: "get_sales_invoices",
        entity: "salesinvoice/SalesInvoices",
        select: "InvoiceID,InvoiceNumber,YourRef,OrderNumber,InvoiceDate,DueDate,InvoiceTo,InvoiceToName,OrderedBy,Currency,AmountDC,AmountFC,VATAmountDC,Status,StatusDescription,Type,Description,Modified,SalesInvoiceLines",
        expand: Some("SalesInvoiceLines"),
    },
    ReadOp {
        name: "get_accounts",
        entity: "crm/Accounts",
        select: "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,ChamberOfCommerce,Status,IsSales,IsSupplier,MainContact,Language,Modified",
        expand: None,
    },
    ReadOp {
        name: "get_contacts",
        entity: "crm/Contacts",
        select: "ID,Account,AccountName,FirstName,LastName,FullName,Email,Phone,Mobile,IsMainContact,Modified",
        expand: None,
    },
    ReadOp {
        name: "get_items",
        entity: "logistics/Items",
        select: "ID,Code,Description,Barcode,Unit,SalesVatCode,SalesVatCodeDescription,IsSalesItem,IsStockItem,CostPriceStandard,Stock,Modified",
        expand: None,
    },
    ReadOp {
        name: "get_stock_positions",
        entity: "inventory/ItemWarehouses",
        select: "ID,Item,ItemCode,ItemDescription,Warehouse,WarehouseCode,CurrentStock,PlannedStockIn,PlannedStockOut,ProjectedStock,ReservedStock,Modified",
        expand: None,
    },
    ReadOp {
        name: "get_goods_deliveries",
        entity: "salesorder/GoodsDeliveries",
        select: "EntryID,EntryNumber,DeliveryDate,DeliveryAccount,DeliveryAccountName,Description,ShippingMethod,TrackingNumber,Warehouse,Modified,GoodsDeliveryLines",
        expand: Some("GoodsDeliveryLines"),
    },
];

/// The read operation named `name`.
pub(crate) fn read_op(name: &str) -> Option<&'static ReadOp> {
    READ_OPS.iter().find(|op| op.name == name)
}

/// Opens the reader of read operation `operation`.
pub(crate) fn open(
    api: &ExactApi,
    operation: &str,
    params: &Value,
) -> Result<Box<dyn RecordReader>, ConnectorError> {
    let op = read_op(operation).ok_or_else(|| super::unknown_operation(operation))?;
    let p: ReadParams = crate::parse_params(KIND, operation, params)?;
    let mut filters = Vec::new();
    if let Some(since) = p.modified_since.as_deref().filter(|s| !s.trim().is_empty()) {
        let at = odata_datetime(since).ok_or_else(|| {
            ConnectorError::Config(format!(
                "`{operation}` param `modified_since` {since:?} is not a date: use ISO 8601 (2026-01-05T10:30:00) or /Date(ms)/"
            ))
        })?;
        filters.push(format!("Modified ge datetime'{at}'"));
    }
    if let Some(filter) = p.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        filters.push(format!("({})", filter.trim()));
    }
    let mut query = Vec::new();
    if !filters.is_empty() {
        query.push(("$filter", filters.join(" and ")));
    }
    let select = if p.select.is_empty() {
        op.select.to_string()
    } else {
        p.select.join(",")
    };
    let expand = op
        .expand
        .filter(|nav| select.split(',').any(|f| f.trim() == *nav));
    query.push(("$select", select));
    if let Some(nav) = expand {
        query.push(("$expand", nav.to_string()));
    }
    Ok(Box::new(ODataReader {
        api: api.clone(),
        next: Some(Next::First {
            path: api.path(op.entity),
            query,
        }),
        expand,
    }))
}

/// The next request of a reader.
#[derive(Debug, Clone)]
enum Next {
    First {
        path: String,
        query: Vec<(&'static str, String)>,
    },
    /// Exact's `__next` URL, complete with its `$skiptoken`.
    Link(String),
}

/// Walks an entity set through `d.__next`.
struct ODataReader {
    api: ExactApi,
    next: Option<Next>,
    /// Navigation property read along, whose `results` wrapper is flattened.
    expand: Option<&'static str>,
}

#[async_trait]
impl RecordReader for ODataReader {
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        loop {
            let Some(next) = self.next.clone() else {
                return Ok(None);
            };
            let body = match &next {
                Next::First { path, query } => self.api.get(path, query).await?,
                Next::Link(url) => self.api.get(url, &[]).await?,
            };
            let (records, link) = results(body)?;
            if let (Next::Link(previous), Some(link)) = (&next, &link)
                && previous == link
            {
                return Err(ConnectorError::Permanent {
                    message: format!("Exact's `__next` link does not move: {link}"),
                    status: None,
                    body: None,
                });
            }
            self.next = link.map(Next::Link);
            if records.is_empty() {
                continue;
            }
            let records = records.into_iter().map(|r| tidy(r, self.expand)).collect();
            return Ok(Some(Page {
                records,
                cursor: None,
                text: None,
            }));
        }
    }
}

/// The records of a list answer and its `__next` link.
fn results(body: Value) -> Result<(Vec<Value>, Option<String>), ConnectorError> {
    let Value::Object(mut outer) = body else {
        return Err(not_a_list(&body));
    };
    let Some(d) = outer.remove("d") else {
        return Err(not_a_list(&Value::Object(outer)));
    };
    match d {
        // Older entity sets answer `{"d": [...]}` without paging.
        Value::Array(records) => Ok((records, None)),
        Value::Object(mut d) => {
            let next = d
                .remove("__next")
                .and_then(|n| n.as_str().map(str::to_string))
                .filter(|n| !n.is_empty());
            match d.remove("results") {
                Some(Value::Array(records)) => Ok((records, next)),
                _ => Err(not_a_list(&Value::Object(d))),
            }
        }
        other => Err(not_a_list(&other)),
    }
}

fn not_a_list(body: &Value) -> ConnectorError {
    ConnectorError::Permanent {
        message: "Exact answered without `d.results`; is the entity set right?".into(),
        status: None,
        body: Some(crate::http::status::excerpt(body.to_string().as_bytes())),
    }
}

/// A record as flows see it: the OData `__metadata` dropped, `/Date(ms)/` dates written as ISO
/// 8601, and the expanded lines (`{"results": [...]}`) as a plain list.
pub(crate) fn tidy(record: Value, expand: Option<&str>) -> Value {
    let Value::Object(mut fields) = record else {
        return record;
    };
    fields.remove("__metadata");
    for value in fields.values_mut() {
        if let Some(iso) = value.as_str().and_then(date_ms).and_then(iso_from_ms) {
            *value = Value::String(iso);
        }
    }
    if let Some(nav) = expand
        && let Some(lines) = fields.get_mut(nav)
        && let Some(Value::Array(items)) = lines.get_mut("results").map(Value::take)
    {
        *lines = Value::Array(items.into_iter().map(|l| tidy(l, None)).collect());
    }
    Value::Object(fields)
}

/// The milliseconds of an Exact `/Date(1767225600000)/` value.
pub(crate) fn date_ms(text: &str) -> Option<i64> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    // Some values carry an offset suffix (`+0100`), which Exact leaves at zero.
    let digits = inner
        .split(['+', '-'])
        .find(|part| !part.is_empty())
        .unwrap_or(inner);
    let ms: i64 = digits.parse().ok()?;
    Some(if inner.starts_with('-') { -ms } else { ms })
}

fn iso_from_ms(ms: i64) -> Option<String> {
    let at = DateTime::from_timestamp_millis(ms)?;
    Some(at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
}

/// A date given by a user or a cursor, as the text of an OData `datetime'…'` literal.
pub(crate) fn odata_datetime(text: &str) -> Option<String> {
    let text = text.trim();
    let naive = if let Some(ms) = date_ms(text) {
        DateTime::from_timestamp_millis(ms)?.naive_utc()
    } else if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        // The engine's cursor may carry an offset; Exact compares without one.
        at.naive_utc()
    } else if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        at
    } else {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
    };
    Some(naive.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dates_read_in_every_form_exact_and_cursors_use() {
        for (given, expected) in [
            ("2026-01-05T10:30:00", "2026-01-05T10:30:00.000"),
            ("2026-01-05T10:30:00.250", "2026-01-05T10:30:00.250"),
            ("2026-01-05T10:30:00Z", "2026-01-05T10:30:00.000"),
            ("2026-01-05", "2026-01-05T00:00:00.000"),
            ("/Date(1767609000000)/", "2026-01-05T10:30:00.000"),
        ] {
            assert_eq!(odata_datetime(given).as_deref(), Some(expected), "{given}");
        }
        assert_eq!(odata_datetime("yesterday"), None);
    }

    #[test]
    fn records_lose_metadata_and_get_iso_dates_and_plain_lines() {
        let record = json!({
            "__metadata": { "uri": "x" },
            "Modified": "/Date(1767609000000)/",
            "SalesOrderLines": { "results": [{ "__metadata": {}, "Quantity": 2.0 }] },
        });
        assert_eq!(
            tidy(record, Some("SalesOrderLines")),
            json!({
                "Modified": "2026-01-05T10:30:00.000",
                "SalesOrderLines": [{ "Quantity": 2.0 }],
            })
        );
    }
}
