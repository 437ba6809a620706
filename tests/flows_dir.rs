//! Every flow file shipped in `flows/` parses, validates against the registered connectors, and
//! compiles. Sample data lives in `data/` folders and is skipped; of a template folder only
//! `flow.json` is a flow.

use std::path::{Path, PathBuf};

use ferry_engine::flow::{load_flow, validate};

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
