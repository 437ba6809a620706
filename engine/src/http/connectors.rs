//! The connector kinds this server knows, from the registry's [`ConnectorSpec`]s: what the UI
//! needs to offer a connection form (config schema, credential fields) and to build mappings
//! (each operation's side, params and a sample record with its schema).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::connector::{ConnectorSpec, Direction};

use super::AppState;
use super::access::{Action, Principal};
use super::error::ApiResult;

/// Every connector kind with its operations.
pub(super) async fn list(State(state): State<AppState>, me: Principal) -> ApiResult<Json<Value>> {
    me.require(Action::ReadConnectors)?;
    let connectors = state
        .registry
        .as_deref()
        .map(|r| r.specs().map(spec_json).collect::<Vec<_>>())
        .unwrap_or_default();
    Ok(Json(json!({ "connectors": connectors })))
}

fn spec_json(spec: &ConnectorSpec) -> Value {
    let operations = spec
        .operations
        .iter()
        .map(|op| {
            json!({
                "name": op.name,
                // The UI speaks of the get side (sources) and the send side (targets).
                "side": match op.direction { Direction::Read => "get", Direction::Write => "send" },
                "summary": op.summary,
                "params_schema": op.params_schema,
                "record_schema": schema_of(&op.sample_record),
                "sample_record": op.sample_record,
            })
        })
        .collect::<Vec<_>>();
    json!({
        "kind": spec.kind,
        "summary": spec.summary,
        "config_schema": spec.config_schema,
        "credentials": spec.credentials,
        "operations": operations,
    })
}

/// A JSON Schema of the sample record's shape: the connectors declare a sample, not a schema,
/// and the mapping editor needs the field paths and types.
fn schema_of(value: &Value) -> Value {
    match value {
        Value::Null => json!({"type": "null"}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => match items.first() {
            Some(first) => json!({"type": "array", "items": schema_of(first)}),
            None => json!({"type": "array"}),
        },
        Value::Object(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), schema_of(v)))
                .collect();
            json!({"type": "object", "properties": properties})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_schema_follows_the_sample() {
        let schema = schema_of(&json!({"id": 7, "total": "9.50", "lines": [{"qty": 1.5}]}));
        assert_eq!(schema["properties"]["id"]["type"], "integer");
        assert_eq!(schema["properties"]["total"]["type"], "string");
        assert_eq!(
            schema["properties"]["lines"]["items"]["properties"]["qty"]["type"],
            "number"
        );
    }
}
