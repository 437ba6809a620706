//! Sending to the target with the flow's retry policy.
//!
//! Retryable failures (timeouts, 5xx, 429, refused connections) are retried with exponential
//! backoff and jitter. A `Retry-After` closes a gate shared by every send to the target in this
//! process, and is stored as the target's pause ([`SharedPause`]) so every other process holds
//! its requests too: no request reaches the target until the wait is over.
//!
//! Every attempt first checks the run's [`Fence`]: once the lease may be another worker's,
//! nothing more is sent, and an attempt in flight is cut off at the fence's deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::time::Instant;
use tracing::warn;

use super::fence::Fence;
use super::pause::SharedPause;
use crate::connector::{ConnectorError, ConnectorInstance, WriteAck, WriteRecord};
use crate::flow::Retry;

/// "Not before" time shared by all sends to one target.
#[derive(Debug, Clone)]
pub(crate) struct RateGate(Arc<Mutex<Instant>>);

impl RateGate {
    pub(crate) fn new() -> Self {
        RateGate(Arc::new(Mutex::new(Instant::now())))
    }

    /// The gate of `target` in this process: concurrent runs (a schedule firing while a replay
    /// runs, two flows writing to one shop) respect the same `Retry-After`.
    pub(crate) fn shared(target: &str) -> Self {
        static GATES: std::sync::OnceLock<Mutex<std::collections::HashMap<String, RateGate>>> =
            std::sync::OnceLock::new();
        GATES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(target.to_string())
            .or_insert_with(RateGate::new)
            .clone()
    }

    fn not_before(&self) -> Instant {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the gate is open. Loops because another send may close it while we sleep.
    async fn wait(&self) {
        loop {
            let at = self.not_before();
            if at <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(at).await;
        }
    }

    /// How long the gate stays closed from now.
    fn remaining(&self) -> Duration {
        self.not_before().saturating_duration_since(Instant::now())
    }

    /// Keeps the gate closed for `wait` from now (never shortens an existing wait).
    pub(crate) fn hold(&self, wait: Duration) {
        let mut at = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let until = Instant::now() + wait;
        if until > *at {
            *at = until;
        }
    }
}

/// Sends batches to one target operation.
pub(crate) struct Sender {
    pub(crate) target: Arc<dyn ConnectorInstance>,
    pub(crate) operation: String,
    pub(crate) params: Value,
    pub(crate) retry: Retry,
    pub(crate) gate: RateGate,
    /// The target's pause in the database, shared with other processes; `None` keeps pauses
    /// in this process only.
    pub(crate) pause: Option<SharedPause>,
    /// Whether this process may still send for the run (its lease).
    pub(crate) fence: Fence,
}

/// Waits longer than this are not slept in the worker: the record is parked (failed, with the
/// time it is retried automatically) and the run goes on.
pub(crate) const PARK_AFTER: Duration = Duration::from_secs(60);

/// One record's final answer and how many attempts it took.
pub(crate) struct Sent {
    pub(crate) result: Result<WriteAck, ConnectorError>,
    pub(crate) attempts: u32,
    /// For a record that ended on a retryable failure: how long from now to retry it (the
    /// target's `Retry-After`, or the next backoff step).
    pub(crate) retry_in: Option<Duration>,
}

impl Sender {
    /// Sends `records` (one request, or one per retry round), retrying what may pass later.
    ///
    /// `None` for a record is *withheld*: not sent because the fence closed, or sent in an
    /// attempt cut off at the fence's deadline, so whether it arrived is unknown. Such a record
    /// must be left as it is (its send intent open): the run's next owner asks the target.
    pub(crate) async fn send(&self, records: &[WriteRecord]) -> Vec<Option<Sent>> {
        let mut done: Vec<Option<Sent>> = records.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            // A fenced-off worker parks nothing either: the run may be another worker's.
            if self.fence.check().is_err() {
                return done; // The records still pending are withheld.
            }
            // The target asked for a long pause: no request until it ends; park the records.
            if let Some(closed) = self.wait_for_target().await {
                for &i in &pending {
                    done[i] = Some(Sent {
                        result: Err(ConnectorError::RateLimited {
                            retry_after: Some(closed),
                            message: format!(
                                "not sent: the target asked to wait {} s before the next request",
                                closed.as_secs()
                            ),
                            status: None,
                        }),
                        attempts: attempt,
                        retry_in: Some(closed),
                    });
                }
                break;
            }
            // Checked last before the request: once the run may be another worker's, nothing
            // more goes out, and the request is cut off when what was left of the lease runs out.
            if self.fence.check().is_err() {
                return done; // The records still pending are withheld.
            }
            attempt += 1;
            // The first attempt sends the records as given; retries send the ones still pending.
            let subset: Vec<WriteRecord>;
            let batch: &[WriteRecord] = if pending.len() == records.len() {
                records
            } else {
                subset = pending.iter().map(|&i| records[i].clone()).collect();
                &subset
            };
            let write = self
                .fence
                .sending(self.target.write(&self.operation, &self.params, batch));
            // Cut off when the fence closes (renewals extend it meanwhile): checked before the
            // request is polled again, so a request not yet on the wire when the process stalled
            // does not go out after it.
            let written = match self.fence.guard(write).await {
                Ok(written) => written,
                Err(reason) => {
                    warn!(
                        records = batch.len(),
                        %reason,
                        "Send cut off: the lease's fence closed; the next owner asks the target whether it arrived."
                    );
                    return done; // The records still pending are withheld.
                }
            };
            let results = match written {
                Ok(results) if results.len() == batch.len() => results,
                Ok(results) => {
                    let msg = format!(
                        "target answered {} results for {} records",
                        results.len(),
                        batch.len()
                    );
                    batch
                        .iter()
                        .map(|_| {
                            Err(ConnectorError::Permanent {
                                message: msg.clone(),
                                status: None,
                                body: None,
                            })
                        })
                        .collect()
                }
                Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
            };
            // Any `Retry-After` pauses the target for everyone, whether or not this record has
            // attempts left.
            let asked = results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .filter_map(|e| e.retry_after().map(|ra| (ra, e)))
                .max_by_key(|(ra, _)| *ra)
                .map(|(ra, e)| (ra, e.status(), e.to_string()));
            if let Some((ra, status, reason)) = asked {
                self.gate.hold(ra);
                if let Some(pause) = &self.pause {
                    pause.record(&self.gate, ra, status, &reason).await;
                }
            }
            let mut retry_after = None::<Duration>;
            let mut still_pending = Vec::new();
            let backoff = self.retry.interval(attempt, rand::rng().random::<f64>());
            for (&i, result) in pending.iter().zip(results) {
                match result {
                    Err(e) if e.is_retryable() && attempt < self.retry.max_attempts => {
                        retry_after = retry_after.max(e.retry_after());
                        still_pending.push((i, e));
                    }
                    result => {
                        // Out of attempts on a retryable failure: parked for a later run.
                        let retry_in = match &result {
                            Err(e) if e.is_retryable() => {
                                Some(e.retry_after().map_or(backoff, |ra| ra.max(backoff)))
                            }
                            _ => None,
                        };
                        done[i] = Some(Sent {
                            result,
                            attempts: attempt,
                            retry_in,
                        })
                    }
                }
            }
            if !still_pending.is_empty() {
                let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
                if wait > PARK_AFTER {
                    // Never sleep long in a worker: park these and let the run go on.
                    for (i, e) in still_pending {
                        done[i] = Some(Sent {
                            result: Err(e),
                            attempts: attempt,
                            retry_in: Some(wait),
                        });
                    }
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            pending = still_pending.into_iter().map(|(i, _)| i).collect();
        }
        done.into_iter()
            .map(|s| {
                Some(s.unwrap_or(Sent {
                    result: Err(ConnectorError::Transient {
                        message: "not sent".into(),
                        status: None,
                        body: None,
                    }),
                    attempts: attempt,
                    retry_in: None,
                }))
            })
            .collect()
    }

    /// Waits until the target takes requests again: the gate of this process and the pause
    /// stored by any process. A pause longer than [`PARK_AFTER`] is not waited for: its
    /// remaining length is returned and the caller parks the records.
    async fn wait_for_target(&self) -> Option<Duration> {
        loop {
            if let Some(pause) = &self.pause {
                pause.refresh(&self.gate).await;
            }
            let closed = self.gate.remaining();
            if closed > PARK_AFTER {
                return Some(closed);
            }
            if closed.is_zero() {
                return None;
            }
            // Another process may extend the pause meanwhile: look again after the wait.
            self.gate.wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{ReadRequest, RecordReader, WriteAction};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails the first `failures` calls with `error`, then accepts.
    struct Flaky {
        calls: AtomicU32,
        failures: u32,
        error: ConnectorError,
        times: Mutex<Vec<Instant>>,
    }

    #[async_trait]
    impl ConnectorInstance for Flaky {
        async fn health_check(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
        async fn read(
            &self,
            _: &str,
            _: ReadRequest,
        ) -> Result<Box<dyn RecordReader>, ConnectorError> {
            Err(ConnectorError::Config("write only".into()))
        }
        async fn write(
            &self,
            _: &str,
            _: &Value,
            records: &[WriteRecord],
        ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
            self.times.lock().unwrap().push(Instant::now());
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Err(self.error.clone());
            }
            Ok(records
                .iter()
                .map(|r| {
                    Ok(WriteAck {
                        status: Some(201),
                        body: None,
                        target_id: Some(r.key.clone()),
                    })
                })
                .collect())
        }
    }

    fn sender(flaky: Arc<Flaky>, max_attempts: u32) -> Sender {
        Sender {
            target: flaky,
            operation: "write".into(),
            params: Value::Null,
            retry: Retry {
                max_attempts,
                initial_interval_ms: 1_000,
                max_interval_ms: 30_000,
            },
            gate: RateGate::new(),
            pause: None,
            fence: Fence::none(),
        }
    }

    /// The answers of records that were not withheld (no fence here: all of them).
    fn answered(sent: Vec<Option<Sent>>) -> Vec<Sent> {
        sent.into_iter().map(|s| s.expect("not withheld")).collect()
    }

    /// Takes a request and never answers (a target slower than what is left of the lease).
    struct Hanging;

    #[async_trait]
    impl ConnectorInstance for Hanging {
        async fn health_check(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
        async fn read(
            &self,
            _: &str,
            _: ReadRequest,
        ) -> Result<Box<dyn RecordReader>, ConnectorError> {
            Err(ConnectorError::Config("write only".into()))
        }
        async fn write(
            &self,
            _: &str,
            _: &Value,
            _: &[WriteRecord],
        ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(ConnectorError::Config("unreachable".into()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_sent_once_the_fence_closed_and_the_record_is_withheld() {
        let flaky = Arc::new(Flaky {
            calls: 0.into(),
            failures: 5,
            error: ConnectorError::Transient {
                message: "503".into(),
                status: Some(503),
                body: None,
            },
            times: Mutex::default(),
        });
        let mut target = sender(flaky.clone(), 4);
        // The lease's fence closes during the first backoff (at least 1 s).
        target.fence = Fence::open_until(crate::run::fence::now(), Duration::from_millis(500));
        let sent = target.send(&record()).await;
        assert!(sent[0].is_none(), "withheld, not logged as failed");
        assert_eq!(
            flaky.times.lock().unwrap().len(),
            1,
            "no retry after the fence closed"
        );
        // Closed for good: not even a first attempt.
        assert!(target.send(&record()).await[0].is_none());
        assert_eq!(flaky.times.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_cut_off_at_the_fence_deadline() {
        let mut target = sender(
            Arc::new(Flaky {
                calls: 0.into(),
                failures: 0,
                error: ConnectorError::Config("unused".into()),
                times: Mutex::default(),
            }),
            4,
        );
        target.target = Arc::new(Hanging);
        target.fence = Fence::open_until(crate::run::fence::now(), Duration::from_secs(2));
        let started = Instant::now();
        let sent = target.send(&record()).await;
        assert!(sent[0].is_none(), "its outcome is unknown: withheld");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    fn record() -> Vec<WriteRecord> {
        vec![WriteRecord {
            key: "k1".into(),
            action: WriteAction::Create,
            payload: Value::Null,
            text: None,
        }]
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_with_backoff_of_at_least_one_second() {
        let flaky = Arc::new(Flaky {
            calls: 0.into(),
            failures: 2,
            error: ConnectorError::Transient {
                message: "503".into(),
                status: Some(503),
                body: None,
            },
            times: Mutex::default(),
        });
        let sent = answered(sender(flaky.clone(), 4).send(&record()).await);
        assert!(sent[0].result.is_ok());
        assert_eq!(sent[0].attempts, 3);
        let times = flaky.times.lock().unwrap().clone();
        assert!(times[1] - times[0] >= Duration::from_secs(1));
        assert!(times[2] - times[1] >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_attempts_are_bounded() {
        let error = ConnectorError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
            message: "slow down".into(),
            status: Some(429),
        };
        let flaky = Arc::new(Flaky {
            calls: 0.into(),
            failures: 10,
            error,
            times: Mutex::default(),
        });
        let sent = answered(sender(flaky.clone(), 3).send(&record()).await);
        assert!(matches!(
            sent[0].result,
            Err(ConnectorError::RateLimited { .. })
        ));
        assert_eq!(sent[0].attempts, 3);
        let times = flaky.times.lock().unwrap().clone();
        assert_eq!(times.len(), 3);
        assert!(times[1] - times[0] >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_after_parks_the_record_instead_of_sleeping() {
        let error = ConnectorError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
            message: "daily limit".into(),
            status: Some(429),
        };
        let flaky = Arc::new(Flaky {
            calls: 0.into(),
            failures: 10,
            error,
            times: Mutex::default(),
        });
        let started = Instant::now();
        let target = sender(flaky.clone(), 4);
        let sent = answered(target.send(&record()).await);
        assert_eq!(flaky.times.lock().unwrap().len(), 1, "no second request");
        assert!(
            started.elapsed() < PARK_AFTER,
            "the worker did not sleep an hour"
        );
        assert_eq!(sent[0].retry_in, Some(Duration::from_secs(3600)));
        // Later records of the run: no request while the pause runs, parked as well.
        let later = answered(target.send(&record()).await);
        assert_eq!(
            flaky.times.lock().unwrap().len(),
            1,
            "zero requests during Retry-After"
        );
        assert!(later[0].retry_in.unwrap() > Duration::from_secs(3500));
        // Used-up attempts on a retryable failure are parked too; a refusal is not.
        assert!(
            sender(
                Arc::new(Flaky {
                    calls: 0.into(),
                    failures: 10,
                    error: ConnectorError::Transient {
                        message: "503".into(),
                        status: Some(503),
                        body: None
                    },
                    times: Mutex::default(),
                }),
                2
            )
            .send(&record())
            .await[0]
                .as_ref()
                .unwrap()
                .retry_in
                .is_some()
        );
    }

    #[test]
    fn runs_of_one_flow_and_target_share_their_pause() {
        let first = RateGate::shared("orders|erp/write");
        first.hold(Duration::from_secs(120));
        assert!(RateGate::shared("orders|erp/write").remaining() > Duration::from_secs(100));
        assert_eq!(
            RateGate::shared("stock|erp/write").remaining(),
            Duration::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let error = ConnectorError::Permanent {
            message: "bad".into(),
            status: Some(422),
            body: Some("{}".into()),
        };
        let flaky = Arc::new(Flaky {
            calls: 0.into(),
            failures: 1,
            error,
            times: Mutex::default(),
        });
        let sent = answered(sender(flaky.clone(), 4).send(&record()).await);
        assert_eq!(sent[0].attempts, 1);
        assert_eq!(sent[0].result.as_ref().unwrap_err().status(), Some(422));
    }
}
