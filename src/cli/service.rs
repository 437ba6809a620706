//! `ferry serve` (HTTP server, scheduler and workers in one process) and `ferry worker`
//! (workers only), and the runtime both build on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use ferry_engine::alert::Alerter;
use ferry_engine::connector::ConnectorInstance;
use ferry_engine::credential::Connections;
use ferry_engine::flow::Flow;
use ferry_engine::runtime::{Connect, Runtime, RuntimeSettings, run_loops, run_workers};
use tracing::{info, warn};

/// How long a stopping process waits for its runs to finish what they read and give the rest
/// back to the queue.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Options shared by `serve` and `worker`.
#[derive(Debug, clap::Args)]
pub struct RuntimeArgs {
    /// Concurrent runs in this process.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds a run stays this process's without a renewal; a killed process's runs are
    /// resumed by another about this long after the kill.
    #[arg(long, env = "FERRY_LEASE_SECS", default_value_t = 15)]
    pub lease_secs: u64,
    /// Days record payloads are kept (run summaries stay).
    #[arg(long, env = "FERRY_RETENTION_DAYS", default_value_t = 14)]
    pub retention_days: u32,
    /// Address of Ferry as people reach it, for links to runs in alerts.
    #[arg(long, env = "FERRY_BASE_URL", default_value = "http://localhost:8080")]
    pub base_url: String,
    #[command(flatten)]
    pub smtp: Option<super::alerts::SmtpArgs>,
}

impl Default for RuntimeArgs {
    fn default() -> Self {
        RuntimeArgs {
            concurrency: 4,
            lease_secs: 15,
            retention_days: 14,
            base_url: "http://localhost:8080".into(),
            smtp: None,
        }
    }
}

impl RuntimeArgs {
    /// The runtime's settings; alert webhooks go out through `http` (the demo's may reach its
    /// mock, which takes them).
    fn settings(&self, http: reqwest::Client) -> anyhow::Result<RuntimeSettings> {
        let smtp = match &self.smtp {
            Some(args) => args.settings()?,
            None => None,
        };
        Ok(RuntimeSettings {
            lease: Duration::from_secs(self.lease_secs.max(1)),
            concurrency: self.concurrency.max(1),
            retention_days: self.retention_days,
            alerter: Some(Alerter::new(smtp, http, &self.base_url)),
            ..RuntimeSettings::default()
        })
    }
}

/// Connections built by this binary's registry: inline configs with secrets from the
/// environment (after `overrides`: the demo's mock URL, without changing the process
/// environment), and the tenants' stored connections.
pub struct EnvConnect {
    http: reqwest::Client,
    overrides: std::collections::BTreeMap<String, String>,
    connections: Option<Connections>,
}

impl EnvConnect {
    fn lookup(&self, var: &str) -> Option<String> {
        self.overrides
            .get(var)
            .cloned()
            .or_else(|| super::process_env(var))
    }
}

#[async_trait]
impl Connect for EnvConnect {
    async fn connect(
        &self,
        flow: &Flow,
        name: &str,
        base_dir: &Path,
    ) -> anyhow::Result<Arc<dyn ConnectorInstance>> {
        let with = super::ConnectWith {
            http: &self.http,
            env: &|var| self.lookup(var),
            connections: self.connections.as_ref(),
        };
        super::connect(flow, name, base_dir, with).await
    }

    fn resolve(&self, text: &str) -> Result<String, String> {
        match crate::placeholders::resolve(&serde_json::Value::String(text.into()), &|var| {
            self.lookup(var)
        })? {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("not a string".into()),
        }
    }
}

/// Opens the runtime on `url` with this binary's connectors; runs that use stored connections
/// need `connections`.
pub async fn open_runtime(
    url: &str,
    args: &RuntimeArgs,
    connections: Option<Connections>,
) -> anyhow::Result<Arc<Runtime>> {
    open_runtime_with(url, args, connections, None).await
}

/// [`open_runtime`] for the demo: its mock's URL wins over the environment, and the outbound
/// guard lets runs reach the mock's (loopback) address.
async fn open_runtime_with(
    url: &str,
    args: &RuntimeArgs,
    connections: Option<Connections>,
    demo: Option<&crate::demo::mock::Mock>,
) -> anyhow::Result<Arc<Runtime>> {
    let (http, overrides) = match demo {
        Some(mock) => (
            super::http_client_allowing(mock.addr.ip())?,
            [(crate::demo::DEMO_URL_VAR.to_string(), mock.url.clone())].into(),
        ),
        None => (super::http_client()?, Default::default()),
    };
    let settings = args.settings(http.clone())?;
    let connect = Arc::new(EnvConnect {
        http,
        overrides,
        connections,
    });
    Runtime::open(url, connect, settings)
        .await
        .with_context(|| format!("opening the store and queue at {url}"))
}

/// Imports every flow file given (files, or directories of `*.json`).
pub async fn import_flows(rt: &Runtime, paths: &[PathBuf]) -> anyhow::Result<usize> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let dir = file
            .parent()
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
            .unwrap_or_default();
        let registry = super::registry();
        let name = file.display().to_string();
        let record = rt
            .import_flow(&text, &name, &dir, |flow, text| {
                ferry_engine::flow::validate(flow, Some(&registry), Some(text))
                    .iter()
                    .map(|issue| format!("{name}:{issue}"))
                    .collect()
            })
            .await?;
        println!("imported {} ({})", record.id, file.display());
    }
    Ok(files.len())
}

/// What `ferry serve` serves, besides the runtime.
pub struct Serving<'a> {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Flow files or folders imported at start.
    pub flows: &'a [PathBuf],
    /// Folder of the stock templates.
    pub templates: &'a Path,
    /// Folder of the built web UI.
    pub ui_dir: &'a Path,
    /// Start the demo's mock and tenant too.
    pub demo: bool,
}

/// `ferry serve`: HTTP server, scheduler, reaper and workers until SIGTERM or Ctrl-C.
pub async fn serve(
    db: &super::DbArgs,
    serving: &Serving<'_>,
    args: &RuntimeArgs,
) -> anyhow::Result<ExitCode> {
    let Serving {
        listen,
        flows,
        templates,
        ui_dir,
        demo,
    } = *serving;
    // The demo's mock shop and ERP live as long as the service.
    let mock = match demo {
        true => Some(crate::demo::start_mock().await?),
        false => None,
    };
    let connections = db.connections().await?;
    let rt = open_runtime_with(
        &db.database_url,
        args,
        Some(connections.clone()),
        mock.as_ref(),
    )
    .await?;
    import_flows(&rt, flows).await?;
    super::accounts::bootstrap_admin(&rt).await?;
    if let Some(mock) = &mock {
        crate::demo::set_up_service(&rt, mock).await?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    if !super::ui::is_built(ui_dir) {
        println!(
            "No web UI in {}: build it with `npm ci && npm run build` in ui/ (or --ui-dir DIR).",
            ui_dir.display()
        );
    }
    println!(
        "Ferry is serving on http://{} (worker {}); Ctrl-C stops it.",
        listener.local_addr()?,
        rt.worker_id
    );
    // "Test connection" may reach the demo's mock, like the demo's runs do.
    let test_http = match &mock {
        Some(mock) => super::http_client_allowing(mock.addr.ip())?,
        None => super::http_client()?,
    };
    let server = {
        let rt = rt.clone();
        let state =
            ferry_engine::http::AppState::new(rt.clone(), Some(Arc::new(super::registry())))
                .with_connections(connections, test_http)
                .with_templates(templates.to_path_buf());
        let app = super::ui::with_ui(ferry_engine::http::router_with(state), ui_dir);
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { rt.stopped().await })
                .await
        })
    };
    let loops = tokio::spawn(run_loops(rt.clone(), true));
    let workers = tokio::spawn(run_workers(rt.clone()));
    wait_for_signal().await;
    stop(&rt, workers).await;
    let _ = loops.await;
    let _ = server.await;
    Ok(ExitCode::SUCCESS)
}

/// `ferry worker`: workers and the reaper only (no HTTP, no scheduler).
pub async fn worker(db: &super::DbArgs, args: &RuntimeArgs) -> anyhow::Result<ExitCode> {
    let connections = db.connections().await?;
    let rt = open_runtime(&db.database_url, args, Some(connections)).await?;
    println!("Ferry worker {} started; Ctrl-C stops it.", rt.worker_id);
    let loops = tokio::spawn(run_loops(rt.clone(), false));
    let workers = tokio::spawn(run_workers(rt.clone()));
    wait_for_signal().await;
    stop(&rt, workers).await;
    let _ = loops.await;
    Ok(ExitCode::SUCCESS)
}

async fn stop(rt: &Runtime, workers: tokio::task::JoinHandle<anyhow::Result<()>>) {
    info!("Stopping: finishing what was read and giving the rest back to the queue.");
    rt.shutdown();
    let drained = async {
        let stopped = workers.await;
        rt.drained().await;
        stopped
    };
    match tokio::time::timeout(SHUTDOWN_GRACE, drained).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!(error = %e, "Worker stopped with an error."),
        Ok(Err(e)) => warn!(error = %e, "Worker task failed."),
        Err(_) => warn!(
            "Runs still busy after {} s; their leases expire and another worker resumes them.",
            SHUTDOWN_GRACE.as_secs()
        ),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
