//! The allowlist of helper functions user scripts may call, beyond Rhai's standard package.
//!
//! Each helper is small, total (bad input gives a Rhai error, never a panic) and documented in
//! `docs/flows.md#script-helpers`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Position};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

/// Value maps a script can read with `lookup(table, key)`.
#[derive(Debug, Default)]
pub struct LookupTables {
    /// Table name → key → value.
    pub tables: HashMap<String, LookupTable>,
}

/// One value map: entries and what an unmapped key gives.
#[derive(Debug, Default, Clone)]
pub struct LookupTable {
    /// Source value → target value.
    pub entries: HashMap<String, Value>,
    /// Value for keys that are not in `entries`; `None` means an unmapped key is an error.
    pub default: Option<Value>,
}

impl LookupTable {
    /// The value for `key`, the default, or an error naming the table and the key.
    pub fn get(&self, table: &str, key: &str) -> Result<Value, String> {
        match self.entries.get(key).or(self.default.as_ref()) {
            Some(v) => Ok(v.clone()),
            None => Err(format!(
                "value map `{table}` has no entry for \"{key}\" and no default"
            )),
        }
    }
}

type Res<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.into()),
        Position::NONE,
    )))
}

/// Key text of a value as value maps see it: strings as-is, other scalars as JSON.
pub fn key_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses "12.50", "1,234.50", "1.234,50", "12,5", " 3 " into a float.
pub fn parse_number(text: &str) -> Option<f64> {
    // Plain "198.30": nothing to strip or swap, so parse it as it is, without copying.
    if is_plain_number(text) {
        return text.parse::<f64>().ok().filter(|f| f.is_finite());
    }
    parse_localized_number(text)
}

/// Digits, `.` and `-` only: what [`parse_localized_number`] would pass to `str::parse` unchanged.
fn is_plain_number(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// The general case of [`parse_number`]: spaces removed, then `,`/`.` read by position.
fn parse_localized_number(text: &str) -> Option<f64> {
    let t: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    if t.is_empty() {
        return None;
    }
    let normalized = match (t.rfind(','), t.rfind('.')) {
        (Some(c), Some(d)) if c > d => t.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => t.replace(',', ""),
        (Some(_), None) if t.matches(',').count() == 1 => t.replace(',', "."),
        (Some(_), None) => t.replace(',', ""),
        _ => t,
    };
    normalized.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Rounds half away from zero to `digits` decimals.
pub fn round_to(x: f64, digits: i64) -> f64 {
    let factor = 10f64.powi(digits.clamp(0, 12) as i32);
    (x * factor).round() / factor
}

/// Removes diacritics: "Chloé Müller" → "Chloe Muller".
pub fn strip_accents(s: &str) -> String {
    s.nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .collect()
}

fn number_of(v: &Dynamic) -> Res<f64> {
    if v.is_int() {
        return Ok(v.as_int().unwrap_or_default() as f64);
    }
    if v.is_float() {
        return Ok(v.as_float().unwrap_or_default());
    }
    if v.is_string() {
        let s = v.clone().into_immutable_string().unwrap_or_default();
        return match parse_number(&s) {
            Some(f) => Ok(f),
            None => fail(format!("\"{s}\" is not a number")),
        };
    }
    fail(format!("expected a number, got {}", v.type_name()))
}

fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.naive_utc());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn pad(s: &str, len: i64, fill: &str, left: bool) -> Res<String> {
    let fill = fill.chars().next().unwrap_or(' ');
    let have = s.chars().count();
    let want = len.clamp(0, 10_000) as usize;
    if have >= want {
        return Ok(s.to_string());
    }
    let padding: String = std::iter::repeat_n(fill, want - have).collect();
    Ok(if left {
        format!("{padding}{s}")
    } else {
        format!("{s}{padding}")
    })
}

/// Registers the helpers on `engine`.
pub(crate) fn register(engine: &mut Engine, lookups: Arc<LookupTables>) {
    // The standard package's `sleep` blocks the worker (and panics on huge values): refuse it.
    engine.register_fn("sleep", |_: f64| -> Res<()> {
        fail("sleep is not available in Ferry scripts")
    });
    engine.register_fn("sleep", |_: i64| -> Res<()> {
        fail("sleep is not available in Ferry scripts")
    });
    engine.register_fn("parse_number", |v: Dynamic| number_of(&v));
    engine.register_fn("round", |v: Dynamic, digits: i64| {
        Ok::<_, Box<EvalAltResult>>(round_to(number_of(&v)?, digits))
    });
    engine.register_fn("round", |v: Dynamic| {
        Ok::<_, Box<EvalAltResult>>(round_to(number_of(&v)?, 0))
    });
    engine.register_fn("format_number", |v: Dynamic, decimals: i64| {
        Ok::<_, Box<EvalAltResult>>(format!(
            "{:.*}",
            decimals.clamp(0, 12) as usize,
            number_of(&v)?
        ))
    });
    engine.register_fn("lower", |s: ImmutableString| s.to_lowercase());
    engine.register_fn("upper", |s: ImmutableString| s.to_uppercase());
    engine.register_fn("trimmed", |s: ImmutableString| s.trim().to_string());
    engine.register_fn("strip_accents", |s: ImmutableString| strip_accents(&s));
    engine.register_fn("pad_left", |s: Dynamic, len: i64, fill: ImmutableString| {
        pad(&s.to_string(), len, &fill, true)
    });
    engine.register_fn(
        "pad_right",
        |s: Dynamic, len: i64, fill: ImmutableString| pad(&s.to_string(), len, &fill, false),
    );
    engine.register_fn("string", |v: Dynamic| {
        if v.is_unit() {
            String::new()
        } else {
            v.to_string()
        }
    });
    engine.register_fn("is_empty", |v: Dynamic| {
        v.is_unit() || (v.is_string() && v.to_string().is_empty())
    });
    engine.register_fn(
        "format_date",
        |s: ImmutableString, fmt: ImmutableString| -> Res<String> {
            match parse_datetime(&s) {
                Some(dt) => {
                    let mut out = String::new();
                    use std::fmt::Write;
                    if write!(out, "{}", dt.format(&fmt)).is_err() {
                        return fail(format!("bad date format \"{fmt}\""));
                    }
                    Ok(out)
                }
                None => fail(format!("\"{s}\" is not a date")),
            }
        },
    );
    engine.register_fn(
        "parse_date",
        |s: ImmutableString, fmt: ImmutableString| -> Res<String> {
            if let Ok(dt) = NaiveDateTime::parse_from_str(&s, &fmt) {
                return Ok(dt.format("%Y-%m-%dT%H:%M:%S").to_string());
            }
            match NaiveDate::parse_from_str(&s, &fmt) {
                Ok(d) => Ok(d.format("%Y-%m-%d").to_string()),
                Err(_) => fail(format!("\"{s}\" does not match date format \"{fmt}\"")),
            }
        },
    );
    engine.register_fn(
        "lookup",
        move |table: ImmutableString, key: Dynamic| -> Res<Dynamic> {
            let Some(t) = lookups.tables.get(table.as_str()) else {
                return fail(format!("no value map named `{table}`"));
            };
            let key = if key.is_string() {
                key.to_string()
            } else {
                key_text(&super::script::to_json(key).unwrap_or(Value::Null))
            };
            match t.get(&table, &key) {
                Ok(v) => Ok(super::script::to_dynamic(&v)),
                Err(msg) => fail(msg),
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::script::{
        RECORD_VAR, Script, ScriptLimits, VALUE_VAR, sandboxed_engine, to_dynamic, to_json,
    };
    use serde_json::json;
    use std::time::Duration;

    fn eval(src: &str, value: Value) -> Result<Value, String> {
        let mut tables = LookupTables::default();
        tables.tables.insert(
            "status".into(),
            LookupTable {
                entries: [("paid".to_string(), json!("PAID"))].into(),
                default: None,
            },
        );
        let engine = sandboxed_engine(&ScriptLimits::default(), Arc::new(tables));
        let script = Script::compile(&engine, src, false).map_err(|e| e.to_string())?;
        let mut scope = rhai::Scope::new();
        scope.push(VALUE_VAR, to_dynamic(&value));
        scope.push(RECORD_VAR, to_dynamic(&json!({})));
        script
            .eval(&engine, &mut scope, Duration::from_secs(1))
            .map_err(|e| e.to_string())
            .and_then(|d| to_json(d).map_err(|e| e.to_string()))
    }

    #[test]
    fn plain_numbers_parse_as_the_general_rule_does() {
        for text in [
            "198.30", "-12.5", "0", "007", "1.2.3", "-", ".", "5.", ".5", "--1", "1e3", "12,5",
            " 3 ", "",
        ] {
            assert_eq!(parse_number(text), parse_localized_number(text), "{text:?}");
        }
    }

    #[test]
    fn numbers_parse_in_both_notations_and_round() {
        assert_eq!(parse_number("1.234,50"), Some(1234.5));
        assert_eq!(parse_number("1,234.50"), Some(1234.5));
        assert_eq!(parse_number("12,5"), Some(12.5));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(
            eval("round(parse_number(value) / 1.21, 2)", json!("121.00")).unwrap(),
            json!(100.0)
        );
        assert_eq!(
            eval("format_number(value, 2)", json!(3)).unwrap(),
            json!("3.00")
        );
        assert!(
            eval("parse_number(value)", json!("n/a"))
                .unwrap_err()
                .contains("\"n/a\" is not a number")
        );
    }

    #[test]
    fn strings_case_accents_and_padding() {
        assert_eq!(
            eval("upper(strip_accents(value))", json!("Chloé Müller")).unwrap(),
            json!("CHLOE MULLER")
        );
        assert_eq!(
            eval("pad_left(value, 9, \"0\")", json!(530)).unwrap(),
            json!("000000530")
        );
        assert_eq!(
            eval("pad_right(value, 4, \".\")", json!("ab")).unwrap(),
            json!("ab..")
        );
        assert_eq!(
            eval("lower(value)", json!("A@B.COM")).unwrap(),
            json!("a@b.com")
        );
    }

    #[test]
    fn dates_format_and_parse() {
        assert_eq!(
            eval(
                "format_date(value, \"%d/%m/%Y\")",
                json!("2024-03-05T10:00:00+01:00")
            )
            .unwrap(),
            json!("05/03/2024")
        );
        assert_eq!(
            eval("parse_date(value, \"%d/%m/%Y\")", json!("05/03/2024")).unwrap(),
            json!("2024-03-05")
        );
        assert!(eval("format_date(value, \"%Y\")", json!("yesterday")).is_err());
    }

    #[test]
    fn lookup_uses_value_maps_and_fails_when_unmapped() {
        assert_eq!(
            eval("lookup(\"status\", value)", json!("paid")).unwrap(),
            json!("PAID")
        );
        let err = eval("lookup(\"status\", value)", json!("voided")).unwrap_err();
        assert!(
            err.contains("value map `status` has no entry for \"voided\""),
            "{err}"
        );
        assert!(
            eval("lookup(\"nope\", value)", json!("x"))
                .unwrap_err()
                .contains("no value map named `nope`")
        );
    }
}
