//! Alert webhooks: the [`AlertMessage`] as a JSON POST.

use std::time::Duration;

use super::message::AlertMessage;

/// Longest part of a refusing webhook's answer kept in the error.
const BODY_EXCERPT: usize = 200;

/// POSTs the message as JSON; any status outside 2xx is an error with an excerpt of the answer.
pub(super) async fn post_webhook(
    http: &reqwest::Client,
    url: &str,
    message: &AlertMessage,
    timeout: Duration,
) -> Result<(), String> {
    let where_ = redact_url(url);
    let response = http
        .post(url)
        .timeout(timeout)
        .json(message)
        .send()
        .await
        .map_err(|e| format!("webhook {where_}: {}", e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let excerpt: String = body.chars().take(BODY_EXCERPT).collect();
    Err(format!("webhook {where_} answered {status}: {excerpt}"))
}

/// A webhook URL as logged: scheme, host, port and first path segment. Chat webhooks keep their
/// secret in the rest of the path or the query, which stays out of the log; when something was
/// left out, a short hash of the whole URL tells two such webhooks apart.
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return "(invalid URL)".to_string();
    };
    let mut out = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or(""));
    if let Some(port) = parsed.port() {
        out.push_str(&format!(":{port}"));
    }
    let mut segments = parsed
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty());
    if let Some(first) = segments.next() {
        out.push('/');
        out.push_str(first);
        if segments.next().is_some() || parsed.query().is_some() {
            out.push_str("/…");
            out.push_str(&short_hash(url));
        }
    } else if parsed.query().is_some() {
        out.push_str("/…");
        out.push_str(&short_hash(url));
    }
    out
}

/// ` #` and the first 8 hex digits of the URL's SHA-256: enough to tell URLs apart in a log,
/// far too little to recover a secret.
fn short_hash(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(url.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!(" #{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_path_and_query_stay_out_of_the_log() {
        let a = redact_url("https://hooks.slack.com/services/T0/B0/secret");
        let b = redact_url("https://hooks.slack.com/services/T0/B0/other");
        assert!(a.starts_with("https://hooks.slack.com/services/… #"), "{a}");
        assert!(!a.contains("secret") && !a.contains("T0"), "{a}");
        assert_ne!(a, b, "two webhooks on one host stay apart");
        assert_eq!(
            redact_url("http://127.0.0.1:9000/alerts"),
            "http://127.0.0.1:9000/alerts"
        );
        assert!(redact_url("http://h/a?token=x").starts_with("http://h/a/… #"));
        assert_eq!(redact_url("nope"), "(invalid URL)");
    }
}
