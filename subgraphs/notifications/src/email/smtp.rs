use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{MailError, Mailer};

/// Sends through an SMTP server with a connection pool. `SMTP_URL` follows lettre's
/// format: `smtp://[user:pass@]host[:port][?tls=required|opportunistic]`, or `smtps://` for
/// implicit TLS (rustls).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("invalid SMTP_URL: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport })
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server will never take this message (unknown mailbox, policy, ...).
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            // 4xx, timeouts, refused connections, TLS hiccups: try again later.
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }

    async fn check(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("not connected".into()),
            Err(_) => Err("unreachable".into()),
        }
    }
}
