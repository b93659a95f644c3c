//! `user.*` standing events: every one updates the standing that callers' tokens are
//! judged by, and `user.deleted` also cancels the account's PENDING payments. Completed
//! ones stay (they are the record of money that moved).

use std::sync::Arc;

use service_kit::{
    accounts::{Standing, StandingChange},
    events::{Envelope, EventHandler, HandleError, WorkQueue, topology::DurableQueue},
};

use crate::service::PaymentService;

/// The durable queue payments consumes, bound to the events it handles.
pub fn work_queue(name: &str) -> WorkQueue {
    DurableQueue::payments(name).into()
}

/// Idempotent: a standing is kept only if newer than the one kept, a second delivery of
/// `user.deleted` finds no PENDING payment left to cancel, and each cancellation is a
/// conditional update that only one delivery can win.
pub struct AccountsHandler {
    service: Arc<PaymentService>,
}

impl AccountsHandler {
    pub fn new(service: Arc<PaymentService>) -> Self {
        Self { service }
    }
}

#[async_trait::async_trait]
impl EventHandler for AccountsHandler {
    async fn handle(&self, event: &Envelope) -> Result<(), HandleError> {
        let change = StandingChange::from_envelope(event)
            .map_err(|e| HandleError::Reject(e.into()))?
            .ok_or_else(|| {
                HandleError::Reject(anyhow::anyhow!(
                    "{} is not an account event",
                    event.event_type
                ))
            })?;
        self.service
            .record_standing(&change)
            .await
            .map_err(HandleError::Retry)?;
        if change.standing == Standing::Deleted {
            let cancelled = self
                .service
                .cancel_pending_of_deleted_user(change.user_id)
                .await
                .map_err(HandleError::Retry)?;
            tracing::info!(event_id = %event.id, user_id = %change.user_id, cancelled, "handled user.deleted");
        } else {
            tracing::info!(event_id = %event.id, user_id = %change.user_id, event_type = %event.event_type, "recorded an account's standing");
        }
        Ok(())
    }
}
