//! `ferry validate`: every problem of every file, then a verdict. Warnings (what is valid but
//! breaks later) are printed too and do not change the verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferry_engine::flow::load::{DocPath, locate};
use ferry_engine::flow::{Flow, FlowLoadError, load_flow, validate};

/// Connectors whose vendor replaces the refresh token at every refresh and refuses the old one
/// (Exact Online, Visma eAccounting). Only a stored connection keeps the new one.
const ROTATED_REFRESH_TOKEN: [&str; 2] = ["exact_online", "eaccounting"];

/// Validates each file; exit code 1 when any has problems.
pub fn validate_files(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let registry = super::registry();
    let mut bad = 0;
    for path in files {
        match load_flow(path) {
            Err(e @ FlowLoadError::Syntax { .. }) | Err(e @ FlowLoadError::Io { .. }) => {
                println!("{e}");
                bad += 1;
            }
            Ok((flow, text)) => {
                let issues = validate(&flow, Some(&registry), Some(&text));
                for issue in &issues {
                    println!("{}:{issue}", path.display());
                }
                for warning in warnings(path, &flow, &text) {
                    println!("{warning}");
                }
                if issues.is_empty() {
                    println!(
                        "{}: ok (flow `{}`, {} step(s))",
                        path.display(),
                        flow.id,
                        flow.steps.len()
                    );
                } else {
                    bad += 1;
                }
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What is valid in `flow` but will break later: a refresh token written in the flow file for a
/// vendor that rotates it. The first refresh replaces it; the new one lives only in the
/// process, and the next process presents the old one and is refused.
fn warnings(file: &Path, flow: &Flow, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, connection) in &flow.connections {
        let kind = connection.connector.as_str();
        if !ROTATED_REFRESH_TOKEN.contains(&kind)
            || connection.config.get("refresh_token").is_none()
        {
            continue;
        }
        let path = DocPath::default()
            .key("connections")
            .key(name)
            .key("config")
            .key("refresh_token");
        let at = locate(text, &path)
            .map(|(line, column)| format!("{line}:{column}: "))
            .unwrap_or_default();
        let why = match &connection.stored {
            Some(stored) => format!(
                "overrides the refresh token of stored connection `{stored}`: `{kind}` rotates it at every refresh and Ferry keeps the new one in the stored connection, but this value wins again in the next process, which the vendor then refuses; remove it from the flow"
            ),
            None => format!(
                "`{kind}` rotates the refresh token at every refresh; written in the flow file, the new one cannot be kept and the next process is refused (`invalid_grant`); store the connection (`ferry connection add --tenant TENANT {name} --connector {kind} …`) and name it with `\"stored\": \"{name}\"`"
            ),
        };
        out.push(format!("{}:{at}warning: {path}: {why}", file.display()));
    }
    out
}
