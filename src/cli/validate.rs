//! `ferry validate`: every problem of every file, then a verdict.

use std::path::PathBuf;
use std::process::ExitCode;

use ferry_engine::flow::{FlowLoadError, load_flow, validate};

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
