//! Command-line interface: one module per command group.

mod accounts;
mod alerts;
mod map;
mod operate;
mod run;
mod runs;
mod service;
mod template;
mod validate;

pub use run::{print_summary, run_file};
pub(crate) use runs::{print_record_table, print_run_list};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ferry_engine::connector::{ConnectorContext, ConnectorInstance, Registry};
use ferry_engine::flow::{Flow, load_flow};
use ferry_engine::plan::CompiledFlow;
use ferry_engine::store::{self, Store};

/// Ferry moves business data between webshops and ERPs: flows of source → mapping steps → target.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where runs, the activity log and the ledger are kept.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// Database URL: a SQLite file (`sqlite://path/ferry.db`) or `postgres://…`.
    /// Default: `./ferry-data/ferry.db` under the working directory.
    #[arg(
        long,
        env = "FERRY_DATABASE_URL",
        default_value = "sqlite://ferry-data/ferry.db"
    )]
    database_url: String,
}

impl DbArgs {
    /// The store and queue, for commands that operate the service.
    async fn runtime(&self) -> anyhow::Result<Arc<ferry_engine::runtime::Runtime>> {
        service::open_runtime(&self.database_url, &service::RuntimeArgs::default()).await
    }

    async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        store::open(&self.database_url)
            .await
            .with_context(|| format!("opening the store at {}", self.database_url))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check flow files; prints every problem with its line, step and field path.
    Validate {
        /// Flow files.
        #[arg(required = true)]
        flows: Vec<PathBuf>,
    },
    /// Print a JSON Schema.
    Schema {
        /// Which schema: `flow`.
        #[arg(value_parser = ["flow"])]
        what: String,
    },
    /// Show what a flow's steps make of sample records (a JSON object, a JSON array or NDJSON).
    Map {
        /// The flow file.
        flow: PathBuf,
        /// Sample input; `-` reads standard input.
        #[arg(long, short)]
        input: PathBuf,
    },
    /// Print the nodes a JSONPath query selects in a JSON file, as one JSON array.
    Jsonpath {
        /// The query, e.g. `$.line_items[*].sku`.
        query: String,
        /// JSON file; `-` reads standard input.
        file: PathBuf,
    },
    /// Run a flow now and log every record.
    Run {
        /// The flow file.
        flow: PathBuf,
        #[command(flatten)]
        db: DbArgs,
        /// No progress display, only the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List runs, or show one run's records.
    Runs {
        #[command(subcommand)]
        show: Option<runs::RunsCommand>,
        /// Only runs of this flow id.
        #[arg(long)]
        flow: Option<String>,
        /// How many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Send a test alert to a flow's alert channels, or list alert deliveries.
    Alerts {
        #[command(subcommand)]
        cmd: alerts::AlertsCommand,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the connectors this build knows and their operations.
    Connectors,
    /// Start a local mock shop and ERP, run the demo flow against them twice, and show the runs.
    Demo {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Start the service: HTTP server (webhooks, API), scheduler and workers in one process.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Flow files or directories to import at start.
        #[arg(long = "flows")]
        flows: Vec<PathBuf>,
        /// Also start the demo's mock shop and ERP, and create the `demo` tenant with a
        /// merchant user and the demo flow (one run queued).
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        runtime: service::RuntimeArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// API tokens: `ferry token create --user EMAIL` prints a new one, once.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Start workers only; with Postgres, any number of them share one queue.
    Worker {
        #[command(flatten)]
        runtime: service::RuntimeArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Stored flows: import, list.
    Flows {
        #[command(subcommand)]
        command: operate::FlowsCommand,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Queue a run of a stored flow (a worker or `ferry serve` executes it).
    Trigger {
        /// Flow id.
        flow: String,
        /// Records to process instead of reading the source (a JSON object or array).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Wait until the run finished and print it; exit code 1 unless it succeeded.
        #[arg(long)]
        wait: bool,
        /// Queue this many runs at once (load tests, benchmarks).
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Schedules: flow, task, start, interval, last run, next run, running.
    Schedules {
        #[command(flatten)]
        db: DbArgs,
    },
    /// The error queue of a flow: failed records not yet resolved.
    Failed {
        /// Flow id.
        flow: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replay failed records of a flow on its current version.
    Replay {
        /// Flow id.
        flow: String,
        /// Business key to replay (repeatable).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Every failed record of the flow.
        #[arg(long)]
        all: bool,
        /// Wait until the replay run finished.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Stock templates: list, show, enable one for a tenant.
    Template {
        #[command(subcommand)]
        command: template::TemplateCommand,
        #[command(flatten)]
        templates: template::TemplatesDir,
        #[command(flatten)]
        db: DbArgs,
    },
    /// A flow's incremental cursor: show, set (rewind), reset.
    Cursor {
        #[command(subcommand)]
        command: operate::CursorCommand,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate { flows } => validate::validate_files(&flows),
        Command::Schema { .. } => {
            let schema = schemars::schema_for!(Flow);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Map { flow, input } => map::map_file(&flow, &input),
        Command::Jsonpath { query, file } => map::jsonpath(&query, &file),
        Command::Run { flow, db, quiet } => run::run_flow(&flow, &db.open().await?, quiet).await,
        Command::Runs {
            show,
            flow,
            limit,
            db,
        } => runs::runs(show, flow.as_deref(), limit, &db.open().await?).await,
        Command::Alerts { cmd, db } => alerts::alerts(cmd, &db).await,
        Command::Connectors => {
            for kind in registry().kinds() {
                if let Some(spec) = registry().spec(kind) {
                    println!("{kind}: {}", spec.summary);
                    for op in &spec.operations {
                        println!("  {:<22} {:?}  {}", op.name, op.direction, op.summary);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { db } => crate::demo::run_demo(&db.open().await?).await,
        Command::Serve {
            listen,
            flows,
            demo,
            runtime,
            db,
        } => service::serve(&db.database_url, listen, &flows, &runtime, demo).await,
        Command::Token {
            command: TokenCommand::Create { user, name },
            db,
        } => {
            accounts::create_token(&*db.runtime().await?, &user, &name).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker { runtime, db } => service::worker(&db.database_url, &runtime).await,
        Command::Flows { command, db } => operate::flows(&*db.runtime().await?, command).await,
        Command::Trigger {
            flow,
            input,
            wait,
            count,
            db,
        } => operate::trigger(&*db.runtime().await?, &flow, input.as_ref(), wait, count).await,
        Command::Schedules { db } => operate::schedules(&*db.runtime().await?).await,
        Command::Failed { flow, limit, db } => {
            operate::failed(&*db.runtime().await?, &flow, limit).await
        }
        Command::Replay {
            flow,
            keys,
            all,
            wait,
            db,
        } => operate::replay(&*db.runtime().await?, &flow, &keys, all, wait).await,
        Command::Template {
            command,
            templates,
            db,
        } => template::template(command, &templates, &db).await,
        Command::Cursor { command, db } => operate::cursor(&*db.runtime().await?, command).await,
    }
}

/// `ferry token …`.
#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Creates an API token for a user and prints it (the only time it is shown).
    Create {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// The connectors of this build.
pub fn registry() -> Registry {
    ferry_connectors::registry()
}

/// Loads, validates and compiles a flow file; prints every issue and fails if there are any.
pub fn load_checked(path: &Path) -> anyhow::Result<(Flow, CompiledFlow)> {
    let (flow, text) = load_flow(path)?;
    let issues = ferry_engine::flow::validate(&flow, Some(&registry()), Some(&text));
    if !issues.is_empty() {
        for issue in &issues {
            eprintln!("{}:{issue}", path.display());
        }
        bail!("{} has {} problem(s)", path.display(), issues.len());
    }
    let compiled = CompiledFlow::compile(&flow)
        .map_err(|issues| anyhow::anyhow!("{} does not compile: {}", path.display(), issues[0]))?;
    Ok((flow, compiled))
}

/// The shared HTTP client: timeouts set once for every connector.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// Looks up `${VAR}` placeholders: the process environment, or a fixed set (the demo).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment as a placeholder lookup.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// Builds the connection named `name` of `flow`, with `${VAR}` placeholders resolved by `env`.
pub async fn connect(
    flow: &Flow,
    name: &str,
    flow_dir: &Path,
    http: &reqwest::Client,
    env: EnvLookup<'_>,
) -> anyhow::Result<Arc<dyn ConnectorInstance>> {
    let connection = flow
        .connections
        .get(name)
        .with_context(|| format!("no connection named `{name}`"))?;
    let registry = registry();
    let connector = registry
        .get(&connection.connector)
        .with_context(|| format!("unknown connector `{}`", connection.connector))?;
    let config = crate::placeholders::resolve(&connection.config, env)
        .map_err(|e| anyhow::anyhow!("connection `{name}`: {e}"))?;
    let cx = ConnectorContext {
        http: http.clone(),
        base_dir: flow_dir.to_path_buf(),
    };
    connector
        .build(&config, &cx)
        .await
        .map_err(|e| anyhow::anyhow!("connection `{name}`: {e}"))
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
