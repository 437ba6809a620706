//! Expressions users write in flows: JSONPath queries and sandboxed Rhai scripts.

pub mod helpers;
pub mod jsonpath;
pub mod native;
pub mod script;

pub use jsonpath::{JsonPath, JsonPathError};
pub use script::{Script, ScriptError, ScriptLimits, sandboxed_engine};
