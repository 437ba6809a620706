//! Helpers shared by integration tests.

pub(crate) mod smtp_sink;
