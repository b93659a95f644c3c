//! The payloads of every event type. Field names are camelCase on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Event;

/// A new account was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub timestamp: DateTime<Utc>,
}

impl Event for UserRegistered {
    const TYPE: &'static str = "user.registered";
    fn subject(&self) -> String {
        self.user_id.to_string()
    }
}

/// A user signed in with their password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserLogin {
    pub user_id: Uuid,
    pub email: String,
    pub timestamp: DateTime<Utc>,
}

impl Event for UserLogin {
    const TYPE: &'static str = "user.login";
    fn subject(&self) -> String {
        self.user_id.to_string()
    }
}

/// An account was deleted; services drop or close what belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDeleted {
    pub user_id: Uuid,
    pub email: String,
    pub timestamp: DateTime<Utc>,
}

impl Event for UserDeleted {
    const TYPE: &'static str = "user.deleted";
    fn subject(&self) -> String {
        self.user_id.to_string()
    }
}

/// What every payment event carries: the payment as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentData {
    pub payment_id: Uuid,
    pub user_id: Uuid,
    /// Integer minor units (cents for USD).
    pub amount: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// The status after the change: `PENDING`, `PROCESSING`, `COMPLETED`, `FAILED`,
    /// `CANCELLED` or `REFUNDED`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub timestamp: DateTime<Utc>,
}

macro_rules! payment_events {
    ($($(#[$doc:meta])* $name:ident => $type:literal),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            #[serde(transparent)]
            pub struct $name(pub PaymentData);

            impl Event for $name {
                const TYPE: &'static str = $type;
                fn subject(&self) -> String {
                    self.0.payment_id.to_string()
                }
            }
        )*
    };
}

payment_events! {
    /// A payment was created (status `PENDING`).
    PaymentCreated => "payment.created",
    /// The processor accepted the payment.
    PaymentCompleted => "payment.completed",
    /// The processor declined the payment (`failureReason` says why).
    PaymentFailed => "payment.failed",
    /// A pending payment was cancelled.
    PaymentCancelled => "payment.cancelled",
    /// A completed payment was refunded.
    PaymentRefunded => "payment.refunded",
}
