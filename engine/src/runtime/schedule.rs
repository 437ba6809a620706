//! When a scheduled flow fires next: a fixed interval counted from a start, or a cron
//! expression read in the flow's time zone.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::flow::model::Trigger;

/// A flow's schedule, parsed once.
#[derive(Debug, Clone)]
pub struct Schedule {
    every: Every,
    tz: Tz,
    start: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
enum Every {
    Interval(chrono::Duration),
    Cron(Box<Cron>),
}

impl Schedule {
    /// The schedule of a `schedule` trigger; `Ok(None)` for other triggers. Errors say which
    /// part is wrong.
    pub fn from_trigger(trigger: &Trigger) -> Result<Option<Schedule>, String> {
        let Trigger::Schedule {
            interval,
            cron,
            timezone,
            start,
        } = trigger
        else {
            return Ok(None);
        };
        let tz = match timezone {
            Some(name) => Tz::from_str(name).map_err(|_| {
                format!("time zone `{name}` is not an IANA name like `Europe/Paris`")
            })?,
            None => Tz::UTC,
        };
        let every = match (interval, cron) {
            (Some(text), None) => Every::Interval(parse_interval(text)?),
            (None, Some(text)) => Every::Cron(Box::new(
                Cron::from_str(text).map_err(|e| format!("cron `{text}`: {e}"))?,
            )),
            _ => return Err("a schedule needs exactly one of `interval` or `cron`".into()),
        };
        let start = start.as_deref().map(|s| parse_start(s, tz)).transpose()?;
        Ok(Some(Schedule { every, tz, start }))
    }

    /// The first firing strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        match &self.every {
            Every::Interval(step) => {
                // Counted from the start (or the Unix epoch), so `15m` fires at :00, :15, …
                let anchor = self.start.unwrap_or(DateTime::UNIX_EPOCH);
                if anchor > after {
                    return Ok(anchor);
                }
                let step_ms = step.num_milliseconds().max(1);
                let elapsed = (after - anchor).num_milliseconds();
                let steps = elapsed / step_ms + 1;
                Ok(anchor + chrono::Duration::milliseconds(steps * step_ms))
            }
            Every::Cron(cron) => {
                let (from, inclusive) = match self.start {
                    Some(start) if start > after => (start, true),
                    _ => (after, false),
                };
                cron.find_next_occurrence(&from.with_timezone(&self.tz), inclusive)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| format!("cron has no next firing: {e}"))
            }
        }
    }

    /// The interval or cron expression, for listings.
    pub fn describe(&self) -> String {
        let zone = if self.tz == Tz::UTC {
            String::new()
        } else {
            format!(" ({})", self.tz)
        };
        match &self.every {
            Every::Interval(d) => format!("every {}{zone}", human_duration(*d)),
            Every::Cron(c) => format!("cron {}{zone}", c.pattern),
        }
    }

    /// The first firing, when one was given.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start
    }
}

/// `15m`, `2h`, `1d`: a positive whole number (fits `u32`) and a unit.
pub(crate) fn parse_interval(text: &str) -> Result<chrono::Duration, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n = number
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map(i64::from)
        .ok_or_else(|| format!("interval `{text}` is not a number followed by m, h or d"))?;
    match unit {
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!(
            "interval `{text}` is not a number followed by m, h or d"
        )),
    }
}

fn parse_start(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| format!("start `{text}` is not a date and time like `2026-12-01T06:00`"))?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("start `{text}` does not exist in {tz} (a daylight-saving gap)"))
}

fn human_duration(d: chrono::Duration) -> String {
    let minutes = d.num_minutes();
    if minutes % (24 * 60) == 0 {
        format!("{} day(s)", minutes / (24 * 60))
    } else if minutes % 60 == 0 {
        format!("{} hour(s)", minutes / 60)
    } else {
        format!("{minutes} minute(s)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(json: serde_json::Value) -> Result<Option<Schedule>, String> {
        Schedule::from_trigger(&serde_json::from_value(json).unwrap())
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn intervals_count_from_the_start_and_fire_strictly_later() {
        let s = schedule(serde_json::json!({"type": "schedule", "interval": "15m",
            "start": "2026-12-01T06:05", "timezone": "Europe/Paris"}))
        .unwrap()
        .unwrap();
        // Before the start: the start itself (06:05 Paris = 05:05 UTC).
        assert_eq!(
            s.next_after(at("2026-11-23T00:00:00Z")).unwrap(),
            at("2026-12-01T05:05:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-12-01T05:05:00Z")).unwrap(),
            at("2026-12-01T05:20:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-12-01T05:21:00Z")).unwrap(),
            at("2026-12-01T05:35:00Z")
        );
        assert_eq!(s.describe(), "every 15 minute(s) (Europe/Paris)");
    }

    #[test]
    fn cron_is_read_in_the_flow_time_zone() {
        let s = schedule(
            serde_json::json!({"type": "schedule", "cron": "0 6 * * 1-5",
            "timezone": "Europe/Paris"}),
        )
        .unwrap()
        .unwrap();
        // Monday 23 November 2026, 06:00 in Paris is 05:00 UTC (winter time).
        assert_eq!(
            s.next_after(at("2026-11-23T04:00:00Z")).unwrap(),
            at("2026-11-23T05:00:00Z")
        );
        // Friday evening: next is Monday.
        assert_eq!(
            s.next_after(at("2026-11-27T18:00:00Z")).unwrap(),
            at("2026-11-30T05:00:00Z")
        );
    }

    #[test]
    fn bad_parts_are_named() {
        let e =
            schedule(serde_json::json!({"type": "schedule", "cron": "61 * * * *"})).unwrap_err();
        assert!(e.starts_with("cron `61 * * * *`"), "{e}");
        let e = schedule(serde_json::json!({"type": "schedule", "interval": "1h",
            "timezone": "Mars/Olympus"}))
        .unwrap_err();
        assert!(e.contains("time zone `Mars/Olympus`"), "{e}");
        let e = schedule(serde_json::json!({"type": "schedule", "interval": "1h",
            "start": "tomorrow"}))
        .unwrap_err();
        assert!(e.contains("start `tomorrow`"), "{e}");
        assert!(
            schedule(serde_json::json!({"type": "manual"}))
                .unwrap()
                .is_none()
        );
    }
}
