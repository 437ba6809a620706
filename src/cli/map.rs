//! `ferry map` and `ferry jsonpath`: the integrator's playground. Both use the engine's own
//! compiled mapper and JSONPath module, so they behave exactly as a run does.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferry_engine::expr::JsonPath;
use ferry_engine::plan::Processed;
use serde_json::{Value, json};

/// Parses sample input: a JSON array (each element), a JSON object, or NDJSON.
pub fn parse_records(text: &str) -> anyhow::Result<Vec<Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => Ok(vec![other]),
        Err(whole) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).with_context(|| {
                    format!("input is neither JSON ({whole}) nor NDJSON: line {}", i + 1)
                })
            })
            .collect(),
    }
}

/// Maps each input record and prints the result with per-field errors.
pub fn map_file(flow_path: &Path, input: &Path) -> anyhow::Result<ExitCode> {
    let (_, compiled) = super::load_checked(flow_path)?;
    let records = parse_records(&super::read_input(input)?)?;
    let mut failed = 0;
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let key = compiled.key_of(&record);
        results.push(match compiled.process(&record) {
            Ok(Processed::Output(out)) => json!({"key": key, "outcome": "mapped", "output": out}),
            Ok(Processed::Filtered { step_id, reason }) => json!({"key": key, "outcome": "filtered", "step": step_id, "reason": reason}),
            Err(failure) => {
                failed += 1;
                let errors: Vec<Value> = failure.errors.iter().map(|e| json!({"field": e.field, "message": e.message})).collect();
                json!({"key": key, "outcome": "failed", "step": failure.step_id, "errors": errors, "partial_output": failure.partial})
            }
        });
    }
    let printed = if results.len() == 1 {
        results.remove(0)
    } else {
        Value::Array(results)
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints the nodes `query` selects in the JSON `file` as one array.
pub fn jsonpath(query: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let path = match JsonPath::parse(query) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let doc: Value = serde_json::from_str(&super::read_input(file)?)
        .with_context(|| format!("{} is not JSON", file.display()))?;
    let nodes: Vec<&Value> = path.select(&doc);
    println!("{}", serde_json::to_string_pretty(&nodes)?);
    Ok(ExitCode::SUCCESS)
}
