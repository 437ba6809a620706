//! Rhai scripts, sandboxed and compiled once.
//!
//! `rhai::Engine::new()` is not a sandbox, so user scripts run on an engine built from
//! `Engine::new_raw()` plus the packages we allow, in exactly one place: [`sandboxed_engine`].
//! It has operation, call-depth, expression-depth and size limits, `eval` is disabled, there is
//! no module loading, and a wall-clock deadline stops a script that runs too long.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Dynamic, Engine, EvalAltResult, ImmutableString, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::helpers;

/// Name under which a script sees the record being processed.
pub const RECORD_VAR: &str = "record";
/// Name under which a transform sees the field's value.
pub const VALUE_VAR: &str = "value";
/// Name under which a script sees the flow's settings.
pub const SETTINGS_VAR: &str = "settings";

/// Resource limits for user scripts. Defaults suit per-record transforms.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptLimits {
    /// Most Rhai operations one evaluation may perform.
    pub max_operations: u64,
    /// Deepest function-call nesting.
    pub max_call_levels: usize,
    /// Deepest expression nesting, at compile time.
    pub max_expr_depth: usize,
    /// Longest string a script may build, in bytes.
    pub max_string_size: usize,
    /// Largest array a script may build.
    pub max_array_size: usize,
    /// Largest object map a script may build.
    pub max_map_size: usize,
    /// Wall-clock limit of one evaluation, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        ScriptLimits {
            max_operations: 1_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            timeout_ms: 1_000,
        }
    }
}

/// A script that failed to compile or to run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScriptError {
    /// The script does not compile.
    #[error("Rhai syntax error at line {line}, column {column}: {message}")]
    Compile {
        /// Human explanation from the parser.
        message: String,
        /// 1-based line inside the script.
        line: usize,
        /// 1-based column inside the script.
        column: usize,
    },
    /// The script failed while running on a record.
    #[error("Rhai error: {0}")]
    Runtime(String),
    /// The script ran past its wall-clock limit.
    #[error("script stopped after {0} ms (time limit)")]
    Timeout(u64),
    /// The script's result cannot be turned into JSON.
    #[error("script result is not JSON: {0}")]
    Result(String),
}

thread_local! {
    /// Deadline of the evaluation running on this thread; read by the progress callback.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marker the progress callback returns when the deadline passed.
const TIMEOUT_TOKEN: &str = "__ferry_timeout__";

/// Builds the one engine user scripts run on. `lookups` backs the `lookup(table, key)` helper.
pub fn sandboxed_engine(limits: &ScriptLimits, lookups: Arc<helpers::LookupTables>) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(1_000)
        .set_max_functions(100)
        .set_strict_variables(false);
    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.on_progress(|ops| {
        // Checking the clock every 1024 operations keeps the cost negligible.
        if ops % 1024 != 0 {
            return None;
        }
        match DEADLINE.get() {
            Some(deadline) if Instant::now() > deadline => Some(Dynamic::from(TIMEOUT_TOKEN)),
            _ => None,
        }
    });
    helpers::register(&mut engine, lookups);
    engine
}

/// A compiled script or expression, with what it needs to see.
#[derive(Debug, Clone)]
pub struct Script {
    ast: AST,
    source: String,
    /// Whether the text mentions `record`; when it does not, the record is not converted.
    pub uses_record: bool,
    /// Whether the text mentions `settings`.
    pub uses_settings: bool,
    /// The same expression for the native fast path, when it is simple enough.
    pub native: Option<super::native::NativeExpr>,
}

impl Script {
    /// Compiles an expression (`lower(value)`) or, when `statements` is true, a script of
    /// statements whose last expression is the result.
    pub fn compile(engine: &Engine, source: &str, statements: bool) -> Result<Self, ScriptError> {
        let compiled = if statements {
            engine.compile(source)
        } else {
            engine.compile_expression(source)
        };
        let ast = compiled.map_err(|e| {
            let pos = e.position();
            ScriptError::Compile {
                message: e.err_type().to_string(),
                line: pos.line().unwrap_or(1),
                column: pos.position().unwrap_or(1),
            }
        })?;
        Ok(Script {
            ast,
            uses_record: mentions_word(source, RECORD_VAR),
            uses_settings: mentions_word(source, SETTINGS_VAR),
            native: if statements {
                None
            } else {
                super::native::NativeExpr::parse(source)
            },
            source: source.to_string(),
        })
    }

    /// The script as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the script with `scope` and returns its result.
    pub fn eval(
        &self,
        engine: &Engine,
        scope: &mut Scope<'_>,
        timeout: Duration,
    ) -> Result<Dynamic, ScriptError> {
        DEADLINE.set(Some(Instant::now() + timeout));
        let result = engine.eval_ast_with_scope::<Dynamic>(scope, &self.ast);
        DEADLINE.set(None);
        result.map_err(|e| runtime_error(*e, timeout))
    }
}

fn runtime_error(err: EvalAltResult, timeout: Duration) -> ScriptError {
    match &err {
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_immutable_string().ok().as_deref() == Some(TIMEOUT_TOKEN) =>
        {
            ScriptError::Timeout(timeout.as_millis() as u64)
        }
        _ => ScriptError::Runtime(err.to_string()),
    }
}

/// Whether `word` appears in `text` as a whole identifier.
pub fn mentions_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The members a script reads of the map named `word` (`record.email` reads `email`), or `None`
/// when it may read more: the map passed on whole, indexed (`record["x"]`), or a method called
/// on it (`record.keys()`). Text is scanned, not parsed, so a mention inside a string counts as
/// a use too: that only ever asks for more of the record, never for less.
pub fn member_reads<'a>(text: &'a str, word: &str) -> Option<Vec<&'a str>> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut members = Vec::new();
    for (at, _) in text.match_indices(word) {
        let before = text[..at].chars().next_back();
        let rest = &text[at + word.len()..];
        if before.is_some_and(is_ident) || rest.chars().next().is_some_and(is_ident) {
            continue;
        }
        let rest = rest.trim_start();
        let rest = rest
            .strip_prefix("?.")
            .or_else(|| rest.strip_prefix('.'))?
            .trim_start();
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let (member, after) = rest.split_at(len);
        let starts_well = member.chars().next().is_some_and(|c| !c.is_ascii_digit());
        // A call (`record.keys()`), also behind a comment, reads more than a member.
        let after = after.trim_start();
        if !starts_well || after.starts_with('(') || after.starts_with('/') {
            return None;
        }
        members.push(member);
    }
    Some(members)
}

/// JSON → Rhai value.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(map) => {
            let mut out = rhai::Map::new();
            for (k, v) in map {
                out.insert(k.as_str().into(), to_dynamic(v));
            }
            Dynamic::from_map(out)
        }
    }
}

/// Rhai value → JSON. Unit becomes null; floats that are not finite are refused.
pub fn to_json(value: Dynamic) -> Result<Value, ScriptError> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Ok(Value::Bool(b));
    }
    if value.is_int() {
        return Ok(Value::from(value.as_int().unwrap_or_default()));
    }
    if value.is_float() {
        let f = value.as_float().unwrap_or(f64::NAN);
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| ScriptError::Result(format!("{f} is not a finite number")));
    }
    if value.is_string() || value.is_char() {
        return Ok(Value::String(value.to_string()));
    }
    if value.is_array() {
        let items = value
            .into_array()
            .map_err(|t| ScriptError::Result(t.to_string()))?;
        return items
            .into_iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.cast::<rhai::Map>();
        let mut out = serde_json::Map::with_capacity(map.len());
        for (k, v) in map {
            out.insert(k.to_string(), to_json(v)?);
        }
        return Ok(Value::Object(out));
    }
    rhai::serde::from_dynamic::<Value>(&value).map_err(|e| ScriptError::Result(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine() -> Engine {
        sandboxed_engine(
            &ScriptLimits {
                timeout_ms: 200,
                ..Default::default()
            },
            Default::default(),
        )
    }

    fn run(src: &str, record: Value) -> Result<Value, ScriptError> {
        let engine = engine();
        let script = Script::compile(&engine, src, true)?;
        let mut scope = Scope::new();
        scope.push(RECORD_VAR, to_dynamic(&record));
        to_json(script.eval(&engine, &mut scope, Duration::from_millis(200))?)
    }

    #[test]
    fn scripts_see_the_record_and_return_json() {
        let out = run(
            "let r = record; r.total = r.qty * 2.5; r",
            json!({"qty": 4, "name": "x"}),
        )
        .unwrap();
        assert_eq!(out, json!({"qty": 4, "name": "x", "total": 10.0}));
    }

    #[test]
    fn infinite_loop_is_stopped() {
        let err = run("loop { }", json!({})).unwrap_err();
        assert!(
            matches!(err, ScriptError::Runtime(_) | ScriptError::Timeout(_)),
            "{err:?}"
        );
    }

    #[test]
    fn slow_loop_under_operation_limit_hits_the_deadline() {
        let engine = sandboxed_engine(
            &ScriptLimits {
                max_operations: 0,
                timeout_ms: 50,
                ..Default::default()
            },
            Default::default(),
        );
        let script = Script::compile(&engine, "let x = 0; loop { x += 1; }", true).unwrap();
        let err = script
            .eval(&engine, &mut Scope::new(), Duration::from_millis(50))
            .unwrap_err();
        assert!(matches!(err, ScriptError::Timeout(50)), "{err:?}");
    }

    #[test]
    fn eval_files_and_huge_strings_are_refused() {
        assert!(
            Script::compile(&engine(), r#"eval("1")"#, true).is_err()
                || run(r#"eval("1")"#, json!({})).is_err()
        );
        assert!(run(r#"import "x" as y; 1"#, json!({})).is_err());
        assert!(run("let s = \"x\"; loop { s += s; }", json!({})).is_err());
        assert!(run("sleep(1e300)", json!({})).is_err());
        assert!(run("fn f(x) { f(x) } f(1)", json!({})).is_err());
    }

    #[test]
    fn compile_error_has_position() {
        match Script::compile(&engine(), "let x = ;\n", true).unwrap_err() {
            ScriptError::Compile { line, column, .. } => assert_eq!((line, column), (1, 9)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mentions_matches_whole_words_only() {
        assert!(mentions_word("record.a + 1", "record"));
        assert!(!mentions_word("records + my_record", "record"));
    }

    #[test]
    fn member_reads_are_the_names_after_the_map_and_nothing_else() {
        let reads = |text| member_reads(text, "record");
        assert_eq!(
            reads("record.a + record?.b_2 + my_record.c + record . d.e[0]"),
            Some(vec!["a", "b_2", "d"])
        );
        assert_eq!(reads("settings.x + records.y"), Some(vec![]));
        assert_eq!(reads("record.keys()"), None);
        assert_eq!(
            reads("record.tags.len() + record.x"),
            Some(vec!["tags", "x"])
        );
        assert_eq!(reads(r#"record["a"]"#), None);
        assert_eq!(reads("let r = record; r.a"), None);
        assert_eq!(reads("f(record)"), None);
        assert_eq!(reads("record"), None);
        assert_eq!(reads(r#""a record""#), None);
        assert_eq!(reads("record.0"), None);
        assert_eq!(reads("record.keys /* all */ ()"), None);
        assert_eq!(reads("record.keys // all\n()"), None);
    }
}
