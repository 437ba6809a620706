//! Appending records to NDJSON, CSV and JSON-array files.
//!
//! One [`FileWriter`] per connection holds the open file behind a `tokio::sync::Mutex`, so
//! concurrent `write` calls append whole batches one after the other and never interleave. The
//! file is opened on the first write (a read or a health check never creates it) and reopened
//! after an I/O error, because the error may have left our idea of the file's end stale.
//!
//! - NDJSON: one line per record.
//! - CSV: the header row comes from the file when it already has one, otherwise from the first
//!   record's top-level keys. Missing fields are empty cells; a record with a field the header
//!   lacks is refused rather than silently cut. Nested values are JSON text in the cell.
//! - JSON: the file stays one valid JSON array after every call: each call overwrites the
//!   closing `]` with `,` + the new records + `]`. Records are written one per line.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use ferry_engine::connector::{ConnectorError, WriteAck, WriteRecord};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Mutex;

use super::config::FileFormat;
use super::io_error;

/// What the last bytes of a JSON-array file look like after one of our writes.
const JSON_CLOSE: &[u8] = b"\n]\n";

/// Appends records to one file; safe to share between concurrent calls.
#[derive(Debug)]
pub(super) struct FileWriter {
    path: PathBuf,
    format: FileFormat,
    delimiter: u8,
    sink: Mutex<Option<Sink>>,
}

/// The open file and what we know about its layout.
#[derive(Debug)]
struct Sink {
    file: tokio::fs::File,
    layout: Layout,
}

#[derive(Debug)]
enum Layout {
    /// Append-mode file; `newline_first` when the existing file lacks a final line break.
    Ndjson { newline_first: bool },
    /// Append-mode file; `header` is `None` until the file has a header row.
    Csv {
        header: Option<Vec<String>>,
        newline_first: bool,
    },
    /// Read-write file; new records go at `insert_at` (just after the last element, or just
    /// after `[` when `empty`), followed by the closing bracket.
    Json { insert_at: u64, empty: bool },
}

impl FileWriter {
    pub(super) fn new(path: PathBuf, format: FileFormat, delimiter: u8) -> Self {
        FileWriter {
            path,
            format,
            delimiter,
            sink: Mutex::new(None),
        }
    }

    /// Appends the records that can be encoded; the others get their own error.
    pub(super) async fn write(
        &self,
        records: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        let mut guard = self.sink.lock().await;
        let sink = match &mut *guard {
            Some(sink) => sink,
            slot @ None => slot.insert(self.open().await?),
        };
        let mut results = Vec::with_capacity(records.len());
        let (bytes, new_header) = self.encode(&sink.layout, records, &mut results);
        if let Err(err) = self.append(sink, &bytes, new_header).await {
            *guard = None;
            return Err(err);
        }
        Ok(results)
    }

    /// Encodes the records for the file's layout. Returns the bytes and, for a CSV file without
    /// a header yet, the header those bytes start with.
    fn encode(
        &self,
        layout: &Layout,
        records: &[WriteRecord],
        results: &mut Vec<Result<WriteAck, ConnectorError>>,
    ) -> (Vec<u8>, Option<Vec<String>>) {
        let mut out = Vec::new();
        let mut new_header = None;
        match layout {
            Layout::Ndjson { .. } => {
                for record in records {
                    results.push(encode_json(&mut out, record).map(|()| {
                        out.push(b'\n');
                        ack(record)
                    }));
                }
            }
            Layout::Json { empty, .. } => {
                let mut first = *empty;
                for record in records {
                    let start = out.len();
                    out.extend_from_slice(if first { b"\n" } else { b",\n" });
                    let result = encode_json(&mut out, record).map(|()| ack(record));
                    if result.is_ok() {
                        first = false;
                    } else {
                        out.truncate(start);
                    }
                    results.push(result);
                }
                if !out.is_empty() {
                    out.extend_from_slice(JSON_CLOSE);
                }
            }
            Layout::Csv { header, .. } => {
                let mut header = header.clone();
                for record in records {
                    let result = match &header {
                        Some(header) => csv_row(&self.path, header, record),
                        None => match record.payload.as_object() {
                            Some(object) => {
                                let columns: Vec<String> = object.keys().cloned().collect();
                                let head =
                                    csv_line(self.delimiter, columns.iter().map(String::as_str));
                                let row = csv_row(&self.path, &columns, record);
                                if row.is_ok() {
                                    out.extend(head);
                                    new_header = Some(columns.clone());
                                    header = Some(columns);
                                }
                                row
                            }
                            None => Err(not_an_object(&self.path, record)),
                        },
                    };
                    results.push(result.map(|cells| {
                        out.extend(csv_line(self.delimiter, cells.iter().map(String::as_str)));
                        ack(record)
                    }));
                }
            }
        }
        (out, new_header)
    }

    /// Writes `bytes` at the end of the data and updates the layout.
    async fn append(
        &self,
        sink: &mut Sink,
        bytes: &[u8],
        new_header: Option<Vec<String>>,
    ) -> Result<(), ConnectorError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let failed = |e| io_error(&self.path, "write", e);
        match &mut sink.layout {
            Layout::Ndjson { newline_first } | Layout::Csv { newline_first, .. } => {
                if *newline_first {
                    sink.file.write_all(b"\n").await.map_err(failed)?;
                    *newline_first = false;
                }
                sink.file.write_all(bytes).await.map_err(failed)?;
                sink.file.flush().await.map_err(failed)?;
                if let (Layout::Csv { header, .. }, Some(new)) = (&mut sink.layout, new_header) {
                    *header = Some(new);
                }
            }
            Layout::Json { insert_at, empty } => {
                sink.file
                    .seek(SeekFrom::Start(*insert_at))
                    .await
                    .map_err(failed)?;
                sink.file.write_all(bytes).await.map_err(failed)?;
                sink.file.flush().await.map_err(failed)?;
                let end = *insert_at + bytes.len() as u64;
                // Drops whatever followed the old closing bracket (whitespace only).
                sink.file.set_len(end).await.map_err(failed)?;
                *insert_at = end - JSON_CLOSE.len() as u64;
                *empty = false;
            }
        }
        Ok(())
    }

    async fn open(&self) -> Result<Sink, ConnectorError> {
        let path = &self.path;
        let failed = |e| io_error(path, "open for writing", e);
        // An output folder that does not exist yet is created, as a user would expect.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                ConnectorError::Config(format!("cannot create the folder {}: {e}", dir.display()))
            })?;
        }
        match self.format {
            FileFormat::Ndjson => {
                let newline_first = !ends_with_newline(path).await.map_err(failed)?;
                let file = open_append(path).await.map_err(failed)?;
                Ok(Sink {
                    file,
                    layout: Layout::Ndjson { newline_first },
                })
            }
            FileFormat::Csv => {
                let newline_first = !ends_with_newline(path).await.map_err(failed)?;
                let header = read_csv_header(path, self.delimiter).await?;
                let file = open_append(path).await.map_err(failed)?;
                Ok(Sink {
                    file,
                    layout: Layout::Csv {
                        header,
                        newline_first,
                    },
                })
            }
            FileFormat::Json => {
                let mut file = tokio::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .await
                    .map_err(failed)?;
                let (insert_at, empty) = find_array_end(path, &mut file).await?;
                Ok(Sink {
                    file,
                    layout: Layout::Json { insert_at, empty },
                })
            }
        }
    }
}

fn ack(record: &WriteRecord) -> WriteAck {
    WriteAck {
        status: None,
        body: None,
        target_id: Some(record.key.clone()),
    }
}

fn encode_json(out: &mut Vec<u8>, record: &WriteRecord) -> Result<(), ConnectorError> {
    serde_json::to_writer(out, &record.payload).map_err(|e| ConnectorError::Permanent {
        message: format!("record `{}` cannot be written as JSON: {e}", record.key),
        status: None,
        body: None,
    })
}

fn not_an_object(path: &Path, record: &WriteRecord) -> ConnectorError {
    ConnectorError::Permanent {
        message: format!(
            "{}: record `{}` is not a JSON object, so it has no columns for a CSV row",
            path.display(),
            record.key
        ),
        status: None,
        body: None,
    }
}

/// The record's cells in header order.
fn csv_row(
    path: &Path,
    header: &[String],
    record: &WriteRecord,
) -> Result<Vec<String>, ConnectorError> {
    let object = record
        .payload
        .as_object()
        .ok_or_else(|| not_an_object(path, record))?;
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !header.iter().any(|h| h == k))
        .collect();
    if !unknown.is_empty() {
        return Err(ConnectorError::Permanent {
            message: format!(
                "{}: record `{}` has fields the CSV header lacks: {}; the header is: {}",
                path.display(),
                record.key,
                unknown.join(", "),
                header.join(", ")
            ),
            status: None,
            body: None,
        });
    }
    Ok(header
        .iter()
        .map(|h| object.get(h).map(csv_cell).unwrap_or_default())
        .collect())
}

/// A cell's text: strings as they are, null as empty, everything else as JSON text.
fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV line, quoted as needed, ending in `\n`.
fn csv_line<'a>(delimiter: u8, cells: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            line.push(delimiter);
        }
        let needs_quotes = cell
            .bytes()
            .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r')
            || cell.starts_with(' ')
            || cell.ends_with(' ');
        if needs_quotes {
            line.push(b'"');
            for b in cell.bytes() {
                if b == b'"' {
                    line.push(b'"');
                }
                line.push(b);
            }
            line.push(b'"');
        } else {
            line.extend_from_slice(cell.as_bytes());
        }
    }
    line.push(b'\n');
    line
}

async fn open_append(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

/// Whether the file is missing, empty or ends with a line break (so appending starts a line).
async fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    if file.metadata().await?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1)).await?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last).await?;
    Ok(last[0] == b'\n')
}

/// The header row of an existing CSV file, `None` when the file is missing or empty.
async fn read_csv_header(
    path: &Path,
    delimiter: u8,
) -> Result<Option<Vec<String>>, ConnectorError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || -> Result<Option<Vec<String>>, csv::Error> {
        let file = match std::fs::File::open(&owned) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .from_reader(file);
        let mut row = csv::StringRecord::new();
        if !reader.read_record(&mut row)? {
            return Ok(None);
        }
        Ok(Some(row.iter().map(str::to_string).collect()))
    });
    let result = read.await.map_err(|e| ConnectorError::Transient {
        message: format!("{}: reading the CSV header failed: {e}", path.display()),
        status: None,
        body: None,
    })?;
    result.map_err(|e| {
        if e.is_io_error() {
            io_error(path, "read the CSV header of", std::io::Error::from(e))
        } else {
            ConnectorError::Permanent {
                message: format!("{}: cannot read the CSV header: {e}", path.display()),
                status: None,
                body: None,
            }
        }
    })
}

/// Finds where to insert into an existing JSON-array file: just after its last element (or
/// after `[` when the array is empty). An empty file becomes `[]` first.
async fn find_array_end(
    path: &Path,
    file: &mut tokio::fs::File,
) -> Result<(u64, bool), ConnectorError> {
    let failed = |e| io_error(path, "read", e);
    let len = file.metadata().await.map_err(failed)?.len();
    let not_array = || ConnectorError::Permanent {
        message: format!(
            "{}: cannot append, the file is not a JSON array; use an empty or new file, or the ndjson format",
            path.display()
        ),
        status: None,
        body: None,
    };
    // Read backwards in growing windows until we meet the closing bracket and the character
    // before it; only whitespace may separate them from the end and from each other.
    let mut window: u64 = 4096;
    loop {
        let start = len.saturating_sub(window);
        let mut tail = vec![0u8; (len - start) as usize];
        file.seek(SeekFrom::Start(start)).await.map_err(failed)?;
        file.read_exact(&mut tail).await.map_err(failed)?;
        let mut chars = tail
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, b)| !b.is_ascii_whitespace());
        match (chars.next(), chars.next()) {
            (None, _) if start == 0 => {
                // Empty or blank file: start a fresh array.
                file.set_len(0).await.map_err(failed)?;
                file.seek(SeekFrom::Start(0)).await.map_err(failed)?;
                file.write_all(b"[]\n").await.map_err(failed)?;
                file.flush().await.map_err(failed)?;
                return Ok((1, true));
            }
            // In valid JSON a `[` right before the final `]` can only be the array's own.
            (Some((_, b']')), Some((i, before))) => {
                return Ok((start + i as u64 + 1, *before == b'['));
            }
            (Some((_, b']')), None) | (None, _) if start > 0 => window = window.saturating_mul(4),
            _ => return Err(not_array()),
        }
    }
}
