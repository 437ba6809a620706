//! Commands that operate the service's state: stored flows, triggers, schedules, the error
//! queue and replay, incremental cursors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use ferry_engine::run::cursor::CursorValue;
use ferry_engine::runtime::Runtime;
use ferry_engine::store::RunStatus;

use super::service::import_flows;

/// `ferry flows …`
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Store flow files (or directories of them) so the service runs them; sets schedules.
    Import {
        /// Flow files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List stored flows with their webhook address.
    List,
}

/// `ferry cursor …`
#[derive(Debug, Subcommand)]
pub enum CursorCommand {
    /// Show a flow's incremental cursor.
    Show {
        /// Flow id.
        flow: String,
    },
    /// Move the cursor (back) to a date (`2026-11-01T00:00:00Z`) or id; the next run reads
    /// from there.
    Set {
        /// Flow id.
        flow: String,
        /// RFC 3339 date or number.
        value: String,
    },
    /// Forget the cursor: the next run reads from the flow's `start`, or everything.
    Reset {
        /// Flow id.
        flow: String,
    },
}

/// `ferry flows import|list`
pub async fn flows(rt: &Runtime, command: FlowsCommand) -> anyhow::Result<ExitCode> {
    match command {
        FlowsCommand::Import { paths } => {
            import_flows(rt, &paths).await?;
        }
        FlowsCommand::List => {
            let flows = rt.store.list_flows().await?;
            if flows.is_empty() {
                println!("No flows stored. Store one with `ferry flows import FILE`.");
            }
            for f in flows {
                let hook = Runtime::webhook_trigger(&f)
                    .map(|_| format!("  webhook: /hooks/{}/{}", f.id, f.webhook_token))
                    .unwrap_or_default();
                println!(
                    "{:<32} {:<8} {}{hook}",
                    f.id,
                    if f.enabled { "enabled" } else { "disabled" },
                    &f.version[..12.min(f.version.len())]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry trigger FLOW`: queues a run; with `--wait`, waits for a worker to finish it.
pub async fn trigger(
    rt: &Runtime,
    flow: &str,
    input: Option<&PathBuf>,
    wait: bool,
    count: u32,
) -> anyhow::Result<ExitCode> {
    let inputs = match input {
        Some(path) => {
            let text = super::read_input(path)?;
            match serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?
            {
                serde_json::Value::Array(items) => items.iter().map(|v| v.to_string()).collect(),
                one => vec![one.to_string()],
            }
        }
        None => Vec::new(),
    };
    if count > 1 {
        let started = std::time::Instant::now();
        for _ in 0..count {
            rt.trigger(flow, "manual", &inputs).await?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{count} runs queued for flow {flow} in {secs:.2} s ({:.0} runs/s).",
            f64::from(count) / secs
        );
        return Ok(ExitCode::SUCCESS);
    }
    let run_id = rt.trigger(flow, "manual", &inputs).await?;
    println!("Run {run_id} queued for flow {flow}.");
    if wait {
        return wait_for_run(rt, run_id).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Polls a run until it finishes; exit code 1 unless it succeeded.
pub async fn wait_for_run(rt: &Runtime, run_id: i64) -> anyhow::Result<ExitCode> {
    loop {
        let run = rt
            .store
            .get_run(run_id)
            .await?
            .with_context(|| format!("run {run_id} disappeared"))?;
        if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
            super::print_run_list(std::slice::from_ref(&run));
            return Ok(if run.status == RunStatus::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `ferry schedules`: flow, task, start, interval, last run, next run, running.
pub async fn schedules(rt: &Runtime) -> anyhow::Result<ExitCode> {
    let rows = ferry_engine::http::schedule_rows(rt).await?;
    if rows.is_empty() {
        println!("No schedules. A flow with a `schedule` trigger gets one when imported.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<9} {:<24} {:<28} {:<24} {:<24} running",
        "flow", "task", "start", "interval", "last run", "next run"
    );
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    for r in rows {
        let last = match (r["last_run_at"].as_str(), r["last_run_id"].as_i64()) {
            (Some(at), Some(id)) => format!("{at} (#{id})"),
            _ => "-".into(),
        };
        println!(
            "{:<28} {:<9} {:<24} {:<28} {:<24} {:<24} {}",
            text(&r["flow_id"]),
            "run",
            text(&r["start"]),
            text(&r["interval"]),
            last,
            text(&r["next_run_at"]),
            if r["running"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry failed FLOW`: the error queue.
pub async fn failed(rt: &Runtime, flow: &str, limit: i64) -> anyhow::Result<ExitCode> {
    let failed = rt.store.failed_records(flow, limit).await?;
    if failed.is_empty() {
        println!("No failed records for {flow}.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:>6} {:>6} {:<24} error",
        "key", "run", "seq", "failed at"
    );
    for f in &failed {
        let parked = match &f.retry_at {
            Some(at) => format!(" [parked: retried automatically at {at}]"),
            None => String::new(),
        };
        println!(
            "{:<20} {:>6} {:>6} {:<24} {}{parked}",
            f.business_key,
            f.run_id,
            f.seq,
            f.failed_at,
            f.error.as_deref().unwrap_or("-")
        );
    }
    println!(
        "{} failed record(s). Replay: ferry replay {flow} --all, or --key KEY",
        failed.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ferry replay FLOW --all | --key K…`
pub async fn replay(
    rt: &Runtime,
    flow: &str,
    keys: &[String],
    all: bool,
    wait: bool,
) -> anyhow::Result<ExitCode> {
    if keys.is_empty() && !all {
        bail!("say which records: --key KEY (repeatable) or --all");
    }
    let keys = (!keys.is_empty()).then_some(keys);
    match rt.replay(flow, keys).await? {
        Some((run_id, n)) => {
            println!("Run {run_id} queued: replaying {n} failed record(s) of {flow}.");
            if wait {
                return wait_for_run(rt, run_id).await;
            }
        }
        None => println!("Nothing to replay: no failed record matches."),
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry cursor show|set|reset`
pub async fn cursor(rt: &Runtime, command: CursorCommand) -> anyhow::Result<ExitCode> {
    match command {
        CursorCommand::Show { flow } => match rt.store.load_cursor(&flow).await? {
            Some(value) => println!("{flow}: {value}"),
            None => println!("{flow}: no cursor (the next run reads from the start)"),
        },
        CursorCommand::Set { flow, value } => {
            let json = serde_json::from_str(&value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            let parsed = CursorValue::parse(&json)
                .with_context(|| format!("`{value}` is neither an RFC 3339 date nor a number"))?;
            rt.store
                .save_cursor(&flow, &parsed.to_json().to_string())
                .await?;
            println!("{flow}: cursor set to {}", parsed.to_json());
        }
        CursorCommand::Reset { flow } => {
            rt.store.delete_cursor(&flow).await?;
            println!("{flow}: cursor removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
