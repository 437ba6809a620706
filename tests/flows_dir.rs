//! Every flow file shipped in `flows/` parses, validates against the registered connectors, and
//! compiles. Sample data lives in `data/` folders and is skipped; of a template folder only
//! `flow.json` is a flow.

use std::path::{Path, PathBuf};

use ferry_engine::flow::{load_flow, validate};
use ferry_engine::plan::{CompiledFlow, Processed};
use ferry_engine::projection::parse_projected;
use serde_json::Value;

fn flow_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.join("template.json").is_file() {
            // A template folder: its flow is a flow; the metadata and samples are checked by
            // `tests/templates.rs`.
            out.push(path.join("flow.json"));
        } else if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "data" && n != "expected" && n != "out")
            {
                flow_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_flow_in_flows_dir_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let mut files = Vec::new();
    flow_files(&root, &mut files);
    assert!(!files.is_empty(), "no flow files under {}", root.display());
    let registry = ferry_connectors::registry();
    let mut problems = Vec::new();
    for file in &files {
        match load_flow(file) {
            Err(e) => problems.push(e.to_string()),
            Ok((flow, text)) => {
                for issue in validate(&flow, Some(&registry), Some(&text)) {
                    problems.push(format!("{}:{issue}", file.display()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} flow file(s) checked:\n{}",
        files.len(),
        problems.join("\n")
    );
}

/// Records to map: the templates' sample inputs, the example data and the connectors' vendor
/// fixtures (each list's elements, and each object).
fn sample_records(root: &Path) -> Vec<(String, Value)> {
    let mut files = Vec::new();
    for dir in ["flows/templates", "connectors/src"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let folder = entry.unwrap().path();
            for sub in [folder.clone(), folder.join("fixtures")] {
                let Ok(entries) = std::fs::read_dir(&sub) else {
                    continue;
                };
                for file in entries {
                    let file = file.unwrap().path();
                    let name = file.file_name().unwrap().to_string_lossy().into_owned();
                    if name == "sample-input.json"
                        || sub.ends_with("fixtures") && name.ends_with(".json")
                    {
                        files.push(file);
                    }
                }
            }
        }
    }
    let mut records = Vec::new();
    for file in files {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut add = |v: &Value| records.push((file.display().to_string(), v.clone()));
        match &value {
            Value::Array(items) => items.iter().for_each(&mut add),
            Value::Object(map) => {
                add(&value);
                for inner in map.values() {
                    if let Value::Array(items) = inner {
                        items.iter().filter(|v| v.is_object()).for_each(&mut add);
                    }
                }
            }
            _ => {}
        }
    }
    let ndjson = std::fs::read_to_string(root.join("flows/examples/data/orders.ndjson")).unwrap();
    for line in ndjson.lines().filter(|l| !l.trim().is_empty()) {
        records.push(("orders.ndjson".into(), serde_json::from_str(line).unwrap()));
    }
    records
}

/// A source may parse only what a flow reads of each record (`ferry_engine::projection`): every
/// shipped flow must make the same of such a record as of the whole one, on real vendor payloads
/// (matching or not: a failure must read the same too).
#[test]
fn every_flow_maps_the_parts_it_reads_as_it_maps_the_whole_record() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    flow_files(&root.join("flows"), &mut files);
    let records = sample_records(root);
    assert!(records.len() > 50, "only {} sample records", records.len());
    let outcome = |result: Result<Processed, ferry_engine::plan::RecordFailure>| match result {
        Ok(processed) => format!("{processed:?}"),
        Err(failure) => format!("{failure} / {:?}", failure.partial),
    };
    let mut projected_flows = 0;
    for file in &files {
        let (flow, _) = load_flow(file).unwrap();
        let compiled = CompiledFlow::compile(&flow).unwrap();
        let projection = compiled.projection();
        if projection.is_whole() {
            continue;
        }
        projected_flows += 1;
        for (origin, record) in &records {
            let projected = parse_projected(&record.to_string(), projection).unwrap();
            assert_eq!(
                outcome(compiled.process(&projected)),
                outcome(compiled.process(record)),
                "{} on a record of {origin}",
                file.display()
            );
            assert_eq!(compiled.key_of(&projected), compiled.key_of(record));
        }
    }
    assert!(
        projected_flows >= 20,
        "only {projected_flows} flows read parts of records"
    );
}
