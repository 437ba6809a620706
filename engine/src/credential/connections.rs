//! [`Connections`]: create, update, show, list, delete, test and resolve a tenant's stored
//! connections. Credentials are split from the settings by the connector's declarations,
//! sealed before they reach the store, and opened only in memory when a connection is resolved
//! for a run or a test.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::key::MasterKey;
use super::redact::{RedactingInstance, Redactor};
use super::seal::{associated_data, open, seal};
use super::split::{merge_patch, public_view, secret_fields, secret_strings, split};
use crate::connector::{ConnectorContext, ConnectorInstance, Registry};
use crate::store::{ConnectionRow, ConnectionStore, Resealed, StoreError, now};

/// Longest tenant id or connection name.
const MAX_NAME_LEN: usize = 64;

/// A stored-connection failure. No variant carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No connection by that name for that tenant (also what another tenant's name gives).
    #[error(
        "tenant `{tenant}` has no stored connection `{name}` (`ferry connection list --tenant {tenant}`)"
    )]
    NotFound {
        /// Tenant asked.
        tenant: String,
        /// Name asked.
        name: String,
    },
    /// The tenant already has a connection by that name.
    #[error(
        "tenant `{tenant}` already has a connection `{name}`; change it with `ferry connection update`"
    )]
    Exists {
        /// Tenant.
        tenant: String,
        /// Name.
        name: String,
    },
    /// A tenant id or connection name that is not `[A-Za-z0-9_.-]{1,64}`.
    #[error("invalid {what} `{value}`: use 1 to 64 letters, digits, `_`, `-` or `.`")]
    InvalidName {
        /// `tenant` or `connection name`.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// The connector kind is not registered.
    #[error("unknown connector `{kind}`; known: {known}")]
    UnknownConnector {
        /// Kind given.
        kind: String,
        /// Registered kinds.
        known: String,
    },
    /// The config is not what the connector accepts (credentials redacted).
    #[error("connection `{name}`: {message}")]
    InvalidConfig {
        /// Connection name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// No master key is configured, and one is needed.
    #[error("no master key: set FERRY_MASTER_KEY (base64 of 32 bytes) or --master-key-file")]
    NoMasterKey,
    /// The credentials were sealed with another key than the one configured.
    #[error(
        "connection `{name}` of tenant `{tenant}` was encrypted with master key {stored}, but the configured key is {current}; start Ferry with the key it was stored with"
    )]
    WrongKey {
        /// Tenant.
        tenant: String,
        /// Connection name.
        name: String,
        /// Key id stored with the ciphertext.
        stored: String,
        /// Key id of the configured key.
        current: String,
    },
    /// The credentials do not decrypt with the key they name (altered or copied row).
    #[error("connection `{name}` of tenant `{tenant}`: credentials {reason}")]
    Undecryptable {
        /// Tenant.
        tenant: String,
        /// Connection name.
        name: String,
        /// What failed.
        reason: String,
    },
    /// "Test connection" failed; the message says what (credentials redacted).
    #[error("connection `{name}`: test failed: {message}")]
    TestFailed {
        /// Connection name.
        name: String,
        /// The connector's error.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A connection to create.
#[derive(Debug, Clone)]
pub struct NewConnection {
    /// Name, unique per tenant.
    pub name: String,
    /// Connector kind.
    pub connector: String,
    /// The full config, credentials included; they are split off by the connector's
    /// declarations.
    pub config: Value,
}

/// A stored connection as anyone may see it: credentials show as `"<set>"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionView {
    /// Tenant.
    pub tenant: String,
    /// Name.
    pub name: String,
    /// Connector kind.
    pub connector: String,
    /// The config, each set credential replaced by `"<set>"`.
    pub config: Value,
    /// Dot paths of the credentials that are set.
    pub credentials: Vec<String>,
    /// Id of the master key the credentials are sealed with.
    pub key_id: String,
    /// Created, RFC 3339 UTC.
    pub created_at: String,
    /// Last changed, RFC 3339 UTC.
    pub updated_at: String,
}

/// A stored connection opened for use: the full config in memory, never stored or logged.
#[derive(Clone)]
pub struct ResolvedConnection {
    /// Connector kind.
    pub connector: String,
    /// Settings and credentials together.
    pub config: Value,
    /// The credential values, for redaction.
    pub secrets: Vec<String>,
}

/// The config holds credentials; debug output shows only its kind.
impl fmt::Debug for ResolvedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedConnection")
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

/// Checks a tenant id or connection name: `[A-Za-z0-9_.-]{1,64}`. Names go into associated data
/// and file-like listings, so they stay plain.
pub fn check_name(what: &'static str, value: &str) -> Result<(), ConnectionError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ConnectionError::InvalidName {
            what,
            value: value.chars().take(MAX_NAME_LEN).collect(),
        })
    }
}

/// Stored connections of every tenant; each method takes the tenant it acts for.
#[derive(Clone)]
pub struct Connections {
    store: Arc<dyn ConnectionStore>,
    key: Option<Arc<MasterKey>>,
    registry: Registry,
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("key", &self.key)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Stored connections in `store`, sealed with `key` (without one, connections can be
    /// listed and shown but not created, changed or used).
    pub fn new(
        store: Arc<dyn ConnectionStore>,
        key: Option<MasterKey>,
        registry: Registry,
    ) -> Connections {
        Connections {
            store,
            key: key.map(Arc::new),
            registry,
        }
    }

    /// The configured key's id.
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_deref().map(MasterKey::id)
    }

    fn key(&self) -> Result<&MasterKey, ConnectionError> {
        self.key.as_deref().ok_or(ConnectionError::NoMasterKey)
    }

    fn credential_paths(&self, kind: &str) -> Result<Vec<&'static str>, ConnectionError> {
        match self.registry.spec(kind) {
            Some(spec) => Ok(spec.credentials.clone()),
            None => Err(ConnectionError::UnknownConnector {
                kind: kind.to_string(),
                known: self.registry.kinds().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// Creates a connection from its full config.
    pub async fn create(
        &self,
        tenant: &str,
        new: &NewConnection,
    ) -> Result<ConnectionView, ConnectionError> {
        check_name("tenant", tenant)?;
        check_name("connection name", &new.name)?;
        let at = now();
        let row = self
            .sealed_row(tenant, &new.name, &new.connector, &new.config, &at)
            .await?;
        if !self.store.insert_connection(&row).await? {
            return Err(ConnectionError::Exists {
                tenant: tenant.into(),
                name: new.name.clone(),
            });
        }
        view(row)
    }

    /// Changes a connection: `patch` is merged over the stored config (credentials included)
    /// as a JSON merge patch: `null` removes a field, `"<set>"` keeps a credential. A new
    /// `connector` replaces the kind.
    pub async fn update(
        &self,
        tenant: &str,
        name: &str,
        connector: Option<&str>,
        patch: &Value,
    ) -> Result<ConnectionView, ConnectionError> {
        let current = self.resolve(tenant, name).await?;
        let row = self.row(tenant, name).await?;
        let mut config = current.config;
        merge_patch(&mut config, patch);
        let kind = connector.unwrap_or(&current.connector);
        let mut sealed = self.sealed_row(tenant, name, kind, &config, &now()).await?;
        sealed.created_at = row.created_at;
        if !self.store.update_connection(&sealed).await? {
            return Err(not_found(tenant, name));
        }
        view(sealed)
    }

    /// One connection, credentials shown as `"<set>"`. Needs no key.
    pub async fn get(&self, tenant: &str, name: &str) -> Result<ConnectionView, ConnectionError> {
        view(self.row(tenant, name).await?)
    }

    /// A tenant's connections, by name. Needs no key.
    pub async fn list(&self, tenant: &str) -> Result<Vec<ConnectionView>, ConnectionError> {
        check_name("tenant", tenant)?;
        self.store
            .list_connections(tenant)
            .await?
            .into_iter()
            .map(view)
            .collect()
    }

    /// Deletes a connection.
    pub async fn delete(&self, tenant: &str, name: &str) -> Result<(), ConnectionError> {
        check_name("tenant", tenant)?;
        if self.store.delete_connection(tenant, name).await? {
            Ok(())
        } else {
            Err(not_found(tenant, name))
        }
    }

    /// Opens a connection for use: settings and credentials together, in memory only.
    pub async fn resolve(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<ResolvedConnection, ConnectionError> {
        let row = self.row(tenant, name).await?;
        let secret = self.open_row(&row)?;
        let mut config: Value = serde_json::from_str(&row.config)
            .map_err(|e| StoreError::Corrupt(format!("connection `{name}` config: {e}")))?;
        merge_patch(&mut config, &secret);
        Ok(ResolvedConnection {
            connector: row.connector,
            config,
            secrets: secret_strings(&secret),
        })
    }

    /// Builds the connector of `resolved` with `cx`, errors and answers redacted.
    pub async fn build(
        &self,
        name: &str,
        resolved: &ResolvedConnection,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectionError> {
        let connector = self.registry.get(&resolved.connector).ok_or_else(|| {
            ConnectionError::UnknownConnector {
                kind: resolved.connector.clone(),
                known: self.registry.kinds().collect::<Vec<_>>().join(", "),
            }
        })?;
        let redactor = Redactor::new(resolved.secrets.iter().cloned());
        // Secrets the connector obtains while it runs (refreshed tokens) are redacted too.
        let cx = cx.clone().with_redactor(redactor.clone());
        let instance = connector.build(&resolved.config, &cx).await.map_err(|e| {
            ConnectionError::InvalidConfig {
                name: name.to_string(),
                message: redactor.redact_error(e).to_string(),
            }
        })?;
        Ok(RedactingInstance::wrap(instance, redactor))
    }

    /// "Test connection": builds the connector and runs its health check.
    pub async fn test(
        &self,
        tenant: &str,
        name: &str,
        cx: &ConnectorContext,
    ) -> Result<(), ConnectionError> {
        let resolved = self.resolve(tenant, name).await?;
        // A health check may refresh an OAuth2 token: a rotated refresh token is kept.
        let keeper = super::StoredCredentials::new(self.clone(), tenant, name);
        let cx = cx.clone().with_credentials(Arc::new(keeper));
        let instance = self.build(name, &resolved, &cx).await?;
        instance
            .health_check()
            .await
            .map_err(|e| ConnectionError::TestFailed {
                name: name.to_string(),
                message: e.to_string(),
            })
    }

    /// Re-seals every credential of every tenant under `new_key`, in one transaction; returns
    /// how many connections were re-encrypted. Every row must open with the current key first:
    /// one that does not stops the rotation before anything is written.
    pub async fn rotate(&self, new_key: &MasterKey) -> Result<u64, ConnectionError> {
        let rows = self.store.all_connections().await?;
        let mut resealed = Vec::with_capacity(rows.len());
        for row in &rows {
            let aad = associated_data(&row.tenant_id, &row.name);
            let plain = self.open_bytes(row)?;
            resealed.push(Resealed {
                tenant_id: row.tenant_id.clone(),
                name: row.name.clone(),
                credentials: seal(new_key, &aad, &plain),
                key_id: new_key.id().to_string(),
                previous_key_id: row.key_id.clone(),
            });
        }
        Ok(self.store.reseal_connections(&resealed).await?)
    }

    async fn row(&self, tenant: &str, name: &str) -> Result<ConnectionRow, ConnectionError> {
        check_name("tenant", tenant)?;
        self.store
            .get_connection(tenant, name)
            .await?
            .ok_or_else(|| not_found(tenant, name))
    }

    fn open_bytes(&self, row: &ConnectionRow) -> Result<Vec<u8>, ConnectionError> {
        let key = self.key()?;
        if row.key_id != key.id() {
            return Err(ConnectionError::WrongKey {
                tenant: row.tenant_id.clone(),
                name: row.name.clone(),
                stored: row.key_id.clone(),
                current: key.id().to_string(),
            });
        }
        open(
            key,
            &associated_data(&row.tenant_id, &row.name),
            &row.credentials,
        )
        .map_err(|e| ConnectionError::Undecryptable {
            tenant: row.tenant_id.clone(),
            name: row.name.clone(),
            reason: e.to_string(),
        })
    }

    fn open_row(&self, row: &ConnectionRow) -> Result<Value, ConnectionError> {
        let plain = self.open_bytes(row)?;
        serde_json::from_slice(&plain).map_err(|_| ConnectionError::Undecryptable {
            tenant: row.tenant_id.clone(),
            name: row.name.clone(),
            reason: "decrypt but are not JSON".into(),
        })
    }

    /// Checks `config` with the connector and seals its credentials into a row.
    async fn sealed_row(
        &self,
        tenant: &str,
        name: &str,
        kind: &str,
        config: &Value,
        at: &str,
    ) -> Result<ConnectionRow, ConnectionError> {
        let paths = self.credential_paths(kind)?;
        let key = self.key()?;
        if !config.is_object() {
            return Err(ConnectionError::InvalidConfig {
                name: name.into(),
                message: "the config must be a JSON object".into(),
            });
        }
        let (public, secret) = split(config, &paths);
        self.check_config(name, kind, config, &secret).await?;
        let fields = secret_fields(&secret);
        let plain = serde_json::to_vec(&secret).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(ConnectionRow {
            tenant_id: tenant.into(),
            name: name.into(),
            connector: kind.into(),
            config: public.to_string(),
            secret_fields: serde_json::to_string(&fields)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            credentials: seal(key, &associated_data(tenant, name), &plain),
            key_id: key.id().to_string(),
            created_at: at.into(),
            updated_at: at.into(),
        })
    }

    /// The connector parses the config as a run would (unknown fields, wrong types), without
    /// I/O: a typo such as `acess_token` is refused instead of being stored as a setting.
    async fn check_config(
        &self,
        name: &str,
        kind: &str,
        config: &Value,
        secret: &Value,
    ) -> Result<(), ConnectionError> {
        let Some(connector) = self.registry.get(kind) else {
            return Err(ConnectionError::UnknownConnector {
                kind: kind.into(),
                known: self.registry.kinds().collect::<Vec<_>>().join(", "),
            });
        };
        let cx = ConnectorContext::new(reqwest::Client::new(), ".");
        let redactor = Redactor::new(secret_strings(secret));
        match connector.build(config, &cx).await {
            Ok(_) => Ok(()),
            Err(e) => Err(ConnectionError::InvalidConfig {
                name: name.into(),
                message: redactor.redact_error(e).to_string(),
            }),
        }
    }
}

fn not_found(tenant: &str, name: &str) -> ConnectionError {
    ConnectionError::NotFound {
        tenant: tenant.into(),
        name: name.into(),
    }
}

fn view(row: ConnectionRow) -> Result<ConnectionView, ConnectionError> {
    let public: Value = serde_json::from_str(&row.config)
        .map_err(|e| StoreError::Corrupt(format!("connection `{}` config: {e}", row.name)))?;
    let fields: Vec<String> = serde_json::from_str(&row.secret_fields).map_err(|e| {
        StoreError::Corrupt(format!("connection `{}` secret fields: {e}", row.name))
    })?;
    Ok(ConnectionView {
        config: public_view(&public, &fields),
        credentials: fields,
        tenant: row.tenant_id,
        name: row.name,
        connector: row.connector,
        key_id: row.key_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
