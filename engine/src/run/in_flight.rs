//! Keys in flight: business keys a run handed to sending whose outcome is not committed yet.
//!
//! The ledger learns a key only when its outcome is committed, but a run checks the next page
//! against the ledger while the previous one is still being sent. A later record of a key still
//! in flight must not be decided from the ledger (it would be created a second time): it waits
//! until the earlier outcome is committed and is checked then, so it becomes an update, is
//! skipped as unchanged, or is sent again after a failure, exactly as in a later run.
//!
//! Cost on the common path: the page stage takes the lock twice per page (to split, then to add
//! what it hands to sending) and the log writer once per committed batch; no SQL is added. A
//! repeat of a key within one page is the executor's to notice (`check_ledger`): until the key
//! is sent, the page's ledger answer holds for each record of it.
//! Memory: a key is dropped as soon as its outcome is committed, so the set holds at most the
//! records between the page stage and the log writer.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The keys of one run in flight, shared by its page stage, its sends and its log writer.
#[derive(Default)]
pub(super) struct InFlight {
    state: Mutex<State>,
    /// Woken whenever keys leave the set or it breaks.
    settled: Notify,
}

#[derive(Default)]
struct State {
    keys: HashSet<String>,
    /// Why some keys in flight will never be committed (the log writer stopped, the fence
    /// closed, a send task ended early): whoever waits for them stops with this reason.
    broken: Option<String>,
}

impl InFlight {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a task panicked while holding it; the set is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Splits a page's records, in order, into those that may be checked against the ledger now
    /// and those whose key is in flight, which must wait for its outcome. Records without a key
    /// (`key_of` gives `None`) never wait.
    pub(super) fn split<T>(
        &self,
        items: Vec<T>,
        key_of: impl Fn(&T) -> Option<&str>,
    ) -> (Vec<T>, Vec<T>) {
        let state = self.state();
        if state.keys.is_empty() {
            return (items, Vec::new());
        }
        items
            .into_iter()
            .partition(|item| key_of(item).is_none_or(|key| !state.keys.contains(key)))
    }

    /// Notes keys handed to sending.
    pub(super) fn add(&self, keys: impl IntoIterator<Item = String>) {
        self.state().keys.extend(keys);
    }

    /// Drops keys whose outcome is committed, and wakes whoever waits for them.
    pub(super) fn settle<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        {
            let mut state = self.state();
            for key in keys {
                state.keys.remove(key);
            }
        }
        self.settled.notify_waiters();
    }

    /// Says that keys in flight will never be committed: waiting for them fails with `why`.
    /// The first reason given is kept.
    pub(super) fn abandon(&self, why: &str) {
        self.state().broken.get_or_insert_with(|| why.to_string());
        self.settled.notify_waiters();
    }

    /// Waits until none of `keys` is in flight; fails when the set was abandoned first.
    pub(super) async fn wait_settled(&self, keys: &[String]) -> Result<(), String> {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Registered before looking, so a wake-up between the look and the wait is not lost.
            settled.as_mut().enable();
            {
                let state = self.state();
                if let Some(why) = &state.broken {
                    return Err(why.clone());
                }
                if !keys.iter().any(|k| state.keys.contains(k)) {
                    return Ok(());
                }
            }
            settled.await;
        }
    }

    /// A guard that abandons the set with `why` when dropped before [`Disarm::disarm`]: a send
    /// task that panics or is cancelled never commits its keys.
    pub(super) fn abandon_unless_finished<'a>(&'a self, why: &'a str) -> Disarm<'a> {
        Disarm {
            in_flight: self,
            why,
            armed: true,
        }
    }
}

/// See [`InFlight::abandon_unless_finished`].
pub(super) struct Disarm<'a> {
    in_flight: &'a InFlight,
    why: &'a str,
    armed: bool,
}

impl Disarm<'_> {
    /// The guarded work finished: every key it had was handed to the log writer.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.in_flight.abandon(self.why);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn seqs(items: &[(u32, Option<&str>)]) -> Vec<u32> {
        items.iter().map(|(seq, _)| *seq).collect()
    }

    #[test]
    fn records_of_keys_in_flight_wait_in_order() {
        let in_flight = InFlight::default();
        in_flight.add(["a".to_string(), "c".to_string()]);
        let page = vec![
            (0, Some("a")),
            (1, Some("b")),
            (2, None),
            (3, Some("c")),
            (4, Some("b")),
            (5, Some("a")),
        ];
        let (now, later) = in_flight.split(page, |(_, key)| *key);
        assert_eq!(seqs(&now), vec![1, 2, 4]);
        assert_eq!(seqs(&later), vec![0, 3, 5]);
    }

    #[tokio::test]
    async fn waiting_ends_when_the_keys_are_committed() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.add(["a".to_string(), "b".to_string()]);
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.wait_settled(&["a".to_string()]).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        in_flight.settle(["b"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "a is still in flight");
        in_flight.settle(["a"]);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(in_flight.wait_settled(&["z".to_string()]).await, Ok(()));
    }

    #[tokio::test]
    async fn waiting_fails_when_a_send_is_abandoned() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.add(["a".to_string()]);
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.wait_settled(&["a".to_string()]).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(in_flight.abandon_unless_finished("a send task stopped"));
        assert_eq!(waiter.await.unwrap(), Err("a send task stopped".into()));
        // A finished guard abandons nothing.
        let fresh = InFlight::default();
        fresh.abandon_unless_finished("unused").disarm();
        assert_eq!(fresh.wait_settled(&["a".to_string()]).await, Ok(()));
    }
}
