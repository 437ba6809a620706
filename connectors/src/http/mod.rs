//! The `http` connector: the generic REST/JSON connector, for any API without a dedicated one.
//!
//! - `read` GETs a list endpoint and walks its pages (module `pagination`; styles: page number,
//!   offset, cursor in the body, `Link` header), one [`Page`](ferry_engine::connector::Page) per
//!   HTTP answer, records found at a dot path in the body.
//! - `write` sends records as JSON, one request per call (an array for a batch), and reads the
//!   new object's id from the answer.
//!
//! Every answer goes through one classification (module `status`) into an ack or a
//! [`ConnectorError`] variant: 429 (and 503 with `Retry-After`) is `RateLimited` with the wait
//! the API asked for, timeouts and 5xx are `Transient`, refused connections and DNS failures are
//! `NotConnected`, 401/403 are `Auth`, other 4xx are `Permanent` with the status and body.
//!
//! This connector never retries and never sleeps: the engine owns retries and schedules them
//! from [`ConnectorError::is_retryable`] and [`ConnectorError::retry_after`]. A reader whose
//! `next_page` failed may simply be asked again; it repeats the same request.
//!
//! Credentials go only to the base URL's host: a `Link` header pointing elsewhere is refused.

pub(crate) mod client;
mod config;
pub(crate) mod dot_path;
pub(crate) mod pagination;
mod records_text;
pub(crate) mod status;
pub(crate) mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, Direction,
    Lookup, OperationSpec, ReadRequest, RecordReader, WriteAck, WriteRecord,
};
use reqwest::Method;
use serde_json::{Value, json};

pub use config::{
    ApiKeyLocation, Auth, HttpConfig, HttpReadParams, HttpWriteParams, Pagination, QueryValue,
    WriteMethod,
};

use client::HttpClient;
use pagination::HttpReader;

/// Connector kind, as flows name it.
pub const KIND: &str = "http";

/// The `http` connector; register it with `Registry::default().with(Http)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

#[async_trait]
impl Connector for Http {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            kind: KIND,
            summary: "Any REST/JSON API: read paged lists, send records as JSON.",
            config_schema: schemars::schema_for!(HttpConfig).to_value(),
            credentials: vec!["auth.token", "auth.password", "auth.value", "headers.*"],
            operations: vec![
                OperationSpec {
                    name: "read",
                    direction: Direction::Read,
                    summary: "GET a list endpoint and read every page of records.",
                    params_schema: schemars::schema_for!(HttpReadParams).to_value(),
                    sample_record: json!({
                        "id": 450789469,
                        "email": "bob.norman@example.com",
                        "created_at": "2008-01-10T11:00:00-05:00",
                        "currency": "USD",
                        "total_price": "598.94",
                        "line_items": [{ "sku": "IPOD2008GREEN", "quantity": 1, "price": "199.00" }],
                    }),
                },
                OperationSpec {
                    name: "write",
                    direction: Direction::Write,
                    summary: "Send each record (or a batch as an array) as JSON to an endpoint.",
                    params_schema: schemars::schema_for!(HttpWriteParams).to_value(),
                    sample_record: json!({
                        "external_id": "450789469",
                        "customer_email": "bob.norman@example.com",
                        "currency": "USD",
                        "total": "598.94",
                        "lines": [{ "sku": "IPOD2008GREEN", "quantity": 1, "unit_price": "199.00" }],
                    }),
                },
            ],
        }
    }

    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        let config: HttpConfig = crate::parse_config(KIND, config)?;
        let client = HttpClient::new(&config, cx.http.clone())?;
        Ok(Arc::new(HttpInstance {
            client: Arc::new(client),
            health_path: config.health_path.unwrap_or_default(),
        }))
    }
}

/// An `http` connection.
#[derive(Debug)]
struct HttpInstance {
    client: Arc<HttpClient>,
    health_path: String,
}

#[async_trait]
impl ConnectorInstance for HttpInstance {
    /// GETs `health_path` (default: the base URL). Any answer below 500 except 401 and 403
    /// proves the API is reachable: a 404 on the root is common and harmless.
    async fn health_check(&self) -> Result<(), ConnectorError> {
        let url = self.client.url(&self.health_path, &BTreeMap::new())?;
        let response = self.client.send(Method::GET, url, None).await?;
        let code = response.status.as_u16();
        if code < 500 && code != 401 && code != 403 {
            return Ok(());
        }
        // What is left is an error: 401/403 become `Auth`, 5xx `Transient` or `RateLimited`.
        status::classify(
            response.status,
            &response.headers,
            &response.body,
            std::time::SystemTime::now(),
        )
        .map(drop)
    }

    async fn read(
        &self,
        operation: &str,
        request: ReadRequest,
    ) -> Result<Box<dyn RecordReader>, ConnectorError> {
        if operation != "read" {
            return Err(unknown_operation(operation));
        }
        let params: HttpReadParams = crate::parse_params(KIND, operation, &request.params)?;
        let reader = HttpReader::new(self.client.clone(), params)?;
        Ok(Box::new(reader.with_projection(request.projection)))
    }

    async fn write(
        &self,
        operation: &str,
        params: &Value,
        records: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        if operation != "write" {
            return Err(unknown_operation(operation));
        }
        let params: HttpWriteParams = crate::parse_params(KIND, operation, params)?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        write::write(&self.client, &params, records).await
    }

    async fn lookup(
        &self,
        operation: &str,
        params: &Value,
        key: &str,
    ) -> Result<Lookup, ConnectorError> {
        if operation != "write" {
            return Err(unknown_operation(operation));
        }
        let params: HttpWriteParams = crate::parse_params(KIND, operation, params)?;
        write::find_by_key(&self.client, &params, key).await
    }
}

fn unknown_operation(operation: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "the `http` connector has no operation `{operation}`; it offers `read` and `write`"
    ))
}
