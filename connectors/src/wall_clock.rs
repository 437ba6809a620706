//! Wall-clock time (since the Unix epoch) for what vendors date in absolute time: OAuth2 token
//! expiry and Exact Online's rate-limit reset. Injected so tests move it by hand instead of
//! waiting.

use std::time::{Duration, SystemTime};

/// Where the time since the Unix epoch is read.
pub(crate) trait WallClock: Send + Sync + std::fmt::Debug {
    /// Time since 1970-01-01 UTC.
    fn unix_now(&self) -> Duration;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn unix_now(&self) -> Duration {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A wall clock that moves only when told; starts at 2026-01-01 00:00 UTC.
    #[derive(Debug)]
    pub(crate) struct ManualWallClock(Mutex<Duration>);

    impl Default for ManualWallClock {
        fn default() -> Self {
            ManualWallClock(Mutex::new(Duration::from_secs(1_767_225_600)))
        }
    }

    impl ManualWallClock {
        pub(crate) fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl WallClock for ManualWallClock {
        fn unix_now(&self) -> Duration {
            *self.0.lock().unwrap()
        }
    }
}
