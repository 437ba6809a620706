//! Compiled mapping fields: each target field with its parsed JSONPath, compiled Rhai and indexed
//! value map, and how a record is built from them.

use std::sync::Arc;

use rhai::{Dynamic, Scope};
use serde_json::{Map, Value};

use super::target_path::TargetPath;
use super::{EvalCx, FieldError};
use crate::expr::helpers::{LookupTable, key_text};
use crate::expr::jsonpath::SimpleStep;
use crate::expr::script::{RECORD_VAR, VALUE_VAR, member_reads, to_json};
use crate::expr::{JsonPath, Script};
use crate::flow::Cardinality;
use crate::projection::Projection;

/// A field ready to run.
#[derive(Debug)]
pub(crate) struct CompiledField {
    pub(crate) target: TargetPath,
    pub(crate) value: CompiledValue,
    pub(crate) transform: Option<Script>,
    pub(crate) default: Option<Value>,
    pub(crate) omit_if_missing: bool,
}

/// Where a compiled field's value comes from.
#[derive(Debug)]
pub(crate) enum CompiledValue {
    Path {
        path: JsonPath,
        cardinality: Cardinality,
    },
    Rhai(Script),
    Static(Value),
    Template(Vec<TemplatePart>),
    ValueMap {
        path: JsonPath,
        name: String,
        table: Arc<LookupTable>,
        fail_if_unmapped: bool,
    },
    ForEach {
        path: JsonPath,
        fields: Vec<CompiledField>,
    },
}

/// A piece of a `{$.path}` template.
#[derive(Debug)]
pub(crate) enum TemplatePart {
    Text(String),
    Path(JsonPath),
}

/// Splits `"{$.a} and {$.b}"` into parts; `{{` and `}}` are literal braces.
pub(crate) fn parse_template(template: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let end = template[at..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed `{{` at character {}", at + 1))?
                    + at;
                let query = template[at + 1..end].trim();
                let path = JsonPath::parse(query).map_err(|e| e.to_string())?;
                if !text.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                }
                parts.push(TemplatePart::Path(path));
                while chars.peek().is_some_and(|(i, _)| *i <= end) {
                    chars.next();
                }
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` at character {} (write `}}}}` for a literal brace)",
                    at + 1
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(TemplatePart::Text(text));
    }
    Ok(parts)
}

/// Text of a value inside a template: strings as-is, null and missing as nothing.
fn template_text(out: &mut String, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.push_str(s),
        Some(other) => out.push_str(&other.to_string()),
    }
}

/// What `fields` read of the record they are built from (`crate::projection`), and into `root`
/// what their scripts read of the top-level record (`parent` inside `for_each`). `None` when a
/// script may read more than named members, which only the whole record serves.
pub(crate) fn fields_projection(
    fields: &[CompiledField],
    root: &mut Projection,
) -> Option<Projection> {
    let mut projection = Projection::nothing();
    for field in fields {
        if let Some(transform) = &field.transform {
            add_script_reads(transform, &mut projection, root)?;
        }
        match &field.value {
            CompiledValue::Path { path, .. } | CompiledValue::ValueMap { path, .. } => {
                projection.keep(path, Projection::Whole)
            }
            CompiledValue::Rhai(script) => add_script_reads(script, &mut projection, root)?,
            CompiledValue::Static(_) => {}
            CompiledValue::Template(parts) => {
                for part in parts {
                    if let TemplatePart::Path(path) = part {
                        projection.keep(path, Projection::Whole);
                    }
                }
            }
            CompiledValue::ForEach { path, fields } => {
                let each = fields_projection(fields, root)?;
                projection.keep(path, each)
            }
        }
    }
    Some(projection)
}

/// Keeps the members a script reads: of `record` in `projection`, of `parent` in `root`.
/// `None` when it may read more (see [`member_reads`]).
pub(crate) fn add_script_reads(
    script: &Script,
    projection: &mut Projection,
    root: &mut Projection,
) -> Option<()> {
    let source = script.source();
    for (var, into) in [(RECORD_VAR, projection), (super::PARENT_VAR, root)] {
        for member in member_reads(source, var)? {
            into.add_path(&[SimpleStep::Name(member.to_string())], Projection::Whole);
        }
    }
    Some(())
}

/// Where a field sits, for error messages only; formatted only when an error happens.
#[derive(Clone, Copy)]
pub(crate) enum FieldPrefix<'a> {
    /// Top level of the output record.
    Root,
    /// Inside element `index` of the `for_each` field named `field`.
    Element {
        parent: &'a FieldPrefix<'a>,
        field: &'a str,
        index: usize,
    },
}

impl FieldPrefix<'_> {
    fn name_of(&self, target: &str) -> String {
        match self {
            FieldPrefix::Root => target.to_string(),
            FieldPrefix::Element {
                parent,
                field,
                index,
            } => format!("{}[{index}].{target}", parent.name_of(field)),
        }
    }
}

/// Builds one output object from `fields`, collecting every field error instead of stopping.
pub(crate) fn build_object(
    fields: &[CompiledField],
    record: &Value,
    cx: &mut EvalCx<'_>,
    prefix: &FieldPrefix<'_>,
    errors: &mut Vec<FieldError>,
) -> Value {
    // First every plain lookup, in one tight loop: on records that are not in the CPU cache the
    // lookups wait on memory, and done back to back their loads overlap instead of queueing
    // behind the output building of each field (docs/benchmarks.md, "The mapper alone").
    let mut found: [Option<&Value>; EAGER_LOOKUPS] = [None; EAGER_LOOKUPS];
    for (slot, field) in found.iter_mut().zip(fields) {
        *slot = field.value.lookup(record);
    }
    let mut out = Map::new();
    for (i, field) in fields.iter().enumerate() {
        let looked_up = match found.get(i) {
            Some(value) => *value,
            None => field.value.lookup(record),
        };
        let result =
            field_value(field, looked_up, record, cx, prefix, errors).and_then(
                |value| match value {
                    // Null counts as missing here: a script's `()` or a JSON null is no value.
                    None | Some(Value::Null) if field.omit_if_missing => Ok(()),
                    value => field.target.write(&mut out, value.unwrap_or(Value::Null)),
                },
            );
        if let Err(message) = result {
            errors.push(FieldError {
                field: prefix.name_of(&field.target.text),
                message,
            });
        }
    }
    Value::Object(out)
}

/// How many fields of one object have their lookups done before the object is built; the rest
/// look up as they go, with the same result.
const EAGER_LOOKUPS: usize = 16;

impl CompiledValue {
    /// The node a `first`/`required` path or a value map reads from `record`; `None` for every
    /// other kind of value, which reads the record itself.
    fn lookup<'r>(&self, record: &'r Value) -> Option<&'r Value> {
        match self {
            CompiledValue::Path {
                path,
                cardinality: Cardinality::First | Cardinality::Required,
            }
            | CompiledValue::ValueMap { path, .. } => path.first(record),
            _ => None,
        }
    }
}

/// The field's final value: source, then default when missing, then transform. `looked_up` is
/// [`CompiledValue::lookup`] of the field on `record`.
fn field_value(
    field: &CompiledField,
    looked_up: Option<&Value>,
    record: &Value,
    cx: &mut EvalCx<'_>,
    prefix: &FieldPrefix<'_>,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Value>, String> {
    let mut value = match &field.value {
        CompiledValue::Path { path, cardinality } => match cardinality {
            Cardinality::First => looked_up.cloned(),
            Cardinality::Required => match looked_up {
                Some(v) => Some(v.clone()),
                None => {
                    return Err(format!(
                        "required value `{}` matched nothing in the record",
                        path.as_str()
                    ));
                }
            },
            Cardinality::All => Some(Value::Array(
                path.select(record).into_iter().cloned().collect(),
            )),
        },
        CompiledValue::Rhai(script) => {
            let mut scope = cx.scope(record, script);
            Some(cx.eval(script, &mut scope)?)
        }
        CompiledValue::Static(v) => Some(v.clone()),
        CompiledValue::Template(parts) => {
            let mut s = String::new();
            for part in parts {
                match part {
                    TemplatePart::Text(t) => s.push_str(t),
                    TemplatePart::Path(p) => template_text(&mut s, p.first(record)),
                }
            }
            Some(Value::String(s))
        }
        CompiledValue::ValueMap {
            path: _,
            name: map_name,
            table,
            fail_if_unmapped,
        } => match looked_up {
            None | Some(Value::Null) => None,
            Some(key_value) => {
                let key = key_text(key_value);
                match table.entries.get(&key) {
                    Some(v) => Some(v.clone()),
                    None if *fail_if_unmapped || table.default.is_none() => {
                        return Err(format!(
                            "value map `{map_name}` has no entry for \"{key}\"; add it to the map or give the map a default"
                        ));
                    }
                    None => table.default.clone(),
                }
            }
        },
        CompiledValue::ForEach { path, fields } => {
            let items = path.select(record);
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let inner = FieldPrefix::Element {
                    parent: prefix,
                    field: &field.target.text,
                    index,
                };
                out.push(build_object(fields, item, cx, &inner, errors));
            }
            cx.leave_element();
            Some(Value::Array(out))
        }
    };
    if matches!(value, None | Some(Value::Null)) && field.default.is_some() {
        value = field.default.clone();
    }
    if let Some(transform) = &field.transform
        && let Some(v) = value.take()
    {
        if let Some(fast) = transform.native.as_ref().and_then(|n| n.eval(&v)) {
            return Ok(Some(fast));
        }
        let mut scope = cx.scope(record, transform);
        scope.push(VALUE_VAR, crate::expr::script::to_dynamic(&v));
        value = Some(cx.eval(transform, &mut scope)?);
    }
    Ok(value)
}

impl EvalCx<'_> {
    /// Evaluates a compiled script in `scope` and converts the result to JSON.
    pub(crate) fn eval(&self, script: &Script, scope: &mut Scope<'_>) -> Result<Value, String> {
        let result: Dynamic = script
            .eval(self.engine, scope, self.timeout)
            .map_err(|e| format!("{e} in `{}`", script.source()))?;
        to_json(result).map_err(|e| e.to_string())
    }
}
