//! A target's pause (`Retry-After`) shared through the database, so that every run and every
//! worker process on it holds its requests until the target's wait is over.
//!
//! The pause is keyed by [`TargetKey`]: the tenant and what identifies the remote system (see
//! `docs/adr/0008-target-pause-in-the-database.md`). A send reads the stored pause at most every
//! [`READ_EVERY`] (and learns the latest end at once when it stores one itself), and folds it
//! into the in-process [`RateGate`], which the sender already waits on or parks behind.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tracing::warn;

use super::send::RateGate;
use crate::connector::LONGEST_TARGET_WAIT;
use crate::flow::Flow;
use crate::store::{Store, TargetPause, stamp};

/// Longest a send trusts its last read of the stored pause: another process's pause reaches
/// this one within it (plus the time of one query).
pub(crate) const READ_EVERY: Duration = Duration::from_millis(250);

/// The remote system a flow's target connection talks to, within its tenant. Every flow of the
/// tenant that reaches the same system gets the same key, so they share its pause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetKey {
    /// Tenant of the flow (`default` for the installation's own flows).
    pub tenant: String,
    /// `{connector}:stored:{name}` for a stored connection; `{connector}:{origin}` for an inline
    /// config with a URL (the origin of its first URL-valued setting, placeholders resolved);
    /// `{connector}:config:{hash}` for a config without one.
    pub target: String,
}

impl TargetKey {
    /// The key of `flow`'s target connection. `resolve` expands `${VAR}` placeholders of inline
    /// settings (a setting it cannot expand is keyed by its text as written).
    pub fn of(flow: &Flow, resolve: &dyn Fn(&str) -> Result<String, String>) -> TargetKey {
        let tenant = flow.tenant.clone().unwrap_or_else(|| "default".to_string());
        let name = &flow.target.connection;
        let target = match flow.connections.get(name) {
            None => format!("connection:{name}"),
            Some(conn) => match &conn.stored {
                // A stored connection is the tenant's account at one system: every flow bound
                // to it writes there.
                Some(stored) => format!("{}:stored:{stored}", conn.connector),
                None => match url_origin(&conn.config, resolve) {
                    Some(origin) => format!("{}:{origin}", conn.connector),
                    None => format!("{}:config:{}", conn.connector, config_hash(&conn.config)),
                },
            },
        };
        TargetKey { tenant, target }
    }
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.tenant, self.target)
    }
}

/// `scheme://host[:port]` of the first top-level string setting (in key order) that is an
/// absolute http(s) URL: `base_url`, `shop_url`, `store_url`. Paths and queries are left out
/// because a system limits its clients per host, not per endpoint.
fn url_origin(config: &Value, resolve: &dyn Fn(&str) -> Result<String, String>) -> Option<String> {
    config.as_object()?.values().find_map(|value| {
        let text = value.as_str()?;
        let text = resolve(text).unwrap_or_else(|_| text.to_string());
        let url = url::Url::parse(text.trim()).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .then(|| url.origin().ascii_serialization())
    })
}

/// A short hash of a config without a URL (a file path): its text may hold credentials, which
/// must not end up in the pause's key.
fn config_hash(config: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_string(config).unwrap_or_default().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The stored pause of one target, as a run's sends see it.
pub(crate) struct SharedPause {
    store: Arc<dyn Store>,
    key: TargetKey,
    /// When the stored pause was last read; `None` until the first read. Held across the
    /// query, so the run's other sends wait for a read in flight instead of sending past it.
    read_at: tokio::sync::Mutex<Option<Instant>>,
}

impl SharedPause {
    pub(crate) fn new(store: Arc<dyn Store>, key: TargetKey) -> Self {
        SharedPause {
            store,
            key,
            read_at: tokio::sync::Mutex::new(None),
        }
    }

    /// Closes `gate` until the stored pause ends, reading the store unless another send of the
    /// run read it less than [`READ_EVERY`] ago. A store failure leaves the gate as it is: the
    /// pause this process learned itself still holds.
    pub(crate) async fn refresh(&self, gate: &RateGate) {
        let mut read_at = self.read_at.lock().await;
        if read_at.is_some_and(|at| at.elapsed() < READ_EVERY) {
            return;
        }
        *read_at = Some(Instant::now());
        match self
            .store
            .target_pause(&self.key.tenant, &self.key.target)
            .await
        {
            Ok(Some(pause)) => hold_until(gate, &pause),
            Ok(None) => {}
            Err(e) => {
                warn!(target = %self.key, error = %e, "Reading the target's pause failed; using this process's.")
            }
        }
    }

    /// Stores that the target asked to wait `wait` from now, and closes `gate` until the pause
    /// in effect ends (a later one another process stored wins).
    pub(crate) async fn record(
        &self,
        gate: &RateGate,
        wait: Duration,
        status: Option<u16>,
        reason: &str,
    ) {
        let wait = wait.min(LONGEST_TARGET_WAIT);
        let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        let pause = TargetPause {
            tenant_id: self.key.tenant.clone(),
            target: self.key.target.clone(),
            paused_until: stamp(until),
            status: status.map(i64::from),
            retry_after_ms: i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
            reason: reason.to_string(),
        };
        match self.store.extend_target_pause(&pause).await {
            Ok(in_effect) => {
                hold_until(gate, &in_effect);
                *self.read_at.lock().await = Some(Instant::now());
            }
            Err(e) => {
                warn!(target = %self.key, error = %e, "Storing the target's pause failed; only this process holds it.")
            }
        }
    }
}

/// Closes `gate` until the end of a stored pause (an unreadable time is ignored, as if none).
fn hold_until(gate: &RateGate, pause: &TargetPause) {
    let Ok(until) = DateTime::parse_from_rfc3339(&pause.paused_until) else {
        return;
    };
    if let Ok(left) = (until.with_timezone(&Utc) - Utc::now()).to_std() {
        gate.hold(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::load::parse_flow;
    use serde_json::json;

    fn flow(tenant: Option<&str>, erp: Value) -> Flow {
        let mut doc = json!({
            "version": 1,
            "id": "f",
            "connections": {"shop": {"connector": "file", "config": {"path": "in.json"}}, "erp": erp},
            "source": {"connection": "shop", "operation": "read"},
            "target": {"connection": "erp", "operation": "write"}
        });
        if let Some(t) = tenant {
            doc["tenant"] = json!(t);
        }
        parse_flow(&doc.to_string(), "f.json").unwrap()
    }

    fn env(text: &str) -> Result<String, String> {
        Ok(text.replace("${ERP_URL}", "https://erp.example.eu/api/v2"))
    }

    #[test]
    fn flows_reaching_one_system_share_a_key_and_tenants_do_not() {
        let literal = flow(
            None,
            json!({"connector": "http", "config": {"base_url": "https://ERP.example.eu/other/path?x=1"}}),
        );
        let placeholder = flow(
            None,
            json!({"connector": "http", "config": {"base_url": "${ERP_URL}", "headers": {"X": "y"}}}),
        );
        let a = TargetKey::of(&literal, &env);
        assert_eq!(a.target, "http:https://erp.example.eu");
        assert_eq!(a, TargetKey::of(&placeholder, &env));
        assert_eq!(a.tenant, "default");
        let other_tenant = flow(
            Some("acme"),
            json!({"connector": "http", "config": {"base_url": "https://erp.example.eu"}}),
        );
        assert_ne!(a, TargetKey::of(&other_tenant, &env));

        let stored = flow(
            Some("acme"),
            json!({"connector": "shopify", "stored": "shop", "config": {"timeout_ms": 5}}),
        );
        assert_eq!(TargetKey::of(&stored, &env).target, "shopify:stored:shop");
        let file = flow(
            None,
            json!({"connector": "file", "config": {"path": "out.csv"}}),
        );
        let key = TargetKey::of(&file, &env).target;
        assert!(
            key.starts_with("file:config:") && !key.contains("out.csv"),
            "{key}"
        );
    }
}
