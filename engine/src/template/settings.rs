//! Setting values: type and choice checks, text from the command line, and which settings a
//! flow's scripts read.

use std::collections::BTreeSet;

use serde_json::Value;

use super::meta::{SettingSpec, SettingType};
use crate::flow::{Flow, ValueMap};

/// Checks `value` against the setting's type and allowed values; the error says what was
/// expected.
pub(crate) fn check_value(spec: &SettingSpec, value: &Value) -> Result<(), String> {
    let type_ok = match spec.kind {
        SettingType::String => value.is_string(),
        SettingType::Integer => value.is_i64() || value.is_u64(),
        SettingType::Number => value.is_number(),
        SettingType::Boolean => value.is_boolean(),
        SettingType::StringList => value
            .as_array()
            .is_some_and(|list| list.iter().all(Value::is_string)),
        SettingType::Object => value.is_object(),
        SettingType::ValueMap => serde_json::from_value::<ValueMap>(value.clone())
            .map_err(|e| format!("expected a value map ({{\"entries\": {{…}}}}): {e}"))
            .and_then(|map| match (&map.default, map.fail_if_unmapped) {
                (Some(_), true) => {
                    Err("a value map cannot have both `default` and `fail_if_unmapped`".into())
                }
                _ => Ok(()),
            })
            .map(|()| true)?,
    };
    if !type_ok {
        return Err(format!("expected {}, found {value}", expected(spec.kind)));
    }
    if let Some(allowed) = &spec.allowed {
        let elements: Vec<&Value> = match value {
            Value::Array(list) => list.iter().collect(),
            other => vec![other],
        };
        for element in elements {
            if !allowed.contains(element) {
                let choices: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(format!(
                    "{element} is not allowed; choose one of {}",
                    choices.join(", ")
                ));
            }
        }
    }
    Ok(())
}

fn expected(kind: SettingType) -> &'static str {
    match kind {
        SettingType::String => "a string",
        SettingType::Integer => "a whole number",
        SettingType::Number => "a number",
        SettingType::Boolean => "true or false",
        SettingType::StringList => "a list of strings",
        SettingType::Object => "a JSON object",
        SettingType::ValueMap => "a value map",
    }
}

/// The value a setting's text means (`--set KEY=VALUE`): strings as they are, other types as
/// JSON (`true`, `12`, `["paid","pending"]`); a string list may also be given as `a,b,c`.
pub fn parse_setting_text(spec: &SettingSpec, text: &str) -> Result<Value, String> {
    match spec.kind {
        SettingType::String => Ok(Value::String(text.to_string())),
        SettingType::StringList if !text.trim_start().starts_with('[') => Ok(Value::Array(
            text.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .filter(|v| v != "")
                .collect(),
        )),
        _ => serde_json::from_str(text)
            .map_err(|e| format!("`{text}` is not {}: {e}", expected(spec.kind))),
    }
}

/// The names a flow's scripts read as `settings.name` or `settings["name"]`, found in every
/// string of the flow (scripts, transforms, conditions).
pub fn settings_read_by(flow: &Flow) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let value = serde_json::to_value(flow).unwrap_or(Value::Null);
    collect(&value, &mut names);
    names
}

fn collect(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => scan(s, names),
        Value::Array(list) => list.iter().for_each(|v| collect(v, names)),
        Value::Object(map) => map.values().for_each(|v| collect(v, names)),
        _ => {}
    }
}

fn scan(text: &str, names: &mut BTreeSet<String>) {
    const WORD: &str = "settings";
    let mut rest = text;
    while let Some(at) = rest.find(WORD) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + WORD.len()..];
        rest = after;
        // `my_settings.x` or `settingsx` are other names.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = if let Some(tail) = after.strip_prefix('.') {
            tail.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        } else if let Some(tail) = after
            .strip_prefix("[\"")
            .or_else(|| after.strip_prefix("['"))
        {
            tail.chars()
                .take_while(|c| *c != '"' && *c != '\'')
                .collect()
        } else {
            String::new()
        };
        if !name.is_empty() {
            names.insert(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(kind: SettingType, allowed: Option<Vec<Value>>) -> SettingSpec {
        SettingSpec {
            kind,
            default: None,
            description: String::new(),
            allowed,
        }
    }

    #[test]
    fn values_are_checked_against_type_and_choices() {
        let statuses = spec(
            SettingType::StringList,
            Some(vec![json!("paid"), json!("pending")]),
        );
        assert!(check_value(&statuses, &json!(["paid"])).is_ok());
        let err = check_value(&statuses, &json!(["paid", "refunded"])).unwrap_err();
        assert_eq!(
            err,
            r#""refunded" is not allowed; choose one of "paid", "pending""#
        );
        let err = check_value(&spec(SettingType::Integer, None), &json!("9")).unwrap_err();
        assert_eq!(err, r#"expected a whole number, found "9""#);
        assert!(check_value(&spec(SettingType::Number, None), &json!(0.5)).is_ok());
        let map = spec(SettingType::ValueMap, None);
        assert!(check_value(&map, &json!({"entries": {"FR": "FR20"}})).is_ok());
        let err = check_value(
            &map,
            &json!({"entries": {}, "default": "X", "fail_if_unmapped": true}),
        )
        .unwrap_err();
        assert!(
            err.contains("both `default` and `fail_if_unmapped`"),
            "{err}"
        );
    }

    #[test]
    fn setting_text_is_read_by_type() {
        let list = spec(SettingType::StringList, None);
        assert_eq!(
            parse_setting_text(&list, "paid, pending").unwrap(),
            json!(["paid", "pending"])
        );
        assert_eq!(
            parse_setting_text(&list, r#"["paid"]"#).unwrap(),
            json!(["paid"])
        );
        assert_eq!(
            parse_setting_text(&spec(SettingType::Boolean, None), "true").unwrap(),
            json!(true)
        );
        assert_eq!(
            parse_setting_text(&spec(SettingType::String, None), "12").unwrap(),
            json!("12")
        );
        assert!(parse_setting_text(&spec(SettingType::Integer, None), "nine").is_err());
    }

    #[test]
    fn settings_are_found_in_scripts() {
        let mut names = BTreeSet::new();
        scan(
            r#"if settings.upper_case { upper(value) } else { settings["prefix"] + my_settings.no + settingsx.no }"#,
            &mut names,
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["prefix", "upper_case"]
        );
    }
}
