//! Alert emails over SMTP (lettre): one conversation per alert, bounded by the settings' timeout.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::settings::{SmtpSettings, SmtpTls};

/// Sends one plain-text email to every recipient. The error says which part failed: the
/// sender address, the message, or the SMTP conversation (with the server's reply).
pub(super) async fn send_email(
    smtp: &SmtpSettings,
    to: &[Mailbox],
    subject: &str,
    body: String,
) -> Result<(), String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("SMTP sender `{}` is not an email address ({e})", smtp.from))?;
    // Message-ID under the sender's domain: lettre would use `localhost`, which spam filters
    // hold against a message.
    let message_id = format!(
        "<{}@{}>",
        uuid::Uuid::now_v7().simple(),
        from.email.domain()
    );
    let mut builder = Message::builder()
        .message_id(Some(message_id))
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for mailbox in to {
        builder = builder.to(mailbox.clone());
    }
    let message = builder
        .body(body)
        .map_err(|e| format!("building the email: {e}"))?;
    let transport = transport(smtp)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {e}", smtp.host, smtp.port))
}

fn transport(smtp: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls_error = |e| format!("SMTP TLS set-up for {}: {e}", smtp.host);
    let mut builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(tls_error)?
        }
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(tls_error)?
        }
    }
    .port(smtp.port)
    .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if let Some(user) = &smtp.username {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            smtp.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}
