//! Slows password guessing: after [`MAX_FAILURES`] wrong passwords for one email within
//! [`WINDOW`], every login for that email answers 429 until the window has passed, whatever the
//! password. The lock is per email, not per client address, because Ferry usually sits behind a
//! proxy that hides addresses; it is short so that a locked-out user is not locked out for long.
//!
//! Counts live in the memory of the process that answered: with several `ferry serve`
//! processes behind one address, a guesser gets `MAX_FAILURES` tries per process and window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong passwords allowed for one email within [`WINDOW`].
pub(super) const MAX_FAILURES: u32 = 10;
/// How long failures count, and how long a locked email stays locked at most.
pub(super) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Above this many tracked emails, expired entries are dropped (memory stays bounded).
const PRUNE_ABOVE: usize = 10_000;

/// Failed logins per email: when the first of the window happened, and how many.
#[derive(Debug, Default)]
pub(super) struct LoginThrottle {
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginThrottle {
    /// `Err(wait)` when `email` is locked: how long until it may try again.
    pub(super) fn check(&self, email: &str) -> Result<(), Duration> {
        let failures = self.lock();
        match failures.get(&key(email)) {
            Some((first, count)) if *count >= MAX_FAILURES && first.elapsed() < WINDOW => {
                Err(WINDOW - first.elapsed())
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password for `email`.
    pub(super) fn failed(&self, email: &str) {
        let mut failures = self.lock();
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, (first, _)| first.elapsed() < WINDOW);
        }
        let entry = failures
            .entry(key(email))
            .or_insert_with(|| (Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// A successful login clears the count.
    pub(super) fn succeeded(&self, email: &str) {
        self.lock().remove(&key(email));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Emails compare without case or surrounding blanks, as logins do.
fn key(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_locked_after_max_failures_and_a_success_clears_it() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.failed("Jane@Shop.eu");
        }
        assert!(throttle.check("jane@shop.eu").is_ok(), "not yet locked");
        throttle.succeeded("jane@shop.eu");
        for _ in 0..MAX_FAILURES {
            throttle.failed(" jane@shop.eu");
        }
        let wait = throttle.check("JANE@shop.eu").unwrap_err();
        assert!(
            wait > WINDOW - Duration::from_secs(5) && wait <= WINDOW,
            "{wait:?}"
        );
        assert!(
            throttle.check("joe@shop.eu").is_ok(),
            "other emails are not locked"
        );
    }
}
