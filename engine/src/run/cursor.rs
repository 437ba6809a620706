//! Incremental cursors: the highest `incremental.field` value among records whose outcome is
//! committed, written into the source params of the next run.
//!
//! The cursor moves only past a page when every record of that page and of every page before it
//! is committed ([`CursorTracker`]), so a run stopped at any point re-reads what was not logged.
//! Dates are compared as instants (RFC 3339 with any offset), numbers as numbers.

use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::flow::Incremental;

/// A cursor value, ordered.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorValue {
    /// A modification date.
    Date(DateTime<Utc>),
    /// An increasing id or version number.
    Number(f64),
}

impl CursorValue {
    /// Reads a record's field value: a number, or a text that is an RFC 3339 date or a number.
    /// A date and time without an offset (`2017-03-22T19:28:08`, WooCommerce's
    /// `date_modified_gmt`) is read as UTC.
    pub fn parse(value: &Value) -> Option<CursorValue> {
        match value {
            Value::Number(n) => n.as_f64().map(CursorValue::Number),
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .map(|d| CursorValue::Date(d.with_timezone(&Utc)))
                .ok()
                .or_else(|| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|d| CursorValue::Date(d.and_utc()))
                })
                .or_else(|| s.parse::<f64>().ok().map(CursorValue::Number)),
            _ => None,
        }
    }

    /// The larger of two values; a date and a number do not compare, the first one wins.
    pub fn max(self, other: CursorValue) -> CursorValue {
        match (&self, &other) {
            (CursorValue::Date(a), CursorValue::Date(b)) if b > a => other,
            (CursorValue::Number(a), CursorValue::Number(b)) if b > a => other,
            _ => self,
        }
    }

    /// As stored and as passed to the source: RFC 3339 UTC text, or a number.
    pub fn to_json(&self) -> Value {
        match self {
            CursorValue::Date(d) => Value::String(d.to_rfc3339_opts(SecondsFormat::Secs, true)),
            CursorValue::Number(n) if n.fract() == 0.0 && n.abs() < 9e15 => Value::from(*n as i64),
            CursorValue::Number(n) => Value::from(*n),
        }
    }
}

/// The source params of a run: `params` with the cursor (minus the overlap, for dates) written
/// at `incremental.param`. Without a cursor, `incremental.start` is used when set.
pub fn params_with_cursor(
    params: &Value,
    incremental: &Incremental,
    cursor: Option<&Value>,
) -> Result<Value, String> {
    let Some(value) = cursor.or(incremental.start.as_ref()) else {
        return Ok(params.clone());
    };
    let value = match CursorValue::parse(value) {
        Some(CursorValue::Date(d)) => {
            CursorValue::Date(d - Duration::minutes(i64::from(incremental.overlap_minutes)))
                .to_json()
        }
        Some(number) => number.to_json(),
        None => value.clone(),
    };
    let mut params = match params {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    };
    let mut at = &mut params;
    let mut parts = incremental.param.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = at else {
            return Err(format!(
                "source.incremental.param `{}`: `{part}` is inside a value that is not an object",
                incremental.param
            ));
        };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            break;
        }
        at = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    Ok(params)
}

/// Follows pages of a run and tells when the cursor may move: only past pages whose records are
/// all committed, and all pages before them too.
#[derive(Debug, Default)]
pub struct CursorTracker {
    /// Per page, in reading order: first seq, records not yet committed, highest value.
    pages: Vec<PageState>,
    /// Pages fully committed, from the start.
    done: usize,
    /// Highest value among the committed prefix.
    committed: Option<CursorValue>,
}

#[derive(Debug)]
struct PageState {
    first_seq: i64,
    pending: usize,
    max: Option<CursorValue>,
}

impl CursorTracker {
    /// Registers a page before its records are dispatched.
    pub fn add_page(&mut self, first_seq: i64, len: usize, max: Option<CursorValue>) {
        self.pages.push(PageState {
            first_seq,
            pending: len,
            max,
        });
        self.advance();
    }

    /// Marks the record `seq` committed. Returns the new cursor when it moved.
    pub fn commit(&mut self, seq: i64) -> Option<Value> {
        let index = self.pages.partition_point(|p| p.first_seq <= seq);
        if let Some(page) = index.checked_sub(1).and_then(|i| self.pages.get_mut(i)) {
            page.pending = page.pending.saturating_sub(1);
        }
        self.advance()
    }

    fn advance(&mut self) -> Option<Value> {
        let before = self.committed.clone();
        while let Some(page) = self.pages.get(self.done).filter(|p| p.pending == 0) {
            if let Some(max) = page.max.clone() {
                self.committed = Some(match self.committed.take() {
                    Some(c) => c.max(max),
                    None => max,
                });
            }
            self.done += 1;
        }
        (self.committed != before)
            .then(|| self.committed.as_ref().map(CursorValue::to_json))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incremental(param: &str, overlap: u32) -> Incremental {
        Incremental {
            field: "$.updated_at".into(),
            param: param.into(),
            overlap_minutes: overlap,
            start: None,
        }
    }

    #[test]
    fn dates_compare_as_instants_whatever_their_offset() {
        let a = CursorValue::parse(&json!("2026-01-01T10:00:00+02:00")).unwrap();
        let b = CursorValue::parse(&json!("2026-01-01T09:00:00Z")).unwrap();
        assert_eq!(a.clone().max(b).to_json(), json!("2026-01-01T09:00:00Z"));
        let naive = CursorValue::parse(&json!("2017-03-22T19:28:08")).unwrap();
        assert_eq!(naive.to_json(), json!("2017-03-22T19:28:08Z"));
        let n = CursorValue::parse(&json!("42")).unwrap();
        assert_eq!(n.max(CursorValue::Number(7.0)).to_json(), json!(42));
    }

    #[test]
    fn cursor_goes_into_nested_params_minus_the_overlap() {
        let params = json!({"path": "/orders", "query": {"status": "any"}});
        let out = params_with_cursor(
            &params,
            &incremental("query.updated_at_min", 10),
            Some(&json!("2026-03-01T12:00:00Z")),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"path": "/orders", "query": {"status": "any", "updated_at_min": "2026-03-01T11:50:00Z"}})
        );
        let untouched = params_with_cursor(&params, &incremental("query.x", 0), None).unwrap();
        assert_eq!(untouched, params);
        let err = params_with_cursor(
            &params,
            &incremental("path.x", 0),
            Some(&json!("2026-03-01T12:00:00Z")),
        )
        .unwrap_err();
        assert!(err.contains("source.incremental.param `path.x`"), "{err}");
    }

    #[test]
    fn cursor_moves_only_past_fully_committed_pages_in_order() {
        let mut t = CursorTracker::default();
        t.add_page(0, 2, CursorValue::parse(&json!(10)));
        t.add_page(2, 2, CursorValue::parse(&json!(20)));
        // The second page commits first: the cursor may not move yet.
        assert_eq!(t.commit(2), None);
        assert_eq!(t.commit(3), None);
        assert_eq!(t.commit(0), None);
        // The first page completes: both pages are committed, the cursor jumps to 20.
        assert_eq!(t.commit(1), Some(json!(20)));
        // An empty page (everything filtered before dispatch) does not hold anything back.
        t.add_page(4, 1, CursorValue::parse(&json!(30)));
        assert_eq!(t.commit(4), Some(json!(30)));
    }
}
