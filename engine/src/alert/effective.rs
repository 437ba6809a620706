//! Which alert settings apply to a flow: its own `alerts`, else its tenant's stored default
//! (`tenant_alert`, set through `PUT /api/v1/tenants/{tenant_id}/alerts`), else the
//! installation's default (`RuntimeSettings::default_alerts`). Each level replaces the next
//! whole; they are never merged. Runs, heartbeats and "send test alert" all ask here.

use serde::Serialize;

use super::settings::AlertSettings;
use crate::flow::Flow;
use crate::store::{AlertStore, Result};

/// Tenant of flows that name none.
pub const DEFAULT_TENANT: &str = "default";

/// Where a flow's effective alert settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// The flow file's `alerts`.
    Flow,
    /// The flow's tenant's stored default.
    Tenant,
    /// The installation's default.
    Installation,
}

/// The settings that apply to a flow, and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveAlerts {
    /// The settings.
    pub settings: AlertSettings,
    /// Their level.
    pub source: AlertSource,
}

/// The settings that apply to `flow`; `None` when no level sets any (no alerts are sent).
/// The tenant's default is read from `store` at each call, so a change through the API
/// applies to the next run without a restart.
pub async fn effective_alerts(
    store: &dyn AlertStore,
    flow: &Flow,
    installation: Option<&AlertSettings>,
) -> Result<Option<EffectiveAlerts>> {
    if let Some(settings) = &flow.alerts {
        return Ok(Some(EffectiveAlerts {
            settings: settings.clone(),
            source: AlertSource::Flow,
        }));
    }
    let tenant = flow.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
    if let Some(stored) = store.tenant_alerts(tenant).await? {
        return Ok(Some(EffectiveAlerts {
            settings: stored.settings,
            source: AlertSource::Tenant,
        }));
    }
    Ok(installation.map(|settings| EffectiveAlerts {
        settings: settings.clone(),
        source: AlertSource::Installation,
    }))
}
