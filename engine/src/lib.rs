//! Ferry's engine: the flow model and its validation, the compiled mapper (JSONPath + Rhai), the
//! runner that streams records from a source through steps into a target, and the store that
//! keeps runs, the activity log and the ledger.
//!
//! The engine knows connectors only through the [`connector`] API; the binary registers them.

pub mod alert;
pub mod connector;
pub mod credential;
pub mod expr;
pub mod flow;
pub mod http;
pub mod outbound;
pub mod plan;
pub mod projection;
pub mod run;
pub mod runtime;
pub mod store;
pub mod template;
