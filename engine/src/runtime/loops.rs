//! The loops every service process runs beside its workers: the scheduler (fires due
//! schedules, once across all nodes), the reaper (re-queues runs of dead workers and pushes
//! lost jobs) and retention (prunes old payloads).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use super::{Runtime, RuntimeError, Schedule, stamp};
use crate::alert::{FlowRef, effective_alerts};
use crate::flow::load::parse_flow;
use crate::store::PruneScope;

/// Fires every schedule due now. Each firing is claimed with a compare-and-set on its next
/// fire time, so two nodes ticking at once start one run. Returns the runs started.
pub async fn schedule_once(rt: &Runtime) -> Result<Vec<i64>, RuntimeError> {
    let now = Utc::now();
    let mut started = Vec::new();
    for due in rt.store.due_schedules(&stamp(now)).await? {
        let trigger = match serde_json::from_str(&due.spec)
            .map_err(|e| e.to_string())
            .and_then(|t| Schedule::from_trigger(&t))
        {
            Ok(Some(schedule)) => schedule,
            Ok(None) | Err(_) => {
                warn!(flow_id = %due.flow_id, "Stored schedule is unreadable; skipped.");
                continue;
            }
        };
        // Missed firings (the service was down) collapse into one run now.
        let next = match trigger.next_after(now) {
            Ok(next) => next,
            Err(e) => {
                warn!(flow_id = %due.flow_id, error = %e, "Schedule has no next firing.");
                continue;
            }
        };
        let claimed = rt
            .store
            .claim_schedule(&due.flow_id, &due.next_run_at, &stamp(next), &stamp(now))
            .await?;
        if !claimed {
            continue;
        }
        match rt.store.get_flow(&due.flow_id).await? {
            Some(flow) if flow.enabled => {
                let run_id = rt.trigger(&due.flow_id, "schedule", &[]).await?;
                rt.store.set_schedule_run(&due.flow_id, run_id).await?;
                started.push(run_id);
            }
            _ => {}
        }
    }
    Ok(started)
}

/// Queues again the runs whose worker died (lease expired) and pushes jobs for queued runs
/// nobody picked up (a push lost in a crash). Returns the runs pushed.
pub async fn reap_once(rt: &Runtime) -> Result<Vec<i64>, RuntimeError> {
    let now = Utc::now();
    let mut pushed = rt.store.requeue_expired(&stamp(now)).await?;
    let before = now
        - chrono::Duration::from_std(rt.settings.stale_queued_after)
            .unwrap_or(chrono::Duration::seconds(60));
    pushed.extend(rt.store.stale_queued(&stamp(before), &stamp(now)).await?);
    for run_id in &pushed {
        info!(
            run_id,
            "Run re-queued (its worker stopped or its job was lost)."
        );
        rt.queue.push(*run_id).await?;
    }
    Ok(pushed)
}

/// Starts retry runs for parked records whose time has come, one run per flow.
pub async fn retry_once(rt: &Runtime) -> Result<Vec<i64>, RuntimeError> {
    let due = rt.store.take_due_retries(&stamp(Utc::now())).await?;
    let mut by_flow: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (flow_id, key) in due {
        by_flow.entry(flow_id).or_default().push(key);
    }
    let mut started = Vec::new();
    for (flow_id, keys) in by_flow {
        if let Some((run_id, n)) = rt.replay_as(&flow_id, Some(&keys), "retry").await? {
            info!(run_id, flow_id, records = n, "Parked records retried.");
            started.push(run_id);
        }
    }
    Ok(started)
}

/// Clears record payloads older than their tenant's retention period (the installation's
/// `retention_days` for tenants without one). Run rows and counts stay.
pub async fn prune_once(rt: &Runtime) -> Result<crate::store::Pruned, RuntimeError> {
    let mut scopes = vec![(PruneScope::DefaultRetention, rt.settings.retention_days)];
    for (tenant, days) in rt.store.tenant_retentions().await? {
        scopes.push((PruneScope::Tenant(tenant), days));
    }
    let mut total = crate::store::Pruned::default();
    for (scope, days) in scopes {
        let before = Utc::now() - chrono::Duration::days(i64::from(days));
        let pruned = rt.store.prune_payloads(&stamp(before), &scope).await?;
        if pruned.records > 0 || pruned.inputs > 0 {
            info!(
                records = pruned.records,
                inputs = pruned.inputs,
                days,
                scope = ?scope,
                "Old payloads pruned."
            );
        }
        total.records += pruned.records;
        total.inputs += pruned.inputs;
    }
    Ok(total)
}

/// Sends heartbeat alerts for flows silent longer than their `heartbeat_hours`.
pub async fn heartbeat_once(rt: &Runtime) -> Result<usize, RuntimeError> {
    let Some(alerter) = &rt.settings.alerter else {
        return Ok(0);
    };
    let mut flows = Vec::new();
    for record in rt.store.list_flows().await? {
        let Ok(flow) = parse_flow(&record.definition, &record.id) else {
            continue;
        };
        let installation = rt.settings.default_alerts.as_ref();
        if let Some(effective) = effective_alerts(&*rt.store, &flow, installation).await? {
            flows.push((FlowRef::new(&flow.id, &flow.name), effective.settings));
        }
    }
    let sent = alerter
        .check_heartbeats(&*rt.store, &flows, Utc::now())
        .await?;
    Ok(sent.len())
}

/// Runs the scheduler (when `schedule`), the reaper and retention until shutdown.
pub async fn run_loops(rt: Arc<Runtime>, schedule: bool) {
    let mut tick = tokio::time::interval(rt.settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = None::<std::time::Instant>;
    let mut last_heartbeat = None::<std::time::Instant>;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = rt.stopped() => return,
        }
        if schedule && let Err(e) = schedule_once(&rt).await {
            warn!(error = %e, "Scheduler tick failed.");
        }
        if let Err(e) = reap_once(&rt).await {
            warn!(error = %e, "Reaper tick failed.");
        }
        if schedule && let Err(e) = retry_once(&rt).await {
            warn!(error = %e, "Retrying parked records failed.");
        }
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(std::time::Instant::now());
            if let Err(e) = prune_once(&rt).await {
                warn!(error = %e, "Retention pruning failed.");
            }
        }
        if schedule && last_heartbeat.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            last_heartbeat = Some(std::time::Instant::now());
            if let Err(e) = heartbeat_once(&rt).await {
                warn!(error = %e, "Heartbeat check failed.");
            }
        }
    }
}
