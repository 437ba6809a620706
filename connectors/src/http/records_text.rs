//! A list answer split into its records' text and the rest of the body.
//!
//! The engine logs each record as the API sent it and maps only what the flow reads of it
//! (`ferry_engine::projection`). So a page's records are not parsed into whole `Value`s: the body
//! is read once with the list at `records_path` kept as text, one slice per record; the rest of
//! the body (where pagination cursors live) becomes a `Value` as before.

use std::fmt;
use std::ops::Range;

use ferry_engine::connector::PageText;
use ferry_engine::projection::{Projection, parse_projected};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::dot_path::segments;

/// A body read with its records kept as text.
pub(crate) struct SplitBody<'a> {
    /// The body without the list: its place at `records_path` holds `null`.
    pub(crate) rest: Value,
    /// What was found at `records_path`.
    pub(crate) found: Found<'a>,
}

/// What a body holds at `records_path`.
pub(crate) enum Found<'a> {
    /// A list: each element's text.
    List(Vec<&'a RawValue>),
    /// Anything else, or nothing: parsed and left in `rest` at its place.
    InBody,
}

/// Reads `body`, keeping the list at `records_path` as text; with no path, parses it whole.
pub(crate) fn split_body<'a>(
    body: &'a str,
    records_path: Option<&str>,
) -> serde_json::Result<SplitBody<'a>> {
    let Some(records_path) = records_path else {
        return Ok(SplitBody {
            rest: serde_json::from_str(body)?,
            found: Found::InBody,
        });
    };
    let path: Vec<&str> = segments(records_path).collect();
    let mut found = Found::InBody;
    let mut deserializer = serde_json::Deserializer::from_str(body);
    let rest = AtPath {
        path: &path,
        found: &mut found,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(SplitBody { rest, found })
}

/// The records of a list, each parsed keeping what `projection` keeps, and the list's text for
/// the log (the records as sent, between `[` and `]`).
pub(crate) fn list_records(
    body: &str,
    list: &[&RawValue],
    projection: &Projection,
) -> serde_json::Result<(Vec<Value>, PageText)> {
    let records = list
        .iter()
        .map(|record| parse_projected(record.get(), projection))
        .collect::<serde_json::Result<Vec<_>>>()?;
    let spans: Vec<Range<usize>> = list.iter().map(|r| span_in(body, r.get())).collect();
    // The records with what stood between them (commas, whitespace) as one array.
    let (from, to) = match (spans.first(), spans.last()) {
        (Some(first), Some(last)) => (first.start, last.end),
        _ => (0, 0),
    };
    let mut text = String::with_capacity(to - from + 2);
    text.push('[');
    text.push_str(&body[from..to]);
    text.push(']');
    let shift = |at: usize| at - from + 1;
    let ranges = spans.iter().map(|s| shift(s.start)..shift(s.end)).collect();
    Ok((
        records,
        PageText {
            text,
            records: ranges,
        },
    ))
}

/// Where `part` (a slice of `body`) sits in `body`.
fn span_in(body: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - body.as_ptr() as usize;
    start..start + part.len()
}

/// Deserializes a value, walking down `path`; at its end keeps a list's elements as text in
/// `found` and leaves `null` in their place.
struct AtPath<'p, 'f, 'a> {
    path: &'p [&'p str],
    found: &'f mut Found<'a>,
}

impl<'de, 'p, 'f> DeserializeSeed<'de> for AtPath<'p, 'f, 'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'p, 'f> Visitor<'de> for AtPath<'p, 'f, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some((segment, path)) = self.path.split_first() else {
            return serde::Deserialize::deserialize(MapAccessDeserializer::new(map));
        };
        let mut out = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = if name == *segment {
                // A key given twice: the last one counts, as in a whole parse.
                *self.found = Found::InBody;
                map.next_value_seed(AtPath {
                    path,
                    found: &mut *self.found,
                })?
            } else {
                map.next_value()?
            };
            out.insert(name, value);
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some((segment, path)) = self.path.split_first() else {
            let mut list = Vec::new();
            while let Some(record) = seq.next_element::<&'de RawValue>()? {
                list.push(record);
            }
            *self.found = Found::List(list);
            return Ok(Value::Null);
        };
        let wanted = segment.parse::<usize>().ok();
        let mut items = Vec::new();
        loop {
            let item = if wanted == Some(items.len()) {
                seq.next_element_seed(AtPath {
                    path,
                    found: &mut *self.found,
                })?
            } else {
                seq.next_element()?
            };
            match item {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    // A scalar is left in the body, whether the path ends here or goes no further.
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list<'a>(split: &SplitBody<'a>) -> Vec<&'a RawValue> {
        match &split.found {
            Found::List(list) => list.clone(),
            Found::InBody => panic!("no list found"),
        }
    }

    #[test]
    fn a_list_is_kept_as_the_text_sent_and_the_rest_is_parsed() {
        let body = r#"{"meta": {"next": "c2"}, "data": {"items": [ {"id": 1, "b": "\u00e9"} ,
            {"id": 2, "nested": [1, {"x": null}]}], "count": 2}, "after": [1]}"#;
        let split = split_body(body, Some("data.items")).unwrap();
        assert_eq!(
            split.rest,
            json!({"meta": {"next": "c2"}, "data": {"items": null, "count": 2}, "after": [1]})
        );
        let list = list(&split);
        let (records, text) = list_records(body, &list, &Projection::Whole).unwrap();
        assert_eq!(
            records,
            vec![
                json!({"id": 1, "b": "é"}),
                json!({"id": 2, "nested": [1, {"x": null}]})
            ]
        );
        // The page's text is a JSON array of the records as sent, escapes included.
        let array: Vec<Value> = serde_json::from_str(&text.text).unwrap();
        assert_eq!(array, records);
        assert_eq!(
            &text.text[text.records[0].clone()],
            r#"{"id": 1, "b": "\u00e9"}"#
        );
        for (range, record) in text.records.iter().zip(&records) {
            let parsed: Value = serde_json::from_str(&text.text[range.clone()]).unwrap();
            assert_eq!(&parsed, record);
        }
    }

    #[test]
    fn records_are_built_with_what_the_flow_reads() {
        let body = r#"[{"id": 1, "big": {"a": [1, 2, 3]}}, {"id": 2}]"#;
        let split = split_body(body, Some("")).unwrap();
        assert_eq!(split.rest, Value::Null);
        let mut projection = Projection::nothing();
        let id = ferry_engine::expr::JsonPath::parse("$.id").unwrap();
        projection.keep(&id, Projection::Whole);
        let (records, text) = list_records(body, &list(&split), &projection.finish()).unwrap();
        assert_eq!(records, vec![json!({"id": 1}), json!({"id": 2})]);
        assert_eq!(
            &text.text[text.records[0].clone()],
            r#"{"id": 1, "big": {"a": [1, 2, 3]}}"#
        );
    }

    #[test]
    fn an_index_in_the_path_and_an_empty_list() {
        let body = r#"{"pages": [{"rows": [{"id": 0}]}, {"rows": []}]}"#;
        let first = split_body(body, Some("pages.0.rows")).unwrap();
        assert_eq!(first.rest, json!({"pages": [{"rows": null}, {"rows": []}]}));
        assert_eq!(list(&first).len(), 1);
        let second = split_body(body, Some("pages.1.rows")).unwrap();
        let (records, text) = list_records(body, &list(&second), &Projection::Whole).unwrap();
        assert!(records.is_empty());
        assert_eq!(text.text, "[]");
    }

    #[test]
    fn anything_but_a_list_stays_in_the_body() {
        for (body, path) in [
            (r#"{"order": {"id": 1}}"#, "order"),
            (r#"{"orders": null}"#, "orders"),
            (r#"{"orders": 3}"#, "orders"),
            (r#"{"other": [1]}"#, "orders"),
            (r#"{"orders": "x"}"#, "orders.items"),
            (r#"[[1], [2]]"#, "x"),
        ] {
            let split = split_body(body, Some(path)).unwrap();
            assert!(matches!(split.found, Found::InBody), "{body} at {path}");
            assert_eq!(split.rest, serde_json::from_str::<Value>(body).unwrap());
        }
        let whole = split_body(r#"{"orders": [1]}"#, None).unwrap();
        assert!(matches!(whole.found, Found::InBody));
        assert_eq!(whole.rest, json!({"orders": [1]}));
    }

    #[test]
    fn a_key_given_twice_counts_once_as_in_a_whole_parse() {
        let split =
            split_body(r#"{"orders": [{"id": 1}], "orders": null}"#, Some("orders")).unwrap();
        assert!(matches!(split.found, Found::InBody));
        assert_eq!(split.rest, json!({"orders": null}));
        let split = split_body(r#"{"orders": 1, "orders": [{"id": 2}]}"#, Some("orders")).unwrap();
        assert_eq!(list(&split).len(), 1);
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert!(split_body(r#"{"orders": [{"id": 1},]}"#, Some("orders")).is_err());
        assert!(split_body(r#"{"orders": []} x"#, Some("orders")).is_err());
        assert!(split_body("", Some("orders")).is_err());
    }
}
