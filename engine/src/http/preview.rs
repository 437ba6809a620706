//! `POST /api/v1/preview`: what a flow's steps (or one step) make of a sample record, with
//! per-field errors — the mapping editor's live preview calls it on every edit, so compiled
//! flows are kept in a small cache keyed by the posted definition (a record changes far more
//! often than the step being edited, and compiling Rhai costs more than running it).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::flow::Flow;
use crate::plan::{CompiledFlow, Processed};

/// Compiled definitions kept; the cache is emptied when full (edits make most entries dead).
const CACHE_CAPACITY: usize = 256;

/// What the editor posts: a whole flow, or one step with the value maps and settings it uses.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PreviewRequest {
    /// A complete flow; its steps run in order.
    #[serde(default)]
    flow: Option<Value>,
    /// One step (mapping, filter or script), when `flow` is absent.
    #[serde(default)]
    step: Option<Value>,
    /// Value maps the step reads (with `step`).
    #[serde(default)]
    value_maps: Option<Value>,
    /// Settings the step's scripts read (with `step`).
    #[serde(default)]
    settings: Option<Value>,
    /// The sample record.
    record: Value,
}

/// Compiled flows by the hash of their posted definition.
#[derive(Default)]
pub(super) struct PreviewCache {
    compiled: Mutex<HashMap<u64, Arc<CompiledFlow>>>,
}

impl PreviewCache {
    fn get_or_compile(&self, definition: &Value) -> Result<Arc<CompiledFlow>, PreviewError> {
        let key = hash_of(definition);
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let flow: Flow = serde_path_to_error::deserialize(definition).map_err(|e| {
            PreviewError::invalid_flow(vec![json!({
                "path": e.path().to_string(),
                "message": e.inner().to_string(),
            })])
        })?;
        let compiled = Arc::new(CompiledFlow::compile(&flow).map_err(|issues| {
            PreviewError::invalid_flow(
                issues
                    .iter()
                    .map(|i| json!({"path": i.path.to_string(), "step": i.step_id, "message": i.message}))
                    .collect(),
            )
        })?);
        let mut cache = self.lock();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<CompiledFlow>>> {
        // A panic while holding the lock leaves a usable map: recover it.
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hashes a JSON value structurally (object keys are sorted in `serde_json::Map`).
fn hash_of(value: &Value) -> u64 {
    fn feed(value: &Value, h: &mut DefaultHasher) {
        match value {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(items) => {
                (4u8, items.len()).hash(h);
                items.iter().for_each(|v| feed(v, h));
            }
            Value::Object(map) => {
                (5u8, map.len()).hash(h);
                for (k, v) in map {
                    k.hash(h);
                    feed(v, h);
                }
            }
        }
    }
    let mut h = DefaultHasher::new();
    feed(value, &mut h);
    h.finish()
}

/// The flow a lone step is previewed in: no connections, only the step and what it reads.
fn flow_around_step(step: Value, value_maps: Option<Value>, settings: Option<Value>) -> Value {
    let mut flow = Map::new();
    flow.insert("version".into(), json!(1));
    flow.insert("id".into(), json!("preview"));
    flow.insert("connections".into(), json!({}));
    flow.insert(
        "source".into(),
        json!({"connection": "preview", "operation": "read"}),
    );
    flow.insert(
        "target".into(),
        json!({"connection": "preview", "operation": "write"}),
    );
    flow.insert("steps".into(), Value::Array(vec![step]));
    if let Some(maps) = value_maps {
        flow.insert("value_maps".into(), maps);
    }
    if let Some(settings) = settings {
        flow.insert("settings".into(), settings);
    }
    Value::Object(flow)
}

/// Handles `POST /api/v1/preview`.
pub(super) async fn preview(State(cache): State<Arc<PreviewCache>>, body: Bytes) -> Response {
    match run_preview(&cache, &body) {
        Ok(result) => Json(result).into_response(),
        Err(e) => e.into_response(),
    }
}

fn run_preview(cache: &PreviewCache, body: &[u8]) -> Result<Value, PreviewError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let request: PreviewRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        PreviewError::bad_request(format!(
            "the body is not a preview request: {}{}",
            match e.path().to_string().as_str() {
                "." => String::new(),
                path => format!("at `{path}`: "),
            },
            e.inner()
        ))
    })?;
    let definition = match (request.flow, request.step) {
        (Some(flow), None) => flow,
        (None, Some(step)) => flow_around_step(step, request.value_maps, request.settings),
        _ => {
            return Err(PreviewError::bad_request(
                "give either `flow` (a whole flow) or `step` (one step), not both or neither",
            ));
        }
    };
    let compiled = cache.get_or_compile(&definition)?;
    let key = compiled.key_of(&request.record);
    Ok(match compiled.process(&request.record) {
        Ok(Processed::Output(output)) => json!({"key": key, "outcome": "mapped", "output": output}),
        Ok(Processed::Filtered { step_id, reason }) => {
            json!({"key": key, "outcome": "filtered", "step": step_id, "reason": reason})
        }
        Err(failure) => json!({
            "key": key,
            "outcome": "failed",
            "step": failure.step_id,
            "errors": failure.errors.iter().map(|e| json!({"field": e.field, "message": e.message})).collect::<Vec<_>>(),
            "partial_output": failure.partial,
        }),
    })
}

/// A preview the caller must fix: a body that is not a request, or a definition that does not
/// compile (every problem in `details`, each with its path).
struct PreviewError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl PreviewError {
    fn bad_request(message: impl Into<String>) -> Self {
        PreviewError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            details: None,
        }
    }

    fn invalid_flow(issues: Vec<Value>) -> Self {
        PreviewError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_flow",
            message: format!(
                "the definition has {} problem(s); see details",
                issues.len()
            ),
            details: Some(Value::Array(issues)),
        }
    }
}

impl IntoResponse for PreviewError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(details) = self.details {
            error["details"] = details;
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        cache: &PreviewCache,
        body: Value,
    ) -> Result<Value, (StatusCode, &'static str, String)> {
        run_preview(cache, body.to_string().as_bytes()).map_err(|e| {
            (
                e.status,
                e.code,
                e.details.map(|d| d.to_string()).unwrap_or(e.message),
            )
        })
    }

    fn mapping_step() -> Value {
        json!({"id": "map", "type": "mapping", "fields": [
            {"target": "number", "value": {"type": "jsonpath", "path": "$.name", "cardinality": "required"}},
            {"target": "status", "value": {"type": "value_map", "path": "$.status", "map": "status"}},
            {"target": "prefix", "value": {"type": "rhai", "script": "settings.prefix + record.name"}}
        ]})
    }

    fn step_request(record: Value) -> Value {
        json!({
            "step": mapping_step(),
            "value_maps": {"status": {"entries": {"paid": "PAID"}, "default": "OTHER"}},
            "settings": {"prefix": "WEB-"},
            "record": record,
        })
    }

    #[test]
    fn a_step_maps_a_sample_record() {
        let cache = PreviewCache::default();
        let out = call(
            &cache,
            step_request(json!({"id": 7, "name": "#1001", "status": "paid"})),
        )
        .unwrap();
        assert_eq!(out["outcome"], "mapped");
        assert_eq!(out["key"], "7");
        assert_eq!(
            out["output"],
            json!({"number": "#1001", "status": "PAID", "prefix": "WEB-#1001"})
        );
    }

    #[test]
    fn a_field_error_names_the_field_and_keeps_the_rest() {
        let cache = PreviewCache::default();
        let out = call(&cache, step_request(json!({"id": 8, "status": "odd"}))).unwrap();
        assert_eq!(out["outcome"], "failed");
        assert_eq!(out["step"], "map");
        let errors = out["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == "number"), "{out}");
        assert_eq!(out["partial_output"]["status"], "OTHER");
    }

    #[test]
    fn a_definition_is_compiled_once_and_reused() {
        let cache = PreviewCache::default();
        for id in 0..5 {
            call(&cache, step_request(json!({"id": id, "name": "x"}))).unwrap();
        }
        assert_eq!(cache.lock().len(), 1);
        let mut edited = step_request(json!({"id": 1, "name": "x"}));
        edited["settings"]["prefix"] = json!("SHOP-");
        assert_eq!(call(&cache, edited).unwrap()["output"]["prefix"], "SHOP-x");
        assert_eq!(cache.lock().len(), 2);
    }

    #[test]
    fn a_broken_step_answers_422_with_every_problem_and_its_path() {
        let cache = PreviewCache::default();
        let body = json!({"step": {"id": "map", "type": "mapping", "fields": [
            {"target": "a", "value": {"type": "jsonpath", "path": "$..["}},
            {"target": "b", "value": {"type": "rhai", "script": "let = ;"}}
        ]}, "record": {}});
        let (status, code, details) = call(&cache, body).unwrap_err();
        assert_eq!(
            (status, code),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_flow")
        );
        assert!(details.contains("steps[0].fields[0]"), "{details}");
        assert!(details.contains("steps[0].fields[1]"), "{details}");
    }

    #[test]
    fn a_malformed_body_is_a_400_that_says_where() {
        let cache = PreviewCache::default();
        let err = run_preview(&cache, b"{\"record\": {}, \"stepp\": 1}").unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::BAD_REQUEST, "invalid_request")
        );
        assert!(err.message.contains("stepp"), "{}", err.message);
        let err = run_preview(&cache, b"{\"record\": ").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = run_preview(&cache, json!({"record": {}}).to_string().as_bytes()).unwrap_err();
        assert!(err.message.contains("either `flow`"), "{}", err.message);
    }

    #[test]
    fn a_whole_flow_runs_all_its_steps() {
        let cache = PreviewCache::default();
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../flows/examples/bench-orders.json"),
        )
        .unwrap();
        let flow: Value = serde_json::from_str(&text).unwrap();
        let record = json!({"id": 1, "name": "#1", "customer": {"email": "A@B.FR", "first_name": "A", "last_name": "B"},
            "billing_address": {"country_code": "FR"}, "total_price": "12.10", "financial_status": "paid",
            "line_items": [{"sku": "S", "quantity": 2, "price": "6.05"}]});
        let out = call(&cache, json!({"flow": flow, "record": record})).unwrap();
        assert_eq!(out["outcome"], "mapped", "{out}");
        assert_eq!(out["output"]["email"], "a@b.fr");
        assert_eq!(out["output"]["lines"][0]["qty"], 2);
    }
}
