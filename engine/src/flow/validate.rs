//! Flow validation: everything that can be checked before a run, reported all at once, each
//! problem with its field path, step id and (given the source text) line and column.

use std::collections::HashSet;
use std::fmt;

use super::load::{DocPath, locate};
use super::model::{FLOW_FORMAT_VERSION, Flow, Trigger};
use crate::connector::{Direction, Registry};
use crate::plan::CompiledFlow;

/// One problem found in a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowIssue {
    /// Where: `steps[1].fields[3].value.path`.
    pub path: DocPath,
    /// Id of the step the problem is in, if any.
    pub step_id: Option<String>,
    /// What is wrong and, where we can tell, how to fix it.
    pub message: String,
    /// Line and column in the flow file, when the source text is known.
    pub position: Option<(usize, usize)>,
}

impl FlowIssue {
    /// An issue at `path`.
    pub fn new(path: DocPath, step_id: Option<&str>, message: impl Into<String>) -> Self {
        FlowIssue {
            path,
            step_id: step_id.map(str::to_string),
            message: message.into(),
            position: None,
        }
    }
}

impl fmt::Display for FlowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.position {
            write!(f, "{line}:{column}: ")?;
        }
        write!(f, "{}", self.path)?;
        if let Some(step) = &self.step_id {
            write!(f, " (step `{step}`)")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks `flow` and compiles its expressions. With a registry, connector kinds and operations
/// are checked too. With the source `text`, issues get line and column.
pub fn validate(flow: &Flow, registry: Option<&Registry>, text: Option<&str>) -> Vec<FlowIssue> {
    let mut issues = structural_issues(flow, registry);
    if let Err(mut compile_issues) = CompiledFlow::compile(flow) {
        issues.append(&mut compile_issues);
    }
    if let Some(text) = text {
        for issue in &mut issues {
            issue.position = locate(text, &issue.path);
        }
    }
    issues
}

fn structural_issues(flow: &Flow, registry: Option<&Registry>) -> Vec<FlowIssue> {
    let root = DocPath::default();
    let mut issues = Vec::new();
    if flow.version != FLOW_FORMAT_VERSION {
        issues.push(FlowIssue::new(root.key("version"), None, format!("unsupported flow format version {}; this Ferry reads version {FLOW_FORMAT_VERSION}", flow.version)));
    }
    if flow.id.is_empty()
        || !flow
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        issues.push(FlowIssue::new(
            root.key("id"),
            None,
            "flow id must be non-empty and use only letters, digits, `_` and `-`",
        ));
    }
    if let Trigger::Schedule { interval, cron, .. } = &flow.trigger {
        let path = root.key("trigger");
        let before = issues.len();
        match (interval, cron) {
            (Some(interval), None) if crate::runtime::parse_interval(interval).is_err() => {
                issues.push(FlowIssue::new(path.key("interval"), None, format!("interval `{interval}` is not a number followed by m, h or d (`15m`, `2h`, `1d`)")));
            }
            (None, Some(cron)) if cron.split_whitespace().count() != 5 => {
                issues.push(FlowIssue::new(path.key("cron"), None, format!("cron `{cron}` must have five fields: minute hour day-of-month month day-of-week")));
            }
            (Some(_), Some(_)) | (None, None) => {
                issues.push(FlowIssue::new(
                    path.clone(),
                    None,
                    "a schedule needs exactly one of `interval` or `cron`",
                ));
            }
            _ => {}
        }
        // The shape is right: check what only parsing tells (cron fields, time zone, start).
        if issues.len() == before
            && let Err(e) = crate::runtime::Schedule::from_trigger(&flow.trigger)
        {
            issues.push(FlowIssue::new(path, None, e));
        }
    }
    let mut seen = HashSet::new();
    for (i, step) in flow.steps.iter().enumerate() {
        let path = root.key("steps").index(i).key("id");
        if step.id().is_empty() {
            issues.push(FlowIssue::new(path, None, "step id must not be empty"));
        } else if !seen.insert(step.id()) {
            issues.push(FlowIssue::new(
                path,
                Some(step.id()),
                format!("duplicate step id `{}`; step ids must be unique", step.id()),
            ));
        }
    }
    let ends = [
        (
            "source",
            &flow.source.connection,
            &flow.source.operation,
            Direction::Read,
        ),
        (
            "target",
            &flow.target.connection,
            &flow.target.operation,
            Direction::Write,
        ),
    ];
    for (end, connection, operation, direction) in ends {
        let path = root.key(end);
        let Some(conn) = flow.connections.get(connection) else {
            let known: Vec<&str> = flow.connections.keys().map(String::as_str).collect();
            issues.push(FlowIssue::new(
                path.key("connection"),
                None,
                format!(
                    "no connection named `{connection}` (defined: {})",
                    known.join(", ")
                ),
            ));
            continue;
        };
        let Some(registry) = registry else { continue };
        let Some(spec) = registry.spec(&conn.connector) else {
            let kinds: Vec<&str> = registry.kinds().collect();
            issues.push(FlowIssue::new(
                root.key("connections").key(connection).key("connector"),
                None,
                format!(
                    "unknown connector `{}` (known: {})",
                    conn.connector,
                    kinds.join(", ")
                ),
            ));
            continue;
        };
        match spec.operation(operation) {
            None => {
                let ops: Vec<&str> = spec
                    .operations
                    .iter()
                    .filter(|o| o.direction == direction)
                    .map(|o| o.name)
                    .collect();
                issues.push(FlowIssue::new(
                    path.key("operation"),
                    None,
                    format!(
                        "connector `{}` has no operation `{operation}` (it offers: {})",
                        spec.kind,
                        ops.join(", ")
                    ),
                ));
            }
            Some(op) if op.direction != direction => {
                issues.push(FlowIssue::new(
                    path.key("operation"),
                    None,
                    format!(
                        "operation `{operation}` of `{}` cannot be used as the {end}",
                        spec.kind
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if flow.target.batch_size == 0 {
        issues.push(FlowIssue::new(
            root.key("target").key("batch_size"),
            None,
            "batch_size must be at least 1",
        ));
    }
    if flow.target.concurrency == 0 || flow.target.concurrency > 256 {
        issues.push(FlowIssue::new(
            root.key("target").key("concurrency"),
            None,
            "concurrency must be between 1 and 256",
        ));
    }
    if flow.target.retry.max_attempts == 0 {
        issues.push(FlowIssue::new(
            root.key("target").key("retry").key("max_attempts"),
            None,
            "max_attempts counts the first attempt and must be at least 1",
        ));
    }
    let retry = &flow.target.retry;
    if retry.initial_interval_ms < 1_000 {
        issues.push(FlowIssue::new(
            root.key("target").key("retry").key("initial_interval_ms"),
            None,
            "the first retry waits at least 1000 ms",
        ));
    } else if retry.max_attempts >= 4
        && (1..=3)
            .map(|a| retry.interval(a, 0.0))
            .sum::<std::time::Duration>()
            < std::time::Duration::from_secs(10)
    {
        // Targets are not hammered: one record gets at most 3 attempts in its first 10 s.
        issues.push(FlowIssue::new(
            root.key("target").key("retry"),
            None,
            "with these waits a record gets a 4th attempt within 10 s: raise initial_interval_ms (2000 gives 0 s, 2 s, 6 s, 14 s) or lower max_attempts to 3",
        ));
    }
    if let Some(alerts) = &flow.alerts {
        issues.extend(alerts.issues(&root.key("alerts")));
    }
    for (name, map) in &flow.value_maps {
        if map.fail_if_unmapped && map.default.is_some() {
            issues.push(FlowIssue::new(
                root.key("value_maps").key(name).key("default"),
                None,
                "a map that fails when unmapped never uses its default; remove one of the two",
            ));
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(extra: serde_json::Value) -> Vec<String> {
        let mut doc = json!({
            "version": 1, "id": "f",
            "connections": {"a": {"connector": "file"}},
            "source": {"connection": "a", "operation": "read"},
            "target": {"connection": "a", "operation": "write"}
        });
        if let (serde_json::Value::Object(d), serde_json::Value::Object(e)) = (&mut doc, extra) {
            d.extend(e);
        }
        let flow: Flow = serde_json::from_value(doc).unwrap();
        validate(&flow, None, None)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn retries_wait_at_least_a_second_and_never_make_four_attempts_in_ten_seconds() {
        let retry = |r: serde_json::Value| {
            issues(json!({"target": {"connection": "a", "operation": "write", "retry": r}}))
        };
        assert!(
            retry(
                json!({"max_attempts": 4, "initial_interval_ms": 2000, "max_interval_ms": 30000})
            )
            .is_empty()
        );
        assert!(
            retry(json!({"max_attempts": 3, "initial_interval_ms": 1000, "max_interval_ms": 2000}))
                .is_empty()
        );
        let fast =
            retry(json!({"max_attempts": 3, "initial_interval_ms": 200, "max_interval_ms": 2000}));
        assert!(
            fast[0].contains("target.retry.initial_interval_ms") && fast[0].contains("1000 ms"),
            "{fast:?}"
        );
        let hammering =
            retry(json!({"max_attempts": 5, "initial_interval_ms": 1000, "max_interval_ms": 2000}));
        assert!(
            hammering[0].contains("4th attempt within 10 s"),
            "{hammering:?}"
        );
    }

    #[test]
    fn schedules_need_one_valid_interval_or_cron() {
        assert!(issues(json!({"trigger": {"type": "schedule", "interval": "15m"}})).is_empty());
        assert!(issues(json!({"trigger": {"type": "schedule", "cron": "*/5 * * * *"}})).is_empty());
        assert_eq!(
            issues(json!({"trigger": {"type": "schedule", "interval": "soon"}})),
            [
                "trigger.interval: interval `soon` is not a number followed by m, h or d (`15m`, `2h`, `1d`)"
            ]
        );
        assert_eq!(
            issues(json!({"trigger": {"type": "schedule"}})),
            ["trigger: a schedule needs exactly one of `interval` or `cron`"]
        );
        assert!(
            issues(json!({"trigger": {"type": "schedule", "cron": "* *"}}))[0]
                .contains("five fields")
        );
    }

    #[test]
    fn structure_problems_are_all_reported() {
        let found = issues(json!({
            "version": 2, "id": "bad id",
            "source": {"connection": "nope", "operation": "read"},
            "target": {"connection": "a", "operation": "write", "batch_size": 0, "concurrency": 0, "retry": {"max_attempts": 0}},
            "steps": [{"id": "s", "type": "filter", "condition": "true"}, {"id": "s", "type": "filter", "condition": "true"}],
            "value_maps": {"m": {"entries": {}, "default": 1, "fail_if_unmapped": true}}
        }));
        let paths: Vec<&str> = found.iter().map(|i| i.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "version",
                "id",
                "steps[1].id (step `s`)",
                "source.connection",
                "target.batch_size",
                "target.concurrency",
                "target.retry.max_attempts",
                "value_maps.m.default",
            ]
        );
    }

    #[test]
    fn alert_settings_are_checked_with_their_path() {
        assert!(issues(json!({"alerts": {"channels": [{"type": "email", "to": "ops@shop.eu, b@y.fr"}], "heartbeat_hours": 6}})).is_empty());
        assert_eq!(
            issues(json!({"alerts": {"channels": [{"type": "webhook", "url": "mailto:x@y.z"}]}})),
            ["alerts.channels[0].url: webhook URL must be http or https, not `mailto`"]
        );
    }
}
