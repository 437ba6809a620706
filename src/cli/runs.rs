//! `ferry runs` and `ferry runs show RUN`: what runs did, record by record.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Subcommand;
use ferry_engine::store::{Outcome, RecordEntry, RecordFilter, RunRow, Store};
use serde_json::json;

/// Sub-commands of `ferry runs`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run and its records.
    Show {
        /// Run id.
        run: i64,
        /// Only records with this outcome (created, updated, skipped_unchanged, filtered, failed).
        #[arg(long)]
        outcome: Option<String>,
        /// Only records with this business key (an order number, a SKU).
        #[arg(long)]
        key: Option<String>,
        /// How many records.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print records as JSON lines with input, output and the target's response.
        #[arg(long)]
        json: bool,
    },
}

/// Lists runs or shows one.
pub async fn runs(
    cmd: Option<RunsCommand>,
    flow: Option<&str>,
    limit: i64,
    store: &Arc<dyn Store>,
) -> anyhow::Result<ExitCode> {
    let Some(RunsCommand::Show {
        run,
        outcome,
        key,
        limit,
        json,
    }) = cmd
    else {
        print_run_list(&store.list_runs(flow, limit).await?);
        return Ok(ExitCode::SUCCESS);
    };
    let Some(r) = store.get_run(run).await? else {
        bail!("no run {run}");
    };
    let outcome = match outcome.as_deref().map(str::parse::<Outcome>) {
        None => None,
        Some(Ok(o)) => Some(o),
        Some(Err(_)) => {
            bail!("unknown outcome; use created, updated, skipped_unchanged, filtered or failed")
        }
    };
    let records = store
        .run_records(
            run,
            &RecordFilter {
                outcome,
                source_key: key,
                limit,
                ..RecordFilter::default()
            },
        )
        .await?;
    if json {
        print_records_json(&records);
        return Ok(ExitCode::SUCCESS);
    }
    print_run_header(&r);
    println!();
    print_record_table(&records);
    Ok(ExitCode::SUCCESS)
}

/// Prints runs as a table, one line each (`ferry runs`).
pub(crate) fn print_run_list(runs: &[RunRow]) {
    if runs.is_empty() {
        println!("No runs yet. Start one with `ferry run FLOW`.");
        return;
    }
    println!(
        "{:>6}  {:<24} {:<10} {:<9} {:<24} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "run",
        "flow",
        "status",
        "trigger",
        "started",
        "read",
        "created",
        "updated",
        "skipped",
        "filter",
        "failed"
    );
    for r in runs {
        let c = &r.counts;
        println!(
            "{:>6}  {:<24} {:<10} {:<9} {:<24} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            r.id,
            r.flow_id,
            r.status.as_str(),
            r.trigger,
            r.started_at,
            c.read,
            c.created,
            c.updated,
            c.skipped,
            c.filtered,
            c.failed
        );
    }
}

/// Prints what a run was and how it ended (the head of `ferry runs show RUN`).
pub(crate) fn print_run_header(r: &RunRow) {
    let c = &r.counts;
    println!(
        "Run {} of flow `{}` ({}, trigger {}), version {}",
        r.id,
        r.flow_id,
        r.status.as_str(),
        r.trigger,
        r.flow_version
    );
    println!(
        "  started {}  finished {}",
        r.started_at,
        r.finished_at.as_deref().unwrap_or("-")
    );
    println!(
        "  read {} · created {} · updated {} · skipped {} · filtered {} · failed {}",
        c.read, c.created, c.updated, c.skipped, c.filtered, c.failed
    );
    if let Some(error) = &r.error {
        println!("  stopped early: {error}");
    }
}

/// Prints records as a table: key, outcome, the target's status and id, attempts, and the
/// error with the start of the target's answer.
pub(crate) fn print_record_table(records: &[RecordEntry]) {
    println!(
        "{:>6}  {:<16} {:<18} {:>6} {:<16} {:>3}  error",
        "seq", "key", "outcome", "status", "target id", "try"
    );
    for e in records {
        println!(
            "{:>6}  {:<16} {:<18} {:>6} {:<16} {:>3}  {}",
            e.seq,
            e.source_key.as_deref().unwrap_or("-"),
            e.outcome.as_str(),
            e.response_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            e.target_id.as_deref().unwrap_or("-"),
            e.attempts,
            error_with_answer(e)
        );
    }
}

/// Prints records as JSON lines with input, output and the target's response.
pub(crate) fn print_records_json(records: &[RecordEntry]) {
    for e in records {
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        };
        println!(
            "{}",
            json!({
                "seq": e.seq, "key": e.source_key, "outcome": e.outcome.as_str(), "step": e.step_id, "attempts": e.attempts,
                "input": parse(&e.input), "output": parse(&e.output),
                "response": {"status": e.response_status, "body": e.response_body, "target_id": e.target_id},
                "error": e.error,
            })
        );
    }
}

/// The error, followed by the start of the target's answer when it refused the record.
fn error_with_answer(e: &RecordEntry) -> String {
    match (&e.error, &e.response_body) {
        (Some(error), Some(body)) => {
            let short: String = body.chars().take(160).collect();
            format!("{error} — {short}")
        }
        (Some(error), None) => error.clone(),
        _ => String::new(),
    }
}
