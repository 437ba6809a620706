//! Reading flow files: JSON syntax and shape errors with line and column, and a locator that
//! turns a field path (`steps[2].fields[0].value.path`) back into a line of the file.

use std::fmt;
use std::path::Path;

use super::model::Flow;

/// One segment of a path inside a flow document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// Object member.
    Key(String),
    /// Array element.
    Index(usize),
}

/// A path inside a flow document, displayed as `steps[2].fields[0].target`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocPath(pub Vec<PathSeg>);

impl DocPath {
    /// This path with a member appended.
    pub fn key(&self, k: &str) -> DocPath {
        let mut p = self.clone();
        p.0.push(PathSeg::Key(k.to_string()));
        p
    }

    /// This path with an element appended.
    pub fn index(&self, i: usize) -> DocPath {
        let mut p = self.clone();
        p.0.push(PathSeg::Index(i));
        p
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if n == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A flow file that could not be read as a flow.
#[derive(Debug, thiserror::Error)]
pub enum FlowLoadError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON, or does not have the shape of a flow.
    #[error("{file}:{line}:{column}: {message}{}", if path.is_empty() { String::new() } else { format!(" (at {path})") })]
    Syntax {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Field path where the problem is, when known.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads and parses the flow at `path`; returns the flow and its source text.
pub fn load_flow(path: &Path) -> Result<(Flow, String), FlowLoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FlowLoadError::Io {
        file: file.clone(),
        source,
    })?;
    let flow = parse_flow(&text, &file)?;
    Ok((flow, text))
}

/// Parses flow JSON. `file` names the source in errors.
pub fn parse_flow(text: &str, file: &str) -> Result<Flow, FlowLoadError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, Flow>(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        FlowLoadError::Syntax {
            file: file.to_string(),
            line: inner.line(),
            column: inner.column(),
            path: if path == "." { String::new() } else { path },
            message,
        }
    })
}

/// serde_json appends " at line L column C"; we print the position in front instead.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(at) => msg[..at].to_string(),
        None => msg.to_string(),
    }
}

/// Line and column (1-based) of the value at `path` in the JSON `text`, if present.
pub fn locate(text: &str, path: &DocPath) -> Option<(usize, usize)> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let offset = scanner.find(&path.0)?;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|nl| offset - nl)
        .unwrap_or(offset + 1);
    Some((line, column))
}

/// A minimal JSON walker that finds where a path's value starts.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    /// Position of the value at `path` below the value starting at the cursor.
    fn find(&mut self, path: &[PathSeg]) -> Option<usize> {
        self.ws();
        let Some((first, rest)) = path.split_first() else {
            return Some(self.pos);
        };
        match (self.bytes.get(self.pos)?, first) {
            (b'{', PathSeg::Key(want)) => {
                self.pos += 1;
                loop {
                    self.ws();
                    if self.bytes.get(self.pos)? == &b'}' {
                        return None;
                    }
                    let key = self.string()?;
                    self.ws();
                    self.pos += 1; // ':'
                    if &key == want {
                        return self.find(rest);
                    }
                    self.skip()?;
                    self.ws();
                    if self.bytes.get(self.pos)? == &b',' {
                        self.pos += 1;
                    }
                }
            }
            (b'[', PathSeg::Index(want)) => {
                self.pos += 1;
                let mut i = 0;
                loop {
                    self.ws();
                    if self.bytes.get(self.pos)? == &b']' {
                        return None;
                    }
                    if i == *want {
                        return self.find(rest);
                    }
                    self.skip()?;
                    self.ws();
                    if self.bytes.get(self.pos)? == &b',' {
                        self.pos += 1;
                    }
                    i += 1;
                }
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<String> {
        let start = self.pos;
        self.skip_string()?;
        serde_json::from_slice(&self.bytes[start..self.pos]).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.pos += 1;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => return Some(()),
                _ => {}
            }
        }
        None
    }

    fn skip(&mut self) -> Option<()> {
        self.ws();
        match self.bytes.get(self.pos)? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(&b) = self.bytes.get(self.pos) {
                    match b {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                None
            }
            _ => {
                while let Some(&b) = self.bytes.get(self.pos) {
                    if b == b',' || b == b'}' || b == b']' || b.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{
  "version": 1,
  "steps": [
    {"id": "a", "x": [1, {"y": "}"}]},
    {
      "id": "b",
      "fields": [{"target": "t", "value": {"type": "jsonpath", "path": "$["}}]
    }
  ]
}"#;

    #[test]
    fn locates_nested_values() {
        let p = DocPath::default()
            .key("steps")
            .index(1)
            .key("fields")
            .index(0)
            .key("value")
            .key("path");
        assert_eq!(locate(TEXT, &p), Some((7, 72)));
        assert_eq!(p.to_string(), "steps[1].fields[0].value.path");
        assert_eq!(
            locate(TEXT, &DocPath::default().key("version")),
            Some((2, 14))
        );
        assert_eq!(locate(TEXT, &DocPath::default().key("nope")), None);
    }

    #[test]
    fn syntax_errors_have_line_column_and_path() {
        match parse_flow("{\n  \"version\": 1,\n  \"id\": \n}", "f.json").unwrap_err() {
            FlowLoadError::Syntax { line, column, .. } => assert_eq!((line, column), (4, 1)),
            other => panic!("{other}"),
        }
        let shape = r#"{"version": 1, "id": "x", "connections": {}, "source": {"connection": "a", "operation": "r"},
            "target": {"connection": "a", "operation": "w", "batch_size": "ten"}}"#;
        let err = parse_flow(shape, "f.json").unwrap_err().to_string();
        assert!(err.starts_with("f.json:2:"), "{err}");
        assert!(err.contains("(at target.batch_size)"), "{err}");
    }
}
