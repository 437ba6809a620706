//! A native fast path for the simplest transforms.
//!
//! Most transforms are one or two helper calls on `value` (`lower(value)`,
//! `round(parse_number(value) / 1.21, 2)`). Running those through Rhai costs a scope, a call
//! resolution and two value conversions each time. This module parses that small subset
//! (helper calls, `value`, number and plain string literals, `+ - * /`, parentheses) once, and
//! evaluates it without Rhai.
//!
//! It only ever answers when it is sure to give Rhai's answer: on any type it does not handle,
//! any error, or any non-finite number, [`NativeExpr::eval`] returns `None` and the caller runs
//! the Rhai script, so errors and edge cases read exactly as Rhai reports them. The differential
//! test `native_agrees_with_rhai` checks the two against each other.

use std::borrow::Cow;

use serde_json::{Number, Value};

use super::helpers::{parse_number, round_to, strip_accents};

/// A parsed fast-path expression.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeExpr {
    /// The `value` variable.
    Value,
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal without escapes.
    Str(String),
    /// A helper call.
    Call(String, Vec<NativeExpr>),
    /// `a op b`.
    Binary(char, Box<NativeExpr>, Box<NativeExpr>),
}

/// Intermediate values: only the scalar types the fast path handles. Strings borrow the field's
/// value or the literal until a helper makes a new one.
#[derive(Debug, Clone, PartialEq)]
enum V<'a> {
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

/// The most arguments a helper of the subset takes (`pad_left(value, 9, "0")`).
const MAX_ARGS: usize = 3;

const HELPERS: &[&str] = &[
    "lower",
    "upper",
    "trimmed",
    "strip_accents",
    "string",
    "parse_number",
    "round",
    "format_number",
    "pad_left",
    "pad_right",
];

impl NativeExpr {
    /// Parses `source` if it is entirely within the fast-path subset.
    pub fn parse(source: &str) -> Option<Self> {
        let tokens = tokenize(source)?;
        let mut parser = Parser { tokens, pos: 0 };
        let expr = parser.expr()?;
        (parser.pos == parser.tokens.len()).then_some(expr)
    }

    /// Evaluates with `value`; `None` means "ask Rhai".
    pub fn eval(&self, value: &Value) -> Option<Value> {
        match eval(self, value)? {
            V::Int(i) => Some(Value::from(i)),
            V::Float(f) => Number::from_f64(f).map(Value::Number),
            V::Str(s) => Some(Value::String(s.into_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    Sym(char),
}

fn tokenize(src: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                let frac = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                if frac == i
                    || (i < chars.len()
                        && (chars[i].is_ascii_alphabetic() || chars[i] == '_' || chars[i] == '.'))
                {
                    return None; // `1.`, `1.5e3`, `1.0.x`: leave to Rhai
                }
                out.push(Tok::Float(
                    chars[start..i].iter().collect::<String>().parse().ok()?,
                ));
            } else {
                if i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
                    return None; // `0x1F`, `1_000`, `1e3`
                }
                out.push(Tok::Int(
                    chars[start..i].iter().collect::<String>().parse().ok()?,
                ));
            }
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    return None;
                }
                i += 1;
            }
            if i == chars.len() {
                return None;
            }
            out.push(Tok::Str(chars[start..i].iter().collect()));
            i += 1;
        } else if "+-*/(),".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_sym(&self) -> Option<char> {
        match self.tokens.get(self.pos) {
            Some(Tok::Sym(c)) => Some(*c),
            _ => None,
        }
    }

    fn expr(&mut self) -> Option<NativeExpr> {
        let mut left = self.term()?;
        while let Some(op @ ('+' | '-')) = self.peek_sym() {
            self.pos += 1;
            left = NativeExpr::Binary(op, Box::new(left), Box::new(self.term()?));
        }
        Some(left)
    }

    fn term(&mut self) -> Option<NativeExpr> {
        let mut left = self.factor()?;
        while let Some(op @ ('*' | '/')) = self.peek_sym() {
            self.pos += 1;
            left = NativeExpr::Binary(op, Box::new(left), Box::new(self.factor()?));
        }
        Some(left)
    }

    fn factor(&mut self) -> Option<NativeExpr> {
        let tok = self.tokens.get(self.pos)?.clone();
        self.pos += 1;
        match tok {
            Tok::Int(i) => Some(NativeExpr::Int(i)),
            Tok::Float(f) => Some(NativeExpr::Float(f)),
            Tok::Str(s) => Some(NativeExpr::Str(s)),
            Tok::Sym('(') => {
                let inner = self.expr()?;
                (self.peek_sym() == Some(')')).then(|| self.pos += 1)?;
                Some(inner)
            }
            Tok::Ident(name) if name == "value" && self.peek_sym() != Some('(') => {
                Some(NativeExpr::Value)
            }
            Tok::Ident(name)
                if HELPERS.contains(&name.as_str()) && self.peek_sym() == Some('(') =>
            {
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek_sym() == Some(')') {
                    self.pos += 1;
                    return Some(NativeExpr::Call(name, args));
                }
                loop {
                    args.push(self.expr()?);
                    match self.peek_sym()? {
                        ',' => self.pos += 1,
                        ')' => {
                            self.pos += 1;
                            return Some(NativeExpr::Call(name, args));
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

fn number(v: &V<'_>) -> Option<f64> {
    match v {
        V::Int(i) => Some(*i as f64),
        V::Float(f) => Some(*f),
        V::Str(s) => parse_number(s),
    }
}

/// Text of a value as Rhai's `to_string` gives it, for the types where we know it exactly.
fn text<'a>(v: &V<'a>) -> Option<Cow<'a, str>> {
    match v {
        V::Str(s) => Some(s.clone()),
        V::Int(i) => Some(Cow::Owned(i.to_string())),
        V::Float(_) => None,
    }
}

fn eval<'a>(expr: &'a NativeExpr, value: &'a Value) -> Option<V<'a>> {
    match expr {
        NativeExpr::Value => match value {
            Value::String(s) => Some(V::Str(Cow::Borrowed(s))),
            Value::Number(n) => n.as_i64().map(V::Int).or_else(|| n.as_f64().map(V::Float)),
            _ => None,
        },
        NativeExpr::Int(i) => Some(V::Int(*i)),
        NativeExpr::Float(f) => Some(V::Float(*f)),
        NativeExpr::Str(s) => Some(V::Str(Cow::Borrowed(s))),
        NativeExpr::Binary(op, a, b) => {
            let (a, b) = (eval(a, value)?, eval(b, value)?);
            let result = match (op, a, b) {
                ('+', V::Str(a), V::Str(b)) => return Some(V::Str(Cow::Owned(format!("{a}{b}")))),
                ('+', V::Int(a), V::Int(b)) => return a.checked_add(b).map(V::Int),
                ('-', V::Int(a), V::Int(b)) => return a.checked_sub(b).map(V::Int),
                ('*', V::Int(a), V::Int(b)) => return a.checked_mul(b).map(V::Int),
                (_, V::Int(_), V::Int(_)) => return None, // integer division: Rhai's rules
                (op, a @ (V::Int(_) | V::Float(_)), b @ (V::Int(_) | V::Float(_))) => {
                    let (a, b) = (number(&a)?, number(&b)?);
                    match op {
                        '+' => a + b,
                        '-' => a - b,
                        '*' => a * b,
                        _ => a / b,
                    }
                }
                _ => return None,
            };
            result.is_finite().then_some(V::Float(result))
        }
        NativeExpr::Call(name, args) => {
            // On the stack: a transform runs once per field of every record.
            let mut slots: [Option<V<'a>>; MAX_ARGS] = [None, None, None];
            if args.len() > MAX_ARGS {
                return None;
            }
            for (slot, arg) in slots.iter_mut().zip(args) {
                *slot = Some(eval(arg, value)?);
            }
            let arg = |i: usize| slots.get(i).and_then(Option::as_ref);
            let str_arg = |i: usize| match arg(i) {
                Some(V::Str(s)) => Some(s.as_ref()),
                _ => None,
            };
            let int_arg = |i: usize| match arg(i) {
                Some(V::Int(n)) => Some(*n),
                _ => None,
            };
            let owned = |s: String| Some(V::Str(Cow::Owned(s)));
            match (name.as_str(), args.len()) {
                ("lower", 1) => owned(str_arg(0)?.to_lowercase()),
                ("upper", 1) => owned(str_arg(0)?.to_uppercase()),
                ("trimmed", 1) => owned(str_arg(0)?.trim().to_string()),
                ("strip_accents", 1) => owned(strip_accents(str_arg(0)?)),
                ("string", 1) => text(arg(0)?).map(V::Str),
                ("parse_number", 1) => number(arg(0)?).map(V::Float),
                ("round", 1) => Some(V::Float(round_to(number(arg(0)?)?, 0))),
                ("round", 2) => Some(V::Float(round_to(number(arg(0)?)?, int_arg(1)?))),
                ("format_number", 2) => owned(format!(
                    "{:.*}",
                    int_arg(1)?.clamp(0, 12) as usize,
                    number(arg(0)?)?
                )),
                ("pad_left" | "pad_right", 3) => {
                    let s = text(arg(0)?)?;
                    let len = int_arg(1)?.clamp(0, 10_000) as usize;
                    let fill = str_arg(2)?.chars().next().unwrap_or(' ');
                    let have = s.chars().count();
                    if have >= len {
                        return Some(V::Str(s));
                    }
                    let padding: String = std::iter::repeat_n(fill, len - have).collect();
                    owned(if name == "pad_left" {
                        format!("{padding}{s}")
                    } else {
                        format!("{s}{padding}")
                    })
                }
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::script::{
        Script, ScriptLimits, VALUE_VAR, sandboxed_engine, to_dynamic, to_json,
    };
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn parses_the_subset_and_refuses_the_rest() {
        assert!(NativeExpr::parse("round(parse_number(value) / 1.21, 2)").is_some());
        assert!(NativeExpr::parse("lower(value)").is_some());
        for other in [
            "record.x",
            "value.len()",
            "if value { 1 } else { 2 }",
            "1e3",
            "\"a\\n\"",
            "value == 1",
            "lookup(\"m\", value)",
            "-value",
            "round(value",
        ] {
            assert!(NativeExpr::parse(other).is_none(), "{other}");
        }
    }

    /// For every expression × value: when the fast path answers, Rhai gives the same answer.
    #[test]
    fn native_agrees_with_rhai() {
        let engine = sandboxed_engine(&ScriptLimits::default(), Default::default());
        let exprs = [
            "lower(value)",
            "upper(value)",
            "trimmed(value)",
            "strip_accents(value)",
            "string(value)",
            "parse_number(value)",
            "round(value)",
            "round(parse_number(value) / 1.21, 2)",
            "format_number(value, 2)",
            "pad_left(value, 9, \"0\")",
            "pad_right(value, 5, \".\")",
            "value + 1",
            "value * 2",
            "value - 1.5",
            "value / 2",
            "value + \"x\"",
            "\"WEB\" + pad_left(value, 6, \"0\")",
            "(value + 2) * 3",
            "value / 0.0",
            "round(value * 100) / 100",
            "string(value) + \"-\" + string(42)",
            "parse_number(value) * 1.21 - 3",
        ];
        let values = [
            json!("Chloé Müller "),
            json!("1.234,50"),
            json!("12.5"),
            json!(42),
            json!(-7),
            json!(2.5),
            json!(""),
            json!("abc"),
            json!(9_223_372_036_854_775_807i64),
            json!(null),
            json!(true),
        ];
        let mut answered = 0;
        for src in exprs {
            let native = NativeExpr::parse(src).unwrap_or_else(|| panic!("{src} should parse"));
            let script = Script::compile(&engine, src, false).unwrap();
            for v in &values {
                let Some(fast) = native.eval(v) else { continue };
                answered += 1;
                let mut scope = rhai::Scope::new();
                scope.push(VALUE_VAR, to_dynamic(v));
                let slow = script
                    .eval(&engine, &mut scope, Duration::from_secs(1))
                    .map(|d| to_json(d).unwrap());
                assert_eq!(Some(&fast), slow.as_ref().ok(), "{src} with {v}");
            }
        }
        assert!(answered > 100, "fast path answered only {answered} cases");
    }
}
