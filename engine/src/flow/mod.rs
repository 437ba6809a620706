//! Flows: the file format ([`model`]), loading with line and column for syntax errors, and
//! validation that reports every problem at once ([`validate`]).

pub mod load;
pub mod model;
pub mod validate;

pub use load::{FlowLoadError, load_flow, parse_flow};
pub use model::*;
pub use validate::{FlowIssue, validate};
