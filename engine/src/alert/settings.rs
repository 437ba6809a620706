//! Alert settings: per flow (the flow file's `alerts`) or a tenant default, and the SMTP server.

use std::fmt;
use std::str::FromStr;

use lettre::message::Mailbox;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::flow::FlowIssue;
use crate::flow::load::DocPath;

/// Subject used when an email channel gives none.
pub const DEFAULT_SUBJECT: &str = "[Ferry] {flow}: {status} ({failed} failed)";

/// Placeholders a subject template may use.
pub const SUBJECT_PLACEHOLDERS: [&str; 3] = ["flow", "status", "failed"];

/// Who is told what, for one flow or as a tenant's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Where alerts go.
    #[serde(default)]
    pub channels: Vec<AlertChannel>,
    /// Alert when the flow had no successful run for this many hours (sent once per silence,
    /// to the channels that take failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_hours: Option<u32>,
}

/// One place alerts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertChannel {
    /// A plain-text email.
    Email {
        /// Recipients, comma separated: `ops@shop.eu, Jane <jane@shop.fr>`.
        to: String,
        /// Subject template with `{flow}`, `{status}` and `{failed}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// Which runs are reported.
        #[serde(default)]
        on: AlertOn,
    },
    /// A JSON POST (see `docs/alerts.md` for the body).
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
        /// Which runs are reported.
        #[serde(default)]
        on: AlertOn,
    },
}

impl AlertChannel {
    /// `email` or `webhook`, as logged.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertChannel::Email { .. } => "email",
            AlertChannel::Webhook { .. } => "webhook",
        }
    }

    /// Which runs the channel reports.
    pub fn on(&self) -> AlertOn {
        match self {
            AlertChannel::Email { on, .. } | AlertChannel::Webhook { on, .. } => *on,
        }
    }
}

/// Which runs a channel reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertOn {
    /// Runs that ended `failed` (some records failed) or `error` (stopped early); and heartbeats.
    #[default]
    Failure,
    /// Runs that ended `succeeded`.
    Success,
    /// Every finished run; and heartbeats.
    Both,
}

impl AlertOn {
    /// Whether failures (and heartbeats) go to this channel.
    pub fn failures(self) -> bool {
        matches!(self, AlertOn::Failure | AlertOn::Both)
    }

    /// Whether successes go to this channel.
    pub fn successes(self) -> bool {
        matches!(self, AlertOn::Success | AlertOn::Both)
    }
}

impl AlertSettings {
    /// Problems of these settings, with field paths under `path` (`alerts` in a flow file).
    pub fn issues(&self, path: &DocPath) -> Vec<FlowIssue> {
        let mut issues = Vec::new();
        if self.heartbeat_hours == Some(0) {
            issues.push(FlowIssue::new(
                path.key("heartbeat_hours"),
                None,
                "heartbeat_hours must be at least 1",
            ));
        }
        for (i, channel) in self.channels.iter().enumerate() {
            let at = path.key("channels").index(i);
            match channel {
                AlertChannel::Email { to, subject, .. } => {
                    if let Err(e) = parse_recipients(to) {
                        issues.push(FlowIssue::new(at.key("to"), None, e));
                    }
                    if let Some(subject) = subject
                        && let Err(e) = check_template(subject)
                    {
                        issues.push(FlowIssue::new(at.key("subject"), None, e));
                    }
                }
                AlertChannel::Webhook { url, .. } => {
                    if let Err(e) = check_webhook_url(url) {
                        issues.push(FlowIssue::new(at.key("url"), None, e));
                    }
                }
            }
        }
        issues
    }
}

/// Parses comma-separated recipients; the error names the entry that is not an address.
pub fn parse_recipients(to: &str) -> Result<Vec<Mailbox>, String> {
    let mut out = Vec::new();
    for (i, part) in to.split(',').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!(
                "recipient {} of `{to}` is empty; separate addresses with single commas",
                i + 1
            ));
        }
        let mailbox = Mailbox::from_str(part)
            .map_err(|e| format!("recipient {} `{part}` is not an email address ({e})", i + 1))?;
        out.push(mailbox);
    }
    Ok(out)
}

/// Checks that a subject template uses only known placeholders and closes its braces.
pub fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{{` without `}}` in `{template}`"));
        };
        let name = &after[..close];
        if !SUBJECT_PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{name}}}` in `{template}` (use {{flow}}, {{status}} or {{failed}})"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Fills `{flow}`, `{status}` and `{failed}`; line breaks become spaces (a subject is one line).
pub fn render_template(template: &str, flow: &str, status: &str, failed: i64) -> String {
    template
        .replace("{flow}", flow)
        .replace("{status}", status)
        .replace("{failed}", &failed.to_string())
        .replace(['\r', '\n'], " ")
}

fn check_webhook_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some() => Ok(()),
        "http" | "https" => Err(format!("`{url}` has no host")),
        other => Err(format!("webhook URL must be http or https, not `{other}`")),
    }
}

/// How to talk to the SMTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (a local relay, tests).
    None,
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            other => Err(format!(
                "unknown SMTP TLS mode `{other}` (use none, starttls or tls)"
            )),
        }
    }
}

/// The SMTP server alert emails are sent through.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS, 25 plain).
    pub port: u16,
    /// Transport security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name, when the server wants a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Sender: `Ferry <ferry@shop.eu>`.
    pub from: String,
    /// Seconds one SMTP conversation may take before it counts as failed.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

fn default_smtp_timeout() -> u64 {
    10
}

impl SmtpSettings {
    /// Settings for a plain-text server at `host:port`, sending as `from`.
    pub fn plain(host: &str, port: u16, from: &str) -> Self {
        SmtpSettings {
            host: host.to_string(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: from.to_string(),
            timeout_secs: default_smtp_timeout(),
        }
    }
}

// The password stays out of logs.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(value: serde_json::Value) -> Vec<String> {
        let settings: AlertSettings = serde_json::from_value(value).unwrap();
        settings
            .issues(&DocPath::default().key("alerts"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_settings_have_no_issues() {
        assert!(
            issues(json!({
                "channels": [
                    {"type": "email", "to": "a@x.eu, Jane <b@y.fr>", "subject": "{flow} {status} {failed}", "on": "both"},
                    {"type": "webhook", "url": "https://hooks.example.org/T1/abc"}
                ],
                "heartbeat_hours": 24
            }))
            .is_empty()
        );
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let found = issues(json!({
            "channels": [
                {"type": "email", "to": "a@x.eu, not-an-address", "subject": "{flow} {who}"},
                {"type": "email", "to": "a@x.eu,,b@y.fr"},
                {"type": "webhook", "url": "ftp://x.org/hook"}
            ],
            "heartbeat_hours": 0
        }));
        assert_eq!(found.len(), 5, "{found:#?}");
        assert_eq!(
            found[0],
            "alerts.heartbeat_hours: heartbeat_hours must be at least 1"
        );
        assert!(
            found[1].starts_with("alerts.channels[0].to: recipient 2 `not-an-address`"),
            "{}",
            found[1]
        );
        assert!(
            found[2].starts_with("alerts.channels[0].subject: unknown placeholder `{who}`"),
            "{}",
            found[2]
        );
        assert!(
            found[3].starts_with("alerts.channels[1].to: recipient 2 of"),
            "{}",
            found[3]
        );
        assert_eq!(
            found[4],
            "alerts.channels[2].url: webhook URL must be http or https, not `ftp`"
        );
    }

    #[test]
    fn unknown_fields_and_channel_types_are_refused() {
        let bad = serde_json::from_value::<AlertSettings>(json!({"channels": [], "heartbeat": 3}));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown field `heartbeat`")
        );
        let bad = serde_json::from_value::<AlertSettings>(
            json!({"channels": [{"type": "sms", "to": "123"}]}),
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown variant `sms`")
        );
    }

    #[test]
    fn subject_template_fills_placeholders_on_one_line() {
        assert_eq!(
            render_template("{flow}: {status} ({failed})", "orders\nx", "failed", 3),
            "orders x: failed (3)"
        );
    }

    #[test]
    fn smtp_password_is_not_in_debug_output() {
        let mut smtp = SmtpSettings::plain("mail", 25, "f@x.eu");
        smtp.password = Some("hunter2".into());
        assert!(!format!("{smtp:?}").contains("hunter2"));
    }
}
