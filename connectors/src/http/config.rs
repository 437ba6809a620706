//! The `http` connection config and operation parameters, as users write them in a flow.
//!
//! The doc comments here are the UI help text (they end up in the JSON schema).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A REST/JSON API reached over HTTP(S).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Root URL of the API, e.g. `https://shop.example.com/wp-json/wc/v3`. Operation paths are
    /// appended to it, so `/orders` reads `https://shop.example.com/wp-json/wc/v3/orders`.
    pub base_url: String,
    /// Extra headers sent with every request, e.g. `{"X-Shopify-Api-Version": "2024-07"}`.
    /// Put secrets in `auth` rather than here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// How requests prove who they come from.
    #[serde(default)]
    pub auth: Auth,
    /// How long one request may take, in milliseconds, before it is abandoned and retried
    /// later.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Path requested by "Test connection" (a GET). Defaults to the base URL itself. Any answer
    /// below 500 other than 401 and 403 counts as reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl HttpConfig {
    /// A config to start from: a WooCommerce store with an API key pair.
    pub fn example() -> Self {
        HttpConfig {
            base_url: "https://shop.example.com/wp-json/wc/v3".into(),
            headers: BTreeMap::from([("Accept-Language".into(), "en".into())]),
            auth: Auth::Basic {
                username: "ck_example".into(),
                password: "cs_example".into(),
            },
            timeout_ms: default_timeout_ms(),
            health_path: Some("/system_status".into()),
        }
    }
}

/// Credentials sent with every request.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>` (OAuth access tokens, personal access tokens).
    Bearer {
        /// The token, without the `Bearer ` prefix.
        token: String,
    },
    /// HTTP Basic authentication (WooCommerce consumer key and secret, many ERPs).
    Basic {
        /// User name (or consumer key).
        username: String,
        /// Password (or consumer secret).
        password: String,
    },
    /// A key sent as a header (`X-Shopify-Access-Token`, `X-API-Key`) or a query parameter.
    ApiKey {
        /// Header or query parameter name.
        name: String,
        /// The key.
        value: String,
        /// Where the key goes: `header` (default) or `query`.
        #[serde(rename = "in", default)]
        location: ApiKeyLocation,
    },
}

/// Secrets stay out of logs and error messages.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer { .. } => f.debug_struct("Bearer").field("token", &"***").finish(),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Auth::ApiKey { name, location, .. } => f
                .debug_struct("ApiKey")
                .field("name", name)
                .field("value", &"***")
                .field("in", location)
                .finish(),
        }
    }
}

/// Where an API key is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyLocation {
    /// As a request header.
    #[default]
    Header,
    /// As a query parameter (`?api_key=...`).
    Query,
}

/// A query parameter value: a string, number or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum QueryValue {
    /// Sent as is.
    String(String),
    /// Sent in JSON notation (`100`, `2.5`).
    Number(serde_json::Number),
    /// Sent as `true` or `false`.
    Bool(bool),
}

impl fmt::Display for QueryValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryValue::String(s) => f.write_str(s),
            QueryValue::Number(n) => write!(f, "{n}"),
            QueryValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Parameters of the `read` operation: one GET endpoint that lists records, page by page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpReadParams {
    /// Path of the list endpoint, appended to the base URL, e.g. `/orders` or
    /// `/orders.json`. Empty reads the base URL itself.
    #[serde(default)]
    pub path: String,
    /// Extra query parameters, e.g. `{"status": "any", "per_page": 100}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, QueryValue>,
    /// Where the records are in the response: a dot path such as `orders` or `data.items`.
    /// Empty when the response body is the array itself. An object found there is read as one
    /// record; null as no records.
    #[serde(default)]
    pub records_path: String,
    /// How to get the next page.
    #[serde(default)]
    pub pagination: Pagination,
}

/// How a list endpoint is paged. Page-number and offset reads end at the first short or empty
/// page; cursor and link reads follow the API's pointer until there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One request returns everything.
    #[default]
    None,
    /// `?page=1`, `?page=2`, … Stops after a page shorter than `size`, and after the last page
    /// when the API sends `X-WP-TotalPages` (WordPress, WooCommerce).
    PageNumber {
        /// Query parameter holding the page number.
        #[serde(default = "default_page_param")]
        param: String,
        /// Number of the first page (usually 1, sometimes 0).
        #[serde(default = "default_start")]
        start: u64,
        /// Query parameter holding the page size (`limit`, `per_page`).
        #[serde(default = "default_size_param")]
        size_param: String,
        /// Records per page. Must not exceed the API's maximum page size: a page shorter than
        /// this is taken as the last one.
        size: u64,
    },
    /// `?offset=0&limit=100`, `?offset=100&limit=100`, … Stops after a page shorter than `size`.
    Offset {
        /// Query parameter holding the offset of the first record.
        #[serde(default = "default_offset_param")]
        param: String,
        /// Query parameter holding the page size.
        #[serde(default = "default_size_param")]
        size_param: String,
        /// Records per page. Must not exceed the API's maximum page size: a page shorter than
        /// this is taken as the last one.
        size: u64,
    },
    /// The response names the next page's cursor (`?cursor=abc`). Stops when it is absent,
    /// null or empty.
    Cursor {
        /// Query parameter the cursor is sent in.
        #[serde(default = "default_cursor_param")]
        param: String,
        /// Dot path of the next cursor in the response body, e.g. `meta.next_cursor`.
        next_path: String,
    },
    /// Follows the `Link: <…>; rel="next"` response header (Shopify, GitHub). Stops when there
    /// is no next link. The link must stay on the base URL's host.
    LinkHeader,
}

fn default_page_param() -> String {
    "page".into()
}

fn default_start() -> u64 {
    1
}

fn default_size_param() -> String {
    "limit".into()
}

fn default_offset_param() -> String {
    "offset".into()
}

fn default_cursor_param() -> String {
    "cursor".into()
}

/// Parameters of the `write` operation: one request per call, JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpWriteParams {
    /// Path records are sent to, e.g. `/orders`. May contain `{key}` (the record's business key)
    /// and `{target_id}` (the id the target gave the record earlier).
    pub path: String,
    /// HTTP method for new records.
    #[serde(default)]
    pub method: WriteMethod,
    /// Path for records the target already has (updates), e.g. `/orders/{target_id}`.
    /// Defaults to `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_path: Option<String>,
    /// HTTP method for updates. Defaults to `method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_method: Option<WriteMethod>,
    /// Dot path of the new object's id in the response, e.g. `id` or `order.id`. When a batch is
    /// answered with an array, element i is record i's answer. Empty: ids are not recorded.
    #[serde(default)]
    pub id_path: String,
    /// Extra query parameters for every write request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, QueryValue>,
    /// Send records as a JSON array even when there is only one (for batch endpoints). By
    /// default one record is sent as an object and several as an array.
    #[serde(default)]
    pub always_array: bool,
    /// Path that finds the object sent for a business key, e.g. `/orders/by-reference/{key}`
    /// (a GET: 2xx means it exists, with its id at `id_path`; 404 means
    /// it does not). Ferry asks only when a crash left a send without a recorded answer; without
    /// it, such records are held for you to check and replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_path: Option<String>,
}

impl HttpWriteParams {
    /// Params to start from: create with POST, update with PUT on the object's URL.
    pub fn example() -> Self {
        HttpWriteParams {
            path: "/orders".into(),
            method: WriteMethod::Post,
            update_path: Some("/orders/{target_id}".into()),
            update_method: Some(WriteMethod::Put),
            id_path: "id".into(),
            query: BTreeMap::new(),
            always_array: false,
            lookup_path: Some("/orders/{key}".into()),
        }
    }
}

/// HTTP method of a write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum WriteMethod {
    /// Create (the default).
    #[default]
    Post,
    /// Replace.
    Put,
    /// Partial update.
    Patch,
}

impl From<WriteMethod> for reqwest::Method {
    fn from(method: WriteMethod) -> Self {
        match method {
            WriteMethod::Post => reqwest::Method::POST,
            WriteMethod::Put => reqwest::Method::PUT,
            WriteMethod::Patch => reqwest::Method::PATCH,
        }
    }
}
