//! [`Alerter`]: decides which channels hear about a finished run or a silent flow, sends to
//! them at once, and logs every delivery. It never fails its caller: a refused email or an
//! unreachable webhook is a `failed` delivery in the log, and every send has a time limit.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::email::send_email;
use super::message::{AlertMessage, FlowRef, RecordError};
use super::settings::{
    AlertChannel, AlertSettings, DEFAULT_SUBJECT, SmtpSettings, parse_recipients,
};
use super::webhook::{post_webhook, redact_url};
use crate::run::RunSummary;
use crate::store::{
    AlertKind, AlertStore, DeliveryFilter, DeliveryStatus, NewAlertDelivery, RunId, RunStatus,
};

/// Time limit of one webhook POST.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// After a failed heartbeat delivery, wait this long before trying that channel again.
pub const HEARTBEAT_RETRY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Sends alerts and logs their delivery.
#[derive(Debug, Clone)]
pub struct Alerter {
    smtp: Option<SmtpSettings>,
    http: reqwest::Client,
    base_url: String,
}

impl Alerter {
    /// An alerter sending email through `smtp` (email channels fail without it), webhooks
    /// with `http`, and linking runs under `base_url` (`https://ferry.shop.eu`).
    pub fn new(smtp: Option<SmtpSettings>, http: reqwest::Client, base_url: &str) -> Self {
        Alerter {
            smtp,
            http,
            base_url: base_url.to_string(),
        }
    }

    /// Tells the channels of `settings` that want to hear it that `run` of `flow` finished.
    /// `first_errors` are the run's first failed records (see [`super::first_errors`]).
    /// Returns the deliveries made (also logged); none for a run that has not finished.
    pub async fn notify_run_finished(
        &self,
        store: &dyn AlertStore,
        flow: &FlowRef,
        settings: &AlertSettings,
        run: &RunSummary,
        first_errors: &[RecordError],
    ) -> Vec<NewAlertDelivery> {
        let wanted: Vec<&AlertChannel> = match run.status {
            RunStatus::Succeeded => settings
                .channels
                .iter()
                .filter(|c| c.on().successes())
                .collect(),
            RunStatus::Failed | RunStatus::Error => settings
                .channels
                .iter()
                .filter(|c| c.on().failures())
                .collect(),
            RunStatus::Queued | RunStatus::Running => return Vec::new(),
        };
        if wanted.is_empty() {
            return Vec::new();
        }
        let message = AlertMessage::run_finished(flow, run, first_errors, &self.base_url);
        self.deliver(store, &wanted, &message, Some(run.run_id))
            .await
    }

    /// Sends a test alert to every channel of `settings`, whatever they report.
    pub async fn send_test_alert(
        &self,
        store: &dyn AlertStore,
        flow: &FlowRef,
        settings: &AlertSettings,
    ) -> Vec<NewAlertDelivery> {
        let all: Vec<&AlertChannel> = settings.channels.iter().collect();
        self.deliver(store, &all, &AlertMessage::test(flow), None)
            .await
    }

    /// Sends a heartbeat alert for each flow with `heartbeat_hours` whose last successful run
    /// ended longer ago than that (or that never succeeded since its first run). Each channel
    /// hears about one silence once; after a failed delivery it is tried again an hour later.
    /// Flows that never ran are not checked. `now` is the time to judge by.
    pub async fn check_heartbeats(
        &self,
        store: &dyn AlertStore,
        flows: &[(FlowRef, AlertSettings)],
        now: DateTime<Utc>,
    ) -> crate::store::Result<Vec<NewAlertDelivery>> {
        let times: HashMap<String, _> = store
            .flow_run_times()
            .await?
            .into_iter()
            .map(|t| (t.flow_id.clone(), t))
            .collect();
        let mut sent = Vec::new();
        for (flow, settings) in flows {
            let Some(hours) = settings.heartbeat_hours.filter(|h| *h > 0) else {
                continue;
            };
            let Some(times) = times.get(&flow.id) else {
                continue;
            };
            let silence_start = times
                .last_success_at
                .as_deref()
                .unwrap_or(&times.first_run_at);
            let Ok(start) = DateTime::parse_from_rfc3339(silence_start) else {
                tracing::warn!(flow = %flow.id, at = silence_start, "heartbeat: unreadable run time");
                continue;
            };
            if now - start.with_timezone(&Utc) <= chrono::TimeDelta::hours(i64::from(hours)) {
                continue;
            }
            let earlier = store
                .alert_deliveries(&DeliveryFilter {
                    tenants: None,
                    flow_id: Some(flow.id.clone()),
                    kind: Some(AlertKind::Heartbeat),
                    since: Some(silence_start.to_string()),
                    limit: 1_000,
                    ..DeliveryFilter::default()
                })
                .await?;
            let retry_after = crate::store::stamp(now - HEARTBEAT_RETRY);
            let due: Vec<&AlertChannel> = settings
                .channels
                .iter()
                .filter(|c| c.on().failures())
                .filter(|c| {
                    let recipient = recipient_label(c);
                    !earlier.iter().any(|d| {
                        d.channel == c.kind()
                            && d.recipient == recipient
                            && (d.status == DeliveryStatus::Sent || d.created_at >= retry_after)
                    })
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            let message = AlertMessage::heartbeat(flow, hours, times.last_success_at.clone());
            sent.extend(self.deliver(store, &due, &message, None).await);
        }
        Ok(sent)
    }

    /// Sends `message` to `channels` concurrently and logs each delivery.
    async fn deliver(
        &self,
        store: &dyn AlertStore,
        channels: &[&AlertChannel],
        message: &AlertMessage,
        run_id: Option<RunId>,
    ) -> Vec<NewAlertDelivery> {
        let sends = channels.iter().map(|channel| async move {
            let error = self.send(channel, message).await.err();
            NewAlertDelivery {
                flow_id: message.flow.id.clone(),
                run_id,
                channel: channel.kind().to_string(),
                recipient: recipient_label(channel),
                kind: message.kind,
                status: if error.is_none() {
                    DeliveryStatus::Sent
                } else {
                    DeliveryStatus::Failed
                },
                error,
            }
        });
        let deliveries = join_all(sends).await;
        for d in &deliveries {
            if let Some(error) = &d.error {
                tracing::warn!(flow = %d.flow_id, channel = %d.channel, recipient = %d.recipient, %error, "alert not delivered");
            }
            if let Err(e) = store.record_alert_delivery(d).await {
                tracing::warn!(flow = %d.flow_id, channel = %d.channel, error = %e, "alert delivery not logged");
            }
        }
        deliveries
    }

    /// One channel, within its time limit.
    async fn send(&self, channel: &AlertChannel, message: &AlertMessage) -> Result<(), String> {
        match channel {
            AlertChannel::Email { to, subject, .. } => {
                let Some(smtp) = &self.smtp else {
                    return Err("no SMTP server configured for email alerts".to_string());
                };
                let recipients = parse_recipients(to)?;
                let subject = message.subject(subject.as_deref().unwrap_or(DEFAULT_SUBJECT));
                // lettre's timeout bounds each step; this bounds the whole conversation.
                let limit = Duration::from_secs(smtp.timeout_secs.max(1) * 3);
                tokio::time::timeout(
                    limit,
                    send_email(smtp, &recipients, &subject, message.text_body()),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "SMTP {}:{}: no answer within {}s",
                        smtp.host,
                        smtp.port,
                        limit.as_secs()
                    ))
                })
            }
            AlertChannel::Webhook { url, .. } => {
                post_webhook(&self.http, url, message, WEBHOOK_TIMEOUT).await
            }
        }
    }
}

/// Who a channel reaches, as logged: the addresses, or the webhook URL without secrets.
pub fn recipient_label(channel: &AlertChannel) -> String {
    match channel {
        AlertChannel::Email { to, .. } => to
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        AlertChannel::Webhook { url, .. } => redact_url(url),
    }
}
