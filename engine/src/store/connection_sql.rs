//! Stored connections ([`ConnectionStore`]): rows of `connection`, one per tenant and name.
//! The store keeps what it is given: sealing credentials and splitting them from the settings
//! is [`crate::credential`]'s job, so no method here ever sees a credential in clear.
//! Expanded once per database like `sql.rs`.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::FromRow;

use super::Result;
use super::{PgStore, SqliteStore};

/// A `connection` row.
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct ConnectionRow {
    /// Tenant the connection belongs to.
    pub tenant_id: String,
    /// Name, unique per tenant (`shop`, `erp`).
    pub name: String,
    /// Connector kind.
    pub connector: String,
    /// Settings that are not credentials, JSON text.
    pub config: String,
    /// Dot paths of the credentials that are set, JSON array text (names only, never values).
    pub secret_fields: String,
    /// The sealed credentials: nonce then ciphertext.
    pub credentials: Vec<u8>,
    /// Id of the master key that sealed them.
    pub key_id: String,
    /// Created, RFC 3339 UTC.
    pub created_at: String,
    /// Last changed, RFC 3339 UTC.
    pub updated_at: String,
}

/// The sealed credentials are bytes of ciphertext; printing them helps no one.
impl std::fmt::Debug for ConnectionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRow")
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("connector", &self.connector)
            .field("config", &self.config)
            .field("secret_fields", &self.secret_fields)
            .field(
                "credentials",
                &format_args!("<{} bytes>", self.credentials.len()),
            )
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// New sealed credentials for one connection (key rotation).
#[derive(Clone, PartialEq, Eq)]
pub struct Resealed {
    /// Tenant.
    pub tenant_id: String,
    /// Connection name.
    pub name: String,
    /// The credentials sealed under the new key.
    pub credentials: Vec<u8>,
    /// The new key's id.
    pub key_id: String,
    /// The key id the row had when it was read; a row changed since is not overwritten.
    pub previous_key_id: String,
}

/// Persistence of stored connections. Every method scopes by tenant except the two that key
/// rotation needs, which work on every row.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Inserts a connection; `false` when the tenant already has one by that name.
    async fn insert_connection(&self, row: &ConnectionRow) -> Result<bool>;
    /// Replaces a connection's connector, config and credentials (not `created_at`); `false`
    /// when there is none by that name.
    async fn update_connection(&self, row: &ConnectionRow) -> Result<bool>;
    /// One connection of a tenant.
    async fn get_connection(&self, tenant_id: &str, name: &str) -> Result<Option<ConnectionRow>>;
    /// A tenant's connections, by name.
    async fn list_connections(&self, tenant_id: &str) -> Result<Vec<ConnectionRow>>;
    /// Deletes one connection; `false` when there was none.
    async fn delete_connection(&self, tenant_id: &str, name: &str) -> Result<bool>;
    /// Every connection of every tenant (key rotation).
    async fn all_connections(&self) -> Result<Vec<ConnectionRow>>;
    /// Writes re-sealed credentials, all or none, in one transaction; returns how many rows
    /// changed. Fails (and changes nothing) when a row is gone or was re-sealed meanwhile.
    async fn reseal_connections(&self, rows: &[Resealed]) -> Result<u64>;
}

/// Opens the store at `url` like [`super::open`], as a [`ConnectionStore`].
pub async fn open_connection_store(url: &str) -> Result<Arc<dyn ConnectionStore>> {
    Ok(match super::Database::open(url).await? {
        super::Database::Sqlite(store) => Arc::new(store),
        super::Database::Postgres(store) => Arc::new(store),
    })
}

macro_rules! connection_columns {
    () => {
        "tenant_id, name, connector, config, secret_fields, credentials, key_id, created_at, updated_at"
    };
}

macro_rules! impl_connection_store {
    ($store:ty) => {
        #[async_trait]
        impl ConnectionStore for $store {
            async fn insert_connection(&self, row: &ConnectionRow) -> Result<bool> {
                let done = sqlx::query(concat!(
                    "insert into connection (", connection_columns!(), ") \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (tenant_id, name) do nothing"
                ))
                .bind(&row.tenant_id)
                .bind(&row.name)
                .bind(&row.connector)
                .bind(&row.config)
                .bind(&row.secret_fields)
                .bind(&row.credentials)
                .bind(&row.key_id)
                .bind(&row.created_at)
                .bind(&row.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_connection(&self, row: &ConnectionRow) -> Result<bool> {
                let done = sqlx::query(
                    "update connection set connector = $1, config = $2, secret_fields = $3, credentials = $4, \
                     key_id = $5, updated_at = $6 where tenant_id = $7 and name = $8",
                )
                .bind(&row.connector)
                .bind(&row.config)
                .bind(&row.secret_fields)
                .bind(&row.credentials)
                .bind(&row.key_id)
                .bind(&row.updated_at)
                .bind(&row.tenant_id)
                .bind(&row.name)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_connection(&self, tenant_id: &str, name: &str) -> Result<Option<ConnectionRow>> {
                Ok(sqlx::query_as(concat!(
                    "select ", connection_columns!(), " from connection where tenant_id = $1 and name = $2"
                ))
                .bind(tenant_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn list_connections(&self, tenant_id: &str) -> Result<Vec<ConnectionRow>> {
                Ok(sqlx::query_as(concat!(
                    "select ", connection_columns!(), " from connection where tenant_id = $1 order by name"
                ))
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn delete_connection(&self, tenant_id: &str, name: &str) -> Result<bool> {
                let done = sqlx::query("delete from connection where tenant_id = $1 and name = $2")
                    .bind(tenant_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn all_connections(&self) -> Result<Vec<ConnectionRow>> {
                Ok(sqlx::query_as(concat!(
                    "select ", connection_columns!(), " from connection order by tenant_id, name"
                ))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn reseal_connections(&self, rows: &[Resealed]) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let mut changed = 0;
                for row in rows {
                    let done = sqlx::query(
                        "update connection set credentials = $1, key_id = $2 \
                         where tenant_id = $3 and name = $4 and key_id = $5",
                    )
                    .bind(&row.credentials)
                    .bind(&row.key_id)
                    .bind(&row.tenant_id)
                    .bind(&row.name)
                    .bind(&row.previous_key_id)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        // Dropping `tx` rolls everything back.
                        return Err(super::StoreError::Conflict(format!(
                            "connection `{}` of tenant `{}` changed during key rotation; nothing was re-encrypted, run it again",
                            row.name, row.tenant_id
                        )));
                    }
                    changed += 1;
                }
                tx.commit().await?;
                Ok(changed)
            }
        }
    };
}

impl_connection_store!(SqliteStore);
impl_connection_store!(PgStore);
