//! Credentials of stored connections: which config fields are credentials (declared by each
//! connector in [`ConnectorSpec::credentials`](crate::connector::ConnectorSpec::credentials)),
//! how they are sealed at rest under the master key, and how they are kept out of every text
//! Ferry writes (errors, the activity log, alerts, logs).
//!
//! [`Connections`] is the one interface for stored connections: the CLI and the HTTP API
//! create, update, show, list, delete and test them through it, and runs resolve them through
//! it. See `docs/security.md` and `docs/adr/0007-credentials-at-rest.md`.

mod connections;
mod keeper;
mod key;
mod redact;
mod seal;
mod split;

pub use connections::{
    ConnectionError, ConnectionView, Connections, NewConnection, ResolvedConnection, check_name,
};
pub use keeper::StoredCredentials;
pub use key::{KeyError, MasterKey};
pub use redact::{RedactingInstance, Redactor};
pub use seal::{SealError, associated_data, open, seal};
pub use split::{SET_MARKER, merge_patch, public_view, secret_fields, secret_strings, split};
