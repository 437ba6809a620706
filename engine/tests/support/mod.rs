//! Helpers shared by integration tests.

pub(crate) mod pg_schema;
pub(crate) mod smtp_sink;
