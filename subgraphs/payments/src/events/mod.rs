//! Payments' events: what each status change publishes (through the outbox), and the
//! consumer of the `user.*` events that change an account's standing.

mod accounts;

use service_kit::events::{
    Envelope, PaymentCancelled, PaymentCompleted, PaymentCreated, PaymentData, PaymentFailed,
    PaymentRefunded,
};

pub use accounts::{AccountsHandler, work_queue};

use crate::domain::{Payment, PaymentStatus};

/// The CloudEvents `source` of every payment event.
pub const SOURCE: &str = "/payments";

/// The event announcing that `payment` reached its current status, if that status has
/// one (PROCESSING is internal and publishes nothing).
pub fn envelope_for(payment: &Payment) -> Result<Option<Envelope>, serde_json::Error> {
    let data = PaymentData {
        payment_id: payment.id,
        user_id: payment.user_id,
        amount: payment.money.amount.minor_units(),
        currency: payment.money.currency.code().to_owned(),
        status: payment.status.as_str().to_owned(),
        description: payment.description.as_ref().map(|d| d.as_str().to_owned()),
        failure_reason: payment.failure_reason.clone(),
        email: payment.payer_email.clone(),
        timestamp: payment.updated_at,
    };
    Ok(Some(match payment.status {
        PaymentStatus::Pending => Envelope::new(SOURCE, &PaymentCreated(data))?,
        PaymentStatus::Processing => return Ok(None),
        PaymentStatus::Completed => Envelope::new(SOURCE, &PaymentCompleted(data))?,
        PaymentStatus::Failed => Envelope::new(SOURCE, &PaymentFailed(data))?,
        PaymentStatus::Cancelled => Envelope::new(SOURCE, &PaymentCancelled(data))?,
        PaymentStatus::Refunded => Envelope::new(SOURCE, &PaymentRefunded(data))?,
    }))
}
