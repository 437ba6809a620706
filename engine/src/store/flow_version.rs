//! Immutable published versions of flows: every save through the API appends one; a rollback
//! appends an old definition again. Expanded once per database like `sql.rs`.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{PgStore, Result, SqliteStore, now};

/// One published version of a flow.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FlowVersion {
    /// Flow id.
    pub flow_id: String,
    /// 1, 2, 3… per flow.
    pub version_no: i64,
    /// The flow file's JSON text as saved.
    pub definition: String,
    /// Hash of the definition (the run's `flow_version`).
    pub hash: String,
    /// Email of who saved it.
    pub published_by: String,
    /// When.
    pub created_at: String,
}

/// Flow versions.
#[async_trait]
pub trait FlowVersionStore: Send + Sync {
    /// Appends a version (number = last + 1) and returns it.
    async fn publish_version(
        &self,
        tenant: &str,
        flow_id: &str,
        definition: &str,
        hash: &str,
        published_by: &str,
    ) -> Result<FlowVersion>;
    /// A flow's versions, newest first (without definitions' order mattering).
    async fn list_versions(&self, flow_id: &str) -> Result<Vec<FlowVersion>>;
    /// One version.
    async fn get_version(&self, flow_id: &str, version_no: i64) -> Result<Option<FlowVersion>>;
}

macro_rules! impl_flow_version_store {
    ($store:ty) => {
        #[async_trait]
        impl FlowVersionStore for $store {
            async fn publish_version(
                &self,
                tenant: &str,
                flow_id: &str,
                definition: &str,
                hash: &str,
                published_by: &str,
            ) -> Result<FlowVersion> {
                let at = now();
                // The unique (flow_id, version_no) makes a concurrent publish fail rather than
                // share a number.
                Ok(sqlx::query_as(
                    "insert into flow_version (tenant_id, flow_id, version_no, definition, hash, published_by, created_at, updated_at) \
                     values ($1, $2, (select coalesce(max(version_no), 0) + 1 from flow_version where flow_id = $2), $3, $4, $5, $6, $6) \
                     returning flow_id, version_no, definition, hash, published_by, created_at",
                )
                .bind(tenant)
                .bind(flow_id)
                .bind(definition)
                .bind(hash)
                .bind(published_by)
                .bind(&at)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_versions(&self, flow_id: &str) -> Result<Vec<FlowVersion>> {
                Ok(sqlx::query_as(
                    "select flow_id, version_no, definition, hash, published_by, created_at from flow_version \
                     where flow_id = $1 order by version_no desc",
                )
                .bind(flow_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn get_version(&self, flow_id: &str, version_no: i64) -> Result<Option<FlowVersion>> {
                Ok(sqlx::query_as(
                    "select flow_id, version_no, definition, hash, published_by, created_at from flow_version \
                     where flow_id = $1 and version_no = $2",
                )
                .bind(flow_id)
                .bind(version_no)
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

impl_flow_version_store!(SqliteStore);
impl_flow_version_store!(PgStore);
