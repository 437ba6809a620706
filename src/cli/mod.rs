//! Command-line interface: one module per command group.

mod accounts;
mod alerts;
mod connection;
mod keys;
mod map;
mod operate;
mod run;
mod runs;
mod service;
mod template;
mod ui;
mod validate;

pub use run::{print_summary, run_file};
pub(crate) use runs::{print_record_table, print_run_list};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ferry_engine::connector::{ConnectorContext, ConnectorInstance, Registry};
use ferry_engine::credential::{
    Connections, RedactingInstance, Redactor, StoredCredentials, merge_patch, secret_strings, split,
};
use ferry_engine::flow::{Flow, load_flow};
use ferry_engine::outbound::{AllowList, guard};
use ferry_engine::plan::CompiledFlow;
use ferry_engine::store::{self, Store};

/// Ferry moves business data between webshops and ERPs: flows of source → mapping steps → target.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Internal address ranges connections may reach (CIDR, comma-separated), e.g.
    /// `127.0.0.1/32,10.1.0.0/16`. Loopback, link-local, private and other internal addresses
    /// are refused otherwise.
    #[arg(
        long,
        env = "FERRY_ALLOW_NET",
        global = true,
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    allow_net: Vec<String>,
}

/// The operator's allowed ranges, set once at start (`--allow-net`).
static ALLOW_NET: OnceLock<AllowList> = OnceLock::new();

/// Where runs, the activity log and the ledger are kept.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// Database URL: a SQLite file (`sqlite://path/ferry.db`) or `postgres://…`.
    /// Default: `./ferry-data/ferry.db` under the working directory.
    #[arg(
        long,
        global = true,
        env = "FERRY_DATABASE_URL",
        default_value = "sqlite://ferry-data/ferry.db"
    )]
    database_url: String,
    #[command(flatten)]
    keys: keys::KeyArgs,
}

impl DbArgs {
    /// The store and queue, for commands that operate the service.
    async fn runtime(&self) -> anyhow::Result<Arc<ferry_engine::runtime::Runtime>> {
        service::open_runtime(&self.database_url, &service::RuntimeArgs::default(), None).await
    }

    /// The stored connections, with the master key (created beside a SQLite database).
    async fn connections(&self) -> anyhow::Result<Connections> {
        keys::open_connections(&self.database_url, &self.keys).await
    }

    async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        store::open(&self.database_url)
            .await
            .with_context(|| format!("opening the store at {}", self.database_url))
    }

    /// The store and its connections, opened once (a second pool would migrate again).
    async fn open_with_connections(&self) -> anyhow::Result<(Arc<dyn Store>, Connections)> {
        let (store, connection_store) = store::Database::open(&self.database_url)
            .await
            .with_context(|| format!("opening the store at {}", self.database_url))?
            .into_stores();
        let connections = keys::connections_in(connection_store, &self.database_url, &self.keys)?;
        Ok((store, connections))
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
    /// A tenant's stored connections: add, update, list, show, remove, test.
    Connection {
        #[command(subcommand)]
        command: connection::ConnectionCommand,
        #[command(flatten)]
        db: DbArgs,
    },
    /// The master key of stored credentials: generate one, rotate to a new one.
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
        #[command(flatten)]
        db: DbArgs,
    },
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
        /// The stock templates the API lists and enables.
        #[command(flatten)]
        templates: template::TemplatesDir,
        /// Folder of the built web UI (`npm run build` in `ui/`); without one, `/` says how to
        /// build it.
        #[arg(long, env = "FERRY_UI_DIR", default_value = ui::DEFAULT_UI_DIR)]
        ui_dir: PathBuf,
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
    /// Tenants (merchants): `ferry tenant add|list|retention`.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
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
    let allow = AllowList::parse(&cli.allow_net.join(",")).context("--allow-net")?;
    let _ = ALLOW_NET.set(allow);
    match cli.command {
        Command::Validate { flows } => validate::validate_files(&flows),
        Command::Schema { .. } => {
            let schema = schemars::schema_for!(Flow);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Map { flow, input } => map::map_file(&flow, &input),
        Command::Jsonpath { query, file } => map::jsonpath(&query, &file),
        Command::Run { flow, db, quiet } => {
            let (store, conns) = db.open_with_connections().await?;
            run::run_flow(&flow, &store, &conns, quiet).await
        }
        Command::Connection { command, db } => {
            connection::connection(command, &db.connections().await?).await
        }
        Command::Key { command, db } => keys::key(command, &db.database_url, &db.keys).await,
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
            templates,
            ui_dir,
            runtime,
            db,
        } => {
            let serving = service::Serving {
                listen,
                flows: &flows,
                templates: &templates.dir,
                ui_dir: &ui_dir,
                demo,
            };
            service::serve(&db, &serving, &runtime).await
        }
        Command::Token {
            command: TokenCommand::Create { user, name },
            db,
        } => {
            accounts::create_token(&*db.runtime().await?, &user, &name).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant { command, db } => accounts::tenant(&*db.runtime().await?, command).await,
        Command::Worker { runtime, db } => service::worker(&db, &runtime).await,
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

#[derive(Debug, clap::Subcommand)]
pub enum TenantCommand {
    /// Creates a tenant.
    Add {
        /// Stable id (`[a-z0-9_-]`), used in flows' `tenant` and `--tenant`.
        id: String,
        /// Name shown in lists (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// Tenants with their retention.
    List,
    /// Days the tenant's record payloads are kept (`default`: the installation's
    /// `--retention-days`).
    Retention {
        /// The tenant.
        id: String,
        /// A number of days, or `default`.
        days: String,
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

/// The shared HTTP client: timeouts set once for every connector, and the outbound-address
/// guard with the operator's allowed ranges (`--allow-net`).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    http_client_with(ALLOW_NET.get().cloned().unwrap_or_default())
}

/// [`http_client`] that may also reach `addr` (the demo's own mock server).
pub fn http_client_allowing(addr: IpAddr) -> anyhow::Result<reqwest::Client> {
    let mut allow = ALLOW_NET.get().cloned().unwrap_or_default();
    allow.allow_addr(addr);
    http_client_with(allow)
}

fn http_client_with(allow: AllowList) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")));
    guard(builder, allow)
        .build()
        .context("building the HTTP client")
}

/// Looks up `${VAR}` placeholders: the process environment, or a fixed set (the demo).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment as a placeholder lookup.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// What building a flow's connections needs: the HTTP client, the placeholder lookup and the
/// tenant's stored connections.
#[derive(Clone, Copy)]
pub struct ConnectWith<'a> {
    /// The guarded HTTP client.
    pub http: &'a reqwest::Client,
    /// `${VAR}` lookup for inline configs.
    pub env: EnvLookup<'a>,
    /// Stored connections (`"stored": "NAME"`), when a store is open.
    pub connections: Option<&'a Connections>,
}

/// Builds the connection named `name` of `flow`. A connection with `stored` starts from the
/// flow's tenant's stored connection (decrypted here, in memory) with the inline `config`
/// (placeholders resolved) merged over it. Errors, response bodies and acknowledgements of the
/// instance are redacted of the connection's credentials.
pub async fn connect(
    flow: &Flow,
    name: &str,
    flow_dir: &Path,
    with: ConnectWith<'_>,
) -> anyhow::Result<Arc<dyn ConnectorInstance>> {
    let connection = flow
        .connections
        .get(name)
        .with_context(|| format!("no connection named `{name}`"))?;
    let registry = registry();
    let inline = crate::placeholders::resolve(&connection.config, with.env)
        .map_err(|e| anyhow::anyhow!("connection `{name}`: {e}"))?;
    let mut secrets = Vec::new();
    let mut cx = ConnectorContext::new(with.http.clone(), flow_dir.to_path_buf());
    let config = match &connection.stored {
        Some(stored) => {
            let tenant = flow.tenant.as_deref().unwrap_or(connection::DEFAULT_TENANT);
            let conns = with.connections.with_context(|| {
                format!(
                    "connection `{name}` uses stored connection `{stored}`, but no store is open"
                )
            })?;
            let resolved = conns
                .resolve(tenant, stored)
                .await
                .map_err(|e| anyhow::anyhow!("connection `{name}`: {e}"))?;
            if resolved.connector != connection.connector {
                bail!(
                    "connection `{name}` is a `{}` connection, but stored connection `{stored}` of tenant `{tenant}` is `{}`",
                    connection.connector,
                    resolved.connector
                );
            }
            secrets = resolved.secrets.clone();
            // Credentials the vendor rotates go back to the stored connection.
            cx = cx.with_credentials(Arc::new(StoredCredentials::new(
                conns.clone(),
                tenant,
                stored.as_str(),
            )));
            let mut config = resolved.config.clone();
            match &inline {
                serde_json::Value::Null => {}
                serde_json::Value::Object(_) => merge_patch(&mut config, &inline),
                _ => bail!("connection `{name}`: `config` must be an object"),
            }
            config
        }
        None => inline,
    };
    let connector = registry
        .get(&connection.connector)
        .with_context(|| format!("unknown connector `{}`", connection.connector))?;
    if let Some(spec) = registry.spec(&connection.connector) {
        secrets.extend(secret_strings(&split(&config, &spec.credentials).1));
    }
    let redactor = Redactor::new(secrets);
    // Secrets the connector obtains while it runs (refreshed tokens) are redacted too.
    let cx = cx.with_redactor(redactor.clone());
    let instance = connector
        .build(&config, &cx)
        .await
        .map_err(|e| anyhow::anyhow!("connection `{name}`: {}", redactor.redact_error(e)))?;
    Ok(RedactingInstance::wrap(instance, redactor))
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
