//! Where payments and their unsent events live: the [`PaymentStore`] port, its MongoDB
//! adapter and the embedded adapter of the one-command run. Both keep the same promises,
//! and one contract test suite (`tests/api`) runs against each.

mod embedded;
mod mongo;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use service_kit::{
    accounts::{AccountDirectory, Standing, StandingChange},
    events::Envelope,
    outbox::OutboxStore,
};
use uuid::Uuid;

use crate::domain::{Payment, PaymentStatus, Transition};

pub use embedded::EmbeddedStore;
pub use mongo::MongoStore;

/// What [`PaymentStore::insert`] did.
#[derive(Debug)]
pub enum Inserted {
    /// The payment is new; its event is queued.
    Created(Payment),
    /// The user already has a payment with this idempotency key: nothing was written.
    Existing(Payment),
}

/// A position in a user's payments, newest first: the `(createdAt, id)` of the last
/// payment a client has seen. Opaque to clients (base64 of `<millis>:<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn of(payment: &Payment) -> Self {
        Self {
            created_at: payment.created_at,
            id: payment.id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            self.created_at.timestamp_millis(),
            self.id
        ))
    }

    pub fn decode(cursor: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let (millis, id) = raw.split_once(':')?;
        Some(Self {
            created_at: DateTime::from_timestamp_millis(millis.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }

    /// Whether `payment` comes after this cursor in newest-first order.
    pub fn is_before(&self, payment: &Payment) -> bool {
        (payment.created_at, payment.id) < (self.created_at, self.id)
    }
}

/// One page of a user's payments.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub user_id: Uuid,
    pub status: Option<PaymentStatus>,
    /// Only payments older than this one.
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// The payments port. Every write that causes an event queues the event atomically with
/// the write; the outbox relay publishes it later (the [`OutboxStore`] half).
#[async_trait::async_trait]
pub trait PaymentStore: OutboxStore {
    /// Creates `payment` and queues `event`, both or neither. If the user already has a
    /// payment with the same idempotency key (a unique index decides, not a prior read),
    /// writes nothing and returns that payment.
    async fn insert(&self, payment: &Payment, event: &Envelope) -> anyhow::Result<Inserted>;

    async fn get(&self, id: Uuid) -> anyhow::Result<Option<Payment>>;

    /// Applies `transition` in one atomic conditional update, only if the payment is still
    /// in `transition.from`, and queues `event` (if any) with it, both or neither.
    /// `None` when the payment is not (or no longer) in `from`: someone else changed it.
    async fn apply(
        &self,
        transition: &Transition,
        event: Option<&Envelope>,
    ) -> anyhow::Result<Option<Payment>>;

    /// A user's payments, newest first (ties broken by id), starting after `query.after`.
    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Payment>>;

    /// Up to `limit` payments still PROCESSING whose last change is older than
    /// `updated_before`: their processing was interrupted (a crash, a lost connection).
    async fn stale_processing(
        &self,
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Payment>>;

    /// The ids of a user's PENDING payments.
    async fn pending_of_user(&self, user_id: Uuid) -> anyhow::Result<Vec<Uuid>>;

    /// Keeps `change` as the account's standing unless the one kept is newer or a
    /// deletion ([`StandingChange::supersedes`]); idempotent. The account's unexpired
    /// access tokens are judged by it from then on.
    async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()>;

    /// The account's standing, if a change of it was recorded.
    async fn standing(&self, user_id: Uuid) -> anyhow::Result<Option<Standing>>;

    /// For `/ready`: is the store usable right now?
    async fn ping(&self) -> Result<(), String>;
}

/// The standings a payments store keeps, for the GraphQL handler to judge tokens by.
pub struct Standings(pub Arc<dyn PaymentStore>);

#[async_trait::async_trait]
impl AccountDirectory for Standings {
    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>> {
        self.0.standing(user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            created_at: crate::domain::now(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in [
            "",
            "%%%",
            "bm90IGEgY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:nope"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
