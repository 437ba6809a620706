//! `${VAR}` and `${VAR:-default}` in connection configs, resolved from the environment by the
//! binary (connectors never read the environment themselves). Secrets stay out of flow files.

use serde_json::Value;

/// Replaces placeholders in every string of `value`. Errors name the missing variable.
pub fn resolve(
    value: &Value,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(resolve_str(s, lookup)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), resolve(v, lookup)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn resolve_str(
    text: &str,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("unclosed `${{` in \"{text}\""));
        };
        let inner = &rest[start + 2..start + len];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn substitutes_variables_and_defaults_and_names_missing_ones() {
        let env = |k: &str| (k == "TOKEN").then(|| "s3cret".to_string());
        let v =
            json!({"auth": {"token": "${TOKEN}"}, "url": "${URL:-http://127.0.0.1:1}/x", "n": 3});
        assert_eq!(
            resolve(&v, &env).unwrap(),
            json!({"auth": {"token": "s3cret"}, "url": "http://127.0.0.1:1/x", "n": 3})
        );
        assert_eq!(
            resolve(&json!("${NOPE}"), &env).unwrap_err(),
            "environment variable `NOPE` is not set"
        );
    }
}
