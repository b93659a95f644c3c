use std::sync::Arc;

use service_kit::{
    accounts::StandingChange,
    events::{Envelope, EventHandler, HandleError},
};

use super::Occurrence;
use crate::service::NotificationService;

/// Consumes the shared work queue: each event becomes a stored notification, an email and
/// a live announcement, once (see [`NotificationService::process`]).
pub struct WorkHandler {
    service: Arc<NotificationService>,
}

impl WorkHandler {
    pub fn new(service: Arc<NotificationService>) -> Self {
        Self { service }
    }
}

#[async_trait::async_trait]
impl EventHandler for WorkHandler {
    async fn handle(&self, event: &Envelope) -> Result<(), HandleError> {
        // First, so that a deleted account's tokens are refused before its data goes.
        match StandingChange::from_envelope(event) {
            Ok(Some(change)) => self.service.record_standing(&change).await?,
            Ok(None) => {}
            Err(e) => return Err(HandleError::Reject(e.into())),
        }
        let occurrence = match Occurrence::from_envelope(event) {
            Ok(Some(occurrence)) => occurrence,
            // A type we bind but do not notify about (e.g. a future payment.* event).
            Ok(None) => return Ok(()),
            Err(reason) => {
                return Err(HandleError::Reject(anyhow::anyhow!(
                    "bad {} event: {reason}",
                    event.event_type
                )));
            }
        };
        self.service.process(&occurrence).await
    }
}
