//! The [`CredentialKeeper`] of a stored connection: connectors save the credentials their vendor
//! changed (a rotated OAuth2 refresh token) back into the tenant's sealed connection, so the next
//! run, in this process or another, starts from them.

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;

use super::Connections;
use crate::connector::CredentialKeeper;

/// One stored connection of one tenant, as a [`CredentialKeeper`].
#[derive(Clone)]
pub struct StoredCredentials {
    connections: Connections,
    tenant: String,
    name: String,
}

impl StoredCredentials {
    /// The keeper of `tenant`'s connection `name`.
    pub fn new(
        connections: Connections,
        tenant: impl Into<String>,
        name: impl Into<String>,
    ) -> StoredCredentials {
        StoredCredentials {
            connections,
            tenant: tenant.into(),
            name: name.into(),
        }
    }
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CredentialKeeper for StoredCredentials {
    async fn load(&self) -> Result<Value, String> {
        self.connections
            .resolve(&self.tenant, &self.name)
            .await
            .map(|resolved| resolved.config)
            .map_err(|e| e.to_string())
    }

    async fn save(&self, changes: Value) -> Result<(), String> {
        self.connections
            .update(&self.tenant, &self.name, None, &changes)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
