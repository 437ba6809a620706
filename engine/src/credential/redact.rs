//! Keeping credentials out of text: a [`Redactor`] knows a connection's secret values and the
//! forms they take in transit (URL-encoded in a query string, JSON-escaped in an echoed body,
//! inside the base64 of a Basic `Authorization` header), and replaces them with `***`.
//! [`RedactingInstance`] applies it to everything a connector hands back that Ferry writes down:
//! error messages, response bodies of errors and acknowledgements.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::Value;

use crate::connector::{
    ConnectorError, ConnectorInstance, Lookup, Page, ReadRequest, RecordReader, WriteAck,
    WriteRecord,
};

/// What a redacted secret shows as.
const REDACTED: &str = "***";

/// Shorter secrets are not redacted: replacing every `1` or `on` would garble messages and
/// protect nothing (a 1–5 character secret is no secret).
const MIN_SECRET_LEN: usize = 6;
/// Shortest base64 run looked for inside a longer base64 text.
const MIN_BASE64_FRAGMENT: usize = 8;

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        let mut needles = Vec::new();
        for secret in secrets {
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            needles.extend(forms(&secret));
            needles.push(secret);
        }
        needles.retain(|n| !n.is_empty());
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every known secret form replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out
    }

    /// The error with its message and body redacted.
    pub fn redact_error(&self, error: ConnectorError) -> ConnectorError {
        if self.is_empty() {
            return error;
        }
        match error {
            ConnectorError::Config(m) => ConnectorError::Config(self.redact(&m)),
            ConnectorError::Auth(m) => ConnectorError::Auth(self.redact(&m)),
            ConnectorError::NotConnected(m) => ConnectorError::NotConnected(self.redact(&m)),
            ConnectorError::RateLimited {
                retry_after,
                message,
                status,
            } => ConnectorError::RateLimited {
                retry_after,
                message: self.redact(&message),
                status,
            },
            ConnectorError::Transient {
                message,
                status,
                body,
            } => ConnectorError::Transient {
                message: self.redact(&message),
                status,
                body: body.map(|b| self.redact(&b)),
            },
            ConnectorError::Permanent {
                message,
                status,
                body,
            } => ConnectorError::Permanent {
                message: self.redact(&message),
                status,
                body: body.map(|b| self.redact(&b)),
            },
        }
    }
}

/// The forms a secret takes on the wire besides itself.
fn forms(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    let form_encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    out.push(form_encoded.replace('+', "%20"));
    out.push(form_encoded);
    if let Ok(json) = serde_json::to_string(&Value::String(secret.into())) {
        out.push(json.trim_matches('"').to_string());
    }
    // Inside base64 (`Basic base64(user:password)`), the secret starts at one of three byte
    // alignments; the characters that depend only on the secret's bits are the same whatever
    // surrounds it.
    for engine in [&STANDARD, &URL_SAFE] {
        for shift in 0..3usize {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let first = (8 * shift).div_ceil(6);
            let last = 8 * (shift + secret.len()) / 6;
            if last > first && last - first >= MIN_BASE64_FRAGMENT {
                out.push(encoded[first..last].to_string());
            }
        }
    }
    out.retain(|f| f != secret);
    out
}

/// A connector instance whose errors and answers pass through a [`Redactor`].
pub struct RedactingInstance {
    inner: Arc<dyn ConnectorInstance>,
    redactor: Arc<Redactor>,
}

impl RedactingInstance {
    /// Wraps `inner`; with nothing to redact, returns it as it is.
    pub fn wrap(
        inner: Arc<dyn ConnectorInstance>,
        redactor: Redactor,
    ) -> Arc<dyn ConnectorInstance> {
        if redactor.is_empty() {
            return inner;
        }
        Arc::new(RedactingInstance {
            inner,
            redactor: Arc::new(redactor),
        })
    }

    fn ack(&self, mut ack: WriteAck) -> WriteAck {
        ack.body = ack.body.map(|b| self.redactor.redact(&b));
        ack
    }
}

#[async_trait]
impl ConnectorInstance for RedactingInstance {
    async fn health_check(&self) -> Result<(), ConnectorError> {
        self.inner
            .health_check()
            .await
            .map_err(|e| self.redactor.redact_error(e))
    }

    async fn read(
        &self,
        operation: &str,
        request: ReadRequest,
    ) -> Result<Box<dyn RecordReader>, ConnectorError> {
        let inner = self
            .inner
            .read(operation, request)
            .await
            .map_err(|e| self.redactor.redact_error(e))?;
        Ok(Box::new(RedactingReader {
            inner,
            redactor: self.redactor.clone(),
        }))
    }

    async fn write(
        &self,
        operation: &str,
        params: &Value,
        records: &[WriteRecord],
    ) -> Result<Vec<Result<WriteAck, ConnectorError>>, ConnectorError> {
        let results = self
            .inner
            .write(operation, params, records)
            .await
            .map_err(|e| self.redactor.redact_error(e))?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                Ok(ack) => Ok(self.ack(ack)),
                Err(e) => Err(self.redactor.redact_error(e)),
            })
            .collect())
    }

    async fn lookup(
        &self,
        operation: &str,
        params: &Value,
        key: &str,
    ) -> Result<Lookup, ConnectorError> {
        match self.inner.lookup(operation, params, key).await {
            Ok(Lookup::Found(ack)) => Ok(Lookup::Found(self.ack(ack))),
            Ok(other) => Ok(other),
            Err(e) => Err(self.redactor.redact_error(e)),
        }
    }
}

struct RedactingReader {
    inner: Box<dyn RecordReader>,
    redactor: Arc<Redactor>,
}

#[async_trait]
impl RecordReader for RedactingReader {
    async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        self.inner
            .next_page()
            .await
            .map_err(|e| self.redactor.redact_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-7f3a9c secret/+=&";

    #[test]
    fn raw_encoded_escaped_and_base64_forms_are_redacted() {
        let r = Redactor::new([CANARY.to_string(), "short".to_string()]);
        let encoded: String = url::form_urlencoded::byte_serialize(CANARY.as_bytes()).collect();
        let basic = STANDARD.encode(format!("ck_user:{CANARY}"));
        let basic_other_shift = STANDARD.encode(format!("ck_use:{CANARY}"));
        let text = format!(
            "GET /x?key={encoded} failed; body {{\"echo\":{}}}; Authorization: Basic {basic}; {basic_other_shift}; raw {CANARY}; short stays",
            serde_json::to_string(CANARY).unwrap()
        );
        let out = r.redact(&text);
        assert!(!out.contains("canary-7f3a9c"), "{out}");
        assert!(!out.contains(&encoded), "{out}");
        for b64 in [&basic, &basic_other_shift] {
            // No run of the secret's base64 longer than a few characters survives.
            let inner = &b64[12..b64.len() - 4];
            assert!(!out.contains(inner), "{inner} in {out}");
        }
        assert!(out.contains("short stays"), "{out}");
        assert!(out.contains("***"));
    }

    #[test]
    fn errors_keep_their_kind_and_lose_the_secret() {
        let r = Redactor::new([CANARY.to_string()]);
        let e = r.redact_error(ConnectorError::Permanent {
            message: format!("400 for token {CANARY}"),
            status: Some(400),
            body: Some(format!("you sent {CANARY}")),
        });
        assert_eq!(e.status(), Some(400));
        assert!(!e.to_string().contains(CANARY));
        assert_eq!(e.body(), Some("you sent ***"));
        assert!(!e.is_retryable());
    }
}
