use std::sync::Arc;

use service_kit::events::{Envelope, EventHandler, HandleError};

use super::Occurrence;
use crate::service::NotificationService;

/// The event types the work queue binds: every one that notifies a user.
pub const WORK_BINDINGS: [&str; 4] = ["user.registered", "user.login", "user.deleted", "payment.*"];

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
