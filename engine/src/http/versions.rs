//! Flow versions: every save through the API publishes an immutable version; list them, read
//! one, diff two, and roll back (the old definition saved again as a new version).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::flow::Flow;
use crate::store::{FlowRecord, FlowVersion};

use super::AppState;
use super::access::{Action, Principal};
use super::audit;
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use super::flows::flow_for;

fn version_json(v: &FlowVersion, with_definition: bool) -> Value {
    let mut answer = json!({
        "flow_id": v.flow_id, "version": v.version_no, "hash": v.hash,
        "published_by": v.published_by, "created_at": v.created_at,
    });
    if with_definition {
        answer["definition"] = serde_json::from_str(&v.definition).unwrap_or(Value::Null);
    }
    answer
}

/// Stores a flow (validated by the caller) and publishes it as the next version.
pub(super) async fn save(
    state: &AppState,
    me: &Principal,
    flow: &Flow,
    text: &str,
) -> ApiResult<(FlowRecord, FlowVersion)> {
    let base = std::path::PathBuf::new();
    let record = state
        .rt
        .import_flow(text, &flow.id, &base, |_, _| Vec::new())
        .await?;
    let version = state
        .rt
        .store
        .publish_version(
            &record.tenant,
            &record.id,
            text,
            &record.version,
            &me.user.email,
        )
        .await?;
    Ok((record, version))
}

async fn version_of(state: &AppState, flow_id: &str, no: i64) -> ApiResult<FlowVersion> {
    state
        .rt
        .store
        .get_version(flow_id, no)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "version_not_found",
                format!("flow `{flow_id}` has no version {no}"),
            )
        })
}

/// A flow's versions, newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(flow_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    flow_for(&state, &me, &flow_id, Action::ReadFlowDefinition).await?;
    let versions = state.rt.store.list_versions(&flow_id).await?;
    Ok(Json(json!({
        "versions": versions.iter().map(|v| version_json(v, false)).collect::<Vec<_>>()
    })))
}

/// One version with its definition.
pub(super) async fn get(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((flow_id, no)): ApiPath<(String, i64)>,
) -> ApiResult<Json<Value>> {
    flow_for(&state, &me, &flow_id, Action::ReadFlowDefinition).await?;
    Ok(Json(version_json(
        &version_of(&state, &flow_id, no).await?,
        true,
    )))
}

/// `GET …/diff` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiffQuery {
    from: i64,
    to: i64,
}

/// What changed between two versions: one entry per JSON pointer whose value differs.
pub(super) async fn diff(
    State(state): State<AppState>,
    me: Principal,
    ApiPath(flow_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Json<Value>> {
    flow_for(&state, &me, &flow_id, Action::ReadFlowDefinition).await?;
    let parse = |v: &FlowVersion| serde_json::from_str::<Value>(&v.definition).unwrap_or_default();
    let from = parse(&version_of(&state, &flow_id, q.from).await?);
    let to = parse(&version_of(&state, &flow_id, q.to).await?);
    let mut changes = Vec::new();
    json_diff(String::new(), &from, &to, &mut changes);
    Ok(Json(
        json!({"flow_id": flow_id, "from": q.from, "to": q.to, "changes": changes}),
    ))
}

/// Appends `{path, from, to}` for every leaf that differs; a missing side is `null`.
fn json_diff(path: String, a: &Value, b: &Value, out: &mut Vec<Value>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                json_diff(
                    format!("{path}/{escaped}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                json_diff(
                    format!("{path}/{i}"),
                    x.get(i).unwrap_or(&Value::Null),
                    y.get(i).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ => out.push(json!({"path": path, "from": a, "to": b})),
    }
}

/// Saves an old version's definition again, as a new version.
pub(super) async fn rollback(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((flow_id, no)): ApiPath<(String, i64)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    flow_for(&state, &me, &flow_id, Action::WriteFlows).await?;
    let old = version_of(&state, &flow_id, no).await?;
    let flow = crate::flow::parse_flow(&old.definition, &flow_id).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            "version_unusable",
            format!("version {no} no longer parses: {e}"),
        )
    })?;
    let (record, version) = save(&state, &me, &flow, &old.definition).await?;
    audit::record(
        &state,
        &me,
        Some(&record.tenant),
        "flow.rollback",
        "flow",
        &flow_id,
        Some(format!("version {no} saved as {}", version.version_no)),
    )
    .await?;
    Ok((StatusCode::OK, Json(version_json(&version, false))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_names_each_changed_leaf_by_json_pointer() {
        let a = json!({"steps": [{"id": "a", "x": 1}], "name": "n", "gone": true});
        let b = json!({"steps": [{"id": "a", "x": 2}, {"id": "b"}], "name": "n", "a/b": 1});
        let mut out = Vec::new();
        json_diff(String::new(), &a, &b, &mut out);
        let paths: Vec<&str> = out.iter().map(|c| c["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["/a~1b", "/gone", "/steps/0/x", "/steps/1"]);
        assert_eq!(out[2]["from"], 1);
        assert_eq!(out[2]["to"], 2);
    }
}
