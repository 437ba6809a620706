//! The read operations: one list endpoint each, walked with `$page`/`$pagesize` until
//! `Meta.TotalNumberOfPages` (records in `Data`), filtered with OData `$filter`.
//!
//! A failed request leaves the reader on the same page: calling `next_page` again after a
//! retryable error repeats it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use ferry_engine::connector::{ConnectorError, Page, RecordReader};
use serde_json::Value;

use super::KIND;
use super::client::EAccountingApi;
use super::config::{MAX_PAGE_SIZE, ReadParams};

/// A read operation: its name, path, and the date field `changed_since` filters on.
pub(crate) struct ReadOp {
    pub(crate) name: &'static str,
    pub(crate) path: &'static str,
    pub(crate) changed_field: Option<&'static str>,
}

/// Every read operation.
pub(crate) const READ_OPS: &[ReadOp] = &[
    ReadOp {
        name: "get_customers",
        path: "customers",
        changed_field: Some("ChangedUtc"),
    },
    ReadOp {
        name: "get_articles",
        path: "articles",
        changed_field: Some("ChangedUtc"),
    },
    ReadOp {
        name: "get_orders",
        path: "orders",
        changed_field: Some("ModifiedUtc"),
    },
    ReadOp {
        name: "get_invoice_drafts",
        path: "customerinvoicedrafts",
        changed_field: Some("ModifiedUtc"),
    },
    ReadOp {
        name: "get_vat_codes",
        path: "vatcodes",
        changed_field: None,
    },
    ReadOp {
        name: "get_terms_of_payment",
        path: "termsofpayment",
        changed_field: None,
    },
];

/// Opens the reader of read operation `operation`.
pub(crate) fn open(
    api: &EAccountingApi,
    operation: &str,
    params: &Value,
) -> Result<Box<dyn RecordReader>, ConnectorError> {
    let op = READ_OPS
        .iter()
        .find(|op| op.name == operation)
        .ok_or_else(|| super::unknown_operation(operation))?;
    let p: ReadParams = crate::parse_params(KIND, operation, params)?;
    if !(1..=MAX_PAGE_SIZE).contains(&p.page_size) {
        return Err(ConnectorError::Config(format!(
            "`{operation}` param `page_size` is {}; use 1 to {MAX_PAGE_SIZE}",
            p.page_size
        )));
    }
    let mut filters = Vec::new();
    if let Some(since) = p.changed_since.as_deref().filter(|s| !s.trim().is_empty()) {
        let Some(field) = op.changed_field else {
            return Err(ConnectorError::Config(format!(
                "`{operation}` has no change date; remove `changed_since`"
            )));
        };
        let at = utc_literal(since).ok_or_else(|| {
            ConnectorError::Config(format!(
                "`{operation}` param `changed_since` {since:?} is not an ISO 8601 date"
            ))
        })?;
        filters.push(format!("{field} gt {at}"));
    }
    if let Some(filter) = p.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        filters.push(format!("({})", filter.trim()));
    }
    let mut query = Vec::new();
    if !filters.is_empty() {
        query.push(("$filter", filters.join(" and ")));
    }
    Ok(Box::new(PagedReader {
        api: api.clone(),
        path: op.path,
        query,
        page_size: p.page_size,
        page: Some(1),
    }))
}

/// A date as eAccounting's OData filter takes it: UTC, `2026-01-05T10:30:00Z`.
fn utc_literal(text: &str) -> Option<String> {
    let text = text.trim();
    let at: DateTime<Utc> = if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        at.with_timezone(&Utc)
    } else if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        at.and_utc()
    } else {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
    };
    Some(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Walks a list endpoint page by page.
struct PagedReader {
    api: EAccountingApi,
    path: &'static str,
    query: Vec<(&'static str, String)>,
    page_size: u32,
    /// The next page to ask for; `None` once past the last.
    page: Option<u32>,
}

#[async_trait]
impl RecordReader for PagedReader {
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        let Some(page) = self.page else {
            return Ok(None);
        };
        let mut query = self.query.clone();
        query.push(("$page", page.to_string()));
        query.push(("$pagesize", self.page_size.to_string()));
        let mut body = self.api.get(self.path, &query).await?;
        let total = body["Meta"]["TotalNumberOfPages"].as_u64();
        let Value::Array(records) = body["Data"].take() else {
            return Err(ConnectorError::Permanent {
                message: format!(
                    "GET {} page {page}: the answer has no `Data` list; is `base_url` the API v2 root?",
                    self.path
                ),
                status: None,
                body: Some(crate::http::status::excerpt(body.to_string().as_bytes())),
            });
        };
        let last = match total {
            Some(total) => u64::from(page) >= total,
            // Without Meta, a short page is the last.
            None => records.len() < self.page_size as usize,
        };
        self.page = if last || records.is_empty() {
            None
        } else {
            Some(page + 1)
        };
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(Page {
            records,
            cursor: None,
            text: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_utc_literals() {
        assert_eq!(
            utc_literal("2026-01-05T11:30:00+01:00").as_deref(),
            Some("2026-01-05T10:30:00Z")
        );
        assert_eq!(
            utc_literal("2026-01-05T10:30:00").as_deref(),
            Some("2026-01-05T10:30:00Z")
        );
        assert_eq!(
            utc_literal("2026-01-05").as_deref(),
            Some("2026-01-05T00:00:00Z")
        );
        assert_eq!(utc_literal("soon"), None);
    }
}
