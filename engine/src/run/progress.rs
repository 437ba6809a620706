//! Live counters of a run, shared between the executor and whoever displays them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::{Outcome, RunCounts};

/// Counts of a run in progress. Cheap to update from several tasks.
#[derive(Debug, Default)]
pub struct Progress {
    read: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
    skipped: AtomicU64,
    filtered: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    /// Adds `n` records read from the source.
    pub fn add_read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one record's final outcome.
    pub fn add_outcome(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Created => &self.created,
            Outcome::Updated => &self.updated,
            Outcome::SkippedUnchanged => &self.skipped,
            Outcome::Filtered => &self.filtered,
            Outcome::Failed => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> RunCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as i64;
        RunCounts {
            read: get(&self.read),
            created: get(&self.created),
            updated: get(&self.updated),
            skipped: get(&self.skipped),
            filtered: get(&self.filtered),
            failed: get(&self.failed),
        }
    }
}
