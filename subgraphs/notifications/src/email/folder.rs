use std::path::PathBuf;

use lettre::Message;

use super::{MailError, Mailer};

/// Writes each message as an `.eml` file (RFC 5322, as it would go over SMTP) into a
/// folder: the embedded default when no `SMTP_URL` is set. Open them with any mail client.
pub struct FolderMailer {
    dir: PathBuf,
}

impl FolderMailer {
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait::async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        );
        // Written under a temporary name, then renamed: readers never see half a message.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let io = |e: std::io::Error| MailError::Transient(format!("cannot write mail: {e}"));
        tokio::fs::write(&tmp, message.formatted())
            .await
            .map_err(io)?;
        tokio::fs::rename(&tmp, self.dir.join(name))
            .await
            .map_err(io)
    }

    async fn check(&self) -> Result<(), String> {
        tokio::fs::metadata(&self.dir)
            .await
            .map(|_| ())
            .map_err(|_| "mail folder missing".into())
    }
}
