//! The OpenAPI 3 document (`GET /api/v1/openapi.json`): every route of the table in
//! `routes.rs`, with its path and query parameters, and the JSON Schema of its request body and
//! success answer. Bodies are described with schemars, the schema tool the flow file and the
//! connector configs already use (so the flow file and the alert settings are described by the
//! very types that parse them); the answers by the types of `schemas.rs`.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema, json_schema};
use serde_json::{Value, json};

use super::routes::route_table;
use super::{accounts, auth, connections, flows, preview, schemas as s, templates};

/// What one operation takes and answers, beyond its path parameters.
struct Operation {
    /// Schema of the JSON request body; `None`: it takes none.
    request: Option<Schema>,
    /// Status of success.
    status: &'static str,
    /// Schema of the JSON success answer; `None`: it has no body.
    response: Option<Schema>,
    /// Query parameters: name, JSON type, description.
    query: &'static [(&'static str, &'static str, &'static str)],
}

fn op(request: Option<Schema>, status: &'static str, response: Option<Schema>) -> Operation {
    Operation {
        request,
        status,
        response,
        query: &[],
    }
}

/// The schema of `T`, a reference into the document's components for a named type.
fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Option<Schema> {
    Some(g.subschema_for::<T>())
}

const RUNS_QUERY: &[(&str, &str, &str)] = &[
    ("flow_id", "string", "Only runs of this flow"),
    (
        "status",
        "string",
        "queued, running, succeeded, failed or error",
    ),
    (
        "from",
        "string",
        "Runs started at or after this RFC 3339 time",
    ),
    (
        "to",
        "string",
        "Runs started at or before this RFC 3339 time",
    ),
    (
        "key",
        "string",
        "Runs with a record of this business key (order number)",
    ),
    ("tenant", "string", "Only this tenant's runs"),
    ("limit", "integer", "At most this many (1–500, default 50)"),
];

const RECORDS_QUERY: &[(&str, &str, &str)] = &[
    (
        "outcome",
        "string",
        "created, updated, skipped_unchanged, filtered or failed",
    ),
    ("key", "string", "Only records of this business key"),
    (
        "limit",
        "integer",
        "At most this many (1–1000, default 100)",
    ),
    ("offset", "integer", "Skip this many"),
];

const DELIVERIES_QUERY: &[(&str, &str, &str)] = &[
    ("flow", "string", "Only deliveries about this flow"),
    ("tenant", "string", "Only this tenant's deliveries"),
    ("kind", "string", "failure, success, heartbeat or test"),
    ("status", "string", "sent or failed"),
    ("since", "string", "Made at or after this RFC 3339 time"),
    ("until", "string", "Made at or before this RFC 3339 time"),
    (
        "limit",
        "integer",
        "At most this many (1–1000, default 100)",
    ),
];

const AUDIT_QUERY: &[(&str, &str, &str)] = &[
    ("tenant", "string", "Only this tenant's entries"),
    (
        "user",
        "string",
        "Only entries whose user's email contains this (ASCII case ignored)",
    ),
    (
        "action",
        "string",
        "Only entries whose action is this or starts with it (`flow.`)",
    ),
    (
        "object",
        "string",
        "Only entries about the object with this id",
    ),
    ("since", "string", "Made at or after this RFC 3339 time"),
    ("until", "string", "Made at or before this RFC 3339 time"),
    (
        "before",
        "integer",
        "Only entries older than this id: the previous page's `next_before`",
    ),
    (
        "limit",
        "integer",
        "At most this many (1–1000, default 100)",
    ),
];

/// The operation `method path`: its bodies and query.
fn operation(method: &str, path: &str, g: &mut SchemaGenerator) -> Operation {
    use crate::alert::AlertSettings;
    use crate::flow::Flow;
    let none = || None;
    match (method, path) {
        ("GET", "/health") => op(none(), "200", schema::<s::Health>(g)),
        // The body is the record(s) the flow maps: whatever the sender's system sends.
        ("POST", "/hooks/{flow_id}/{token}") => op(
            Some(json_schema!({"description": "The record, or an array of records (any JSON)"})),
            "202",
            schema::<s::WebhookAnswer>(g),
        ),
        // This document itself.
        ("GET", "/api/v1/openapi.json") => op(
            none(),
            "200",
            Some(json_schema!({"description": "An OpenAPI 3.1 document"})),
        ),
        ("POST", "/api/v1/login") => op(
            schema::<auth::Login>(g),
            "200",
            schema::<s::SessionAnswer>(g),
        ),
        ("POST", "/api/v1/logout") => op(none(), "204", none()),
        ("GET", "/api/v1/me") => op(none(), "200", schema::<s::SessionAnswer>(g)),
        ("PUT", "/api/v1/me/password") => op(schema::<auth::PasswordChange>(g), "204", none()),
        ("GET", "/api/v1/tenants") => op(none(), "200", schema::<s::TenantList>(g)),
        ("POST", "/api/v1/tenants") => op(
            schema::<accounts::NewTenant>(g),
            "201",
            schema::<s::Tenant>(g),
        ),
        ("GET", "/api/v1/tenants/{tenant_id}") => op(none(), "200", schema::<s::Tenant>(g)),
        ("GET", "/api/v1/connectors") => op(none(), "200", schema::<s::ConnectorList>(g)),
        ("GET", "/api/v1/tenants/{tenant_id}/connections") => {
            op(none(), "200", schema::<s::ConnectionList>(g))
        }
        ("POST", "/api/v1/tenants/{tenant_id}/connections") => op(
            schema::<connections::CreateBody>(g),
            "201",
            schema::<s::Connection>(g),
        ),
        ("GET", "/api/v1/tenants/{tenant_id}/connections/{name}") => {
            op(none(), "200", schema::<s::Connection>(g))
        }
        ("PATCH", "/api/v1/tenants/{tenant_id}/connections/{name}") => op(
            schema::<connections::PatchBody>(g),
            "200",
            schema::<s::Connection>(g),
        ),
        ("POST", "/api/v1/tenants/{tenant_id}/connections/{name}/test") => {
            op(none(), "200", schema::<s::ConnectionTest>(g))
        }
        ("GET", "/api/v1/tenants/{tenant_id}/alerts") => {
            op(none(), "200", schema::<s::TenantAlerts>(g))
        }
        ("PUT", "/api/v1/tenants/{tenant_id}/alerts") => op(
            schema::<AlertSettings>(g),
            "200",
            schema::<s::TenantAlerts>(g),
        ),
        ("GET", "/api/v1/templates") => op(none(), "200", schema::<s::TemplateList>(g)),
        ("POST", "/api/v1/tenants/{tenant_id}/templates/{template_id}/enable") => op(
            schema::<templates::EnableBody>(g),
            "201",
            schema::<s::EnabledTemplate>(g),
        ),
        ("GET", "/api/v1/users") => op(none(), "200", schema::<s::UserList>(g)),
        ("POST", "/api/v1/users") => op(
            schema::<accounts::NewUserBody>(g),
            "201",
            schema::<s::User>(g),
        ),
        ("POST", "/api/v1/users/{user_id}/disable") => op(none(), "200", schema::<s::User>(g)),
        ("GET", "/api/v1/tokens") => op(none(), "200", schema::<s::TokenList>(g)),
        ("POST", "/api/v1/tokens") => op(
            schema::<accounts::NewToken>(g),
            "201",
            schema::<s::CreatedToken>(g),
        ),
        ("GET", "/api/v1/flows") => Operation {
            query: &[("tenant", "string", "Only this tenant's flows")],
            ..op(none(), "200", schema::<s::FlowList>(g))
        },
        ("POST", "/api/v1/flows") => op(schema::<Flow>(g), "201", schema::<s::SavedFlow>(g)),
        ("POST", "/api/v1/flows/validate") => {
            op(schema::<Flow>(g), "200", schema::<s::Validation>(g))
        }
        ("GET", "/api/v1/flows/{flow_id}") => op(none(), "200", schema::<s::FlowWithDefinition>(g)),
        ("PUT", "/api/v1/flows/{flow_id}") => {
            op(schema::<Flow>(g), "200", schema::<s::SavedFlow>(g))
        }
        ("GET", "/api/v1/flows/{flow_id}/export") => op(none(), "200", schema::<Flow>(g)),
        ("POST", "/api/v1/flows/{flow_id}/runs") => op(none(), "202", schema::<s::StartedRun>(g)),
        ("GET", "/api/v1/flows/{flow_id}/failed") => op(none(), "200", schema::<s::FailedList>(g)),
        ("POST", "/api/v1/flows/{flow_id}/replay") => op(
            schema::<flows::ReplayBody>(g),
            "202",
            schema::<s::Replay>(g),
        ),
        ("POST", "/api/v1/flows/{flow_id}/alerts/test") => {
            op(none(), "200", schema::<s::AlertTest>(g))
        }
        ("GET", "/api/v1/flows/{flow_id}/versions") => {
            op(none(), "200", schema::<s::VersionList>(g))
        }
        ("GET", "/api/v1/flows/{flow_id}/versions/{version}") => {
            op(none(), "200", schema::<s::VersionWithDefinition>(g))
        }
        ("GET", "/api/v1/flows/{flow_id}/diff") => Operation {
            query: &[
                ("from", "integer", "The older version's number"),
                ("to", "integer", "The newer version's number"),
            ],
            ..op(none(), "200", schema::<s::Diff>(g))
        },
        ("POST", "/api/v1/flows/{flow_id}/versions/{version}/rollback") => {
            op(none(), "200", schema::<s::Version>(g))
        }
        ("GET", "/api/v1/runs") => Operation {
            query: RUNS_QUERY,
            ..op(none(), "200", schema::<s::RunList>(g))
        },
        ("GET", "/api/v1/runs/{run_id}") => op(none(), "200", schema::<s::Run>(g)),
        ("GET", "/api/v1/runs/{run_id}/records") => Operation {
            query: RECORDS_QUERY,
            ..op(none(), "200", schema::<s::RecordList>(g))
        },
        ("GET", "/api/v1/runs/{run_id}/records/{seq}") => {
            op(none(), "200", schema::<s::RecordDetail>(g))
        }
        ("GET", "/api/v1/schedules") => op(none(), "200", schema::<s::ScheduleList>(g)),
        ("GET", "/api/v1/alert-deliveries") => Operation {
            query: DELIVERIES_QUERY,
            ..op(none(), "200", schema::<s::AlertDeliveryList>(g))
        },
        ("GET", "/api/v1/audit") => Operation {
            query: AUDIT_QUERY,
            ..op(none(), "200", schema::<s::AuditList>(g))
        },
        ("POST", "/api/v1/preview") => op(
            schema::<preview::PreviewRequest>(g),
            "200",
            schema::<s::PreviewAnswer>(g),
        ),
        // Deletions answer 204 without a body.
        ("DELETE", _) => op(none(), "204", none()),
        // A route missing here is documented without bodies; the OpenAPI test names it.
        _ => op(none(), "200", none()),
    }
}

/// The error answer every operation may give.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case code"},
                "message": {"type": "string", "description": "What went wrong and what to fix"},
                "details": {"description": "The field or issues concerned, when there are any"}
            }
        }}
    })
}

/// The OpenAPI 3 document of every route in the table.
pub fn openapi_document() -> Value {
    // JSON Schema 2020-12 is OpenAPI 3.1's schema dialect; named types go to the components.
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut paths = serde_json::Map::new();
    for r in route_table() {
        let doc = operation(r.method, r.path, &mut g);
        let mut parameters: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let kind = if matches!(name, "run_id" | "user_id" | "token_id" | "seq" | "version")
                {
                    "integer"
                } else {
                    "string"
                };
                json!({"name": name, "in": "path", "required": true, "schema": {"type": kind}})
            })
            .collect();
        parameters.extend(doc.query.iter().map(|(name, kind, description)| {
            json!({
                "name": name, "in": "query", "required": false,
                "description": description, "schema": {"type": kind},
            })
        }));
        let mut success = json!({"description": "Success"});
        if let Some(schema) = doc.response {
            success["content"] = json!({"application/json": {"schema": schema}});
        }
        let mut responses = serde_json::Map::new();
        responses.insert(doc.status.into(), success);
        responses.insert(
            "default".into(),
            json!({
                "description": "Error: `{\"error\": {\"code\", \"message\", \"details\"}}`",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }),
        );
        let mut operation = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method.to_lowercase(), r.path),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(schema) = doc.request {
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema}}
            });
        }
        if r.public {
            // An empty list overrides the document's default: no credentials needed.
            operation["security"] = json!([]);
        }
        let item = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        item[r.method.to_lowercase()] = operation;
    }
    let mut schemas = g.take_definitions(true);
    schemas.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Ferry API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": auth::SESSION_COOKIE},
            }
        },
        "security": [{"bearer": []}, {"session": []}],
    })
}
