//! Shopify's REST rate limit, kept client-side: a leaky bucket per connection (burst 40,
//! leaking 2 requests a second on standard plans), so a run waits for room instead of
//! collecting 429s.
//!
//! The bucket counts a request when it leaves. Answers correct it: the
//! `X-Shopify-Shop-Api-Call-Limit: 32/40` header says how full Shopify thinks the bucket is
//! (other apps and connections share it) and how big it is (Shopify Plus: 400, leaking 20/s),
//! and a 429 means it is full. A 429 is still an error for the engine to retry after
//! `Retry-After`: waiting for room here is throttling, not retrying.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::http::client::Throttle;

/// Header with Shopify's view of the bucket: `used/capacity`.
pub(crate) const CALL_LIMIT_HEADER: &str = "x-shopify-shop-api-call-limit";

/// Bucket size on standard plans.
pub(crate) const DEFAULT_BURST: f64 = 40.0;

/// Requests leaked per second for each request of capacity (40 → 2/s, 400 → 20/s).
const LEAK_PER_CAPACITY: f64 = 2.0 / 40.0;

/// Where the bucket reads the time; tests drive it by hand.
pub(crate) trait Clock: Send + Sync + std::fmt::Debug {
    /// Time elapsed since some fixed start.
    fn now(&self) -> Duration;
}

/// The monotonic clock.
#[derive(Debug)]
pub(crate) struct SystemClock(std::time::Instant);

impl SystemClock {
    pub(crate) fn new() -> Self {
        SystemClock(std::time::Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

#[derive(Debug)]
struct State {
    /// Requests in the bucket (fractional while leaking).
    level: f64,
    capacity: f64,
    /// When `level` was last brought up to date.
    at: Duration,
}

/// A leaky bucket shared by every request of one connection.
#[derive(Debug)]
pub(crate) struct LeakyBucket {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl LeakyBucket {
    /// An empty bucket of `capacity` requests.
    pub(crate) fn new(capacity: f64, clock: Arc<dyn Clock>) -> Self {
        let at = clock.now();
        LeakyBucket {
            state: Mutex::new(State {
                level: 0.0,
                capacity,
                at,
            }),
            clock,
        }
    }

    /// Counts one request if there is room; otherwise says how long until there is.
    pub(crate) fn try_take(&self) -> Result<(), Duration> {
        let mut state = self.lock();
        self.leak(&mut state);
        if state.level + 1.0 <= state.capacity {
            state.level += 1.0;
            return Ok(());
        }
        let missing = state.level + 1.0 - state.capacity;
        let rate = state.capacity * LEAK_PER_CAPACITY;
        Err(Duration::from_secs_f64((missing / rate).max(0.001)))
    }

    /// Takes Shopify's word for the bucket: it is at least `used` full and holds `capacity`.
    pub(crate) fn observe(&self, used: f64, capacity: f64) {
        let mut state = self.lock();
        self.leak(&mut state);
        if capacity >= 1.0 {
            state.capacity = capacity;
        }
        state.level = state.level.max(used).min(state.capacity);
    }

    /// Marks the bucket full (Shopify answered 429).
    pub(crate) fn fill(&self) {
        let mut state = self.lock();
        self.leak(&mut state);
        state.level = state.capacity;
    }

    /// How many requests the bucket holds now.
    #[cfg(test)]
    pub(crate) fn level(&self) -> f64 {
        let mut state = self.lock();
        self.leak(&mut state);
        state.level
    }

    fn leak(&self, state: &mut State) {
        let now = self.clock.now();
        let elapsed = now.saturating_sub(state.at).as_secs_f64();
        state.level = (state.level - elapsed * state.capacity * LEAK_PER_CAPACITY).max(0.0);
        state.at = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain numbers: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Throttle for LeakyBucket {
    async fn before_request(&self) {
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait).await;
        }
    }

    fn after_response(&self, status: StatusCode, headers: &HeaderMap) {
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.fill();
        } else if let Some((used, capacity)) = headers
            .get(CALL_LIMIT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_call_limit)
        {
            self.observe(used, capacity);
        }
    }
}

/// `"32/40"` → (32, 40).
pub(crate) fn parse_call_limit(value: &str) -> Option<(f64, f64)> {
    let (used, capacity) = value.trim().split_once('/')?;
    Some((used.trim().parse().ok()?, capacity.trim().parse().ok()?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A clock that moves only when told.
    #[derive(Debug, Default)]
    pub(crate) struct ManualClock(Mutex<Duration>);

    impl ManualClock {
        pub(crate) fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Duration {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn bucket_allows_a_burst_then_leaks_two_per_second() {
        let clock = Arc::new(ManualClock::default());
        let bucket = LeakyBucket::new(DEFAULT_BURST, clock.clone());
        for _ in 0..40 {
            bucket.try_take().unwrap();
        }
        assert_eq!(bucket.try_take(), Err(Duration::from_millis(500)));
        clock.advance(Duration::from_secs(1));
        bucket.try_take().unwrap();
        bucket.try_take().unwrap();
        assert!(bucket.try_take().is_err());
    }

    #[test]
    fn shopify_headers_and_429_correct_the_bucket() {
        let clock = Arc::new(ManualClock::default());
        let bucket = LeakyBucket::new(DEFAULT_BURST, clock.clone());
        let mut headers = HeaderMap::new();
        headers.insert(CALL_LIMIT_HEADER, "39/40".parse().unwrap());
        bucket.after_response(StatusCode::OK, &headers);
        assert_eq!(bucket.level(), 39.0);
        bucket.try_take().unwrap();
        assert!(bucket.try_take().is_err());
        // A Plus store: bigger bucket, faster leak.
        headers.insert(CALL_LIMIT_HEADER, "10/400".parse().unwrap());
        bucket.after_response(StatusCode::OK, &headers);
        assert!(bucket.try_take().is_ok());
        bucket.after_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert_eq!(bucket.level(), 400.0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(bucket.level(), 380.0);
        assert_eq!(parse_call_limit(" 1 / 40 "), Some((1.0, 40.0)));
        assert_eq!(parse_call_limit("x"), None);
    }
}
