//! Exact Online's per-minute limit (60 calls a minute per app and division), kept client-side
//! from the headers of every answer:
//!
//! - `X-RateLimit-Minutely-Remaining`: calls left in this minute;
//! - `X-RateLimit-Minutely-Reset`: when the minute ends, in milliseconds since the Unix epoch;
//! - `X-RateLimit-Remaining` / `X-RateLimit-Reset`: the same for the daily limit.
//!
//! When no call is left in the minute, requests wait until the reset instead of collecting
//! 429s. The daily limit is not waited for (that can be hours): once Exact says no call is
//! left today, requests fail at once with `RateLimited` until `X-RateLimit-Reset`
//! ([`MinutelyLimit::daily_wait`]), and a 429 does the same; the engine reschedules.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::http::client::Throttle;
use crate::wall_clock::WallClock;

/// Calls left in the current minute.
pub(crate) const MINUTELY_REMAINING: &str = "x-ratelimit-minutely-remaining";
/// End of the current minute, in ms since the epoch.
pub(crate) const MINUTELY_RESET: &str = "x-ratelimit-minutely-reset";
/// Calls left today.
pub(crate) const DAILY_REMAINING: &str = "x-ratelimit-remaining";
/// End of the current day window, in ms since the epoch.
pub(crate) const DAILY_RESET: &str = "x-ratelimit-reset";

/// Longest single sleep while waiting, so a clock that jumps (tests, NTP) is noticed soon.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
struct Window {
    /// Calls left in the minute, as last told and counted down since.
    remaining: Option<u64>,
    /// When the minute ends (since the epoch).
    reset: Option<Duration>,
}

/// The per-minute window of one connection, and the end of the day window when Exact said
/// no call is left today.
#[derive(Debug)]
pub(crate) struct MinutelyLimit {
    window: Mutex<Window>,
    day_exhausted_until: Mutex<Option<Duration>>,
    clock: Arc<dyn WallClock>,
}

impl MinutelyLimit {
    pub(crate) fn new(clock: Arc<dyn WallClock>) -> Self {
        MinutelyLimit {
            window: Mutex::new(Window::default()),
            day_exhausted_until: Mutex::new(None),
            clock,
        }
    }

    /// How long until the daily limit opens again, when Exact said it is used up.
    pub(crate) fn daily_wait(&self) -> Option<Duration> {
        let until = (*self.day_lock())?;
        let now = self.clock.unix_now();
        (until > now).then(|| until - now)
    }

    fn day_lock(&self) -> std::sync::MutexGuard<'_, Option<Duration>> {
        self.day_exhausted_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one call if the minute has room; otherwise says how long until it ends.
    pub(crate) fn try_take(&self) -> Result<(), Duration> {
        let now = self.clock.unix_now();
        let mut window = self.lock();
        if let Some(reset) = window.reset
            && reset <= now
        {
            // A new minute: Exact will tell us its allowance with the next answer.
            *window = Window::default();
        }
        match window.remaining {
            Some(0) => Err(window
                .reset
                .map(|reset| reset.saturating_sub(now))
                .unwrap_or(POLL)),
            Some(n) => {
                window.remaining = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Plain numbers: a panic elsewhere cannot leave them inconsistent.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Throttle for MinutelyLimit {
    async fn before_request(&self) {
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait.min(POLL)).await;
        }
    }

    fn after_response(&self, _status: StatusCode, headers: &HeaderMap) {
        if let Some(daily) = number(headers, DAILY_REMAINING) {
            *self.day_lock() = if daily == 0 {
                number(headers, DAILY_RESET).map(Duration::from_millis)
            } else {
                None
            };
        }
        let remaining = number(headers, MINUTELY_REMAINING);
        let reset = number(headers, MINUTELY_RESET).map(Duration::from_millis);
        if remaining.is_none() && reset.is_none() {
            return;
        }
        let mut window = self.lock();
        if let Some(remaining) = remaining {
            // Answers of concurrent calls arrive out of order: keep the lowest count.
            window.remaining = Some(window.remaining.map_or(remaining, |r| r.min(remaining)));
        }
        if reset.is_some() {
            window.reset = reset;
        }
    }
}

/// A header holding a whole number.
pub(crate) fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The wait a 429 asks for, from Exact's headers: the minute's reset when the minute is used
/// up, else the day's.
pub(crate) fn wait_after_429(headers: &HeaderMap, now: Duration) -> Option<Duration> {
    let reset = if number(headers, MINUTELY_REMAINING) == Some(0) {
        number(headers, MINUTELY_RESET)
    } else if number(headers, DAILY_REMAINING) == Some(0) {
        number(headers, DAILY_RESET)
    } else {
        number(headers, MINUTELY_RESET)
    }?;
    Some(Duration::from_millis(reset).saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wall_clock::tests::ManualWallClock;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn an_exhausted_minute_waits_until_its_reset_then_opens() {
        let clock = Arc::new(ManualWallClock::default());
        let limit = MinutelyLimit::new(clock.clone());
        limit.try_take().unwrap();
        let reset = clock.unix_now() + Duration::from_secs(40);
        limit.after_response(
            StatusCode::OK,
            &headers(&[
                (MINUTELY_REMAINING, "1".into()),
                (MINUTELY_RESET, reset.as_millis().to_string()),
            ]),
        );
        limit.try_take().unwrap();
        assert_eq!(limit.try_take(), Err(Duration::from_secs(40)));
        clock.advance(Duration::from_secs(39));
        assert_eq!(limit.try_take(), Err(Duration::from_secs(1)));
        clock.advance(Duration::from_secs(1));
        limit.try_take().unwrap();
    }

    #[test]
    fn a_used_up_day_is_reported_until_its_reset() {
        let clock = Arc::new(ManualWallClock::default());
        let limit = MinutelyLimit::new(clock.clone());
        assert_eq!(limit.daily_wait(), None);
        let reset = clock.unix_now() + Duration::from_secs(7200);
        limit.after_response(
            StatusCode::OK,
            &headers(&[
                (DAILY_REMAINING, "0".into()),
                (DAILY_RESET, reset.as_millis().to_string()),
            ]),
        );
        assert_eq!(limit.daily_wait(), Some(Duration::from_secs(7200)));
        clock.advance(Duration::from_secs(7200));
        assert_eq!(limit.daily_wait(), None);
    }

    #[test]
    fn a_429_waits_for_the_window_that_is_used_up() {
        let now = Duration::from_secs(1_000);
        let minute = headers(&[
            (MINUTELY_REMAINING, "0".into()),
            (MINUTELY_RESET, "1030000".into()),
            (DAILY_REMAINING, "4000".into()),
            (DAILY_RESET, "9000000".into()),
        ]);
        assert_eq!(wait_after_429(&minute, now), Some(Duration::from_secs(30)));
        let day = headers(&[
            (MINUTELY_REMAINING, "50".into()),
            (MINUTELY_RESET, "1030000".into()),
            (DAILY_REMAINING, "0".into()),
            (DAILY_RESET, "4600000".into()),
        ]);
        assert_eq!(wait_after_429(&day, now), Some(Duration::from_secs(3600)));
        assert_eq!(wait_after_429(&HeaderMap::new(), now), None);
    }
}
