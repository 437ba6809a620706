//! The flow file format. These serde types are the only schema: `ferry schema flow` prints the
//! JSON Schema generated from them, and `docs/flows.md` documents them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::AlertSettings;
use crate::expr::ScriptLimits;

/// The flow file format version this build reads.
pub const FLOW_FORMAT_VERSION: u32 = 1;

/// A flow: trigger → source → steps → target.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Flow file format version; always 1 for now.
    pub version: u32,
    /// Stable identifier, snake_case or kebab-case (`shopify-orders-to-exact`).
    pub id: String,
    /// Human name shown in lists.
    #[serde(default)]
    pub name: String,
    /// The tenant (merchant) the flow belongs to; none for the installation's own flows
    /// (the `default` tenant). Its runs see only this tenant's stored connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// What the flow does, for the people who maintain it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What starts a run.
    #[serde(default)]
    pub trigger: Trigger,
    /// Named connections the source and target refer to.
    pub connections: BTreeMap<String, Connection>,
    /// Where records come from.
    pub source: Source,
    /// What is done to each record, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Where records go.
    pub target: Target,
    /// Value maps shared by the flow's steps (`payment_method` → ERP code).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub value_maps: BTreeMap<String, ValueMap>,
    /// Settings scripts can read as `settings.name`; templates expose them to merchants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, Value>,
    /// Limits for every script of this flow.
    #[serde(default)]
    pub script_limits: ScriptLimits,
    /// Who hears about failed or successful runs and long silences (`docs/alerts.md`).
    /// Replaces the tenant's default alert settings when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertSettings>,
}

/// What starts a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Only when started by hand (`ferry run`, the API).
    #[default]
    Manual,
    /// On a schedule: give either `interval` or `cron`.
    Schedule {
        /// Fixed interval: `15m`, `2h`, `1d`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<String>,
        /// Cron expression with five fields: `minute hour day-of-month month day-of-week`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cron: Option<String>,
        /// IANA time zone the schedule is read in (default UTC).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
        /// First firing, `2026-12-01T06:00` in the schedule's time zone (or RFC 3339 with an
        /// offset). Intervals count from it; before it the schedule does not fire.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<String>,
    },
    /// When a webhook is posted to the flow's hook URL (`POST /hooks/{flow_id}/{token}`); the
    /// body (one JSON object, or an array of them) becomes the run's records.
    Webhook {
        /// Secret for HMAC-SHA256 of the raw body (`${VAR}` placeholders allowed). When set, a
        /// delivery without a valid signature is refused with 401.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// Header carrying the signature, as base64 or hex, optionally prefixed `sha256=`
        /// (default `X-Ferry-Signature`; `X-Shopify-Hmac-Sha256` and `X-WC-Webhook-Signature`
        /// work as they are).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature_header: Option<String>,
        /// Header carrying the delivery id; a delivery id seen before is acknowledged and
        /// ignored (default: the first of `X-Delivery-Id`, `X-Shopify-Webhook-Id`,
        /// `X-WC-Webhook-Delivery-ID`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery_id_header: Option<String>,
        /// Largest body accepted, in KiB (default 1024).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_body_kib: Option<u32>,
    },
}

/// A connection: which connector, and its configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Connector kind (`http`, `file`, …).
    pub connector: String,
    /// Name of a connection stored for the flow's tenant (`ferry connection add`): its
    /// settings and decrypted credentials are used, with `config` merged over them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<String>,
    /// Connector settings; see the connector's reference. Strings may hold `${ENV_VAR}`.
    #[serde(default)]
    pub config: Value,
}

/// Where records come from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Name of a connection in `connections`.
    pub connection: String,
    /// Get-side operation of that connector (`read`, `get_orders`, …).
    pub operation: String,
    /// Operation parameters (filters, page size, …).
    #[serde(default)]
    pub params: Value,
    /// JSONPath to the record's business key (order id, SKU): the activity log and the ledger
    /// key records by it.
    #[serde(default = "default_key")]
    pub key: String,
    /// Read only what changed since the last run: the flow keeps a cursor (the highest value of
    /// `field` among records whose outcome is committed) and passes it to the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<Incremental>,
}

/// Incremental reads by a modification date or an increasing id.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// JSONPath to the value the cursor follows in each record (`$.updated_at`, `$.id`).
    /// RFC 3339 dates compare as instants, numbers as numbers; a date without an offset is
    /// read as UTC (WooCommerce's `$.date_modified_gmt`).
    pub field: String,
    /// Dot path in the source `params` where the cursor is written before reading
    /// (`query.updated_at_min` for the `http` connector, `updated_at_min` for `shopify`,
    /// `modified_after` for `woocommerce`).
    pub param: String,
    /// Minutes read again before the cursor (dates only), so records written late are not
    /// missed; the ledger skips the ones already sent.
    #[serde(default)]
    pub overlap_minutes: u32,
    /// Value to read from when the flow has no cursor yet (first run). Without it, the first
    /// run reads everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Value>,
}

fn default_key() -> String {
    "$.id".to_string()
}

/// Where records go.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Name of a connection in `connections`.
    pub connection: String,
    /// Send-side operation of that connector (`write`, `send_order`, …).
    pub operation: String,
    /// Operation parameters.
    #[serde(default)]
    pub params: Value,
    /// Records per request; above 1, records are sent as arrays.
    #[serde(default = "one")]
    pub batch_size: usize,
    /// Requests in flight at once.
    #[serde(default = "one")]
    pub concurrency: usize,
    /// What to do with a record the ledger has already seen.
    #[serde(default)]
    pub on_existing: OnExisting,
    /// Retries of failed sends.
    #[serde(default)]
    pub retry: Retry,
}

fn one() -> usize {
    1
}

/// What to do with a record whose key the ledger already maps to a target object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnExisting {
    /// Send it as an update when its payload changed, skip it when unchanged.
    #[default]
    Update,
    /// Never send it again (orders: an order is created once).
    Skip,
}

/// Retry policy of sends that failed with a retryable error (timeout, 429, 5xx).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds.
    pub initial_interval_ms: u64,
    /// Longest wait between attempts, in milliseconds.
    pub max_interval_ms: u64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 4,
            // 0 s, 2 s, 6 s, 14 s: never more than 3 attempts in a record's first 10 s.
            initial_interval_ms: 2_000,
            max_interval_ms: 30_000,
        }
    }
}

impl Retry {
    /// Wait before attempt `attempt + 1` (attempt counts from 1): exponential, capped, with up
    /// to 25 % jitter so retries of many records do not arrive together.
    pub fn interval(&self, attempt: u32, jitter: f64) -> std::time::Duration {
        let exp = self
            .initial_interval_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_interval_ms) as f64;
        std::time::Duration::from_millis((capped * (1.0 + 0.25 * jitter.clamp(0.0, 1.0))) as u64)
    }
}

/// One step of a flow.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Builds a new record field by field.
    Mapping {
        /// Unique step id.
        id: String,
        /// The target record's fields, in output order.
        fields: Vec<Field>,
        /// What a field error does to the record.
        #[serde(default)]
        on_error: OnError,
    },
    /// Keeps records for which a Rhai predicate is true; others are logged as `filtered`.
    Filter {
        /// Unique step id.
        id: String,
        /// Rhai expression over `record` and `settings`, true to keep.
        condition: String,
        /// What an error in the condition does to the record.
        #[serde(default)]
        on_error: OnError,
    },
    /// Replaces the record by what a Rhai script returns.
    Script {
        /// Unique step id.
        id: String,
        /// Rhai statements over `record` and `settings`; the last expression is the new record.
        script: String,
        /// What a script error does to the record.
        #[serde(default)]
        on_error: OnError,
    },
}

impl Step {
    /// The step's id.
    pub fn id(&self) -> &str {
        match self {
            Step::Mapping { id, .. } | Step::Filter { id, .. } | Step::Script { id, .. } => id,
        }
    }
}

/// What an error in a step does to the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The record fails (it can be replayed after the flow is fixed).
    #[default]
    Fail,
    /// The record is logged as filtered and not sent.
    Skip,
}

/// One target field and where its value comes from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Target path: `email`, `customer.address.city`, `lines[*].sku`, `tags[0]`.
    pub target: String,
    /// Where the value comes from.
    pub value: FieldValue,
    /// Rhai expression applied to the value (`value`), with `record` and `settings` in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    /// Value used when the source gives nothing (no match, null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Leave the field out of the record when it has no value (instead of writing null).
    #[serde(default)]
    pub omit_if_missing: bool,
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldValue {
    /// A JSONPath query into the record.
    Jsonpath {
        /// The query (`$.customer.email`, `$.line_items[*].sku`).
        path: String,
        /// How many nodes to take.
        #[serde(default)]
        cardinality: Cardinality,
    },
    /// A Rhai expression or script over `record` and `settings`.
    Rhai {
        /// The expression; several lines of statements are allowed, the last one is the value.
        script: String,
    },
    /// A constant.
    Static {
        /// The value.
        value: Value,
    },
    /// A text with `{$.json.path}` placeholders: `"{$.first_name} {$.last_name}"`.
    Template {
        /// The template.
        template: String,
    },
    /// A value looked up in a value map.
    ValueMap {
        /// JSONPath to the key in the record.
        path: String,
        /// Name of a map in the flow's `value_maps`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        map: Option<String>,
        /// Or the map itself, inline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inline: Option<ValueMap>,
    },
    /// One output element per node the query selects, each built from `fields`; inside, JSONPaths
    /// and scripts see the element as the record (and `$parent`-free: use a template field first).
    ForEach {
        /// JSONPath to the elements (`$.line_items[*]`).
        path: String,
        /// The fields of each output element.
        fields: Vec<Field>,
    },
}

/// How many nodes a JSONPath field takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cardinality {
    /// The first node; nothing when none matches.
    #[default]
    First,
    /// Every node, as an array (empty when none matches).
    All,
    /// The first node; the record fails when none matches.
    Required,
}

/// A value map: source value → target value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueMap {
    /// Source value (as text) → target value.
    pub entries: BTreeMap<String, Value>,
    /// Value for source values that are not listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Fail the record when the source value is not listed, even if there is a default.
    #[serde(default)]
    pub fail_if_unmapped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn retry_interval_grows_caps_and_jitters() {
        let r = Retry {
            max_attempts: 5,
            initial_interval_ms: 1_000,
            max_interval_ms: 5_000,
        };
        assert_eq!(r.interval(1, 0.0).as_millis(), 1_000);
        assert_eq!(r.interval(2, 0.0).as_millis(), 2_000);
        assert_eq!(r.interval(5, 0.0).as_millis(), 5_000);
        assert_eq!(r.interval(1, 1.0).as_millis(), 1_250);
    }

    #[test]
    fn minimal_flow_parses_with_defaults() {
        let flow: Flow = serde_json::from_value(json!({
            "version": 1, "id": "f",
            "connections": {"a": {"connector": "file", "config": {}}},
            "source": {"connection": "a", "operation": "read"},
            "target": {"connection": "a", "operation": "write"}
        }))
        .unwrap();
        assert_eq!(flow.source.key, "$.id");
        assert_eq!(flow.target.batch_size, 1);
        assert!(matches!(flow.trigger, Trigger::Manual));
        assert_eq!(flow.target.retry.max_attempts, 4);
    }

    #[test]
    fn field_value_kinds_round_trip() {
        let fields = json!([
            {"target": "a", "value": {"type": "jsonpath", "path": "$.a", "cardinality": "required"}},
            {"target": "b", "value": {"type": "rhai", "script": "record.b * 2"}},
            {"target": "c", "value": {"type": "static", "value": 3}},
            {"target": "d", "value": {"type": "template", "template": "{$.x}-{$.y}"}},
            {"target": "e", "value": {"type": "value_map", "path": "$.s", "map": "status"}},
            {"target": "f", "value": {"type": "for_each", "path": "$.l[*]", "fields": [
                {"target": "sku", "value": {"type": "jsonpath", "path": "$.sku"}}]}}
        ]);
        let parsed: Vec<Field> = serde_json::from_value(fields.clone()).unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back[0]["value"]["cardinality"], "required");
        assert_eq!(back[5]["value"]["fields"][0]["target"], "sku");
        assert_eq!(back.as_array().unwrap().len(), 6);
    }
}
