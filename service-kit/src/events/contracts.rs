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
    /// Where the payer's receipts go: their email when the payment was created. Added in
    /// version 1.1 of the payment events; absent from older events (and from payments
    /// created before it was kept), which still decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// Event types whose payload is one shared data type (the entity after the change),
/// each a transparent wrapper named by its routing key.
macro_rules! events_of {
    ($data:ident, $subject:ident; $($(#[$doc:meta])* $name:ident => $type:literal),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            #[serde(transparent)]
            pub struct $name(pub $data);

            impl Event for $name {
                const TYPE: &'static str = $type;
                fn subject(&self) -> String {
                    self.0.$subject.to_string()
                }
            }
        )*
    };
}

events_of! {
    PaymentData, payment_id;
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

/// What every account-standing event carries: the account as it is after the change, so
/// that a consumer keeps the newest one it has seen and needs no earlier event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountData {
    pub user_id: Uuid,
    pub email: String,
    /// The role after the change: `USER` or `ADMIN`.
    pub role: String,
    /// Whether the account may sign in and use its tokens after the change.
    pub active: bool,
    pub timestamp: DateTime<Utc>,
}

events_of! {
    AccountData, user_id;
    /// An ADMIN deactivated the account: its tokens are refused until it is reactivated.
    UserDeactivated => "user.deactivated",
    /// An ADMIN reactivated a deactivated account.
    UserReactivated => "user.reactivated",
    /// An ADMIN changed the account's role (a demotion takes effect on unexpired tokens).
    UserRoleChanged => "user.role_changed",
}

/// The routing keys of the account-standing events, for a consumer's bindings.
pub const ACCOUNT_STANDING_EVENTS: [&str; 3] = [
    UserDeactivated::TYPE,
    UserReactivated::TYPE,
    UserRoleChanged::TYPE,
];
