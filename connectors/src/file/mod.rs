//! The `file` connector: records from and to a local NDJSON, CSV or JSON-array file.
//!
//! It is the simplest source and target there is, used for exports, drop folders, fixtures and
//! trying a flow out before the real system is wired in. Reads stream the file page by page
//! (module `read` keeps about one page in memory); writes append and are serialized per
//! connection so concurrent batches never interleave.
//!
//! Errors: a missing file or directory is [`ConnectorError::NotConnected`] (it may appear later,
//! e.g. in a drop folder), a permission problem is [`ConnectorError::Config`], bad content (a
//! malformed NDJSON line, a ragged CSV row) is [`ConnectorError::Permanent`] naming the file and
//! line, other I/O failures are [`ConnectorError::Transient`].

mod config;
mod read;
mod write;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::connector::{
    Connector, ConnectorContext, ConnectorError, ConnectorInstance, ConnectorSpec, Direction,
    OperationSpec, ReadRequest, RecordReader, WriteAck, WriteRecord,
};
use serde_json::{Value, json};

pub use config::{FileConfig, FileFormat, FileReadParams, FileWriteParams};

use read::FileReader;
use write::FileWriter;

/// Connector kind, as flows name it.
pub const KIND: &str = "file";

/// The `file` connector; register it with `Registry::default().with(File)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct File;

#[async_trait]
impl Connector for File {
    fn spec(&self) -> ConnectorSpec {
        let sample = json!({ "id": "1001", "email": "ada@example.com", "total": "49.90", "currency": "EUR" });
        ConnectorSpec {
            kind: KIND,
            summary: "Read records from or append them to a local NDJSON, CSV or JSON file.",
            config_schema: schemars::schema_for!(FileConfig).to_value(),
            credentials: vec![],
            operations: vec![
                OperationSpec {
                    name: "read",
                    direction: Direction::Read,
                    summary: "Read every record of the file, page by page.",
                    params_schema: schemars::schema_for!(FileReadParams).to_value(),
                    sample_record: sample.clone(),
                },
                OperationSpec {
                    name: "write",
                    direction: Direction::Write,
                    summary: "Append records to the file (created when missing).",
                    params_schema: schemars::schema_for!(FileWriteParams).to_value(),
                    sample_record: sample,
                },
            ],
        }
    }

    async fn build(
        &self,
        config: &Value,
        cx: &ConnectorContext,
    ) -> Result<Arc<dyn ConnectorInstance>, ConnectorError> {
        let config: FileConfig = crate::parse_config(KIND, config)?;
        let (path, format, delimiter) = config.resolve(&cx.base_dir)?;
        Ok(Arc::new(FileInstance {
            writer: FileWriter::new(path.clone(), format, delimiter),
            path,
            format,
            delimiter,
        }))
    }
}

/// A `file` connection: one file, its format, and the writer that serializes appends.
#[derive(Debug)]
struct FileInstance {
    path: PathBuf,
    format: FileFormat,
    delimiter: u8,
    writer: FileWriter,
}

#[async_trait]
impl ConnectorInstance for FileInstance {
    /// An existing file must be a readable regular file; a missing one must have a writable
    /// directory to be created in. A connection does not know whether it will serve as source
    /// or target, so an existing file is not required to be writable (a source may be
    /// read-only).
    async fn health_check(&self) -> Result<(), ConnectorError> {
        match tokio::fs::File::open(&self.path).await {
            Ok(file) => {
                let meta = file
                    .metadata()
                    .await
                    .map_err(|e| io_error(&self.path, "inspect", e))?;
                if meta.is_file() {
                    Ok(())
                } else {
                    Err(ConnectorError::Config(format!(
                        "{} is not a regular file",
                        self.path.display()
                    )))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => probe_directory(&self.path).await,
            Err(e) => Err(io_error(&self.path, "open for reading", e)),
        }
    }

    async fn read(
        &self,
        operation: &str,
        request: ReadRequest,
    ) -> Result<Box<dyn RecordReader>, ConnectorError> {
        if operation != "read" {
            return Err(unknown_operation(operation));
        }
        let params: FileReadParams = crate::parse_params(KIND, operation, &request.params)?;
        if params.page_size == 0 {
            return Err(ConnectorError::Config(
                "`page_size` must be at least 1".into(),
            ));
        }
        Ok(Box::new(FileReader::spawn(
            self.path.clone(),
            self.format,
            self.delimiter,
            params.page_size,
        )))
    }

    async fn write(
        &self,
        operation: &str,
        params: &Value,
        records: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        if operation != "write" {
            return Err(unknown_operation(operation));
        }
        let _: FileWriteParams = crate::parse_params(KIND, operation, params)?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.writer.write(records).await
    }
}

/// A missing target file is fine when its directory exists and accepts a new file.
async fn probe_directory(path: &Path) -> Result<(), ConnectorError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let meta = tokio::fs::metadata(dir)
        .await
        .map_err(|e| io_error(dir, "open the directory", e))?;
    if !meta.is_dir() {
        return Err(ConnectorError::Config(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let probe = dir.join(format!(".{name}.ferry-probe-{}", std::process::id()));
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .await
        .map_err(|e| io_error(dir, "create a file in", e))?;
    tokio::fs::remove_file(&probe)
        .await
        .map_err(|e| io_error(&probe, "remove", e))
}

fn unknown_operation(operation: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "the `file` connector has no operation `{operation}`; it offers `read` and `write`"
    ))
}

/// Classifies an I/O failure on `path` while trying to `action` it.
fn io_error(path: &Path, action: &str, e: io::Error) -> ConnectorError {
    let message = format!("cannot {action} {}: {e}", path.display());
    match e.kind() {
        io::ErrorKind::NotFound => ConnectorError::NotConnected(message),
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::NotADirectory => ConnectorError::Config(message),
        io::ErrorKind::InvalidData => ConnectorError::Permanent {
            message,
            status: None,
            body: None,
        },
        _ => ConnectorError::Transient {
            message,
            status: None,
            body: None,
        },
    }
}
