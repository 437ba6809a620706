//! What an alert says: one [`AlertMessage`] with the facts, rendered as a plain-text email or
//! sent as the webhook's JSON body (shape documented in `docs/alerts.md`).

use std::fmt::Write as _;

use serde::Serialize;

use super::settings::render_template;
use crate::run::RunSummary;
use crate::store::{AlertKind, Outcome, RecordFilter, RunCounts, RunId, RunStatus, Store};

/// How many failed records an alert lists.
pub const FIRST_ERRORS: usize = 5;

/// Version of the webhook body; bumped when a field changes meaning or goes away.
pub const MESSAGE_VERSION: u32 = 1;

/// The flow an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRef {
    /// Flow id.
    pub id: String,
    /// Human name (the id when the flow has none).
    pub name: String,
}

impl FlowRef {
    /// A flow by id and name; an empty name falls back to the id.
    pub fn new(id: &str, name: &str) -> Self {
        FlowRef {
            id: id.to_string(),
            name: if name.is_empty() { id } else { name }.to_string(),
        }
    }
}

/// One failed record, as an alert lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// Business key (order number, SKU), if the record had one.
    pub key: Option<String>,
    /// Step that failed it, if a step did (else the target refused it).
    pub step: Option<String>,
    /// The error.
    pub message: String,
}

/// The first `limit` failed records of a run, in source order, from the activity log.
pub async fn first_errors(
    store: &dyn Store,
    run_id: RunId,
    limit: usize,
) -> crate::store::Result<Vec<RecordError>> {
    let filter = RecordFilter {
        outcome: Some(Outcome::Failed),
        limit: limit as i64,
        // Errors only: no input or output to read.
        payloads: false,
        ..RecordFilter::default()
    };
    Ok(store
        .run_records(run_id, &filter)
        .await?
        .into_iter()
        .map(|r| RecordError {
            key: r.source_key,
            step: r.step_id,
            message: r.error.unwrap_or_else(|| "failed (no message)".to_string()),
        })
        .collect())
}

/// Counts of a run in the webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountsFacts {
    /// Records read.
    pub read: i64,
    /// Created in the target.
    pub created: i64,
    /// Updated in the target.
    pub updated: i64,
    /// Skipped as unchanged.
    pub skipped: i64,
    /// Filtered out.
    pub filtered: i64,
    /// Failed.
    pub failed: i64,
}

impl From<&RunCounts> for CountsFacts {
    fn from(c: &RunCounts) -> Self {
        CountsFacts {
            read: c.read,
            created: c.created,
            updated: c.updated,
            skipped: c.skipped,
            filtered: c.filtered,
            failed: c.failed,
        }
    }
}

/// The run a failure or success alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFacts {
    /// Run id.
    pub id: RunId,
    /// `succeeded`, `failed` or `error`.
    pub status: String,
    /// Link to the run in Ferry.
    pub url: String,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
    /// Counts.
    pub counts: CountsFacts,
    /// Wall-clock duration in milliseconds.
    pub elapsed_ms: u64,
}

/// The silence a heartbeat alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeartbeatFacts {
    /// The flow's heartbeat period.
    pub hours: u32,
    /// End of the last successful run; `null` when the flow never succeeded.
    pub last_success_at: Option<String>,
}

/// Everything an alert says. Serialized as is, it is the webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertMessage {
    /// Body format version ([`MESSAGE_VERSION`]).
    pub version: u32,
    /// `failure`, `success`, `heartbeat` or `test`.
    pub kind: AlertKind,
    /// The flow.
    pub flow: FlowRef,
    /// The run, for failure and success alerts.
    pub run: Option<RunFacts>,
    /// How many records failed in the run (0 without a run).
    pub failed: i64,
    /// The first failed records (at most [`FIRST_ERRORS`]).
    pub first_errors: Vec<RecordError>,
    /// The silence, for heartbeat alerts.
    pub heartbeat: Option<HeartbeatFacts>,
    /// When the alert was made, RFC 3339 UTC.
    pub sent_at: String,
}

/// `{base_url}/runs/{run_id}`, without a doubled slash.
pub fn run_link(base_url: &str, run_id: RunId) -> String {
    format!("{}/runs/{run_id}", base_url.trim_end_matches('/'))
}

impl AlertMessage {
    /// The alert for a finished run: failure unless it succeeded.
    pub fn run_finished(
        flow: &FlowRef,
        run: &RunSummary,
        first_errors: &[RecordError],
        base_url: &str,
    ) -> Self {
        let kind = if run.status == RunStatus::Succeeded {
            AlertKind::Success
        } else {
            AlertKind::Failure
        };
        AlertMessage {
            version: MESSAGE_VERSION,
            kind,
            flow: flow.clone(),
            run: Some(RunFacts {
                id: run.run_id,
                status: run.status.to_string(),
                url: run_link(base_url, run.run_id),
                error: run.error.clone(),
                counts: CountsFacts::from(&run.counts),
                elapsed_ms: u64::try_from(run.elapsed.as_millis()).unwrap_or(u64::MAX),
            }),
            failed: run.counts.failed,
            first_errors: first_errors.iter().take(FIRST_ERRORS).cloned().collect(),
            heartbeat: None,
            sent_at: crate::store::now(),
        }
    }

    /// The alert for a flow silent for longer than `hours`.
    pub fn heartbeat(flow: &FlowRef, hours: u32, last_success_at: Option<String>) -> Self {
        AlertMessage {
            version: MESSAGE_VERSION,
            kind: AlertKind::Heartbeat,
            flow: flow.clone(),
            run: None,
            failed: 0,
            first_errors: Vec::new(),
            heartbeat: Some(HeartbeatFacts {
                hours,
                last_success_at,
            }),
            sent_at: crate::store::now(),
        }
    }

    /// A test alert: it checks the channels and reports nothing.
    pub fn test(flow: &FlowRef) -> Self {
        AlertMessage {
            version: MESSAGE_VERSION,
            kind: AlertKind::Test,
            flow: flow.clone(),
            run: None,
            failed: 0,
            first_errors: Vec::new(),
            heartbeat: None,
            sent_at: crate::store::now(),
        }
    }

    /// What `{status}` stands for: the run's status, or `heartbeat` / `test`.
    pub fn status_text(&self) -> &str {
        match (&self.run, self.kind) {
            (Some(run), _) => &run.status,
            (None, AlertKind::Heartbeat) => "no recent success",
            (None, _) => self.kind.as_str(),
        }
    }

    /// The email subject from a template (see [`super::settings::DEFAULT_SUBJECT`]).
    pub fn subject(&self, template: &str) -> String {
        render_template(template, &self.flow.name, self.status_text(), self.failed)
    }

    /// The plain-text email body.
    pub fn text_body(&self) -> String {
        let mut out = String::new();
        let flow = &self.flow;
        // Writing to a String cannot fail.
        let _ = match self.kind {
            AlertKind::Failure | AlertKind::Success => {
                writeln!(out, "Flow: {} ({})", flow.name, flow.id)
            }
            AlertKind::Heartbeat => writeln!(
                out,
                "Flow {} ({}) has had no successful run for more than {} hours.",
                flow.name,
                flow.id,
                self.heartbeat.as_ref().map_or(0, |h| h.hours)
            ),
            AlertKind::Test => writeln!(
                out,
                "This is a test alert for flow {} ({}): this channel works.",
                flow.name, flow.id
            ),
        };
        if let Some(run) = &self.run {
            let c = &run.counts;
            let _ = writeln!(out, "Run: {}", run.id);
            let _ = writeln!(out, "Status: {}", run.status);
            if let Some(error) = &run.error {
                let _ = writeln!(out, "Stopped early: {error}");
            }
            let _ = writeln!(
                out,
                "Records: {} read, {} created, {} updated, {} skipped, {} filtered, {} failed",
                c.read, c.created, c.updated, c.skipped, c.filtered, c.failed
            );
            let _ = writeln!(out, "Failed records: {}", self.failed);
            if !self.first_errors.is_empty() {
                let _ = writeln!(out);
                let _ = writeln!(out, "First errors:");
                for e in &self.first_errors {
                    let key = e.key.as_deref().unwrap_or("(no key)");
                    match &e.step {
                        Some(step) => {
                            let _ = writeln!(out, "- {key} (step {step}): {}", e.message);
                        }
                        None => {
                            let _ = writeln!(out, "- {key}: {}", e.message);
                        }
                    }
                }
            }
            let _ = writeln!(out);
            let _ = writeln!(out, "Run details: {}", run.url);
        }
        if let Some(h) = &self.heartbeat {
            let _ = match &h.last_success_at {
                Some(at) => writeln!(out, "Last successful run ended at {at}."),
                None => writeln!(out, "The flow has never had a successful run."),
            };
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "-- Ferry");
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn failed_run() -> RunSummary {
        RunSummary {
            run_id: 42,
            status: RunStatus::Failed,
            counts: RunCounts {
                read: 10,
                created: 6,
                updated: 1,
                skipped: 0,
                filtered: 1,
                failed: 2,
            },
            error: None,
            elapsed: Duration::from_millis(1500),
        }
    }

    fn errors() -> Vec<RecordError> {
        (1..=7)
            .map(|i| RecordError {
                key: Some(format!("#10{i}")),
                step: (i == 1).then(|| "map".to_string()),
                message: format!("problem {i}"),
            })
            .collect()
    }

    #[test]
    fn failure_message_lists_first_five_errors_and_the_link() {
        let flow = FlowRef::new("orders", "Shop orders");
        let m =
            AlertMessage::run_finished(&flow, &failed_run(), &errors(), "https://ferry.shop.eu/");
        assert_eq!(m.kind, AlertKind::Failure);
        assert_eq!(m.first_errors.len(), 5);
        let body = m.text_body();
        assert!(body.contains("Flow: Shop orders (orders)"), "{body}");
        assert!(body.contains("Run: 42"), "{body}");
        assert!(body.contains("Failed records: 2"), "{body}");
        assert!(body.contains("- #101 (step map): problem 1"), "{body}");
        assert!(body.contains("- #105: problem 5"), "{body}");
        assert!(!body.contains("problem 6"), "{body}");
        assert!(
            body.contains("Run details: https://ferry.shop.eu/runs/42"),
            "{body}"
        );
        assert_eq!(
            m.subject(super::super::settings::DEFAULT_SUBJECT),
            "[Ferry] Shop orders: failed (2 failed)"
        );
    }

    #[test]
    fn webhook_body_has_the_documented_shape() {
        let flow = FlowRef::new("orders", "");
        let m = AlertMessage::run_finished(&flow, &failed_run(), &errors()[..1], "http://f");
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["kind"], "failure");
        assert_eq!(
            v["flow"],
            serde_json::json!({"id": "orders", "name": "orders"})
        );
        assert_eq!(v["run"]["id"], 42);
        assert_eq!(v["run"]["status"], "failed");
        assert_eq!(v["run"]["url"], "http://f/runs/42");
        assert_eq!(v["run"]["counts"]["failed"], 2);
        assert_eq!(v["run"]["elapsed_ms"], 1500);
        assert_eq!(v["failed"], 2);
        assert_eq!(
            v["first_errors"][0],
            serde_json::json!({"key": "#101", "step": "map", "message": "problem 1"})
        );
        assert!(v["heartbeat"].is_null());
    }

    #[test]
    fn heartbeat_message_says_since_when() {
        let flow = FlowRef::new("stock", "Stock sync");
        let m = AlertMessage::heartbeat(&flow, 24, Some("2026-11-20T10:00:00.000Z".into()));
        let body = m.text_body();
        assert!(
            body.contains("no successful run for more than 24 hours"),
            "{body}"
        );
        assert!(body.contains("2026-11-20T10:00:00.000Z"), "{body}");
        assert_eq!(
            m.subject("{flow}: {status}"),
            "Stock sync: no recent success"
        );
    }
}
