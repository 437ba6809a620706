//! Keeping credentials out of text: a [`Redactor`] knows a connection's secret values and the
//! forms they take in transit (URL-encoded in a query string, JSON-escaped in an echoed body,
//! inside the base64 of a Basic `Authorization` header), and replaces them with `***`.
//! [`RedactingInstance`] applies it to everything a connector hands back that Ferry writes down:
//! error messages, response bodies of errors and acknowledgements.
//!
//! The set grows while the connection is used: a connector that obtains a new secret (an
//! OAuth2 access token from a refresh, a refresh token the vendor rotated) reports it with
//! [`Redactor::learn`] through its context, and every clone of the redactor (the instance's
//! wrapper included) redacts it from then on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

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
/// Secrets learned while a connection is used that are remembered, newest first. An OAuth2
/// connection learns two per refresh (every ~10 minutes); the ones that fall off are expired
/// access tokens and refresh tokens the vendor has replaced, and the bound keeps redaction
/// cheap in a process that lives for days.
const MAX_LEARNED: usize = 16;

/// Replaces known secret values in text. Clones share their secrets: what one learns, all
/// redact.
#[derive(Clone, Default)]
pub struct Redactor {
    shared: Arc<Shared>,
}

/// How many secrets, never which.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let learned = self
            .shared
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Redactor")
            .field("configured", &self.shared.configured.len())
            .field("learned", &learned)
            .finish()
    }
}

#[derive(Default)]
struct Shared {
    /// The secrets the connection was configured with, long enough to redact.
    configured: Vec<String>,
    /// Secrets learned since, newest first, at most [`MAX_LEARNED`].
    learned: Mutex<VecDeque<String>>,
    /// Every form of every secret, longest first so a secret that contains another is replaced
    /// whole. Read by every redaction (a shared lock, held only to clone the `Arc`); replaced
    /// when a secret is learned.
    needles: RwLock<Arc<[String]>>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        let configured: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        let needles = needles_of(configured.iter());
        Redactor {
            shared: Arc::new(Shared {
                configured,
                learned: Mutex::default(),
                needles: RwLock::new(needles),
            }),
        }
    }

    /// Redacts `secret` from now on, here and in every clone: a connector reports a secret
    /// it obtained while running (an access token from a refresh, a rotated refresh token).
    /// A secret shorter than the minimum is ignored, as at construction.
    pub fn learn(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN || self.shared.configured.iter().any(|s| s == secret) {
            return;
        }
        let mut learned = self
            .shared
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if learned.front().map(String::as_str) == Some(secret) {
            return;
        }
        learned.retain(|s| s != secret);
        learned.push_front(secret.to_string());
        learned.truncate(MAX_LEARNED);
        let needles = needles_of(self.shared.configured.iter().chain(learned.iter()));
        // Written while `learned` is held, so two learners cannot store their sets out of order.
        *self
            .shared
            .needles
            .write()
            .unwrap_or_else(PoisonError::into_inner) = needles;
    }

    fn needles(&self) -> Arc<[String]> {
        self.shared
            .needles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether there is nothing to redact (yet: a secret may still be learned).
    pub fn is_empty(&self) -> bool {
        self.needles().is_empty()
    }

    /// `text` with every known secret form replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in self.needles().iter() {
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

/// Every form of `secrets`, longest first, without duplicates.
fn needles_of<'a>(secrets: impl Iterator<Item = &'a String>) -> Arc<[String]> {
    let mut needles = Vec::new();
    for secret in secrets {
        needles.extend(forms(secret));
        needles.push(secret.clone());
    }
    needles.retain(|n| !n.is_empty());
    needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    needles.dedup();
    needles.into()
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
    redactor: Redactor,
}

impl RedactingInstance {
    /// Wraps `inner`. Even a redactor with nothing to redact yet wraps: the connector may learn
    /// secrets while it runs (give it the same redactor in its context).
    pub fn wrap(
        inner: Arc<dyn ConnectorInstance>,
        redactor: Redactor,
    ) -> Arc<dyn ConnectorInstance> {
        Arc::new(RedactingInstance { inner, redactor })
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
    redactor: Redactor,
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

    #[test]
    fn learned_secrets_are_redacted_by_every_clone_from_then_on() {
        let configured = Redactor::new(["client-secret-1".to_string()]);
        let wrapper = configured.clone();
        let fresh = "access-token-7f3a9c+/";
        assert_eq!(wrapper.redact(fresh), fresh, "not known yet");
        configured.learn(fresh);
        configured.learn("short");
        let encoded: String = url::form_urlencoded::byte_serialize(fresh.as_bytes()).collect();
        let echoed = format!(
            "Authorization: Bearer {fresh}; form refresh_token={encoded}; json {}; short; client-secret-1",
            serde_json::to_string(fresh).unwrap()
        );
        assert_eq!(
            wrapper.redact(&echoed),
            "Authorization: Bearer ***; form refresh_token=***; json \"***\"; short; ***"
        );
        // An empty redactor learns too (a connection whose configured values are all short).
        let empty = Redactor::new(Vec::new());
        assert!(empty.is_empty());
        empty.clone().learn(fresh);
        assert_eq!(empty.redact(fresh), "***");
    }

    #[test]
    fn the_oldest_learned_secrets_are_forgotten_first_and_configured_ones_never() {
        let r = Redactor::new([CANARY.to_string()]);
        let token = |n: usize| format!("rotated-token-{n:04}");
        for n in 0..=MAX_LEARNED {
            r.learn(&token(n));
        }
        // Learning a known one again makes it the newest instead of adding it twice.
        r.learn(&token(1));
        r.learn(&token(MAX_LEARNED + 1));
        let text = (0..=MAX_LEARNED + 1)
            .map(token)
            .chain([CANARY.to_string()])
            .collect::<Vec<_>>()
            .join(" ");
        let out = r.redact(&text);
        assert!(
            out.starts_with(&format!("{} *** {} *** ", token(0), token(2))),
            "{out}"
        );
        assert_eq!(out.matches("***").count(), MAX_LEARNED + 1, "{out}");
        assert!(!out.contains("canary-7f3a9c"), "{out}");
        assert_eq!(
            format!("{r:?}"),
            format!("Redactor {{ configured: 1, learned: {MAX_LEARNED} }}")
        );
    }
}
