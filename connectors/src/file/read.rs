//! Streaming reads of NDJSON, CSV and JSON-array files, page by page.
//!
//! Parsing is blocking work, so it runs on one `spawn_blocking` task per read that pushes records
//! into a bounded channel; [`FileReader::next_page`] drains it. The bound keeps memory at about
//! one page ahead of the flow however large the file is, and dropping the reader stops the task
//! at its next record. JSON arrays are streamed element by element through a serde
//! `SeqAccess` visitor, so a huge array is never held whole.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use ferry_engine::connector::{ConnectorError, Page, RecordReader};
use serde::Deserializer as _;
use serde::de::{self, Deserialize as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::config::FileFormat;
use super::io_error;

/// One record, or the error that ends the read.
type Item = Result<Value, ConnectorError>;

/// Read-ahead of the parsing task, in records.
const MAX_CHANNEL: usize = 1024;

/// Buffer size for the line and JSON readers.
const BUFFER: usize = 64 * 1024;

/// A [`RecordReader`] over one file.
pub(super) struct FileReader {
    rx: mpsc::Receiver<Item>,
    page_size: usize,
    /// An error that arrived after some records of the page; returned by the next call.
    pending: Option<ConnectorError>,
    /// The error already returned; the read is over and repeats it.
    failed: Option<ConnectorError>,
}

impl FileReader {
    /// Starts parsing `path` in the background.
    pub(super) fn spawn(
        path: PathBuf,
        format: FileFormat,
        delimiter: u8,
        page_size: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(page_size.clamp(1, MAX_CHANNEL));
        tokio::task::spawn_blocking(move || {
            let sink = Sink { tx: &tx };
            let result = match fs::File::open(&path) {
                Ok(file) => match format {
                    FileFormat::Ndjson => read_ndjson(&path, file, sink),
                    FileFormat::Csv => read_csv(&path, file, delimiter, sink),
                    FileFormat::Json => read_json(&path, file, sink),
                },
                Err(e) => Err(Stop::Failed(io_error(&path, "open for reading", e))),
            };
            if let Err(Stop::Failed(err)) = result {
                // The receiver may be gone already; then nobody needs the error.
                let _ = tx.blocking_send(Err(err));
            }
        });
        FileReader {
            rx,
            page_size,
            pending: None,
            failed: None,
        }
    }
}

#[async_trait]
impl RecordReader for FileReader {
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if let Some(err) = self.pending.take() {
            self.failed = Some(err.clone());
            return Err(err);
        }
        let mut records = Vec::with_capacity(self.page_size.min(MAX_CHANNEL));
        while records.len() < self.page_size {
            match self.rx.recv().await {
                Some(Ok(record)) => records.push(record),
                Some(Err(err)) if records.is_empty() => {
                    self.failed = Some(err.clone());
                    return Err(err);
                }
                Some(Err(err)) => {
                    // Hand out the good records before the bad one first.
                    self.pending = Some(err);
                    break;
                }
                None => break,
            }
        }
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(Page {
            records,
            cursor: None,
            text: None,
        }))
    }
}

/// Why a parsing task stopped early.
enum Stop {
    /// The reader was dropped; nobody wants more records.
    Closed,
    /// The file could not be read or parsed.
    Failed(ConnectorError),
}

/// The sending end, borrowed by the format readers.
#[derive(Clone, Copy)]
struct Sink<'a> {
    tx: &'a mpsc::Sender<Item>,
}

impl Sink<'_> {
    fn send(self, record: Value) -> Result<(), Stop> {
        self.tx.blocking_send(Ok(record)).map_err(|_| Stop::Closed)
    }
}

fn bad_data(path: &Path, message: impl fmt::Display) -> Stop {
    Stop::Failed(ConnectorError::Permanent {
        message: format!("{}: {message}", path.display()),
        status: None,
        body: None,
    })
}

fn read_ndjson(path: &Path, file: fs::File, sink: Sink<'_>) -> Result<(), Stop> {
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(bad_data(
                    path,
                    format_args!("line {number}: not valid UTF-8"),
                ));
            }
            Err(e) => return Err(Stop::Failed(io_error(path, "read", e))),
        }
        let text = if number == 1 {
            line.trim_start_matches('\u{feff}')
        } else {
            &line
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str(text) {
            Ok(record) => sink.send(record)?,
            Err(e) => {
                return Err(bad_data(
                    path,
                    format_args!(
                        "line {number}, column {}: invalid JSON: {}",
                        e.column(),
                        bare_message(&e)
                    ),
                ));
            }
        }
    }
}

/// serde_json's message without its " at line L column C" suffix (we report our own position).
fn bare_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    message
        .strip_suffix(&suffix)
        .map(str::to_string)
        .unwrap_or(message)
}

fn read_csv(path: &Path, file: fs::File, delimiter: u8, sink: Sink<'_>) -> Result<(), Stop> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .buffer_capacity(BUFFER)
        .from_reader(file);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let mut row = csv::StringRecord::new();
    while reader
        .read_record(&mut row)
        .map_err(|e| csv_error(path, e))?
    {
        let record: Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(name, value)| (name.to_string(), Value::String(value.to_string())))
            .collect();
        sink.send(Value::Object(record))?;
    }
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> Stop {
    let line = |pos: &Option<csv::Position>| pos.as_ref().map_or(0, csv::Position::line);
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => bad_data(
            path,
            format_args!(
                "line {}: row has {len} fields but the header has {expected_len}",
                line(pos)
            ),
        ),
        csv::ErrorKind::Utf8 { pos, .. } => {
            bad_data(path, format_args!("line {}: not valid UTF-8", line(pos)))
        }
        _ if e.is_io_error() => match e.into_kind() {
            csv::ErrorKind::Io(io) => Stop::Failed(io_error(path, "read", io)),
            other => bad_data(path, format_args!("invalid CSV: {other:?}")),
        },
        _ => bad_data(path, format_args!("invalid CSV: {e}")),
    }
}

fn read_json(path: &Path, file: fs::File, sink: Sink<'_>) -> Result<(), Stop> {
    let mut reader = BufReader::with_capacity(BUFFER, file);
    // An empty file is an empty source, not a syntax error: it is what an export that found
    // nothing often leaves behind.
    if !skip_bom_and_whitespace(&mut reader).map_err(|e| Stop::Failed(io_error(path, "read", e)))? {
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = de
        .deserialize_any(RecordsVisitor { sink })
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(()),
        Err(_) if sink.tx.is_closed() => Err(Stop::Closed),
        Err(e) if e.is_io() => Err(Stop::Failed(io_error(path, "read", io::Error::other(e)))),
        Err(e) => Err(bad_data(path, format_args!("invalid JSON: {e}"))),
    }
}

/// Skips a UTF-8 byte order mark and whitespace; `false` when nothing else is left.
fn skip_bom_and_whitespace(reader: &mut impl BufRead) -> io::Result<bool> {
    let buf = reader.fill_buf()?;
    if buf.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        let blanks = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let more = blanks < buf.len();
        reader.consume(blanks);
        if more {
            return Ok(true);
        }
    }
}

/// Sends each element of a top-level array, or a top-level object as one record.
struct RecordsVisitor<'a> {
    sink: Sink<'a>,
}

impl<'de> Visitor<'de> for RecordsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of records or a single JSON object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Value>()? {
            self.sink
                .send(record)
                .map_err(|_| de::Error::custom("reader closed"))?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let record = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.sink
            .send(record)
            .map_err(|_| de::Error::custom("reader closed"))
    }
}
