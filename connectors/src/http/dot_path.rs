//! Dot paths into response bodies (`orders`, `data.items`, `meta.next_cursor`, `items.0.id`).
//!
//! Connector params use this small subset instead of full JSONPath because each of them names
//! exactly one value. A leading `$` or `$.` is accepted so JSONPath habits still work.

use serde_json::Value;

/// The value at `path` in `value`; the empty path is the value itself. Numeric segments index
/// arrays. `None` when a segment is missing.
pub(crate) fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).try_fold(value, |current, segment| match current {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Like [`lookup`], for taking the value out.
pub(crate) fn lookup_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    segments(path).try_fold(value, |current, segment| match current {
        Value::Object(map) => map.get_mut(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

/// The path's segments, without a leading `$`/`$.`; none for the empty path.
pub(crate) fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.trim();
    let path = path
        .strip_prefix('$')
        .map(|p| p.strip_prefix('.').unwrap_or(p))
        .unwrap_or(path);
    path.split('.').filter(move |_| !path.is_empty())
}

/// A scalar as an id or cursor string: strings as they are, numbers and booleans as text.
/// `None` for null, empty strings, arrays and objects.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lookup_follows_objects_and_array_indexes() {
        let body =
            json!({ "data": { "items": [{ "id": 7 }, { "id": 8 }] }, "meta": { "next": null } });
        assert_eq!(lookup(&body, ""), Some(&body));
        assert_eq!(lookup(&body, "data.items.1.id"), Some(&json!(8)));
        assert_eq!(lookup(&body, "$.data.items.0"), Some(&json!({ "id": 7 })));
        assert_eq!(lookup(&body, "$"), Some(&body));
        assert_eq!(lookup(&body, "meta.next"), Some(&Value::Null));
        assert_eq!(lookup(&body, "meta.missing"), None);
        assert_eq!(lookup(&body, "data.items.x"), None);
        assert_eq!(lookup(&body, "data.items.0.id.deeper"), None);
        let mut owned = body.clone();
        assert_eq!(
            lookup_mut(&mut owned, "data.items").map(Value::take),
            Some(json!([{ "id": 7 }, { "id": 8 }]))
        );
        assert_eq!(owned["data"]["items"], Value::Null);
    }

    #[test]
    fn scalar_text_renders_ids_and_rejects_empty_values() {
        assert_eq!(scalar_text(&json!("abc")), Some("abc".into()));
        assert_eq!(scalar_text(&json!(450789469)), Some("450789469".into()));
        assert_eq!(scalar_text(&json!("")), None);
        assert_eq!(scalar_text(&Value::Null), None);
        assert_eq!(scalar_text(&json!({ "id": 1 })), None);
    }
}
