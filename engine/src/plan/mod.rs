//! Compiled flows: every JSONPath parsed, every Rhai script compiled and every value map indexed
//! once per flow version, so that processing a record parses nothing.

mod mapping;
pub mod target_path;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, Engine, Scope};
use serde_json::Value;

use crate::expr::helpers::{LookupTable, LookupTables, key_text};
use crate::expr::script::{RECORD_VAR, SETTINGS_VAR, to_dynamic, to_json};
use crate::expr::{JsonPath, Script, sandboxed_engine};
use crate::flow::load::DocPath;
use crate::flow::{Field, FieldValue, Flow, FlowIssue, OnError, Step, ValueMap};
use crate::projection::Projection;
use mapping::{
    CompiledField, CompiledValue, FieldPrefix, add_script_reads, build_object, fields_projection,
    parse_template,
};
use target_path::TargetPath;

/// What the steps, the key and the cursor read of a source record. Steps after the first mapping
/// or script see what that step made, not the record; filters before it see the record and
/// pass it on.
fn source_projection(
    steps: &[CompiledStep],
    key: &JsonPath,
    cursor: Option<&JsonPath>,
) -> Projection {
    let mut projection = steps_projection(steps).unwrap_or(Projection::Whole);
    projection.keep(key, Projection::Whole);
    if let Some(cursor) = cursor {
        projection.keep(cursor, Projection::Whole);
    }
    projection.finish()
}

/// What the steps read of the record; `None` for all of it.
fn steps_projection(steps: &[CompiledStep]) -> Option<Projection> {
    let mut projection = Projection::nothing();
    let mut root = Projection::nothing();
    for step in steps {
        match step {
            CompiledStep::Filter { condition, .. } => {
                add_script_reads(condition, &mut projection, &mut root)?
            }
            CompiledStep::Mapping { fields, .. } => {
                projection.merge(fields_projection(fields, &mut root)?);
                projection.merge(root);
                return Some(projection);
            }
            CompiledStep::Script { script, .. } => {
                add_script_reads(script, &mut projection, &mut root)?;
                projection.merge(root);
                return Some(projection);
            }
        }
    }
    // Only filters (or nothing): the record itself is sent.
    None
}

/// Name under which scripts inside `for_each` see the top-level record.
pub const PARENT_VAR: &str = "parent";

/// An error in one field (or in a whole step, then `field` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Target field path (`lines[2].unit_price`), empty for step-level errors.
    pub field: String,
    /// What went wrong.
    pub message: String,
}

/// Why a record could not be processed.
#[derive(Debug, Clone)]
pub struct RecordFailure {
    /// Id of the step that failed.
    pub step_id: String,
    /// Every error of that step.
    pub errors: Vec<FieldError>,
    /// What the step made of the record despite the errors (mapping steps only).
    pub partial: Option<Value>,
}

impl fmt::Display for RecordFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}`: ", self.step_id)?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            if e.field.is_empty() {
                write!(f, "{}", e.message)?;
            } else {
                write!(f, "field `{}`: {}", e.field, e.message)?;
            }
        }
        Ok(())
    }
}

/// What the steps made of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// The record to send.
    Output(Value),
    /// A filter (or a step with `on_error: skip`) dropped the record.
    Filtered {
        /// The step that dropped it.
        step_id: String,
        /// Why, when an error was skipped.
        reason: Option<String>,
    },
}

#[derive(Debug)]
enum CompiledStep {
    Mapping {
        id: String,
        fields: Vec<CompiledField>,
        on_error: OnError,
    },
    Filter {
        id: String,
        condition: Script,
        on_error: OnError,
    },
    Script {
        id: String,
        script: Script,
        on_error: OnError,
    },
}

/// A flow ready to process records.
pub struct CompiledFlow {
    /// The flow as written.
    pub flow: Arc<Flow>,
    source_key: JsonPath,
    /// `source.incremental.field`, when the flow reads incrementally.
    cursor_field: Option<JsonPath>,
    steps: Vec<CompiledStep>,
    /// What the flow reads of a source record: the key, the cursor and the first mapping's fields.
    projection: Arc<Projection>,
    engine: Engine,
    settings: Dynamic,
    timeout: Duration,
}

impl fmt::Debug for CompiledFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledFlow")
            .field("flow", &self.flow.id)
            .field("steps", &self.steps)
            .finish()
    }
}

/// Per-record evaluation state: the record converted for Rhai at most once, and shared.
pub(crate) struct EvalCx<'a> {
    engine: &'a Engine,
    timeout: Duration,
    settings: &'a Dynamic,
    root: &'a Value,
    root_dyn: Option<Dynamic>,
    element_dyn: Option<(*const Value, Dynamic)>,
}

impl EvalCx<'_> {
    fn shared(value: &Value) -> Dynamic {
        to_dynamic(value).into_read_only().into_shared()
    }

    /// A scope with `record` (read-only), `parent` inside `for_each`, and `settings`.
    pub(crate) fn scope(&mut self, record: &Value, script: &Script) -> Scope<'static> {
        let mut scope = Scope::new();
        let ptr = record as *const Value;
        let in_element = !std::ptr::eq(record, self.root);
        if script.uses_record {
            let dynamic = if in_element {
                match &self.element_dyn {
                    Some((p, d)) if *p == ptr => d.clone(),
                    _ => {
                        let d = Self::shared(record);
                        self.element_dyn = Some((ptr, d.clone()));
                        d
                    }
                }
            } else {
                self.root_dyn
                    .get_or_insert_with(|| Self::shared(record))
                    .clone()
            };
            scope.push_constant_dynamic(RECORD_VAR, dynamic);
        }
        if in_element && crate::expr::script::mentions_word(script.source(), PARENT_VAR) {
            let root = self.root;
            let parent = self
                .root_dyn
                .get_or_insert_with(|| Self::shared(root))
                .clone();
            scope.push_constant_dynamic(PARENT_VAR, parent);
        }
        if script.uses_settings {
            scope.push_constant_dynamic(SETTINGS_VAR, self.settings.clone());
        }
        scope
    }

    /// Forgets the converted element once a `for_each` is done with it.
    pub(crate) fn leave_element(&mut self) {
        self.element_dyn = None;
    }
}

impl CompiledFlow {
    /// Compiles `flow`; on failure returns every problem found.
    pub fn compile(flow: &Flow) -> Result<Self, Vec<FlowIssue>> {
        let root = DocPath::default();
        let mut issues = Vec::new();
        let source_key = JsonPath::parse(&flow.source.key)
            .map_err(|e| {
                issues.push(FlowIssue::new(
                    root.key("source").key("key"),
                    None,
                    e.to_string(),
                ))
            })
            .ok();
        let cursor_field = flow.source.incremental.as_ref().and_then(|inc| {
            JsonPath::parse(&inc.field)
                .map_err(|e| {
                    issues.push(FlowIssue::new(
                        root.key("source").key("incremental").key("field"),
                        None,
                        e.to_string(),
                    ))
                })
                .ok()
        });

        let mut tables = LookupTables::default();
        for (name, map) in &flow.value_maps {
            tables.tables.insert(name.clone(), lookup_table(map));
        }
        let tables = Arc::new(tables);
        let engine = sandboxed_engine(&flow.script_limits, tables.clone());
        let mut compiler = Compiler {
            engine: &engine,
            tables: &tables,
            issues: &mut issues,
            step_id: String::new(),
        };

        let mut steps = Vec::with_capacity(flow.steps.len());
        for (i, step) in flow.steps.iter().enumerate() {
            let path = root.key("steps").index(i);
            compiler.step_id = step.id().to_string();
            let compiled = match step {
                Step::Mapping {
                    id,
                    fields,
                    on_error,
                } => {
                    let fields = compiler.fields(fields, &path.key("fields"));
                    Some(CompiledStep::Mapping {
                        id: id.clone(),
                        fields,
                        on_error: *on_error,
                    })
                }
                Step::Filter {
                    id,
                    condition,
                    on_error,
                } => compiler
                    .script(condition, false, &path.key("condition"))
                    .map(|condition| CompiledStep::Filter {
                        id: id.clone(),
                        condition,
                        on_error: *on_error,
                    }),
                Step::Script {
                    id,
                    script,
                    on_error,
                } => compiler
                    .script(script, true, &path.key("script"))
                    .map(|script| CompiledStep::Script {
                        id: id.clone(),
                        script,
                        on_error: *on_error,
                    }),
            };
            steps.extend(compiled);
        }
        let settings =
            to_dynamic(&serde_json::to_value(&flow.settings).unwrap_or_default()).into_shared();
        match (issues.is_empty(), source_key) {
            (true, Some(source_key)) => Ok(CompiledFlow {
                flow: Arc::new(flow.clone()),
                projection: Arc::new(source_projection(
                    &steps,
                    &source_key,
                    cursor_field.as_ref(),
                )),
                source_key,
                cursor_field,
                steps,
                engine,
                settings,
                timeout: Duration::from_millis(flow.script_limits.timeout_ms),
            }),
            _ => Err(issues),
        }
    }

    /// The record's business key, from the source's `key` query.
    pub fn key_of(&self, record: &Value) -> Option<String> {
        match self.source_key.first(record) {
            None | Some(Value::Null) => None,
            Some(v) => Some(key_text(v)),
        }
    }

    /// The highest incremental cursor value among `records`, when the flow reads incrementally.
    pub fn cursor_max(&self, records: &[Value]) -> Option<crate::run::cursor::CursorValue> {
        let field = self.cursor_field.as_ref()?;
        records
            .iter()
            .filter_map(|r| {
                field
                    .first(r)
                    .and_then(crate::run::cursor::CursorValue::parse)
            })
            .reduce(crate::run::cursor::CursorValue::max)
    }

    /// What the flow reads of a source record; sources may parse only that
    /// ([`crate::projection`]).
    pub fn projection(&self) -> &Arc<Projection> {
        &self.projection
    }

    /// The source key query as written.
    pub fn key_query(&self) -> &str {
        self.source_key.as_str()
    }

    /// Runs the steps on one record. The record is borrowed: callers keep it for the log.
    pub fn process(&self, record: &Value) -> Result<Processed, RecordFailure> {
        let mut current = Cow::Borrowed(record);
        for step in &self.steps {
            let (id, on_error, result) = match step {
                CompiledStep::Mapping {
                    id,
                    fields,
                    on_error,
                } => (id, *on_error, self.run_mapping(fields, &current)),
                CompiledStep::Filter {
                    id,
                    condition,
                    on_error,
                } => match self.run_filter(condition, &current) {
                    Ok(true) => continue,
                    Ok(false) => {
                        return Ok(Processed::Filtered {
                            step_id: id.clone(),
                            reason: None,
                        });
                    }
                    Err(e) => (
                        id,
                        *on_error,
                        Err((
                            vec![FieldError {
                                field: String::new(),
                                message: e,
                            }],
                            None,
                        )),
                    ),
                },
                CompiledStep::Script {
                    id,
                    script,
                    on_error,
                } => (id, *on_error, self.run_script(script, &current)),
            };
            match result {
                Ok(next) => current = Cow::Owned(next),
                Err((errors, partial)) => {
                    let failure = RecordFailure {
                        step_id: id.clone(),
                        errors,
                        partial,
                    };
                    return match on_error {
                        OnError::Fail => Err(failure),
                        OnError::Skip => Ok(Processed::Filtered {
                            step_id: id.clone(),
                            reason: Some(failure.to_string()),
                        }),
                    };
                }
            }
        }
        Ok(Processed::Output(current.into_owned()))
    }

    fn cx<'a>(&'a self, record: &'a Value) -> EvalCx<'a> {
        EvalCx {
            engine: &self.engine,
            timeout: self.timeout,
            settings: &self.settings,
            root: record,
            root_dyn: None,
            element_dyn: None,
        }
    }

    #[allow(clippy::type_complexity)]
    fn run_mapping(
        &self,
        fields: &[CompiledField],
        record: &Value,
    ) -> Result<Value, (Vec<FieldError>, Option<Value>)> {
        let mut cx = self.cx(record);
        let mut errors = Vec::new();
        let out = build_object(fields, record, &mut cx, &FieldPrefix::Root, &mut errors);
        if errors.is_empty() {
            Ok(out)
        } else {
            Err((errors, Some(out)))
        }
    }

    fn run_filter(&self, condition: &Script, record: &Value) -> Result<bool, String> {
        let mut cx = self.cx(record);
        let mut scope = cx.scope(record, condition);
        match cx.eval(condition, &mut scope)? {
            Value::Bool(keep) => Ok(keep),
            other => Err(format!(
                "filter condition must give true or false, gave {other}"
            )),
        }
    }

    #[allow(clippy::type_complexity)]
    fn run_script(
        &self,
        script: &Script,
        record: &Value,
    ) -> Result<Value, (Vec<FieldError>, Option<Value>)> {
        let fail = |message: String| {
            (
                vec![FieldError {
                    field: String::new(),
                    message,
                }],
                None,
            )
        };
        let mut scope = Scope::new();
        // The script step owns its copy of the record and may change it.
        scope.push_dynamic(RECORD_VAR, to_dynamic(record));
        if script.uses_settings {
            scope.push_constant_dynamic(SETTINGS_VAR, self.settings.clone());
        }
        let result = script
            .eval(&self.engine, &mut scope, self.timeout)
            .map_err(|e| fail(e.to_string()))?;
        match to_json(result).map_err(|e| fail(e.to_string()))? {
            out @ Value::Object(_) => Ok(out),
            other => Err(fail(format!(
                "script must give a record (an object map), gave {other}"
            ))),
        }
    }
}

fn lookup_table(map: &ValueMap) -> LookupTable {
    LookupTable {
        entries: map
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>(),
        default: if map.fail_if_unmapped {
            None
        } else {
            map.default.clone()
        },
    }
}

struct Compiler<'a> {
    engine: &'a Engine,
    tables: &'a Arc<LookupTables>,
    issues: &'a mut Vec<FlowIssue>,
    step_id: String,
}

impl Compiler<'_> {
    fn issue(&mut self, path: DocPath, message: impl Into<String>) {
        let step = self.step_id.clone();
        self.issues.push(FlowIssue::new(path, Some(&step), message));
    }

    fn script(&mut self, source: &str, statements: bool, path: &DocPath) -> Option<Script> {
        // Multi-line text is compiled as statements so `let` and `if` blocks work in fields too.
        let statements = statements || source.contains('\n') || source.contains(';');
        Script::compile(self.engine, source, statements)
            .map_err(|e| self.issue(path.clone(), e.to_string()))
            .ok()
    }

    fn path(&mut self, query: &str, path: &DocPath) -> Option<JsonPath> {
        JsonPath::parse(query)
            .map_err(|e| self.issue(path.clone(), e.to_string()))
            .ok()
    }

    fn fields(&mut self, fields: &[Field], path: &DocPath) -> Vec<CompiledField> {
        let mut out = Vec::with_capacity(fields.len());
        for (i, field) in fields.iter().enumerate() {
            let path = path.index(i);
            let target = TargetPath::parse(&field.target)
                .map_err(|e| self.issue(path.key("target"), e))
                .ok();
            let transform = field
                .transform
                .as_ref()
                .map(|t| self.script(t, false, &path.key("transform")));
            let value = self.value(&field.value, &path.key("value"));
            if let (Some(target), Some(value), Some(transform)) =
                (target, value, transform.map_or(Some(None), |t| t.map(Some)))
            {
                out.push(CompiledField {
                    target,
                    value,
                    transform,
                    default: field.default.clone(),
                    omit_if_missing: field.omit_if_missing,
                });
            }
        }
        out
    }

    fn value(&mut self, value: &FieldValue, path: &DocPath) -> Option<CompiledValue> {
        match value {
            FieldValue::Jsonpath {
                path: query,
                cardinality,
            } => self
                .path(query, &path.key("path"))
                .map(|p| CompiledValue::Path {
                    path: p,
                    cardinality: *cardinality,
                }),
            FieldValue::Rhai { script } => self
                .script(script, false, &path.key("script"))
                .map(CompiledValue::Rhai),
            FieldValue::Static { value } => Some(CompiledValue::Static(value.clone())),
            FieldValue::Template { template } => parse_template(template)
                .map(CompiledValue::Template)
                .map_err(|e| self.issue(path.key("template"), e))
                .ok(),
            FieldValue::ValueMap {
                path: query,
                map,
                inline,
            } => {
                let p = self.path(query, &path.key("path"));
                let (name, table, fail_if_unmapped) = match (map, inline) {
                    (Some(name), None) => match self.tables.tables.get(name) {
                        Some(t) => (name.clone(), Arc::new(t.clone()), t.default.is_none()),
                        None => {
                            let known: Vec<&str> =
                                self.tables.tables.keys().map(String::as_str).collect();
                            self.issue(
                                path.key("map"),
                                format!(
                                    "no value map named `{name}` in value_maps (defined: {})",
                                    known.join(", ")
                                ),
                            );
                            return None;
                        }
                    },
                    (None, Some(inline)) => (
                        "inline".to_string(),
                        Arc::new(lookup_table(inline)),
                        inline.fail_if_unmapped,
                    ),
                    _ => {
                        self.issue(path.clone(), "a value_map field needs exactly one of `map` (a name) or `inline` (the map itself)");
                        return None;
                    }
                };
                p.map(|path| CompiledValue::ValueMap {
                    path,
                    name,
                    table,
                    fail_if_unmapped,
                })
            }
            FieldValue::ForEach {
                path: query,
                fields,
            } => {
                let p = self.path(query, &path.key("path"));
                let fields = self.fields(fields, &path.key("fields"));
                p.map(|path| CompiledValue::ForEach { path, fields })
            }
        }
    }
}

#[cfg(test)]
mod tests;
