//! `ferry template`: list the stock templates, show one, and enable one for a tenant (a flow
//! file with `--out`, else a flow in the service's store).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use ferry_engine::flow::Connection;
use ferry_engine::template::{Enable, Template, find_template, load_all, parse_setting_text};

/// Where the stock templates are, for every `ferry template` command.
#[derive(Debug, clap::Args)]
pub struct TemplatesDir {
    /// Folder of template folders.
    #[arg(
        long = "templates",
        env = "FERRY_TEMPLATES",
        default_value = "flows/templates"
    )]
    pub dir: PathBuf,
}

/// `ferry template …`.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Every template: id, category, connectors, name.
    List,
    /// A template's connection slots and settings with their defaults.
    Show {
        /// Template id.
        id: String,
    },
    /// Make a tenant's flow from a template.
    Enable {
        /// Template id.
        id: String,
        /// The tenant the flow is for.
        #[arg(long)]
        tenant: String,
        /// `SLOT=NAME` binds a slot to the tenant's stored connection NAME; `SLOT=@file.json`
        /// to the connection in the file (`{"connector", "config"}`). Repeat per slot.
        #[arg(long = "connection", value_name = "SLOT=NAME")]
        connections: Vec<String>,
        /// `KEY=VALUE` replaces a setting's default (lists as `a,b` or JSON, value maps as
        /// JSON). Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Write the flow to this file (for `ferry run`) instead of the service's store.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs a `ferry template` command.
pub async fn template(
    command: TemplateCommand,
    dir: &TemplatesDir,
    db: &super::DbArgs,
) -> anyhow::Result<ExitCode> {
    let registry = super::registry();
    match command {
        TemplateCommand::List => {
            let templates = load_all(&dir.dir, Some(&registry))?;
            println!("{:<40} {:<10} {:<28} NAME", "ID", "CATEGORY", "CONNECTORS");
            for t in &templates {
                let kinds: Vec<&str> = t
                    .meta
                    .slots
                    .values()
                    .map(|s| s.connector.as_str())
                    .collect();
                println!(
                    "{:<40} {:<10} {:<28} {}",
                    t.meta.id,
                    t.meta.category.as_str(),
                    kinds.join(", "),
                    t.meta.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TemplateCommand::Show { id } => {
            let t = find(&dir.dir, &id)?;
            show(&t);
            Ok(ExitCode::SUCCESS)
        }
        TemplateCommand::Enable {
            id,
            tenant,
            connections,
            settings,
            out,
        } => {
            let t = find(&dir.dir, &id)?;
            // Stored bindings (`SLOT=NAME`) must name a connection of the slot's kind.
            let stored: BTreeMap<String, String> = connections
                .iter()
                .filter_map(|arg| arg.split_once('='))
                .filter(|(_, target)| !target.starts_with('@'))
                .map(|(slot, name)| (slot.to_string(), name.to_string()))
                .collect();
            if !stored.is_empty() {
                let problems = t
                    .check_stored(&tenant, &stored, &db.connections().await?)
                    .await?;
                if !problems.is_empty() {
                    bail!(
                        "template `{id}` cannot be enabled:\n{}",
                        problems.join("\n")
                    );
                }
            }
            let enable = Enable {
                tenant,
                connections: bindings(&t, &connections)?,
                settings: setting_values(&t, &settings)?,
            };
            let flow = t.instantiate(&enable)?;
            let text = serde_json::to_string_pretty(&flow)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n"))
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("wrote {} ({})", flow.id, path.display());
                }
                None => {
                    let rt = db.runtime().await?;
                    let name = format!("template {id}");
                    let record = rt
                        .import_flow(&text, &name, &t.dir, |flow, text| {
                            ferry_engine::flow::validate(flow, Some(&registry), Some(text))
                                .iter()
                                .map(|issue| format!("{name}:{issue}"))
                                .collect()
                        })
                        .await?;
                    println!("enabled {} for tenant {}", record.id, enable.tenant);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn find(root: &Path, id: &str) -> anyhow::Result<Template> {
    match find_template(root, id, Some(&super::registry()))? {
        Some(t) => Ok(t),
        None => bail!(
            "no template `{id}` in {} (`ferry template list` shows them)",
            root.display()
        ),
    }
}

fn show(t: &Template) {
    println!("{} — {}", t.meta.id, t.meta.name);
    println!("category: {}", t.meta.category.as_str());
    println!("{}\n", t.meta.description);
    println!("connection slots:");
    for (name, slot) in &t.meta.slots {
        println!("  {name:<12} {:<14} {}", slot.connector, slot.description);
    }
    println!("\nsettings:");
    for (name, spec) in &t.meta.settings {
        let default = match &spec.default {
            Some(v) => v.to_string(),
            None => t
                .flow
                .value_maps
                .get(name)
                .and_then(|m| serde_json::to_string(m).ok())
                .unwrap_or_default(),
        };
        println!("  {name} ({}) = {default}", spec.kind.as_str());
        if let Some(allowed) = &spec.allowed {
            let choices: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
            println!("      one of {}", choices.join(", "));
        }
        println!("      {}", spec.description);
    }
}

/// `SLOT=NAME` (a stored connection) or `SLOT=@file.json` (an inline one).
fn bindings(t: &Template, given: &[String]) -> anyhow::Result<BTreeMap<String, Connection>> {
    let mut out = BTreeMap::new();
    for arg in given {
        let Some((slot, target)) = arg.split_once('=') else {
            bail!("--connection {arg}: expected SLOT=NAME or SLOT=@file.json");
        };
        let connection = if let Some(file) = target.strip_prefix('@') {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--connection {slot}: reading {file}"))?;
            serde_json::from_str(&text)
                .with_context(|| format!("--connection {slot}: {file} is not a connection ({{\"connector\", \"config\"}})"))?
        } else {
            t.stored_binding(slot, target)
        };
        out.insert(slot.to_string(), connection);
    }
    Ok(out)
}

/// `KEY=VALUE` read by each setting's type; unknown keys are left for `instantiate` to report.
fn setting_values(
    t: &Template,
    given: &[String],
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for arg in given {
        let Some((key, text)) = arg.split_once('=') else {
            bail!("--set {arg}: expected KEY=VALUE");
        };
        let value = match t.meta.settings.get(key) {
            Some(spec) => {
                parse_setting_text(spec, text).map_err(|e| anyhow::anyhow!("--set {key}: {e}"))?
            }
            None => serde_json::Value::String(text.to_string()),
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}
