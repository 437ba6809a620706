//! `ferry connection add | update | list | show | remove | test`: a tenant's stored
//! connections. Credentials are given like any config field and split off by the connector's
//! declarations; every output shows them as `"<set>"`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use ferry_engine::connector::ConnectorContext;
use ferry_engine::credential::{ConnectionError, Connections, NewConnection};
use serde_json::{Map, Value};

/// The tenant of commands that do not name one.
pub const DEFAULT_TENANT: &str = "default";

/// What a connection command changes: a config file and `--set` pairs, in that order.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// JSON file with the config (credentials included); `-` reads standard input.
    /// `${VAR}` placeholders are resolved from the environment.
    #[arg(long)]
    config: Option<PathBuf>,
    /// One field, `key=value` or `auth.token=value` (dot path). The value is JSON when it
    /// parses as JSON and is not a credential, else text. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// `ferry connection …`
#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Store a new connection.
    Add {
        /// Tenant it belongs to.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// Name flows refer to (`"stored": "NAME"`).
        name: String,
        /// Connector kind (`ferry connectors` lists them).
        #[arg(long)]
        connector: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Change a connection: the fields given replace the stored ones (`null` removes one);
    /// credentials not given are kept.
    Update {
        /// Tenant it belongs to.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// Connection name.
        name: String,
        /// New connector kind.
        #[arg(long)]
        connector: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List a tenant's connections.
    List {
        /// Tenant.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
    /// Show one connection (credentials as "<set>").
    Show {
        /// Tenant.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// Connection name.
        name: String,
    },
    /// Delete a connection.
    Remove {
        /// Tenant.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// Connection name.
        name: String,
    },
    /// Check that the system answers and accepts the credentials.
    Test {
        /// Tenant.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// Connection name.
        name: String,
    },
}

/// Runs `ferry connection …`.
pub async fn connection(
    command: ConnectionCommand,
    conns: &Connections,
) -> anyhow::Result<ExitCode> {
    match command {
        ConnectionCommand::Add {
            tenant,
            name,
            connector,
            config,
        } => {
            let config = config.build(&connector)?;
            let view = conns
                .create(
                    &tenant,
                    &NewConnection {
                        name,
                        connector,
                        config,
                    },
                )
                .await?;
            println!(
                "Stored connection `{}` for tenant `{}` ({} credential(s) encrypted with key {}).",
                view.name,
                view.tenant,
                view.credentials.len(),
                view.key_id
            );
        }
        ConnectionCommand::Update {
            tenant,
            name,
            connector,
            config,
        } => {
            let kind = match &connector {
                Some(kind) => kind.clone(),
                None => conns.get(&tenant, &name).await?.connector,
            };
            let patch = config.build(&kind)?;
            let view = conns
                .update(&tenant, &name, connector.as_deref(), &patch)
                .await?;
            println!(
                "Updated connection `{}` of tenant `{}`.",
                view.name, view.tenant
            );
        }
        ConnectionCommand::List { tenant } => {
            let views = conns.list(&tenant).await?;
            if views.is_empty() {
                println!(
                    "Tenant `{tenant}` has no stored connections. Add one with `ferry connection add --tenant {tenant} NAME --connector KIND --set key=value`."
                );
            } else {
                println!(
                    "{:<24} {:<14} {:<40} UPDATED",
                    "NAME", "CONNECTOR", "CREDENTIALS"
                );
                for v in views {
                    let creds = v
                        .credentials
                        .iter()
                        .map(|c| format!("{c}=<set>"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    println!(
                        "{:<24} {:<14} {:<40} {}",
                        v.name, v.connector, creds, v.updated_at
                    );
                }
            }
        }
        ConnectionCommand::Show { tenant, name } => {
            let view = conns.get(&tenant, &name).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        ConnectionCommand::Remove { tenant, name } => {
            conns.delete(&tenant, &name).await?;
            println!("Removed connection `{name}` of tenant `{tenant}`.");
        }
        ConnectionCommand::Test { tenant, name } => {
            let cx = ConnectorContext::new(
                super::http_client()?,
                std::env::current_dir().unwrap_or_default(),
            );
            match conns.test(&tenant, &name, &cx).await {
                Ok(()) => println!("Connection `{name}` of tenant `{tenant}` works."),
                Err(e @ ConnectionError::TestFailed { .. }) => {
                    println!("{e}");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl ConfigArgs {
    /// The config file merged with the `--set` pairs.
    fn build(&self, kind: &str) -> anyhow::Result<Value> {
        let registry = super::registry();
        let credentials = registry
            .spec(kind)
            .map(|s| s.credentials.clone())
            .unwrap_or_default();
        let mut config = match &self.config {
            Some(path) => {
                let text = super::read_input(path)?;
                let value: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not JSON", path.display()))?;
                crate::placeholders::resolve(&value, &super::process_env)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Value::Object(Map::new()),
        };
        for pair in &self.set {
            let Some((key, text)) = pair.split_once('=') else {
                bail!("--set takes KEY=VALUE; one value has no `=`");
            };
            let segments: Vec<&str> = key.split('.').collect();
            if segments.iter().any(|s| s.is_empty()) {
                bail!("--set {key}: empty segment in the key");
            }
            let is_credential = credentials.iter().any(|path| {
                let pattern: Vec<&str> = path.split('.').collect();
                pattern.len() == segments.len()
                    && pattern
                        .iter()
                        .zip(&segments)
                        .all(|(p, s)| *p == "*" || p == s)
            });
            let value = if is_credential {
                Value::String(text.to_string())
            } else {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
            };
            set_path(&mut config, &segments, value).with_context(|| format!("--set {key}"))?;
        }
        Ok(config)
    }
}

fn set_path(config: &mut Value, segments: &[&str], value: Value) -> anyhow::Result<()> {
    let mut at = config;
    for (i, segment) in segments.iter().enumerate() {
        let Value::Object(map) = at else {
            bail!("`{}` is not an object", segments[..i].join("."));
        };
        if i + 1 == segments.len() {
            map.insert(segment.to_string(), value);
            return Ok(());
        }
        at = map
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}
