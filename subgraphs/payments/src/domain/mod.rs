//! The payment domain: values that are valid by construction (parsing is the only way to
//! get one) and the one place that says which status changes are allowed.

mod money;
mod payment;
mod status;

pub use money::{Amount, Currency, Money};
pub use payment::{
    Actor, Description, HistoryEntry, IdempotencyKey, NewPayment, Payment, Transition,
};
pub use status::PaymentStatus;

use chrono::{DateTime, SubsecRound, Utc};

/// Timestamps are kept to the millisecond, the precision MongoDB stores, so a value read
/// back equals the value written (and cursors built from either agree).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
