//! `user.deleted`: a deleted account's PENDING payments are cancelled. Completed ones stay
//! (they are the record of money that moved).

use std::sync::Arc;

use service_kit::events::{Envelope, EventHandler, HandleError, UserDeleted, WorkQueue};

use crate::service::PaymentService;

/// The durable queue payments consumes, bound to the events it handles.
pub fn work_queue(name: &str) -> WorkQueue {
    WorkQueue::new(name, &["user.deleted"])
}

/// Idempotent: a second delivery of the same event finds no PENDING payment left to
/// cancel, and each cancellation is a conditional update that only one delivery can win.
pub struct UserDeletedHandler {
    service: Arc<PaymentService>,
}

impl UserDeletedHandler {
    pub fn new(service: Arc<PaymentService>) -> Self {
        Self { service }
    }
}

#[async_trait::async_trait]
impl EventHandler for UserDeletedHandler {
    async fn handle(&self, event: &Envelope) -> Result<(), HandleError> {
        let deleted: UserDeleted = event.decode().map_err(|e| HandleError::Reject(e.into()))?;
        let cancelled = self
            .service
            .cancel_pending_of_deleted_user(deleted.user_id)
            .await
            .map_err(HandleError::Retry)?;
        tracing::info!(event_id = %event.id, user_id = %deleted.user_id, cancelled, "handled user.deleted");
        Ok(())
    }
}
