//! The connector API: what the engine asks of a connector, and the registry the binary fills.
//!
//! The engine never names a concrete connector. The `ferry` binary registers them:
//! `Registry::default().with(Http).with(File)`.
//!
//! Call order: [`Connector::build`] once per connection and run (no I/O besides building a
//! client), then [`ConnectorInstance::health_check`] when the user asks, [`ConnectorInstance::read`]
//! for the source and [`ConnectorInstance::write`] for each batch sent to the target. Errors carry
//! their retry meaning in the [`ConnectorError`] variant.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::credential::Redactor;
use crate::projection::Projection;

/// Longest wait a target can impose (a `Retry-After`, a stored pause, a parked record's retry):
/// a wait of years is the target's mistake, stored times must keep their four-digit year (they
/// compare as text), and adding the wait to a date must not overflow.
pub const LONGEST_TARGET_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Whether an operation reads records from the system or sends records to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A get-side operation (`get_orders`): usable as a flow source.
    Read,
    /// A send-side operation (`send_order`): usable as a flow target.
    Write,
}

/// One operation a connector offers.
#[derive(Debug, Clone, Serialize)]
pub struct OperationSpec {
    /// Stable snake_case name.
    pub name: &'static str,
    /// Read or write.
    pub direction: Direction,
    /// One line for the UI.
    pub summary: &'static str,
    /// JSON Schema of the operation's `params`.
    pub params_schema: Value,
    /// A record as the operation reads or expects it; the mapping editor shows it.
    pub sample_record: Value,
}

/// What a connector is: drives the registry, validation and UI forms.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorSpec {
    /// Stable snake_case kind (`http`, `file`, `shopify`).
    pub kind: &'static str,
    /// One line for the UI.
    pub summary: &'static str,
    /// JSON Schema of the connection config (generated from the `XxxConfig` struct).
    pub config_schema: Value,
    /// Config fields that are credentials, as dot paths (`access_token`, `auth.password`);
    /// `*` matches every key of an object (`headers.*`). A stored connection keeps these
    /// encrypted and never shows them (see [`crate::credential`]).
    pub credentials: Vec<&'static str>,
    /// Operations offered.
    pub operations: Vec<OperationSpec>,
}

impl ConnectorSpec {
    /// The operation named `name`, if offered.
    pub fn operation(&self, name: &str) -> Option<&OperationSpec> {
        self.operations.iter().find(|op| op.name == name)
    }
}

/// What the host gives every connector. Connectors read no environment variables or globals.
#[derive(Debug, Clone)]
pub struct ConnectorContext {
    /// Shared HTTP client with the installation's timeouts.
    pub http: reqwest::Client,
    /// Directory relative file paths are resolved against (the flow file's directory).
    pub base_dir: PathBuf,
    /// Where credentials the vendor changes are kept: present for stored connections, absent
    /// for connections written inline in a flow file (whose values come from the file).
    pub credentials: Option<Arc<dyn CredentialKeeper>>,
    /// The redactor of what Ferry writes about this connection. A connector that obtains a
    /// secret while it runs (an OAuth2 access token from a refresh, a rotated refresh token)
    /// reports it with [`Redactor::learn`], so errors and answers are redacted of it too.
    pub redactor: Redactor,
}

impl ConnectorContext {
    /// A context without a credential keeper, with a redactor of its own (that nothing reads
    /// unless it is given to [`RedactingInstance::wrap`](crate::credential::RedactingInstance::wrap)).
    pub fn new(http: reqwest::Client, base_dir: impl Into<PathBuf>) -> ConnectorContext {
        ConnectorContext {
            http,
            base_dir: base_dir.into(),
            credentials: None,
            redactor: Redactor::default(),
        }
    }

    /// The same context, reporting learned secrets to `redactor` (the one that wraps the
    /// instance built with it).
    pub fn with_redactor(mut self, redactor: Redactor) -> ConnectorContext {
        self.redactor = redactor;
        self
    }

    /// The same context, keeping changed credentials in `keeper`.
    pub fn with_credentials(mut self, keeper: Arc<dyn CredentialKeeper>) -> ConnectorContext {
        self.credentials = Some(keeper);
        self
    }
}

/// The stored credentials of one connection, for connectors whose vendor changes them as they
/// are used: OAuth2 servers that rotate the refresh token (Exact Online invalidates the old one
/// at every refresh) would lock a connection out after a restart if the new token lived only in
/// memory. Several processes may share a connection, so a connector reads the stored values
/// again before and after a refused refresh instead of trusting its own copy.
#[async_trait]
pub trait CredentialKeeper: Send + Sync + std::fmt::Debug {
    /// The connection's config as stored now, credentials included (in memory only).
    async fn load(&self) -> Result<Value, String>;
    /// Merges `changes`, an object of config fields, into the stored connection; credential
    /// fields among them are sealed like any other.
    async fn save(&self, changes: Value) -> Result<(), String>;
}

/// A failure, classified by what the caller should do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The connection or operation settings are wrong; fix the flow or connection.
    #[error("configuration error: {0}")]
    Config(String),
    /// Credentials were refused; fix the connection.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The system could not be reached (DNS, refused connection); retryable.
    #[error("not connected: {0}")]
    NotConnected(String),
    /// The system asked us to slow down; retry after the given wait (at most
    /// [`LONGEST_TARGET_WAIT`]).
    #[error("rate limited{}: {message}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs_f64())).unwrap_or_default())]
    RateLimited {
        /// How long the system asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
        /// What it said.
        message: String,
        /// HTTP status, when there was one.
        status: Option<u16>,
    },
    /// A failure that may pass on retry (timeout, 5xx).
    #[error("temporary failure: {message}")]
    Transient {
        /// What went wrong.
        message: String,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// Excerpt of the response body.
        body: Option<String>,
    },
    /// A failure that will not pass on retry (400, 422, a record the target refuses).
    #[error("rejected: {message}")]
    Permanent {
        /// What went wrong.
        message: String,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// Excerpt of the response body.
        body: Option<String>,
    },
}

impl ConnectorError {
    /// Whether sending again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::NotConnected(_)
                | ConnectorError::RateLimited { .. }
                | ConnectorError::Transient { .. }
        )
    }

    /// The wait the system asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// HTTP status of the answer that caused the error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConnectorError::RateLimited { status, .. }
            | ConnectorError::Transient { status, .. }
            | ConnectorError::Permanent { status, .. } => *status,
            _ => None,
        }
    }

    /// Excerpt of the response body that came with the error, if any.
    pub fn body(&self) -> Option<&str> {
        match self {
            ConnectorError::Transient { body, .. } | ConnectorError::Permanent { body, .. } => {
                body.as_deref()
            }
            _ => None,
        }
    }
}

/// Where a read should start.
#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    /// The source's `params` from the flow.
    pub params: Value,
    /// Cursor saved by an earlier run (`Page::cursor`), for incremental reads.
    pub cursor: Option<Value>,
    /// What the flow reads of each record. A source that hands out each page's text
    /// ([`Page::text`]) may build only these parts of the records (`parse_projected`); one that
    /// does not must hand out whole records.
    pub projection: Arc<Projection>,
}

/// One page of source records.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The records, as the system returned them.
    pub records: Vec<Value>,
    /// Cursor to resume after this page, when the connector supports incremental reads.
    pub cursor: Option<Value>,
    /// The records' JSON text as the system sent it, kept for the activity log (which then
    /// need not serialize the records again).
    pub text: Option<PageText>,
}

/// A page's records as JSON text: one array, and where each record sits in it.
#[derive(Debug, Clone, Default)]
pub struct PageText {
    /// A JSON array of the page's records.
    pub text: String,
    /// Byte range of each record in `text`, in the order of `Page::records`.
    pub records: Vec<std::ops::Range<usize>>,
}

/// A stream of pages. Memory stays bounded: the engine holds only a few pages at a time.
#[async_trait]
pub trait RecordReader: Send {
    /// The next page, or `None` when the source is exhausted.
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError>;
}

/// Whether a record creates a new target object or updates one the ledger knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteAction {
    /// No target object yet.
    Create,
    /// Update the target object with this id.
    Update {
        /// Target id from the ledger.
        target_id: String,
    },
}

/// One record to send.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    /// Business key (from the source's `key`).
    pub key: String,
    /// Create or update.
    pub action: WriteAction,
    /// The mapped record.
    pub payload: Value,
    /// `payload` as JSON text, when the engine has it already (it logs it): a connector that
    /// sends the payload as it is may send this instead of serializing it again.
    pub text: Option<String>,
}

/// What the target answered for one record that it accepted.
#[derive(Debug, Clone, Default)]
pub struct WriteAck {
    /// HTTP status or equivalent.
    pub status: Option<u16>,
    /// Excerpt of the answer, for the activity log.
    pub body: Option<String>,
    /// Id of the object in the target, when it says.
    pub target_id: Option<String>,
}

/// What a target says it holds for a business key.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The object exists; the ack carries its id.
    Found(WriteAck),
    /// No object for this key.
    Absent,
    /// The operation cannot look objects up by key.
    Unsupported,
}

/// A connection at run time.
#[async_trait]
pub trait ConnectorInstance: Send + Sync {
    /// Cheap reachability and auth probe; backs "Test connection".
    async fn health_check(&self) -> Result<(), ConnectorError>;

    /// Opens a reader for a read operation.
    async fn read(
        &self,
        operation: &str,
        request: ReadRequest,
    ) -> Result<Box<dyn RecordReader>, ConnectorError>;

    /// Sends `records` with a write operation. The engine passes more than one record only when
    /// the flow's `batch_size` is above 1; the connector then sends them in one request when the
    /// operation takes arrays. The result has one entry per record, in order; an `Err` for the
    /// whole call means every record of the batch failed that way.
    async fn write(
        &self,
        operation: &str,
        params: &Value,
        records: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError>;

    /// Finds the object a write operation made for business key `key`. The engine asks only
    /// after a crash left a send without a committed answer, to learn whether the target
    /// applied it; operations that cannot look up answer [`Lookup::Unsupported`] and the record
    /// is held for a person to check.
    async fn lookup(
        &self,
        _operation: &str,
        _params: &Value,
        _key: &str,
    ) -> Result<Lookup, ConnectorError> {
        Ok(Lookup::Unsupported)
    }
}

/// A kind of system Ferry can talk to.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// What the connector offers.
    fn spec(&self) -> ConnectorSpec;

    /// Parses and checks `config`, and builds a client. No I/O besides building the client.
    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError>;
}

/// The connectors this installation knows, by kind.
#[derive(Default, Clone)]
pub struct Registry {
    connectors: BTreeMap<String, (Arc<dyn Connector>, Arc<ConnectorSpec>)>,
}

impl Registry {
    /// Adds a connector.
    pub fn with(mut self, connector: impl Connector) -> Self {
        let spec = connector.spec();
        self.connectors
            .insert(spec.kind.to_string(), (Arc::new(connector), Arc::new(spec)));
        self
    }

    /// The connector of kind `kind`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(kind).map(|(c, _)| c)
    }

    /// The spec of kind `kind`.
    pub fn spec(&self, kind: &str) -> Option<&ConnectorSpec> {
        self.connectors.get(kind).map(|(_, s)| s.as_ref())
    }

    /// Every registered kind, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.connectors.keys().map(String::as_str)
    }

    /// Every registered connector's spec, sorted by kind.
    pub fn specs(&self) -> impl Iterator<Item = &ConnectorSpec> {
        self.connectors.values().map(|(_, s)| s.as_ref())
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds()).finish()
    }
}
