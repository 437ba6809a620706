//! Alert deliveries: what was sent to whom and whether it arrived ([`AlertStore`]), when each
//! flow last succeeded (for heartbeat alerts), and each tenant's default alert settings.
//! Expanded once per database like `sql.rs`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder};

use crate::alert::AlertSettings;

use super::sql::push_list;
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
        /// Sent by hand (`ferry alerts test`, `POST /api/v1/flows/{flow_id}/alerts/test`) to
        /// check the channels.
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

/// A delivery to log. Its tenant is the flow's (stored with the row, so the log stays
/// tenant-scoped after the flow is deleted).
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
    /// Tenant of the flow when the alert was sent.
    pub tenant_id: String,
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
    /// Only deliveries of flows of these tenants; `None` lists every tenant's.
    pub tenants: Option<Vec<String>>,
    /// Only this flow.
    pub flow_id: Option<String>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only deliveries that were sent, or only those that failed.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries made at or after this time (RFC 3339 UTC, as stored).
    pub since: Option<String>,
    /// Only deliveries made at or before this time (RFC 3339 UTC, as stored).
    pub until: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        DeliveryFilter {
            tenants: None,
            flow_id: None,
            kind: None,
            status: None,
            since: None,
            until: None,
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

/// A tenant's default alert settings, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantAlerts {
    /// Tenant id.
    pub tenant_id: String,
    /// The settings flows of the tenant without their own `alerts` use.
    pub settings: AlertSettings,
    /// When they were last set, RFC 3339 UTC.
    pub updated_at: String,
}

/// The alert delivery log and the tenants' default alert settings.
#[async_trait]
pub trait AlertStore: Store {
    /// Logs one delivery under its flow's tenant (`default` for a flow not stored); returns
    /// its id.
    async fn record_alert_delivery(&self, delivery: &NewAlertDelivery) -> Result<i64>;
    /// Deliveries, newest first.
    async fn alert_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<AlertDelivery>>;
    /// For every flow that has runs: when it last succeeded and when it first ran.
    async fn flow_run_times(&self) -> Result<Vec<FlowRunTimes>>;

    /// The tenant's default alert settings; `None` when it has none (or no such tenant).
    async fn tenant_alerts(&self, tenant: &str) -> Result<Option<TenantAlerts>>;
    /// Sets (replaces) the tenant's default alert settings; callers validate them first.
    /// `false` when there is no such tenant.
    async fn set_tenant_alerts(&self, tenant: &str, settings: &AlertSettings) -> Result<bool>;
    /// Removes the tenant's default: its flows fall back to the installation's. `false` when
    /// it had none.
    async fn delete_tenant_alerts(&self, tenant: &str) -> Result<bool>;
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
    tenant_id: String,
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
            tenant_id: r.tenant_id,
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

#[derive(FromRow)]
struct TenantAlertDbRow {
    tenant_id: String,
    settings: String,
    updated_at: String,
}

impl TryFrom<TenantAlertDbRow> for TenantAlerts {
    type Error = StoreError;
    fn try_from(r: TenantAlertDbRow) -> Result<Self> {
        let settings = serde_json::from_str(&r.settings).map_err(|e| {
            StoreError::Corrupt(format!("alert settings of tenant `{}`: {e}", r.tenant_id))
        })?;
        Ok(TenantAlerts {
            tenant_id: r.tenant_id,
            settings,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! impl_alert_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl AlertStore for $store {
            async fn record_alert_delivery(&self, d: &NewAlertDelivery) -> Result<i64> {
                let id: i64 = sqlx::query_scalar(
                    "insert into alert_delivery (flow_id, run_id, channel, recipient, kind, status, error, created_at, tenant_id) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce((select tenant_id from flow where id = $1), 'default')) returning id",
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
                let mut q = QueryBuilder::<$db>::new(
                    "select id, tenant_id, flow_id, run_id, channel, recipient, kind, status, error, created_at \
                     from alert_delivery where 1 = 1",
                );
                if let Some(tenants) = &filter.tenants {
                    if tenants.is_empty() {
                        return Ok(Vec::new());
                    }
                    push_list(&mut q, " and tenant_id in (", tenants, ")");
                }
                if let Some(flow_id) = &filter.flow_id {
                    q.push(" and flow_id = ").push_bind(flow_id);
                }
                if let Some(kind) = filter.kind {
                    q.push(" and kind = ").push_bind(kind.as_str());
                }
                if let Some(status) = filter.status {
                    q.push(" and status = ").push_bind(status.as_str());
                }
                if let Some(since) = &filter.since {
                    q.push(" and created_at >= ").push_bind(since);
                }
                if let Some(until) = &filter.until {
                    q.push(" and created_at <= ").push_bind(until);
                }
                q.push(" order by id desc limit ").push_bind(filter.limit);
                let rows: Vec<DeliveryDbRow> = q.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(AlertDelivery::try_from).collect()
            }

            async fn flow_run_times(&self) -> Result<Vec<FlowRunTimes>> {
                let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
                    "select flow_id, max(case when status = 'succeeded' then finished_at end), min(started_at) \
                     from run group by flow_id order by flow_id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(flow_id, last_success_at, first_run_at)| FlowRunTimes { flow_id, last_success_at, first_run_at })
                    .collect())
            }

            async fn tenant_alerts(&self, tenant: &str) -> Result<Option<TenantAlerts>> {
                let row: Option<TenantAlertDbRow> = sqlx::query_as(
                    "select tenant_id, settings, updated_at from tenant_alert where tenant_id = $1",
                )
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TenantAlerts::try_from).transpose()
            }

            async fn set_tenant_alerts(&self, tenant: &str, settings: &AlertSettings) -> Result<bool> {
                let json = serde_json::to_string(settings)
                    .map_err(|e| StoreError::Corrupt(format!("alert settings: {e}")))?;
                // Selecting from `tenant` makes an unknown tenant write nothing (and say so).
                let done = sqlx::query(
                    "insert into tenant_alert (tenant_id, settings, created_at, updated_at) \
                     select id, $2, $3, $3 from tenant where id = $1 \
                     on conflict (tenant_id) do update set settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(tenant)
                .bind(json)
                .bind(now())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_tenant_alerts(&self, tenant: &str) -> Result<bool> {
                let done = sqlx::query("delete from tenant_alert where tenant_id = $1")
                    .bind(tenant)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_alert_store!(SqliteStore, sqlx::Sqlite);
impl_alert_store!(PgStore, sqlx::Postgres);
