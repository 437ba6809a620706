//! Alerts: tell people when a run fails (or succeeds), and when a flow has been silent too long.
//!
//! Settings come from the flow file's `alerts`, else the flow's tenant's stored default, else
//! the installation's ([`settings`], [`effective`]); the facts of a run become one
//! [`AlertMessage`] ([`message`]), sent as a plain-text email over SMTP ([`email`]) or a JSON
//! POST ([`webhook`]); the [`Alerter`] ([`alerter`]) picks the channels, sends, and logs each
//! delivery in the store's `alert_delivery` table. See `docs/alerts.md`.

pub mod alerter;
pub mod effective;
mod email;
pub mod message;
pub mod settings;
pub mod webhook;

pub use alerter::Alerter;
pub use effective::{AlertSource, DEFAULT_TENANT, EffectiveAlerts, effective_alerts};
pub use message::{AlertMessage, FIRST_ERRORS, FlowRef, RecordError, first_errors, run_link};
pub use settings::{AlertChannel, AlertOn, AlertSettings, SmtpSettings, SmtpTls};
