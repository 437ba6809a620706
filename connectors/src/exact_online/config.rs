//! The `exact_online` connection config and operation parameters, as users write them in a
//! flow. The doc comments here are the UI help text (they end up in the JSON schema).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::oauth2::OAuth2Config;

/// Exact Online's address for the Netherlands; other countries have their own
/// (`https://start.exactonline.be`, `.de`, `.co.uk`, `.fr`, `.es`, `.com`).
pub const DEFAULT_BASE_URL: &str = "https://start.exactonline.nl";

/// An Exact Online administration (division) reached through the REST API
/// (`<base_url>/api/v1/<division>/…`) with an OAuth2 app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExactOnlineConfig {
    /// The Exact Online site of the customer's country, e.g. `https://start.exactonline.nl`
    /// (default) or `https://start.exactonline.be`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The administration's division number (Exact: Settings → Company settings; or
    /// `CurrentDivision` of `/api/v1/current/Me`).
    pub division: u32,
    /// Client id of the app registered in the Exact App Center.
    pub client_id: String,
    /// Client secret of that app.
    pub client_secret: String,
    /// The refresh token obtained when the customer authorized the app. Exact replaces it at
    /// every refresh; Ferry keeps the new one for as long as the connection is open.
    pub refresh_token: String,
    /// An access token still valid (optional; otherwise the first request gets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// When `access_token` expires, in seconds since 1970-01-01 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The token endpoint, when not `<base_url>/api/oauth2/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// How long one request may take, in milliseconds, before it is abandoned and retried later.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl ExactOnlineConfig {
    /// A config to start from.
    pub fn example() -> Self {
        ExactOnlineConfig {
            base_url: default_base_url(),
            division: 123456,
            client_id: "00000000-0000-0000-0000-000000000000".into(),
            client_secret: "app-secret".into(),
            refresh_token: "refresh-token-from-authorization".into(),
            access_token: None,
            expires_at: None,
            token_url: None,
            timeout_ms: default_timeout_ms(),
        }
    }

    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim().trim_end_matches('/')
    }

    /// The OAuth2 settings of this connection.
    pub(crate) fn oauth2(&self) -> OAuth2Config {
        OAuth2Config {
            token_url: self
                .token_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| format!("{}/api/oauth2/token", self.base())),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            refresh_token: self.refresh_token.clone(),
            access_token: self.access_token.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// Secrets stay out of logs and error messages.
impl fmt::Debug for ExactOnlineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExactOnlineConfig")
            .field("base_url", &self.base_url)
            .field("division", &self.division)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("refresh_token", &"***")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("token_url", &self.token_url)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Parameters of the read operations (`get_sales_orders`, `get_accounts`, …).
///
/// Dates in the records are Exact's `/Date(ms)/` values rewritten as ISO 8601 without an
/// offset (Exact keeps them in the administration's local time), so the incremental cursor
/// can follow `$.Modified` and give it back in `modified_since`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    /// Only records modified at or after this time (`Modified ge datetime'…'`): ISO 8601
    /// (`2026-01-05T10:30:00`), or Exact's `/Date(ms)/`. Point the flow's `incremental.param`
    /// here (`"param": "modified_since"`, `"field": "$.Modified"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_since: Option<String>,
    /// An extra OData `$filter`, joined with `and`, e.g. `Status eq 'C'` or `IsSales eq true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Fields to read (`$select`). Empty: the operation's default list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
}

/// Parameters of the write operations. Each record is the Exact entity as the REST API takes
/// it (`OrderedBy`, `YourRef`, `SalesOrderLines`, …; `Name`, `Email`, `VATNumber`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    /// For `create_sales_order`: before creating an order Ferry has no target id for, look for
    /// one with the same `YourRef`; when there is one (made by hand, or before the ledger
    /// knew it), it is acked with its id and nothing is created. Default false.
    #[serde(default)]
    pub skip_existing: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn example_config_round_trips_and_hides_secrets() {
        let example = ExactOnlineConfig::example();
        let value = serde_json::to_value(&example).unwrap();
        assert_eq!(
            serde_json::from_value::<ExactOnlineConfig>(value).unwrap(),
            example
        );
        let shown = format!("{example:?}");
        assert!(!shown.contains("app-secret") && !shown.contains("refresh-token-from"));
        assert_eq!(
            example.oauth2().token_url,
            "https://start.exactonline.nl/api/oauth2/token"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = serde_json::to_value(ExactOnlineConfig::example()).unwrap();
        value["divison"] = json!(1);
        assert!(serde_json::from_value::<ExactOnlineConfig>(value).is_err());
    }
}
