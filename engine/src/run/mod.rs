//! Runs: executing a compiled flow from its source to its target.
//!
//! [`executor`] streams pages from the source, maps them on a blocking thread, checks the ledger,
//! sends with the target's concurrency, batch size and retry policy, and writes every record's
//! outcome to the activity log and the ledger as it happens. [`pause`] shares a target's
//! `Retry-After` with every process through the database. [`progress`] holds the live counts a
//! terminal or the API can show while a run goes. [`fence`] stops a claimed run's sends once
//! its lease may be another worker's. `in_flight` keeps a key sent by a run from being checked
//! against the ledger again before its outcome is committed.

pub mod cursor;
pub mod executor;
pub mod fence;
mod in_flight;
pub mod pause;
pub mod progress;
mod send;

pub use executor::{RunError, RunParams, RunSummary, execute};
pub use fence::{Fence, Fenced};
pub use pause::TargetKey;
pub use progress::Progress;
