//! The `exact_online` connector: one Exact Online administration (division) through the REST
//! API (`<base_url>/api/v1/<division>/…`), authorized with an OAuth2 app ([`crate::oauth2`]:
//! 10-minute access tokens refreshed ahead of expiry, rotating refresh tokens).
//!
//! - Reads (`get_sales_orders`, `get_sales_invoices`, `get_accounts`, `get_contacts`,
//!   `get_items`, `get_stock_positions`, `get_goods_deliveries`) walk OData pages through
//!   `d.__next`; `modified_since` becomes `Modified ge datetime'…'` and is where a flow's
//!   incremental cursor goes. `/Date(ms)/` dates come out as ISO 8601.
//! - Writes (`create_sales_order` and `create_sales_invoice` with their lines,
//!   `create_account`, `create_contact`, `upsert_item`) send one record per request and ack
//!   with Exact's GUID; `lookup` finds a sales order or invoice by `YourRef`, an account by
//!   email or code, a contact by email, an item by code.
//! - Every request passes the per-minute limit (module `rate_limit`), which waits when
//!   Exact says no call is left in the minute. A 429 (the daily limit) is `RateLimited`.
//!
//! Answers are classified like the `http` connector's, with Exact's error text
//! (`error.message.value`) kept in the message.

mod client;
mod config;
mod rate_limit;
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

pub use config::{DEFAULT_BASE_URL, ExactOnlineConfig, ReadParams, WriteParams};

use crate::wall_clock::{SystemWallClock, WallClock};
use client::ExactApi;

/// Connector kind, as flows name it.
pub const KIND: &str = "exact_online";

/// The `exact_online` connector; register it with `Registry::default().with(ExactOnline)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactOnline;

/// The first record of a fixture list page, as the reader hands it out.
fn first(text: &str, expand: Option<&str>) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    read::tidy(value["d"]["results"][0].clone(), expand)
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[async_trait]
impl Connector for ExactOnline {
    fn spec(&self) -> ConnectorSpec {
        let read = |name: &'static str, summary, fixture| {
            let expand = read::read_op(name).and_then(|op| op.expand);
            OperationSpec {
                name,
                direction: Direction::Read,
                summary,
                params_schema: schemars::schema_for!(ReadParams).to_value(),
                sample_record: first(fixture, expand),
            }
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
            summary: "Exact Online (REST API, OAuth2): sales orders, invoices, accounts, contacts, items, stock, deliveries.",
            config_schema: schemars::schema_for!(ExactOnlineConfig).to_value(),
            credentials: vec!["client_secret", "refresh_token", "access_token"],
            operations: vec![
                read(
                    "get_sales_orders",
                    "Sales orders with their lines, by modification date.",
                    include_str!("fixtures/sales_orders.json"),
                ),
                read(
                    "get_sales_invoices",
                    "Sales invoices with their lines, by modification date.",
                    include_str!("fixtures/sales_invoices.json"),
                ),
                read(
                    "get_accounts",
                    "Accounts (customers, companies and persons), by modification date.",
                    include_str!("fixtures/accounts.json"),
                ),
                read(
                    "get_contacts",
                    "Contact persons of accounts.",
                    include_str!("fixtures/contacts.json"),
                ),
                read(
                    "get_items",
                    "Items with their sales VAT code.",
                    include_str!("fixtures/items.json"),
                ),
                read(
                    "get_stock_positions",
                    "Stock per item and warehouse (current, planned, projected).",
                    include_str!("fixtures/stock_positions.json"),
                ),
                read(
                    "get_goods_deliveries",
                    "Goods deliveries (shipments) with tracking numbers and lines.",
                    include_str!("fixtures/goods_deliveries.json"),
                ),
                write(
                    "create_sales_order",
                    "Create a sales order with its lines (business key: YourRef).",
                    parsed(include_str!("fixtures/sales_order.json")),
                ),
                write(
                    "create_sales_invoice",
                    "Create a sales invoice with its lines, each with its revenue G/L account (business key: YourRef).",
                    parsed(include_str!("fixtures/sales_invoice.json")),
                ),
                write(
                    "create_account",
                    "Create or update a customer account (business key: email or code).",
                    parsed(include_str!("fixtures/account.json")),
                ),
                write(
                    "create_contact",
                    "Create or update a contact person of an account (business key: email).",
                    parsed(include_str!("fixtures/contact.json")),
                ),
                write(
                    "upsert_item",
                    "Create an item, or update the one with the same code.",
                    parsed(include_str!("fixtures/item.json")),
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

/// Builds a connection whose token expiry and rate limit read `clock`.
fn build_with_clock(
    config: &Value,
    cx: &ConnectorContext,
    clock: Arc<dyn WallClock>,
) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
    let config: ExactOnlineConfig = crate::parse_config(KIND, config)?;
    let api = client::build(&config, cx, clock)?;
    Ok(Arc::new(ExactOnlineInstance { api }))
}

/// An `exact_online` connection.
#[derive(Debug)]
struct ExactOnlineInstance {
    api: ExactApi,
}

#[async_trait]
impl ConnectorInstance for ExactOnlineInstance {
    /// Reads the division's name: proves the site, the token and access to the division.
    async fn health_check(&self) -> Result<(), ConnectorError> {
        let answer = self
            .api
            .get(
                &self.api.path("system/Divisions"),
                &[("$select", "Code,Description".into()), ("$top", "1".into())],
            )
            .await?;
        if answer["d"].is_object() || answer["d"].is_array() {
            Ok(())
        } else {
            Err(ConnectorError::Permanent {
                message: "Exact answered without `d`; is `base_url` an Exact Online site?".into(),
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
        "the `exact_online` connector has no operation `{operation}`; it offers get_sales_orders, get_sales_invoices, get_accounts, get_contacts, get_items, get_stock_positions, get_goods_deliveries, create_sales_order, create_sales_invoice, create_account, create_contact and upsert_item"
    ))
}
