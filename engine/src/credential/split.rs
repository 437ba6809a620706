//! Splitting a connection config into settings and credentials by the connector's declared
//! credential paths, and putting them back together.
//!
//! A path is dot-separated object keys; `*` matches every key of an object (`headers.*`).
//! Splitting works on the submitted JSON, before the connector parses it, so a credential is
//! never stored with the settings whatever else the config holds.

use serde_json::{Map, Value};

/// What a set credential shows as in every public view. Sent back in an update, it means
/// "keep the stored value".
pub const SET_MARKER: &str = "<set>";

/// Splits `config` into (settings, credentials): the credentials tree holds exactly the
/// non-null values at `paths`, in the same shape as the config.
pub fn split(config: &Value, paths: &[&str]) -> (Value, Value) {
    let mut public = config.clone();
    let mut secret = Value::Object(Map::new());
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        take(&mut public, &mut secret, &segments);
    }
    prune_empty(&mut secret);
    (public, secret)
}

fn take(public: &mut Value, secret: &mut Value, segments: &[&str]) {
    let (Some((first, rest)), Value::Object(from)) = (segments.split_first(), public) else {
        return;
    };
    let keys: Vec<String> = if *first == "*" {
        from.keys().cloned().collect()
    } else if from.contains_key(*first) {
        vec![first.to_string()]
    } else {
        return;
    };
    let Value::Object(into) = secret else {
        return;
    };
    for key in keys {
        if rest.is_empty() {
            if from.get(&key).is_some_and(|v| !v.is_null())
                && let Some(value) = from.remove(&key)
            {
                into.insert(key, value);
            }
        } else if let Some(child) = from.get_mut(&key) {
            let slot = into.entry(key).or_insert_with(|| Value::Object(Map::new()));
            take(child, slot, rest);
        }
    }
}

fn prune_empty(value: &mut Value) {
    if let Value::Object(map) = value {
        for child in map.values_mut() {
            prune_empty(child);
        }
        map.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
    }
}

/// Applies `patch` to `target` as a JSON merge patch (RFC 7396): objects merge key by key,
/// `null` removes a key, anything else replaces. A [`SET_MARKER`] string in the patch keeps the
/// target's value, so a form that shows `"<set>"` can be sent back unchanged.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        if patch.as_str() != Some(SET_MARKER) {
            *target = patch.clone();
        }
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in patch {
        match value {
            Value::Null => {
                map.remove(key);
            }
            Value::String(s) if s == SET_MARKER => {}
            _ => merge_patch(map.entry(key.clone()).or_insert(Value::Null), value),
        }
    }
}

/// The settings with each set credential shown as [`SET_MARKER`].
pub fn public_view(public: &Value, secret_fields: &[String]) -> Value {
    let mut view = public.clone();
    for field in secret_fields {
        let mut at = &mut view;
        let segments: Vec<&str> = field.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            let Value::Object(map) = at else { break };
            if i + 1 == segments.len() {
                map.insert(segment.to_string(), Value::String(SET_MARKER.into()));
                break;
            }
            at = map
                .entry(segment.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    view
}

/// The dot paths of the credentials set in a credentials tree (`auth.token`).
pub fn secret_fields(secret: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(child, &path, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    if let Value::Object(_) = secret {
        walk(secret, "", &mut out);
    }
    out
}

/// Every value in a credentials tree as text (strings as they are, other values as JSON), for
/// redaction.
pub fn secret_strings(secret: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::String(s) => out.push(s.clone()),
            Value::Null => {}
            other => out.push(other.to_string()),
        }
    }
    walk(secret, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HTTP: &[&str] = &["auth.token", "auth.password", "auth.value", "headers.*"];

    #[test]
    fn declared_paths_move_to_the_credentials_tree() {
        let config = json!({
            "base_url": "https://api.example.com",
            "auth": {"type": "basic", "username": "ck", "password": "cs_secret"},
            "headers": {"Authorization": "Bearer x", "X-Api-Key": "k"},
            "timeout_ms": 1000
        });
        let (public, secret) = split(&config, HTTP);
        assert_eq!(
            public,
            json!({"base_url": "https://api.example.com", "auth": {"type": "basic", "username": "ck"}, "headers": {}, "timeout_ms": 1000})
        );
        assert_eq!(
            secret,
            json!({"auth": {"password": "cs_secret"}, "headers": {"Authorization": "Bearer x", "X-Api-Key": "k"}})
        );
        let mut joined = public.clone();
        merge_patch(&mut joined, &secret);
        assert_eq!(joined, config);
        assert_eq!(
            secret_fields(&secret),
            [
                "auth.password",
                "headers.Authorization",
                "headers.X-Api-Key"
            ]
        );
        let mut strings = secret_strings(&secret);
        strings.sort();
        assert_eq!(strings, ["Bearer x", "cs_secret", "k"]);
    }

    #[test]
    fn absent_and_null_credentials_stay_out() {
        let (public, secret) = split(
            &json!({"shop_url": "s", "access_token": null}),
            &["access_token", "auth.token"],
        );
        assert_eq!(public, json!({"shop_url": "s", "access_token": null}));
        assert_eq!(secret, json!({}));
        assert!(secret_fields(&secret).is_empty());
    }

    #[test]
    fn public_view_marks_set_credentials() {
        let view = public_view(
            &json!({"auth": {"type": "bearer"}, "base_url": "u"}),
            &["auth.token".into(), "headers.X-Key".into()],
        );
        assert_eq!(
            view,
            json!({"auth": {"type": "bearer", "token": "<set>"}, "base_url": "u", "headers": {"X-Key": "<set>"}})
        );
    }

    #[test]
    fn merge_patch_replaces_removes_and_keeps_set_markers() {
        let mut target = json!({"a": 1, "auth": {"type": "bearer", "token": "t"}, "keep": "k"});
        merge_patch(
            &mut target,
            &json!({"a": 2, "auth": {"token": "<set>", "type": "basic", "password": "p"}, "keep": null, "new": {"x": 1}}),
        );
        assert_eq!(
            target,
            json!({"a": 2, "auth": {"type": "basic", "token": "t", "password": "p"}, "new": {"x": 1}})
        );
    }
}
