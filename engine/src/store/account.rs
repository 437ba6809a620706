//! Who may use the API: tenants, users and their roles, API tokens, UI sessions, and the audit
//! log. Secrets (passwords, tokens, session ids) are stored only as hashes; the HTTP layer
//! hashes them (`http::auth`) before they reach the store.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use super::{Result, RunId, RunRow, RunStatus, StoreError};

string_enum!(
    /// What a user may do; the permission matrix is `http::access`.
    Role {
        /// The installation: tenants, users, everything.
        Admin = "admin",
        /// Builds flows and templates for the tenants it is given.
        Integrator = "integrator",
        /// A tenant's own user: its flows' runs, settings and connections.
        Merchant = "merchant",
        /// Reads runs and logs of its tenants and replays failed records.
        Support = "support",
    }
);

/// Whether `id` can name a tenant or user-visible object: 1–64 of `a-z 0-9 _ -`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A tenant (a merchant served by the installation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Stable id (`[a-z0-9_-]`), used in flows' `tenant`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: String,
}

/// A user as stored, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: i64,
    /// Login email (unique).
    pub email: String,
    /// Role.
    pub role: Role,
    /// Tenants the user works for (none for an admin, who sees every tenant).
    pub tenants: Vec<String>,
    /// A disabled user can neither log in nor use its tokens.
    pub disabled: bool,
    /// Creation time.
    pub created_at: String,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login email.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Tenants it is given.
    pub tenants: Vec<String>,
}

/// An API token as listed (the token itself is shown once, at creation, and never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Token id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// What it is for.
    pub name: String,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    /// Creation time.
    pub created_at: String,
    /// Last time a request used it.
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// An audit entry to write.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// Acting user.
    pub user_id: Option<i64>,
    /// Its email, kept even if the user is deleted later.
    pub user_email: String,
    /// Tenant of the object, when it has one.
    pub tenant_id: Option<String>,
    /// What was done (`flow.update`, `record.replay`, …).
    pub action: String,
    /// Kind of object (`flow`, `user`, …).
    pub object_type: String,
    /// Its id.
    pub object_id: String,
    /// Short detail (never a secret).
    pub detail: Option<String>,
}

/// An audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// Acting user's email.
    pub user_email: String,
    /// Tenant of the object.
    pub tenant_id: Option<String>,
    /// What was done.
    pub action: String,
    /// Kind of object.
    pub object_type: String,
    /// Its id.
    pub object_id: String,
    /// Short detail.
    pub detail: Option<String>,
    /// When.
    pub created_at: String,
}

/// Which audit entries to list, newest first (`GET /api/v1/audit`).
#[derive(Debug, Clone)]
pub struct AuditFilter {
    /// Only entries of these tenants; `None` lists every entry, tenant-less ones included.
    pub tenants: Option<Vec<String>>,
    /// Only entries whose user's email contains this (ASCII case ignored).
    pub user: Option<String>,
    /// Only entries whose action is this or starts with it (`flow.` for every flow change).
    pub action: Option<String>,
    /// Only entries about the object with this id.
    pub object_id: Option<String>,
    /// Only entries made at or after this time (RFC 3339 UTC, as stored).
    pub since: Option<String>,
    /// Only entries made at or before this time (RFC 3339 UTC, as stored).
    pub until: Option<String>,
    /// Only entries older than this id: the last id of the previous page, for paging.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            tenants: None,
            user: None,
            action: None,
            object_id: None,
            since: None,
            until: None,
            before: None,
            limit: 100,
        }
    }
}

/// Which runs to list. `tenants: None` means every tenant.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs of flows of these tenants.
    pub tenants: Option<Vec<String>>,
    /// Only this flow.
    pub flow_id: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Started at or after (RFC 3339).
    pub from: Option<String>,
    /// Started before (RFC 3339).
    pub to: Option<String>,
    /// Only runs that logged a record with this business key (an order number).
    pub business_key: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Accounts, sessions, the audit log, and tenant-scoped reads of runs.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a tenant; `None` when the id is taken.
    async fn create_tenant(&self, id: &str, name: &str) -> Result<Option<Tenant>>;
    /// One tenant.
    async fn get_tenant(&self, id: &str) -> Result<Option<Tenant>>;
    /// Tenants, by id; `scope: None` lists all.
    async fn list_tenants(&self, scope: Option<&[String]>) -> Result<Vec<Tenant>>;

    /// Creates a user; `None` when the email is taken.
    async fn create_user(&self, new: &NewUser) -> Result<Option<User>>;
    /// One user.
    async fn get_user(&self, id: i64) -> Result<Option<User>>;
    /// A user and its password hash, by email (case-insensitive).
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;
    /// Users, by id; `scope: Some` lists those given one of these tenants.
    async fn list_users(&self, scope: Option<&[String]>) -> Result<Vec<User>>;
    /// Disables or enables a user; a disabled user's sessions are deleted.
    async fn set_user_disabled(&self, id: i64, disabled: bool) -> Result<()>;
    /// Replaces a user's password hash.
    async fn set_password(&self, id: i64, password_hash: &str) -> Result<()>;
    /// How many enabled admins exist.
    async fn count_admins(&self) -> Result<i64>;

    /// Stores a token's hash.
    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        prefix: &str,
    ) -> Result<ApiToken>;
    /// A user's tokens, newest first.
    async fn list_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>>;
    /// One token.
    async fn get_token(&self, id: i64) -> Result<Option<ApiToken>>;
    /// Revokes a token (again is a no-op).
    async fn revoke_token(&self, id: i64) -> Result<()>;
    /// The enabled user owning an unrevoked token with this hash; notes the use.
    async fn user_by_token(&self, token_hash: &str) -> Result<Option<User>>;

    /// Stores a session (hash of its id) until `expires_at`.
    async fn create_session(&self, id_hash: &str, user_id: i64, expires_at: &str) -> Result<()>;
    /// The enabled user of an unexpired session.
    async fn user_by_session(&self, id_hash: &str, now: &str) -> Result<Option<User>>;
    /// Ends a session.
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    /// Appends to the audit log.
    async fn append_audit(&self, entry: &NewAudit) -> Result<()>;
    /// Audit entries matching `filter`, newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;

    /// Runs matching `query`, newest first.
    async fn query_runs(&self, query: &RunQuery) -> Result<Vec<RunRow>>;
    /// Tenant of a run (of its flow when it ran).
    async fn run_tenant(&self, run_id: RunId) -> Result<Option<String>>;
    /// Deletes a flow and its schedule; `false` when there was none.
    async fn delete_flow(&self, id: &str) -> Result<bool>;
}
