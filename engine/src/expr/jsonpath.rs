//! JSONPath queries, parsed once and evaluated many times.
//!
//! jsonpath-rust sits behind this module only (its API changed at 1.0). Queries that are a plain
//! chain of names, indexes and wildcards (`$.customer.email`, `$.lines[0].sku`,
//! `$.line_items[*]`) — most mappings — are evaluated by walking the tree directly, without the
//! allocations of the general evaluator; the answer is the same, which
//! `simple_paths_agree_with_the_general_evaluator` checks.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

/// A JSONPath query that failed to parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid JSONPath `{query}`: {reason}")]
pub struct JsonPathError {
    /// The query as written.
    pub query: String,
    /// The parser's explanation.
    pub reason: String,
}

/// One step of a simple path.
#[derive(Debug, Clone)]
pub(crate) enum SimpleStep {
    Name(String),
    Index(i64),
    Wildcard,
}

/// A parsed JSONPath query.
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    query: JpQuery,
    simple: Option<Vec<SimpleStep>>,
    /// `simple` without wildcards: at most one node, found by [`walk`].
    singular: bool,
}

impl JsonPath {
    /// Parses `query`. A bare field name such as `email` is not accepted: queries start with `$`.
    pub fn parse(query: &str) -> Result<Self, JsonPathError> {
        let parsed = parse_json_path(query).map_err(|e| JsonPathError {
            query: query.to_string(),
            reason: e.to_string().replace('\n', " "),
        })?;
        let simple = simple_steps(&parsed);
        let singular = simple
            .as_ref()
            .is_some_and(|steps| !steps.iter().any(|s| matches!(s, SimpleStep::Wildcard)));
        Ok(JsonPath {
            source: query.to_string(),
            query: parsed,
            simple,
            singular,
        })
    }

    /// The query as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The query's steps when it is a plain chain of names, indexes and wildcards.
    pub(crate) fn simple_steps(&self) -> Option<&[SimpleStep]> {
        self.simple.as_deref()
    }

    /// True when the query selects at most one node (names and indexes only).
    pub fn is_singular(&self) -> bool {
        self.singular
    }

    /// Every node the query selects, in document order.
    pub fn select<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        if let Some(steps) = &self.simple {
            let mut out = Vec::new();
            collect(steps, value, &mut out);
            return out;
        }
        match js_path_process(&self.query, value) {
            Ok(nodes) => nodes.into_iter().map(|n| n.val()).collect(),
            // The evaluator only errs on queries that are not paths at all, which parse refuses.
            Err(_) => Vec::new(),
        }
    }

    /// The first node the query selects, if any.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        if self.singular
            && let Some(steps) = &self.simple
        {
            return walk(steps, value);
        }
        self.select(value).into_iter().next()
    }
}

/// One name or index step; `None` when the node has no such child.
fn child<'a>(step: &SimpleStep, value: &'a Value) -> Option<&'a Value> {
    match (step, value) {
        (SimpleStep::Name(name), Value::Object(map)) => map.get(name),
        (SimpleStep::Index(i), Value::Array(items)) => {
            let len = items.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            if at < 0 { None } else { items.get(at as usize) }
        }
        _ => None,
    }
}

/// Walks a path without wildcards.
fn walk<'a>(steps: &[SimpleStep], mut value: &'a Value) -> Option<&'a Value> {
    for step in steps {
        value = child(step, value)?;
    }
    Some(value)
}

/// Collects every node a path with wildcards selects, in document order.
fn collect<'a>(steps: &[SimpleStep], value: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(value);
        return;
    };
    match (step, value) {
        (SimpleStep::Wildcard, Value::Array(items)) => {
            items.iter().for_each(|v| collect(rest, v, out))
        }
        (SimpleStep::Wildcard, Value::Object(map)) => {
            map.values().for_each(|v| collect(rest, v, out))
        }
        (SimpleStep::Wildcard, _) => {}
        (step, value) => {
            if let Some(next) = child(step, value) {
                collect(rest, next, out);
            }
        }
    }
}

fn simple_steps(query: &JpQuery) -> Option<Vec<SimpleStep>> {
    query
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Selector(Selector::Name(name)) => Some(SimpleStep::Name(unquote(name))),
            Segment::Selector(Selector::Index(i)) => Some(SimpleStep::Index(*i)),
            Segment::Selector(Selector::Wildcard) => Some(SimpleStep::Wildcard),
            _ => None,
        })
        .collect()
}

/// jsonpath-rust keeps the quotes of bracketed names (`$['a b']`); the tree keys have none.
fn unquote(name: &str) -> String {
    let bytes = name.as_bytes();
    if bytes.len() >= 2
        && ((bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'')
            || (bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"'))
    {
        name[1..name.len() - 1].to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "id": 7, "name": "#1001",
            "customer": {"email": "A@B.COM", "tags": ["vip", "b2b"]},
            "line_items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}],
            "odd key": {"x y": 3}
        })
    }

    #[test]
    fn selects_names_indexes_wildcards_and_filters() {
        let o = order();
        let q = |s: &str| {
            JsonPath::parse(s)
                .unwrap()
                .select(&o)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(q("$.customer.email"), vec![json!("A@B.COM")]);
        assert_eq!(q("$.line_items[*].sku"), vec![json!("A"), json!("B")]);
        assert_eq!(q("$.line_items[-1].qty"), vec![json!(2)]);
        assert_eq!(q("$.line_items[?@.qty > 1].sku"), vec![json!("B")]);
        assert_eq!(q("$['odd key']['x y']"), vec![json!(3)]);
        assert!(q("$.nothing.here").is_empty());
    }

    #[test]
    fn simple_paths_agree_with_the_general_evaluator() {
        let o = order();
        for s in [
            "$.id",
            "$.customer.email",
            "$.line_items[1].sku",
            "$.line_items[-1]",
            "$['odd key']['x y']",
            "$.missing",
            "$.id.deeper",
            "$.line_items[9]",
            "$.line_items[*]",
            "$.line_items[*].sku",
            "$.customer[*]",
            "$.*",
            "$.customer.tags[*]",
            "$.id[*]",
            "$.line_items[*].nope",
            "$[*][*]",
        ] {
            let p = JsonPath::parse(s).unwrap();
            assert!(p.simple.is_some(), "{s} should take the fast path");
            let general: Vec<&Value> = js_path_process(&p.query, &o)
                .unwrap()
                .into_iter()
                .map(|n| n.val())
                .collect();
            assert_eq!(p.select(&o), general, "{s}");
        }
    }

    #[test]
    fn invalid_query_names_the_query() {
        let err = JsonPath::parse("$.a[").unwrap_err();
        assert_eq!(err.query, "$.a[");
        assert!(err.to_string().starts_with("invalid JSONPath `$.a[`"));
        assert!(JsonPath::parse("email").is_err());
    }
}
