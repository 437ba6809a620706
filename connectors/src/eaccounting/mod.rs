//! The `eaccounting` connector: a Visma eAccounting company through API v2
//! (`https://eaccountingapi.vismaonline.com/v2`), authorized with an OAuth2 app through Visma
//! Connect ([`crate::oauth2`]: tokens refreshed ahead of expiry and on a 401).
//!
//! - Reads (`get_customers`, `get_articles`, `get_orders`, `get_invoice_drafts`,
//!   `get_vat_codes`, `get_terms_of_payment`) walk `$page`/`$pagesize` pages until
//!   `Meta.TotalNumberOfPages`; `changed_since` becomes a `$filter` on the change date and is
//!   where a flow's incremental cursor goes.
//! - Writes (`upsert_customer`, `upsert_article`, `create_order`, `create_invoice_draft`)
//!   send one record per request and ack with eAccounting's `Id`; `lookup` finds a customer
//!   by number or email, an article by number, an order or draft by `YourReference`.
//!
//! Answers are classified like the `http` connector's (401/403 `Auth`, 429 `RateLimited` with
//! `Retry-After`, 5xx `Transient`, other 4xx `Permanent`), with eAccounting's error text kept
//! in the message.

mod client;
mod config;
mod read;
mod resolve;
mod write;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, Direction,
    Lookup, OperationSpec, ReadRequest, RecordReader, WriteAck, WriteRecord,
};
use serde_json::Value;

pub use config::{
    DEFAULT_BASE_URL, DEFAULT_TOKEN_URL, EAccountingConfig, MAX_PAGE_SIZE, ReadParams, WriteParams,
};

use crate::wall_clock::{SystemWallClock, WallClock};
use client::EAccountingApi;

/// Connector kind, as flows name it.
pub const KIND: &str = "eaccounting";

/// The `eaccounting` connector; register it with `Registry::default().with(EAccounting)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EAccounting;

/// The first record of a fixture list page.
fn first(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    value["Data"][0].clone()
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[async_trait]
impl Connector for EAccounting {
    fn spec(&self) -> ConnectorSpec {
        let read = |name, summary, sample_record| OperationSpec {
            name,
            direction: Direction::Read,
            summary,
            params_schema: schemars::schema_for!(ReadParams).to_value(),
            sample_record,
        };
        let write = |name, summary, sample_record| OperationSpec {
            name,
            direction: Direction::Write,
            summary,
            params_schema: schemars::schema_for!(WriteParams).to_value(),
            sample_record,
        };
        ConnectorSpec {
            kind: KIND,
            summary: "Visma eAccounting (API v2, OAuth2): customers, articles, orders, invoice drafts, VAT codes, terms of payment.",
            config_schema: schemars::schema_for!(EAccountingConfig).to_value(),
            credentials: vec!["client_secret", "refresh_token", "access_token"],
            operations: vec![
                read(
                    "get_customers",
                    "Customers (companies and private persons), by change date.",
                    first(include_str!("fixtures/customers.json")),
                ),
                read(
                    "get_articles",
                    "Articles with prices and stock balance, by change date.",
                    first(include_str!("fixtures/articles.json")),
                ),
                read(
                    "get_orders",
                    "Sales orders with their rows, by modification date.",
                    first(include_str!("fixtures/orders.json")),
                ),
                read(
                    "get_invoice_drafts",
                    "Customer invoice drafts with their rows.",
                    first(include_str!("fixtures/invoice_drafts.json")),
                ),
                read(
                    "get_vat_codes",
                    "VAT codes with their rates.",
                    first(include_str!("fixtures/vat_codes.json")),
                ),
                read(
                    "get_terms_of_payment",
                    "Terms of payment.",
                    first(include_str!("fixtures/terms_of_payment.json")),
                ),
                write(
                    "upsert_customer",
                    "Create a customer, or update it (by Id, number or email).",
                    parsed(include_str!("fixtures/customer.json")),
                ),
                write(
                    "upsert_article",
                    "Create an article, or update it (by Id or number).",
                    parsed(include_str!("fixtures/article.json")),
                ),
                write(
                    "create_order",
                    "Create a sales order with its rows (business key: YourReference).",
                    parsed(include_str!("fixtures/order.json")),
                ),
                write(
                    "create_invoice_draft",
                    "Create a customer invoice draft (business key: YourReference).",
                    parsed(include_str!("fixtures/invoice_draft.json")),
                ),
            ],
        }
    }

    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        build_with_clock(config, cx, Arc::new(SystemWallClock))
    }
}

/// Builds a connection whose token expiry reads `clock`.
fn build_with_clock(
    config: &Value,
    cx: &ConnectorContext,
    clock: Arc<dyn WallClock>,
) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
    let config: EAccountingConfig = crate::parse_config(KIND, config)?;
    let api = client::build(&config, cx, clock)?;
    Ok(Arc::new(EAccountingInstance { api }))
}

/// An `eaccounting` connection.
#[derive(Debug)]
struct EAccountingInstance {
    api: EAccountingApi,
}

#[async_trait]
impl ConnectorInstance for EAccountingInstance {
    /// Reads the company settings: proves the address, the token and the company's access.
    async fn health_check(&self) -> Result<(), ConnectorError> {
        let answer = self.api.get("companysettings", &[]).await?;
        if answer.is_object() {
            Ok(())
        } else {
            Err(ConnectorError::Permanent {
                message:
                    "GET companysettings answered without an object; is `base_url` the API v2 root?"
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
        _params: &Value,
        key: &str,
    ) -> Result<Lookup, ConnectorError> {
        write::lookup(&self.api, operation, key).await
    }
}

fn unknown_operation(operation: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "the `eaccounting` connector has no operation `{operation}`; it offers get_customers, get_articles, get_orders, get_invoice_drafts, get_vat_codes, get_terms_of_payment, upsert_customer, upsert_article, create_order and create_invoice_draft"
    ))
}
