//! The master key (where it comes from) and `ferry key generate | rotate`.
//!
//! Order: `FERRY_MASTER_KEY` (base64 of 32 bytes), then `--master-key-file` /
//! `FERRY_MASTER_KEY_FILE`, then — for a SQLite database only — `master.key` beside the
//! database file, created (mode 0600) on first use so `ferry serve` works without set-up.
//! With Postgres and no key, stored connections can be listed but not added or used.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use ferry_engine::credential::{Connections, MasterKey};
use ferry_engine::store::{self, sqlite_path};

/// Name of the key file made beside a SQLite database.
const DEFAULT_KEY_FILE: &str = "master.key";

/// Where the master key is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// File holding the master key that encrypts stored credentials (base64 of 32 bytes).
    /// Default: `FERRY_MASTER_KEY` if set, else `master.key` beside a SQLite database
    /// (created on first use).
    #[arg(long, env = "FERRY_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

/// Where a key came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// `FERRY_MASTER_KEY`.
    Env,
    /// A file the operator named.
    File(PathBuf),
    /// The file beside the SQLite database.
    Default(PathBuf),
}

/// `FERRY_MASTER_KEY`, read here only: the key never goes on a command line.
const KEY_ENV: &str = "FERRY_MASTER_KEY";

impl KeyArgs {
    /// The master key for the database at `url`, if one is configured or can be made.
    pub fn load(&self, url: &str) -> anyhow::Result<Option<(MasterKey, KeyOrigin)>> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Ok(Some((
                MasterKey::from_base64(&text, KEY_ENV)?,
                KeyOrigin::Env,
            )));
        }
        if let Some(path) = &self.master_key_file {
            return Ok(Some((
                MasterKey::read_file(path)?,
                KeyOrigin::File(path.clone()),
            )));
        }
        let Some(path) = default_key_file(url) else {
            return Ok(None);
        };
        let (key, created) = MasterKey::read_or_create_file(&path)?;
        if created {
            eprintln!(
                "Created the master key {} (key {}); back it up: stored credentials cannot be read without it.",
                path.display(),
                key.id()
            );
        }
        Ok(Some((key, KeyOrigin::Default(path))))
    }
}

/// `master.key` beside a SQLite database; none for Postgres.
fn default_key_file(url: &str) -> Option<PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let db = sqlite_path(url);
    let dir = db.parent().map(Path::to_path_buf).unwrap_or_default();
    Some(dir.join(DEFAULT_KEY_FILE))
}

/// Opens the stored connections of the database at `url` with the configured key.
pub async fn open_connections(url: &str, keys: &KeyArgs) -> anyhow::Result<Connections> {
    let store = store::open_connection_store(url)
        .await
        .with_context(|| format!("opening the store at {url}"))?;
    connections_in(store, url, keys)
}

/// The connections stored in an opened store, with the master key of the database at `url`.
pub fn connections_in(
    store: Arc<dyn store::ConnectionStore>,
    url: &str,
    keys: &KeyArgs,
) -> anyhow::Result<Connections> {
    let key = keys.load(url)?.map(|(key, _)| key);
    Ok(Connections::new(store, key, super::registry()))
}

/// `ferry key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a new random master key (base64), for FERRY_MASTER_KEY or a key file.
    Generate,
    /// Re-encrypt every stored credential under a new key, in one transaction.
    Rotate {
        /// File with the new key (`ferry key generate > new.key`); created when missing.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

/// Runs `ferry key …`.
pub async fn key(command: KeyCommand, url: &str, keys: &KeyArgs) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Generate => {
            println!("{}", MasterKey::generate().to_base64());
        }
        KeyCommand::Rotate { new_key_file } => {
            let Some((current, origin)) = keys.load(url)? else {
                anyhow::bail!(
                    "no current master key: set FERRY_MASTER_KEY or --master-key-file to the key the credentials are stored with"
                );
            };
            let (new_key, created) = MasterKey::read_or_create_file(&new_key_file)?;
            if new_key.id() == current.id() {
                anyhow::bail!(
                    "{} holds the current key {}; give a new one",
                    new_key_file.display(),
                    current.id()
                );
            }
            let store = store::open_connection_store(url)
                .await
                .with_context(|| format!("opening the store at {url}"))?;
            let connections = Connections::new(store, Some(current.clone()), super::registry());
            let count = connections.rotate(&new_key).await?;
            println!(
                "Re-encrypted {count} connection(s) from key {} to key {}{}.",
                current.id(),
                new_key.id(),
                if created {
                    format!(" (new key written to {})", new_key_file.display())
                } else {
                    String::new()
                }
            );
            match origin {
                KeyOrigin::Default(path) => {
                    // The default file is what the next start reads: it gets the new key. The
                    // old key is kept beside it until the operator removes it.
                    let old = path.with_extension("key.old");
                    std::fs::rename(&path, &old).with_context(|| {
                        format!("moving {} to {}", path.display(), old.display())
                    })?;
                    new_key.write_new_file(&path)?;
                    println!(
                        "{} now holds the new key; the old one is in {} (delete it once backups are updated).",
                        path.display(),
                        old.display()
                    );
                }
                KeyOrigin::Env => println!(
                    "Set FERRY_MASTER_KEY to the new key (the content of {}) before starting Ferry again.",
                    new_key_file.display()
                ),
                KeyOrigin::File(path) => println!(
                    "Start Ferry with --master-key-file {} (or replace {} with it).",
                    new_key_file.display(),
                    path.display()
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
