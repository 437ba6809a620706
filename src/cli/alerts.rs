//! `ferry alerts test FLOW` (send a test alert to a flow's channels) and `ferry alerts log`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use ferry_engine::alert::{
    AlertSource, Alerter, DEFAULT_TENANT, FlowRef, SmtpSettings, SmtpTls, effective_alerts,
};
use ferry_engine::store::{self, AlertDelivery, DeliveryFilter, DeliveryStatus};

use super::DbArgs;

/// Sub-commands of `ferry alerts`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to every channel of a flow's `alerts` (else its tenant's stored
    /// default), whatever runs they report.
    Test {
        /// The flow file.
        flow: PathBuf,
        #[command(flatten)]
        smtp: SmtpArgs,
        /// Address of Ferry's web UI, for links to runs.
        #[arg(long, env = "FERRY_BASE_URL", default_value = "http://localhost:8080")]
        base_url: String,
    },
    /// List alert deliveries, newest first.
    Log {
        /// Only deliveries about this flow id.
        #[arg(long)]
        flow: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// The SMTP server for email alerts; without `--smtp-host`, email channels fail (and say so).
#[derive(Debug, clap::Args)]
pub struct SmtpArgs {
    /// SMTP host.
    #[arg(long, env = "FERRY_SMTP_HOST")]
    smtp_host: Option<String>,
    /// SMTP port.
    #[arg(long, env = "FERRY_SMTP_PORT", default_value_t = 587)]
    smtp_port: u16,
    /// Transport security: none, starttls or tls.
    #[arg(long, env = "FERRY_SMTP_TLS", default_value = "starttls", value_parser = ["none", "starttls", "tls"])]
    smtp_tls: String,
    /// SMTP user name.
    #[arg(long, env = "FERRY_SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// SMTP password.
    #[arg(long, env = "FERRY_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// Sender address: `Ferry <ferry@shop.eu>`.
    #[arg(long, env = "FERRY_SMTP_FROM")]
    from: Option<String>,
}

impl SmtpArgs {
    pub(crate) fn settings(&self) -> anyhow::Result<Option<SmtpSettings>> {
        let Some(host) = &self.smtp_host else {
            return Ok(None);
        };
        let Some(from) = &self.from else {
            bail!("--from (or FERRY_SMTP_FROM) is needed with --smtp-host");
        };
        let mut smtp = SmtpSettings::plain(host, self.smtp_port, from);
        smtp.tls = self
            .smtp_tls
            .parse::<SmtpTls>()
            .map_err(anyhow::Error::msg)?;
        smtp.username.clone_from(&self.smtp_username);
        smtp.password.clone_from(&self.smtp_password);
        Ok(Some(smtp))
    }
}

/// Runs `ferry alerts …`.
pub async fn alerts(cmd: AlertsCommand, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let store = store::open_alert_store(&db.database_url)
        .await
        .with_context(|| format!("opening the store at {}", db.database_url))?;
    match cmd {
        AlertsCommand::Test {
            flow,
            smtp,
            base_url,
        } => {
            let (flow_def, _) = super::load_checked(&flow)?;
            let Some(effective) = effective_alerts(store.as_ref(), &flow_def, None).await? else {
                bail!(
                    "{} has no `alerts` settings and its tenant `{}` has no stored default \
                     (see docs/alerts.md)",
                    flow.display(),
                    flow_def.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
                );
            };
            let settings = &effective.settings;
            if settings.channels.is_empty() {
                let origin = match effective.source {
                    AlertSource::Flow => "`alerts.channels`",
                    _ => "the tenant's stored default alert settings",
                };
                bail!("{}: {origin} name no channel", flow.display());
            }
            let alerter = Alerter::new(smtp.settings()?, super::http_client()?, &base_url);
            let flow_ref = FlowRef::new(&flow_def.id, &flow_def.name);
            let deliveries = alerter
                .send_test_alert(store.as_ref(), &flow_ref, settings)
                .await;
            let mut failed = 0;
            for d in &deliveries {
                match &d.error {
                    None => println!("{} {}: sent", d.channel, d.recipient),
                    Some(error) => {
                        failed += 1;
                        println!("{} {}: FAILED: {error}", d.channel, d.recipient);
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AlertsCommand::Log { flow, limit } => {
            let filter = DeliveryFilter {
                flow_id: flow,
                limit,
                ..DeliveryFilter::default()
            };
            print_deliveries(&store.alert_deliveries(&filter).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_deliveries(rows: &[AlertDelivery]) {
    if rows.is_empty() {
        println!("no alert deliveries");
        return;
    }
    println!(
        "{:>5}  {:<24}  {:<20}  {:>6}  {:<9}  {:<7}  {:<6}  RECIPIENT",
        "ID", "WHEN", "FLOW", "RUN", "KIND", "CHANNEL", "STATUS"
    );
    for d in rows {
        let run = d
            .run_id
            .map(|r| r.to_string())
            .unwrap_or_else(|| "-".into());
        let status = match d.status {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "FAILED",
        };
        println!(
            "{:>5}  {:<24}  {:<20}  {:>6}  {:<9}  {:<7}  {:<6}  {}",
            d.id, d.created_at, d.flow_id, run, d.kind, d.channel, status, d.recipient
        );
        if let Some(error) = &d.error {
            println!("       error: {error}");
        }
    }
}
