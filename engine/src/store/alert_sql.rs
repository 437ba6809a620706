//! Alert deliveries: what was sent to whom and whether it arrived ([`AlertStore`]), and when
//! each flow last succeeded (for heartbeat alerts). Expanded once per database like `sql.rs`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::FromRow;

use super::{PgStore, SqliteStore};
use super::{Result, RunId, Store, StoreError, now};

string_enum!(
    /// Why an alert was sent.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    AlertKind {
        /// A run ended `failed` or `error`.
        Failure = "failure",
        /// A run ended `succeeded`.
        Success = "success",
        /// A flow had no successful run for longer than its heartbeat period.
        Heartbeat = "heartbeat",
        /// Sent by hand (`ferry alerts test`) to check the channels.
        Test = "test",
    }
);

string_enum!(
    /// Whether a delivery reached its channel.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    DeliveryStatus {
        /// The SMTP server or webhook accepted it.
        Sent = "sent",
        /// It was refused or could not be delivered; `error` says why.
        Failed = "failed",
    }
);

/// A delivery to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertDelivery {
    /// Flow the alert is about.
    pub flow_id: String,
    /// Run the alert is about (none for heartbeat and test alerts).
    pub run_id: Option<RunId>,
    /// `email` or `webhook`.
    pub channel: String,
    /// Addresses (comma separated) or the webhook URL without its secret parts.
    pub recipient: String,
    /// Why it was sent.
    pub kind: AlertKind,
    /// Whether it arrived.
    pub status: DeliveryStatus,
    /// Why it did not arrive.
    pub error: Option<String>,
}

/// A logged delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    /// Row id.
    pub id: i64,
    /// Flow the alert is about.
    pub flow_id: String,
    /// Run the alert is about.
    pub run_id: Option<RunId>,
    /// `email` or `webhook`.
    pub channel: String,
    /// Addresses or URL.
    pub recipient: String,
    /// Why it was sent.
    pub kind: AlertKind,
    /// Whether it arrived.
    pub status: DeliveryStatus,
    /// Why it did not arrive.
    pub error: Option<String>,
    /// When, RFC 3339 UTC.
    pub created_at: String,
}

/// Which deliveries to list.
#[derive(Debug, Clone)]
pub struct DeliveryFilter {
    /// Only this flow.
    pub flow_id: Option<String>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only deliveries made at or after this time (RFC 3339 UTC, as stored).
    pub since: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        DeliveryFilter {
            flow_id: None,
            kind: None,
            since: None,
            limit: 100,
        }
    }
}

/// When a flow ran, as far as heartbeats care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRunTimes {
    /// Flow id.
    pub flow_id: String,
    /// End of its latest successful run, if it ever succeeded.
    pub last_success_at: Option<String>,
    /// Start of its first run.
    pub first_run_at: String,
}

/// The alert delivery log.
#[async_trait]
pub trait AlertStore: Store {
    /// Logs one delivery; returns its id.
    async fn record_alert_delivery(&self, delivery: &NewAlertDelivery) -> Result<i64>;
    /// Deliveries, newest first.
    async fn alert_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<AlertDelivery>>;
    /// For every flow that has runs: when it last succeeded and when it first ran.
    async fn flow_run_times(&self) -> Result<Vec<FlowRunTimes>>;
}

/// Opens the store at `url` like [`super::open`], as an [`AlertStore`].
pub async fn open_alert_store(url: &str) -> Result<Arc<dyn AlertStore>> {
    Ok(match super::Database::open(url).await? {
        super::Database::Sqlite(store) => Arc::new(store),
        super::Database::Postgres(store) => Arc::new(store),
    })
}

#[derive(FromRow)]
struct DeliveryDbRow {
    id: i64,
    flow_id: String,
    run_id: Option<i64>,
    channel: String,
    recipient: String,
    kind: String,
    status: String,
    error: Option<String>,
    created_at: String,
}

impl TryFrom<DeliveryDbRow> for AlertDelivery {
    type Error = StoreError;
    fn try_from(r: DeliveryDbRow) -> Result<Self> {
        Ok(AlertDelivery {
            id: r.id,
            flow_id: r.flow_id,
            run_id: r.run_id,
            channel: r.channel,
            recipient: r.recipient,
            kind: AlertKind::from_str(&r.kind)?,
            status: DeliveryStatus::from_str(&r.status)?,
            error: r.error,
            created_at: r.created_at,
        })
    }
}

macro_rules! impl_alert_store {
    ($store:ty) => {
        #[async_trait]
        impl AlertStore for $store {
            async fn record_alert_delivery(&self, d: &NewAlertDelivery) -> Result<i64> {
                let id: i64 = sqlx::query_scalar(
                    "insert into alert_delivery (flow_id, run_id, channel, recipient, kind, status, error, created_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
                )
                .bind(&d.flow_id)
                .bind(d.run_id)
                .bind(&d.channel)
                .bind(&d.recipient)
                .bind(d.kind.as_str())
                .bind(d.status.as_str())
                .bind(&d.error)
                .bind(now())
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn alert_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<AlertDelivery>> {
                let rows: Vec<DeliveryDbRow> = sqlx::query_as(
                    "select id, flow_id, run_id, channel, recipient, kind, status, error, created_at \
                     from alert_delivery where tenant_id = 'default' \
                     and ($1 is null or flow_id = $1) and ($2 is null or kind = $2) and ($3 is null or created_at >= $3) \
                     order by id desc limit $4",
                )
                .bind(filter.flow_id.as_deref())
                .bind(filter.kind.map(AlertKind::as_str))
                .bind(filter.since.as_deref())
                .bind(filter.limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(AlertDelivery::try_from).collect()
            }

            async fn flow_run_times(&self) -> Result<Vec<FlowRunTimes>> {
                let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
                    "select flow_id, max(case when status = 'succeeded' then finished_at end), min(started_at) \
                     from run where tenant_id = 'default' group by flow_id order by flow_id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(flow_id, last_success_at, first_run_at)| FlowRunTimes { flow_id, last_success_at, first_run_at })
                    .collect())
            }
        }
    };
}

impl_alert_store!(SqliteStore);
impl_alert_store!(PgStore);
