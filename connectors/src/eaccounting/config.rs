//! The `eaccounting` connection config and operation parameters, as users write them in a
//! flow. The doc comments here are the UI help text (they end up in the JSON schema).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::oauth2::OAuth2Config;

/// The production API root.
pub const DEFAULT_BASE_URL: &str = "https://eaccountingapi.vismaonline.com/v2";

/// Visma Connect's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://identity.vismaonline.com/connect/token";

/// Largest page size Ferry asks for (`$pagesize`).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A Visma eAccounting company reached through API v2 with an OAuth2 app (Visma Connect).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EAccountingConfig {
    /// The API root, `https://eaccountingapi.vismaonline.com/v2` (default); the sandbox is
    /// `https://eaccountingapi-sandbox.test.vismaonline.com/v2`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Visma Connect's token endpoint (sandbox:
    /// `https://identity-sandbox.test.vismaonline.com/connect/token`).
    #[serde(default = "default_token_url")]
    pub token_url: String,
    /// Client id of the app registered with Visma.
    pub client_id: String,
    /// Client secret of that app.
    pub client_secret: String,
    /// The refresh token obtained when the company authorized the app (scope
    /// `ea:api offline_access ea:sales`).
    pub refresh_token: String,
    /// An access token still valid (optional; otherwise the first request gets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// When `access_token` expires, in seconds since 1970-01-01 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// How long one request may take, in milliseconds, before it is abandoned and retried later.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}

fn default_token_url() -> String {
    DEFAULT_TOKEN_URL.into()
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl EAccountingConfig {
    /// A config to start from.
    pub fn example() -> Self {
        EAccountingConfig {
            base_url: default_base_url(),
            token_url: default_token_url(),
            client_id: "ferry-app".into(),
            client_secret: "app-secret".into(),
            refresh_token: "refresh-token-from-authorization".into(),
            access_token: None,
            expires_at: None,
            timeout_ms: default_timeout_ms(),
        }
    }

    /// The OAuth2 settings of this connection.
    pub(crate) fn oauth2(&self) -> OAuth2Config {
        OAuth2Config {
            token_url: self.token_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            refresh_token: self.refresh_token.clone(),
            access_token: self.access_token.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// Secrets stay out of logs and error messages.
impl fmt::Debug for EAccountingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EAccountingConfig")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("refresh_token", &"***")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

fn default_page_size() -> u32 {
    100
}

/// Parameters of the read operations (`get_customers`, `get_articles`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Only records changed after this time (ISO 8601, e.g. `2026-01-05T10:30:00Z`), on
    /// `ChangedUtc` (customers, articles) or `ModifiedUtc` (orders, invoice drafts). Point
    /// the flow's `incremental.param` here (`"param": "changed_since"`, `"field":
    /// "$.ChangedUtc"`). VAT codes and terms of payment have no such date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<String>,
    /// An extra OData `$filter`, joined with `and`, e.g. `IsActive eq true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Records per page (`$pagesize`), 1 to 1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

impl Default for ReadParams {
    fn default() -> Self {
        ReadParams {
            changed_since: None,
            filter: None,
            page_size: default_page_size(),
        }
    }
}

/// Parameters of the write operations. Each record is the eAccounting object as API v2 takes
/// it (`Name`, `EmailAddress`, `InvoiceCountryCode`, …; `Number`, `Name`, `NetPrice`, …;
/// `CustomerId`, `Rows`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    /// For `upsert_customer` and `upsert_article`: when a record has no target id in Ferry,
    /// look for an existing object by its number (or a customer by email) before creating
    /// one. Default true.
    #[serde(default = "yes")]
    pub match_existing: bool,
    /// For `create_order` and `create_invoice_draft`: before creating one Ferry has no target
    /// id for, look for one with the same `YourReference`; when there is one, it is acked with
    /// its `Id` and nothing is created. Default false.
    #[serde(default)]
    pub skip_existing: bool,
}

impl Default for WriteParams {
    fn default() -> Self {
        WriteParams {
            match_existing: true,
            skip_existing: false,
        }
    }
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_round_trips_and_hides_secrets() {
        let example = EAccountingConfig::example();
        let value = serde_json::to_value(&example).unwrap();
        assert_eq!(
            serde_json::from_value::<EAccountingConfig>(value).unwrap(),
            example
        );
        let shown = format!("{example:?}");
        assert!(!shown.contains("app-secret") && !shown.contains("refresh-token-from"));
        assert_eq!(example.oauth2().token_url, DEFAULT_TOKEN_URL);
    }
}
