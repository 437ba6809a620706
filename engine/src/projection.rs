//! The parts of a source record a flow reads, and parsing only those parts.
//!
//! A run maps each record with a few JSONPaths (`$.customer.email`, `$.line_items[*].sku`), yet a
//! shop's order carries dozens of fields the flow never looks at. Building a full `Value` tree
//! for every record, and dropping it again, was the largest cost of a run after the log
//! (docs/benchmarks.md). A [`Projection`] lists what the flow can see; [`parse_projected`]
//! builds only those parts and skips the rest without allocating. The log still stores the
//! record's full text, so nothing is lost: replaying a record parses it whole.
//!
//! The rule that keeps this safe: for every JSONPath the projection was built from,
//! `select(path, projected) == select(path, full)`. Whatever a projection cannot describe (a
//! script that sees the record, a filter expression in a JSONPath) makes it [`Projection::Whole`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::expr::JsonPath;
use crate::expr::jsonpath::SimpleStep;

/// What of a JSON value is kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Projection {
    /// All of it.
    #[default]
    Whole,
    /// Some members of an object, or the elements of an array.
    Part(Box<Part>),
}

/// The kept members of an object (by name) and elements of an array (`every`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Part {
    /// Members kept by name. After [`Projection::finish`] each also carries `every`. A list:
    /// records read a handful of members, and comparing a few names beats hashing each key.
    names: Vec<(String, Projection)>,
    /// What a wildcard or an index reaches: every member of an object, every element of an
    /// array. `None`: no query steps into elements; an array here keeps its elements under
    /// this node's own projection, so that its length stays right (see `visit_seq`).
    every: Option<Projection>,
}

impl Projection {
    /// Nothing yet: queries are added with [`Projection::keep`].
    pub fn nothing() -> Projection {
        Projection::Part(Box::default())
    }

    /// True when the whole value is kept.
    pub fn is_whole(&self) -> bool {
        matches!(self, Projection::Whole)
    }

    /// Keeps what `query` selects, with `leaf` of each selected node (usually
    /// [`Projection::Whole`]; a `for_each` passes what its fields read of each element). A query
    /// that is not a plain chain of names, indexes and wildcards (filters, slices, `..`) keeps
    /// everything.
    pub fn keep(&mut self, query: &JsonPath, leaf: Projection) {
        match query.simple_steps() {
            Some(steps) => self.add_path(steps, leaf),
            None => *self = Projection::Whole,
        }
    }

    /// Keeps what a query of `steps` selects, with `leaf` of each selected node (usually
    /// [`Projection::Whole`]; a `for_each` passes what its fields read of each element).
    pub(crate) fn add_path(&mut self, steps: &[SimpleStep], leaf: Projection) {
        let Some((step, rest)) = steps.split_first() else {
            self.merge(leaf);
            return;
        };
        let Projection::Part(part) = self else {
            return;
        };
        let child = match step {
            SimpleStep::Name(name) => part.member(name),
            SimpleStep::Index(_) | SimpleStep::Wildcard => {
                part.every.get_or_insert_with(Projection::nothing)
            }
        };
        child.add_path(rest, leaf);
    }

    /// Keeps what `other` keeps as well.
    pub fn merge(&mut self, other: Projection) {
        match (&mut *self, other) {
            (Projection::Whole, _) => {}
            (_, Projection::Whole) => *self = Projection::Whole,
            (Projection::Part(mine), Projection::Part(theirs)) => {
                let Part { names, every } = *theirs;
                for (name, projection) in names {
                    mine.member(&name).merge(projection);
                }
                if let Some(every) = every {
                    mine.every
                        .get_or_insert_with(Projection::nothing)
                        .merge(every);
                }
            }
        }
    }

    /// Ready for parsing: a wildcard reaches named members too, so each named member keeps
    /// what `every` keeps (merged once here rather than per member while parsing).
    pub fn finish(mut self) -> Projection {
        if let Projection::Part(part) = &mut self {
            if let Some(every) = part.every.take() {
                let every = every.finish();
                for (_, projection) in &mut part.names {
                    projection.merge(every.clone());
                }
                part.every = Some(every);
            }
            for (_, projection) in &mut part.names {
                *projection = std::mem::take(projection).finish();
            }
        }
        self
    }
}

impl Part {
    /// The projection of the member `name`, added as keeping nothing yet.
    fn member(&mut self, name: &str) -> &mut Projection {
        let at = match self.names.iter().position(|(known, _)| known == name) {
            Some(at) => at,
            None => {
                self.names.push((name.to_string(), Projection::nothing()));
                self.names.len() - 1
            }
        };
        &mut self.names[at].1
    }
}

/// Parses the JSON `text` keeping what `projection` keeps (see the module's rule).
pub fn parse_projected(text: &str, projection: &Projection) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Projected(projection).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Deserializes a value keeping what the projection keeps.
struct Projected<'p>(&'p Projection);

impl<'de> DeserializeSeed<'de> for Projected<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Projection::Whole => serde::Deserialize::deserialize(deserializer),
            Projection::Part(_) => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Projected<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    // Scalars become what serde_json's own `Value` makes of them.
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

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Elements keep `every`. With no `every` no query steps into them (a name step selects
        // nothing in an array), but a script's `record.len` is Rhai's length of an array: the
        // elements are kept as far as this node keeps anything, so the length stays right.
        let each = match self.0 {
            Projection::Part(part) => part.every.as_ref().unwrap_or(self.0),
            Projection::Whole => self.0,
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Projected(each))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Projection::Part(part) = self.0 else {
            // `deserialize` hands `Whole` to serde_json's own `Value`.
            return Err(serde::de::Error::custom("whole values are not projected"));
        };
        let mut out = Map::new();
        while let Some(member) = map.next_key_seed(MemberName(part))? {
            match member {
                Some((name, projection)) => {
                    let value = map.next_value_seed(Projected(projection))?;
                    out.insert(name.into_owned(), value);
                }
                None => map.next_value_seed(Skipped)?,
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads a value without keeping it, checking it as a whole parse would (serde_json's own
/// skipping lets through what its `Value` refuses, such as `"\ud800"` or `1e400`, and the log
/// must hold only records that parse again for a replay).
struct Skipped;

impl<'de> DeserializeSeed<'de> for Skipped {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skipped {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skipped)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skipped)?.is_some() {
            map.next_value_seed(Skipped)?;
        }
        Ok(())
    }
}

/// Reads a member's name and answers how it is kept, without allocating for skipped members.
struct MemberName<'p>(&'p Part);

impl<'de, 'p> DeserializeSeed<'de> for MemberName<'p> {
    type Value = Option<(Cow<'p, str>, &'p Projection)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for MemberName<'p> {
    type Value = Option<(Cow<'p, str>, &'p Projection)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(match self.0.names.iter().find(|(known, _)| known == name) {
            Some((name, projection)) => Some((Cow::Borrowed(name.as_str()), projection)),
            // A member a wildcard reaches keeps its own name, which the projection lacks.
            None => self
                .0
                .every
                .as_ref()
                .map(|every| (Cow::Owned(name.to_owned()), every)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "id": 7, "name": "#1001", "note": null, "total": 19.5, "big": 18446744073709551615u64,
            "customer": {"email": "A@B.COM", "tags": ["vip", "b2b"], "address": {"city": "Gent"}},
            "line_items": [
                {"sku": "A", "qty": 1, "props": [{"k": "x"}], "price": "1.50"},
                {"sku": "B", "qty": 2, "props": [], "extra": {"deep": [1, 2]}}
            ],
            "meta": {"a": {"v": 1, "w": 2}, "b": {"v": 3}, "c": [4]},
            "odd key": {"x y": 3, "esc\"aped": "é"},
            "matrix": [[1, 2], [3, 4]]
        })
    }

    const QUERIES: &[&str] = &[
        "$.id",
        "$.note",
        "$.total",
        "$.big",
        "$.customer.email",
        "$.customer.tags",
        "$.customer.tags[0]",
        "$.customer",
        "$.line_items[1].sku",
        "$.line_items[-1]",
        "$.line_items[*].sku",
        "$.line_items[*].props[*].k",
        "$.line_items[*].extra.deep[*]",
        "$.meta.*.v",
        "$.meta[*]",
        "$.*",
        "$['odd key']['x y']",
        "$['odd key']['esc\"aped']",
        "$['odd key']",
        "$.matrix[*][1]",
        "$.missing",
        "$.id.deeper",
        "$.customer.email.x",
        "$.line_items.sku",
        "$.line_items[9]",
    ];

    fn projection_of(queries: &[&str]) -> Projection {
        let mut projection = Projection::nothing();
        for query in queries {
            projection.keep(&JsonPath::parse(query).unwrap(), Projection::Whole);
        }
        projection.finish()
    }

    fn assert_selects_the_same(queries: &[&str], projection: &Projection) {
        let full = order();
        let projected = parse_projected(&full.to_string(), projection).unwrap();
        for query in queries {
            let path = JsonPath::parse(query).unwrap();
            assert_eq!(
                path.select(&projected),
                path.select(&full),
                "{query} over {projected}"
            );
        }
    }

    #[test]
    fn each_query_selects_from_its_projection_what_it_selects_from_the_whole_record() {
        for query in QUERIES {
            assert_selects_the_same(&[query], &projection_of(&[query]));
        }
    }

    #[test]
    fn queries_together_keep_what_each_needs() {
        assert_selects_the_same(QUERIES, &projection_of(QUERIES));
        let some = [
            "$.line_items[*].sku",
            "$.line_items[0]",
            "$.meta.a.v",
            "$.meta.*.w",
        ];
        assert_selects_the_same(&some, &projection_of(&some));
    }

    #[test]
    fn members_no_query_reads_are_left_out() {
        let projection = projection_of(&["$.customer.email", "$.line_items[*].sku"]);
        let projected = parse_projected(&order().to_string(), &projection).unwrap();
        assert_eq!(
            projected,
            json!({"customer": {"email": "A@B.COM"}, "line_items": [{"sku": "A"}, {"sku": "B"}]})
        );
        // An array a query names into keeps its elements (as far as the query keeps anything),
        // so that Rhai's `record.len` on it stays right.
        let projection = projection_of(&["$.customer.tags.x", "$.line_items.len"]);
        let projected = parse_projected(&order().to_string(), &projection).unwrap();
        assert_eq!(
            projected,
            json!({"customer": {"tags": ["vip", "b2b"]}, "line_items": [{}, {}]})
        );
    }

    #[test]
    fn whole_is_serde_json_s_own_value() {
        let text = order().to_string();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parse_projected(&text, &Projection::Whole).unwrap(), parsed);
        let mut whole = projection_of(&["$.id"]);
        whole.merge(Projection::Whole);
        assert!(whole.is_whole());
    }

    #[test]
    fn malformed_text_is_an_error_with_its_position() {
        let projection = projection_of(&["$.id"]);
        let err = parse_projected(r#"{"id": 1, "x": [1,}"#, &projection).unwrap_err();
        assert_eq!((err.line(), err.column()), (1, 19));
        assert!(parse_projected(r#"{"id": 1} trailing"#, &projection).is_err());
        // What serde_json's `Value` refuses is refused in skipped members too, so that every
        // logged record parses again for a replay.
        for skipped in [r#""\ud800""#, "1e400", r#"{"a": [1, "\ud800"]}"#] {
            let text = format!(r#"{{"id": 1, "junk": {skipped}}}"#);
            assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
            assert!(parse_projected(&text, &projection).is_err(), "{text}");
        }
    }
}
