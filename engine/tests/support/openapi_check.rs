//! Checks a real API answer against the schema the OpenAPI document gives it, so the document
//! and the handlers cannot drift apart: every required field present, no field the document
//! does not name, and every value of its documented type.

use serde_json::Value;

/// The schema `doc` documents for the `status` answer of `method path` (`path` as in the
/// route table, `{param}` segments included).
pub(crate) fn documented_answer<'d>(
    doc: &'d Value,
    method: &str,
    path: &str,
    status: u16,
) -> &'d Value {
    let schema = &doc["paths"][path][method.to_lowercase()]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} documents no JSON answer for {status}"
    );
    schema
}

/// Where `value` departs from `schema` (empty when it conforms).
pub(crate) fn mismatches(value: &Value, schema: &Value, doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(value, schema, doc, "$", &mut found);
    found
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(value: &Value, schema: &Value, doc: &Value, at: &str, found: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{reference} is not in the components");
        return check(value, target, doc, at, found);
    }
    for all in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(value, all, doc, at, found);
    }
    if let Some(options) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        if !options.iter().any(|o| mismatches(value, o, doc).is_empty()) {
            found.push(format!(
                "{at}: {value} matches none of its {} forms",
                options.len()
            ));
        }
        return;
    }
    if let Some(kind) = schema.get("type") {
        let allowed: Vec<&str> = match kind {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let actual = json_type(value);
        if !allowed
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"))
        {
            found.push(format!("{at}: a {actual}, documented as {kind}"));
            return;
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                found.push(format!("{at}: lacks the required `{name}`"));
            }
        }
        for (name, field) in object {
            match properties.get(name) {
                Some(field_schema) => {
                    check(field, field_schema, doc, &format!("{at}.{name}"), found)
                }
                None if schema.get("additionalProperties").is_none() => {
                    found.push(format!("{at}: `{name}` is not documented"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(item, items, doc, &format!("{at}[{i}]"), found);
        }
    }
}
