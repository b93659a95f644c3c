//! Email: rendering a kind's templates and handing the message to a [`Mailer`]: SMTP
//! (`SMTP_URL`) in production, `.eml` files in a folder for the one-command run.

mod folder;
mod smtp;
mod templates;

use lettre::{
    Message,
    message::{Mailbox, MultiPart},
};

pub use folder::FolderMailer;
pub use smtp::SmtpMailer;
pub use templates::{RenderedEmail, TemplateError, Templates};

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth another try later: the server is unreachable, busy, or answered 4xx.
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// Will never work as it is: the server answered 5xx, or the message is unusable.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Delivers a finished message.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: Message) -> Result<(), MailError>;
    /// For `/ready`.
    async fn check(&self) -> Result<(), String>;
}

/// A rendered email for `to`, as a multipart text + HTML message. `message_id` makes
/// duplicates recognisable to the receiving side.
pub fn build_message(
    from: &Mailbox,
    to: Mailbox,
    message_id: String,
    email: RenderedEmail,
) -> Result<Message, MailError> {
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject)
        .message_id(Some(message_id))
        .multipart(MultiPart::alternative_plain_html(email.text, email.html))
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
}
