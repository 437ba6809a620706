//! Stock templates: the catalogue (id, name, category, connection slots, settings with their
//! defaults) and enabling one for a tenant, which binds its slots to the tenant's stored
//! connections, checks and merges the settings, and stores the flow as a new version (the same
//! [`Template::instantiate`] as `ferry template enable`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::template::{Enable, Template, find_template, load_all};

use super::AppState;
use super::access::{Action, Principal};
use super::audit;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};

fn templates_dir(state: &AppState) -> ApiResult<&std::path::Path> {
    match state.templates.as_deref() {
        Some(dir) if dir.is_dir() => Ok(dir),
        // The operator's to fix; naming the folder tells them which.
        Some(dir) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "templates_unavailable",
            format!(
                "the templates folder `{}` does not exist: start the server with `--templates DIR`",
                dir.display()
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "templates_unavailable",
            "this server has no templates folder: start it with `ferry serve --templates DIR`",
        )),
    }
}

fn template_json(t: &Template) -> Value {
    let settings: serde_json::Map<String, Value> = t
        .meta
        .settings
        .iter()
        .map(|(name, spec)| {
            // A value map without a default starts from the flow's map of that name.
            let default = spec.default.clone().or_else(|| {
                t.flow
                    .value_maps
                    .get(name)
                    .and_then(|m| serde_json::to_value(m).ok())
            });
            let setting = json!({
                "type": spec.kind.as_str(), "default": default,
                "description": spec.description, "allowed": spec.allowed,
            });
            (name.clone(), setting)
        })
        .collect();
    json!({
        "id": t.meta.id, "name": t.meta.name, "description": t.meta.description,
        "category": t.meta.category.as_str(), "slots": t.meta.slots, "settings": settings,
    })
}

/// Every stock template.
pub(super) async fn list(State(state): State<AppState>, me: Principal) -> ApiResult<Json<Value>> {
    me.require(Action::ReadConnectors)?;
    let templates = load_all(templates_dir(&state)?, state.registry.as_deref())
        .map_err(|e| ApiError::internal(&format!("the templates folder has problems: {e}")))?;
    Ok(Json(
        json!({"templates": templates.iter().map(template_json).collect::<Vec<_>>()}),
    ))
}

/// `POST …/templates/{template_id}/enable` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EnableBody {
    /// Slot → name of the tenant's stored connection.
    #[serde(default)]
    connections: BTreeMap<String, String>,
    /// Setting → value replacing its default.
    #[serde(default)]
    settings: BTreeMap<String, Value>,
}

/// The field a problem of [`crate::template::InstantiateError`] is about: its messages start
/// with "connection slot `x`", "setting `x`" or "tenant `x`".
fn problem_field(problem: &str) -> String {
    let named = |prefix: &str| {
        problem
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    if let Some(slot) = named("connection slot `") {
        format!("connections.{slot}")
    } else if let Some(setting) = named("setting `") {
        format!("settings.{setting}")
    } else {
        "tenant".to_string()
    }
}

/// Makes the tenant's flow from the template and stores it as a new version.
pub(super) async fn enable(
    State(state): State<AppState>,
    me: Principal,
    ApiPath((tenant, template_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<EnableBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let exists = state.rt.store.get_tenant(&tenant).await?.is_some();
    me.check(Action::EnableTemplates, exists.then_some(&*tenant), || {
        ApiError::not_found("tenant_not_found", format!("no tenant `{tenant}`"))
    })?;
    let dir = templates_dir(&state)?;
    let template = find_template(dir, &template_id, state.registry.as_deref())
        .map_err(|e| ApiError::internal(&format!("template `{template_id}`: {e}")))?
        .ok_or_else(|| {
            ApiError::not_found(
                "template_not_found",
                format!("no template `{template_id}`: GET /api/v1/templates lists them"),
            )
        })?;
    let connections = state.connections.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "connections_unavailable",
            "this server has no store of connections: start it with `ferry serve`",
        )
    })?;

    let mut problems = template
        .check_stored(&tenant, &body.connections, connections)
        .await?;
    let enable = Enable {
        tenant: tenant.clone(),
        connections: body
            .connections
            .iter()
            .map(|(slot, name)| (slot.clone(), template.stored_binding(slot, name)))
            .collect(),
        settings: body.settings,
    };
    let flow = match template.instantiate(&enable) {
        Ok(flow) if problems.is_empty() => flow,
        Ok(_) => return Err(enable_problems(&template_id, problems)),
        Err(e) => {
            problems.extend(e.problems);
            return Err(enable_problems(&template_id, problems));
        }
    };
    if let Some(other) = state.rt.store.get_flow(&flow.id).await?
        && other.tenant != tenant
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "flow_id_taken",
            format!("the flow id `{}` is taken", flow.id),
        ));
    }
    let text = serde_json::to_string_pretty(&flow)
        .map_err(|e| ApiError::internal(&format!("serializing the flow: {e}")))?;
    let issues = crate::flow::validate(&flow, state.registry.as_deref(), Some(&text));
    if !issues.is_empty() {
        let messages: Vec<String> = issues.iter().map(ToString::to_string).collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_flow",
            format!("the enabled flow is not valid: {}", messages[0]),
        )
        .with_details(json!({ "issues": messages })));
    }
    let (record, version) = super::versions::save(&state, &me, &flow, &text).await?;
    audit::record(
        &state,
        &me,
        Some(&tenant),
        "template.enable",
        "flow",
        &record.id,
        Some(format!("template {template_id}")),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": record.id, "name": record.name, "tenant": record.tenant,
            "version": record.version, "version_no": version.version_no,
            "template": template_id, "enabled": record.enabled,
        })),
    ))
}

fn enable_problems(template_id: &str, problems: Vec<String>) -> ApiError {
    let details: Vec<Value> = problems
        .iter()
        .map(|p| json!({"field": problem_field(p), "message": p}))
        .collect();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_template_choice",
        format!(
            "template `{template_id}` cannot be enabled: {}",
            problems.join("; ")
        ),
    )
    .with_details(json!({ "problems": details }))
}

#[cfg(test)]
mod tests {
    use super::problem_field;

    #[test]
    fn problems_name_their_slot_or_setting() {
        assert_eq!(
            problem_field("connection slot `shop` is not bound; give a `shopify` connection"),
            "connections.shop"
        );
        assert_eq!(
            problem_field("setting `order_statuses`: expected a list"),
            "settings.order_statuses"
        );
        assert_eq!(problem_field("tenant `a b`: use letters"), "tenant");
    }
}
