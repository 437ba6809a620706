//! The lease fence: whether this process may still send for a run it claimed.
//!
//! A worker holds a run under a lease in the database, renewed by the runtime. A worker that is
//! alive but stalled (a frozen process, a machine so loaded that renewals wait longer than the
//! lease) can have its run taken over while it still holds records it read. The database cannot
//! stop it from sending them, so the worker stops itself: it keeps a local, conservative
//! deadline and sends nothing after it.
//!
//! The deadline is measured from when the claim or renewal that succeeded was *started* (the
//! lease it wrote counts from then too), on the monotonic clock, which a stalled or frozen
//! process sees advance, and on the wall clock as well, which keeps counting when a whole machine
//! was suspended. Whichever says "passed" first closes the fence. The deadline is the lease minus
//! a margin (see [`Fence::lease_margin`]). A closed fence stays closed: a renewal that succeeds
//! afterwards does not open it again, so "the fence closed" always means "this execution of the
//! run is over; the next owner resolves what it left".

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Why a fence closed: this process may no longer act for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// A renewal found the run held by another worker.
    LeaseLost,
    /// No renewal succeeded in time: the lease may expire (by the database's reckoning) before
    /// the next one, so another worker may take the run over.
    RenewalsLate,
}

impl fmt::Display for Fenced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fenced::LeaseLost => "the lease was lost: another worker took the run over",
            Fenced::RenewalsLate => {
                "the lease's renewals were late: the run may be taken over before the next one"
            }
        })
    }
}

impl std::error::Error for Fenced {}

tokio::task_local! {
    /// The fence of the send this task is making (see [`Fence::sending`]).
    static SENDING: Fence;
}

struct Deadline {
    monotonic: Instant,
    wall: DateTime<Utc>,
    closed: Option<Fenced>,
}

impl Deadline {
    /// Closes the fence when either clock says the deadline passed.
    fn refresh(&mut self) -> Result<Duration, Fenced> {
        if let Some(reason) = self.closed {
            return Err(reason);
        }
        let monotonic = self.monotonic.saturating_duration_since(Instant::now());
        let wall = (self.wall - Utc::now()).to_std().unwrap_or_default();
        let left = monotonic.min(wall);
        if left.is_zero() {
            self.closed = Some(Fenced::RenewalsLate);
            return Err(Fenced::RenewalsLate);
        }
        Ok(left)
    }
}

/// Shared by a run's sends and the task renewing its lease. Cloning shares it.
#[derive(Clone)]
pub struct Fence(Option<Arc<Mutex<Deadline>>>);

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check() {
            Ok(None) => f.write_str("Fence(none)"),
            Ok(Some(left)) => write!(f, "Fence(open for {left:?})"),
            Err(reason) => write!(f, "Fence(closed: {reason:?})"),
        }
    }
}

impl Fence {
    /// No lease: a run in the foreground (`ferry run`) may always send.
    pub fn none() -> Fence {
        Fence(None)
    }

    /// Open until `valid_for` after `started` (the monotonic and wall-clock times at which the
    /// claim that gave the lease was started).
    pub fn open_until(started: (Instant, DateTime<Utc>), valid_for: Duration) -> Fence {
        Fence(Some(Arc::new(Mutex::new(Deadline {
            monotonic: started.0 + valid_for,
            wall: started.1 + chrono::Duration::from_std(valid_for).unwrap_or_default(),
            closed: None,
        }))))
    }

    /// Runs `send` with this fence as the current send's: request bodies built inside it by
    /// [`crate::outbound::request_body`] refuse to be written once the fence closed, also when
    /// the HTTP client's connection task writes them later than `send` handed them over.
    pub async fn sending<F: std::future::Future>(&self, send: F) -> F::Output {
        SENDING.scope(self.clone(), send).await
    }

    /// The fence of the send this task is making, if it has a lease ([`Fence::sending`]).
    pub fn current() -> Option<Fence> {
        SENDING
            .try_with(Fence::clone)
            .ok()
            .filter(|fence| fence.0.is_some())
    }

    /// How much earlier than the lease the fence closes: a quarter of the lease.
    ///
    /// Each send is also cut off when the fence closes (the request waits for its answer at
    /// most until then), so no request of this process is in flight once the fence closed; the margin is
    /// therefore not there for requests but for clocks. The lease's end is written with this
    /// process's wall clock and compared by the reaper and claimers with theirs, so a claimer
    /// whose clock runs ahead sees the lease expire early. The margin is what may separate the
    /// clocks (and what a target takes to process a request already on the wire when it was cut
    /// off): a quarter of the lease, 3.75 s with the default 15 s lease.
    pub fn lease_margin(lease: Duration) -> Duration {
        lease / 4
    }

    fn deadline(&self) -> Option<std::sync::MutexGuard<'_, Deadline>> {
        self.0
            .as_ref()
            .map(|d| d.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// `Ok(None)`: no lease, no limit. `Ok(Some(left))`: sending is allowed for `left` more.
    /// `Err`: the fence closed; send nothing more.
    pub fn check(&self) -> Result<Option<Duration>, Fenced> {
        match self.deadline() {
            None => Ok(None),
            Some(mut deadline) => deadline.refresh().map(Some),
        }
    }

    /// Runs `work` (a request) while the fence is open: `Err` as soon as it closes, and `work` is
    /// dropped without being polled again. The fence is checked at every wake-up *before*
    /// `work` is polled, so a process thawed after a stall does not let a request that was not
    /// yet on the wire go out, whatever woke it (the timer, or the socket). Without a lease it
    /// is just `work`.
    pub async fn guard<F: std::future::Future>(&self, work: F) -> Result<F::Output, Fenced> {
        let mut work = std::pin::pin!(work);
        let mut alarm = std::pin::pin!(tokio::time::sleep_until(
            self.closes_at().unwrap_or_else(Instant::now)
        ));
        std::future::poll_fn(|cx| {
            if let Err(reason) = self.check() {
                return std::task::Poll::Ready(Err(reason));
            }
            if let std::task::Poll::Ready(done) = work.as_mut().poll(cx) {
                return std::task::Poll::Ready(Ok(done));
            }
            // Wakes this future when the fence's deadline (extended meanwhile, maybe) comes.
            if let Some(at) = self.closes_at() {
                alarm.as_mut().reset(at);
                let _ = alarm.as_mut().poll(cx);
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// When the fence closes unless it is extended (`None` without a lease).
    pub fn closes_at(&self) -> Option<Instant> {
        self.deadline().map(|d| d.monotonic)
    }

    /// A renewal started at `started` succeeded: the fence stays open until `valid_for` after
    /// it. Does nothing once the fence closed (the deadline passed first, or the lease was lost).
    pub fn extend(&self, started: (Instant, DateTime<Utc>), valid_for: Duration) {
        if let Some(mut deadline) = self.deadline()
            && deadline.refresh().is_ok()
        {
            let wall = started.1 + chrono::Duration::from_std(valid_for).unwrap_or_default();
            deadline.monotonic = deadline.monotonic.max(started.0 + valid_for);
            deadline.wall = deadline.wall.max(wall);
        }
    }

    /// The lease was lost: closes the fence for good.
    pub fn revoke(&self) {
        if let Some(mut deadline) = self.deadline() {
            deadline.closed.get_or_insert(Fenced::LeaseLost);
        }
    }
}

/// The current time on both clocks the fence reads, taken before a claim or renewal starts.
pub fn now() -> (Instant, DateTime<Utc>) {
    (Instant::now(), Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is left of an open fence (the wall clock runs on while tokio's time is paused).
    fn left(fence: &Fence) -> Duration {
        fence.check().unwrap().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fence_closes_at_its_deadline_and_stays_closed() {
        let fence = Fence::open_until(now(), Duration::from_secs(3));
        assert!(left(&fence) > Duration::from_millis(2900));
        tokio::time::advance(Duration::from_secs(2)).await;
        // A renewal started now keeps it open for another 3 s from now.
        fence.extend(now(), Duration::from_secs(3));
        tokio::time::advance(Duration::from_secs(2)).await;
        let one = left(&fence);
        assert!(one <= Duration::from_secs(1) && one > Duration::from_millis(900));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(fence.check(), Err(Fenced::RenewalsLate));
        // A renewal that succeeds too late does not open it again.
        fence.extend(now(), Duration::from_secs(3));
        assert_eq!(fence.check(), Err(Fenced::RenewalsLate));
    }

    #[tokio::test(start_paused = true)]
    async fn a_revoked_fence_is_closed_and_no_fence_is_always_open() {
        let fence = Fence::open_until(now(), Duration::from_secs(3));
        fence.revoke();
        fence.extend(now(), Duration::from_secs(3));
        assert_eq!(fence.check(), Err(Fenced::LeaseLost));
        assert_eq!(Fence::none().check(), Ok(None));
        assert_eq!(
            Fence::lease_margin(Duration::from_secs(15)),
            Duration::from_millis(3750)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_guarded_request_is_cut_off_at_the_extended_deadline() {
        let fence = Fence::open_until(now(), Duration::from_secs(3));
        let start = Instant::now();
        let renewing = {
            let fence = fence.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                fence.extend(now(), Duration::from_secs(3));
                std::future::pending::<()>().await
            }
        };
        tokio::select! {
            reason = fence.guard(std::future::pending::<()>()) => {
                assert_eq!(reason, Err(Fenced::RenewalsLate));
            }
            _ = renewing => unreachable!(),
        }
        assert_eq!(Fence::none().guard(async { 7 }).await, Ok(7));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn the_wall_clock_closes_the_fence_too() {
        // Started (by the wall clock) longer ago than it is valid: a suspended machine.
        let started = (Instant::now(), Utc::now() - chrono::Duration::seconds(10));
        let fence = Fence::open_until(started, Duration::from_secs(3));
        assert_eq!(fence.check(), Err(Fenced::RenewalsLate));
    }
}
