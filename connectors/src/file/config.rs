//! The `file` connection config and operation parameters, as users write them in a flow.
//!
//! The doc comments here are the UI help text (they end up in the JSON schema).

use std::path::{Path, PathBuf};

use ferry_engine::connector::ConnectorError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A local file records are read from or written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Path of the file, e.g. `orders.ndjson` or `/data/export/orders.csv`. A relative path is
    /// resolved against the directory of the flow file.
    pub path: String,
    /// How records are stored: `json` (one JSON array of records, or a single object), `ndjson`
    /// (one JSON record per line) or `csv` (a header row, then one row per record). When left
    /// out, the file extension decides: `.json`, `.ndjson`/`.jsonl`, `.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
    /// Field separator for CSV files: a single ASCII character such as `,`, `;` or a tab.
    #[serde(default = "default_csv_delimiter")]
    pub csv_delimiter: char,
}

fn default_csv_delimiter() -> char {
    ','
}

impl FileConfig {
    /// A config to start from: an NDJSON file beside the flow.
    pub fn example() -> Self {
        FileConfig {
            path: "orders.ndjson".into(),
            format: Some(FileFormat::Ndjson),
            csv_delimiter: ',',
        }
    }

    /// The file's absolute-or-base-relative path, its format and the CSV delimiter byte, checked.
    pub(super) fn resolve(
        &self,
        base_dir: &Path,
    ) -> Result<(PathBuf, FileFormat, u8), ConnectorError> {
        if self.path.trim().is_empty() {
            return Err(ConnectorError::Config("`path` must not be empty".into()));
        }
        let path = base_dir.join(&self.path);
        let format = match self.format {
            Some(format) => format,
            None => FileFormat::from_extension(&path).ok_or_else(|| {
                ConnectorError::Config(format!(
                    "cannot tell the format of `{}` from its extension; set `format` to json, ndjson or csv",
                    self.path
                ))
            })?,
        };
        let delimiter = u8::try_from(self.csv_delimiter)
            .ok()
            .filter(|b| b.is_ascii() && *b != b'"' && *b != b'\n' && *b != b'\r')
            .ok_or_else(|| {
                ConnectorError::Config(format!(
                    "`csv_delimiter` must be one ASCII character other than a quote or line break, not {:?}",
                    self.csv_delimiter
                ))
            })?;
        Ok((path, format, delimiter))
    }
}

/// How records are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// A JSON array of records (a file holding a single object is one record). Writes keep the
    /// file a valid JSON array, one record per line.
    Json,
    /// Newline-delimited JSON: one record per line; blank lines are skipped.
    Ndjson,
    /// Comma-separated values with a header row. Read values are strings; written nested values
    /// are JSON text in the cell.
    Csv,
}

impl FileFormat {
    /// The format a file extension implies, if any (case-insensitive).
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(FileFormat::Json),
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

/// Parameters of the `read` operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileReadParams {
    /// Records per page handed to the flow (at least 1). The file is streamed: only about one
    /// page is held in memory at a time.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
}

fn default_page_size() -> usize {
    500
}

impl Default for FileReadParams {
    fn default() -> Self {
        FileReadParams {
            page_size: default_page_size(),
        }
    }
}

/// Parameters of the `write` operation: none yet, records are appended to the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileWriteParams {}
