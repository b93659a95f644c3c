use std::sync::Arc;

use serde::{Deserialize, Serialize};
use service_kit::events::{Envelope, Event, EventHandler, HandleError};

use crate::{domain::Notification, live::LiveHub};

/// The routing key every instance's live queue binds.
pub const LIVE_BINDING: &str = "notification.created";

/// Announced on the exchange once a notification is stored, so that whichever instance
/// holds the user's websocket pushes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationCreated(pub Notification);

impl Event for NotificationCreated {
    const TYPE: &'static str = LIVE_BINDING;
    fn subject(&self) -> String {
        self.0.user_id.to_string()
    }
}

/// Consumes this instance's live queue: hands announced notifications to the local hub.
pub struct LiveHandler {
    hub: Arc<LiveHub>,
}

impl LiveHandler {
    pub fn new(hub: Arc<LiveHub>) -> Self {
        Self { hub }
    }
}

#[async_trait::async_trait]
impl EventHandler for LiveHandler {
    async fn handle(&self, event: &Envelope) -> Result<(), HandleError> {
        let created: NotificationCreated =
            event.decode().map_err(|e| HandleError::Reject(e.into()))?;
        self.hub.publish(&created.0);
        Ok(())
    }
}
