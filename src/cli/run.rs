//! `ferry run`: execute a flow now, with live counts on a terminal and a summary at the end.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ferry_engine::credential::Connections;
use ferry_engine::run::{
    Progress, RunParams, RunSummary, TargetKey, execute, executor::payload_hash,
};
use ferry_engine::store::{RunCounts, RunStatus, Store};
use indicatif::{ProgressBar, ProgressStyle};

/// Runs the flow at `path`; exit code 1 when records failed or the run stopped early.
pub async fn run_flow(
    path: &Path,
    store: &Arc<dyn Store>,
    connections: &Connections,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let http = super::http_client()?;
    let with = super::ConnectWith {
        http: &http,
        env: &super::process_env,
        connections: Some(connections),
    };
    let summary = run_file(path, store, "manual", quiet, with).await?;
    print_summary(&summary);
    Ok(if summary.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Loads, connects and executes a flow file. Shared by `run` and `demo`.
pub async fn run_file(
    path: &Path,
    store: &Arc<dyn Store>,
    trigger: &str,
    quiet: bool,
    with: super::ConnectWith<'_>,
) -> anyhow::Result<RunSummary> {
    let (flow, compiled) = super::load_checked(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let source = super::connect(&flow, &flow.source.connection, &dir, with).await?;
    let target = super::connect(&flow, &flow.target.connection, &dir, with).await?;
    let progress = Arc::new(Progress::default());
    // Ctrl-C stops reading; what was read is still sent and logged, and the run is closed.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Interrupted: finishing the records already read…");
            let _ = stop_tx.send(true);
        }
    });
    let params = RunParams {
        run_id: None,
        records: None,
        store: store.clone(),
        flow_version: payload_hash(&serde_json::to_string(&flow)?),
        flow: Arc::new(compiled),
        source,
        target,
        target_key: TargetKey::of(&flow, &|text| match crate::placeholders::resolve(
            &serde_json::Value::String(text.into()),
            with.env,
        )? {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("not a string".into()),
        }),
        trigger: trigger.to_string(),
        progress: progress.clone(),
        stop,
        fence: ferry_engine::run::Fence::none(),
        claim: None,
    };
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| live_bar(progress.clone()));
    let summary = execute(params).await;
    interrupt.abort();
    let summary = summary?;
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    Ok(summary)
}

fn counts_line(c: &RunCounts) -> String {
    format!(
        "read {} · created {} · updated {} · skipped {} · filtered {} · failed {}",
        c.read, c.created, c.updated, c.skipped, c.filtered, c.failed
    )
}

fn live_bar(progress: Arc<Progress>) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let shown = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            shown.set_message(counts_line(&progress.snapshot()));
            shown.tick();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (bar, ticker)
}

/// Prints how a run ended and where to look next.
pub fn print_summary(s: &RunSummary) {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.counts.read as f64 / secs
    } else {
        0.0
    };
    println!(
        "Run {} {} in {:.2} s ({:.0} records/s)",
        s.run_id,
        s.status.as_str(),
        secs,
        rate
    );
    println!("  {}", counts_line(&s.counts));
    if let Some(error) = &s.error {
        println!("  stopped early: {error}");
    }
    if s.counts.failed > 0 {
        println!(
            "  failed records: ferry runs show {} --outcome failed",
            s.run_id
        );
    }
}
