//! Where notifications live: the [`NotificationStore`] port, with a Redis adapter for
//! production and an in-process one for the one-command run. One contract test suite
//! (`tests/api/store.rs`) runs against both.
//!
//! Besides notifications the store keeps what the event handler needs to be correct across
//! instances: the idempotency key of each event, the email state of each event, the email
//! rate-limit counters, users' preferences and contact addresses, and the template cache.

mod memory;
mod redis;

use std::{sync::Arc, time::Duration};

use service_kit::accounts::{AccountDirectory, Standing, StandingChange};
use uuid::Uuid;

use crate::domain::{
    Contact, NewNotification, Notification, NotificationId, NotificationKind, Preferences,
};

pub use self::{memory::MemoryStore, redis::RedisStore};

/// Limits every adapter applies.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Notifications older than this are gone.
    pub retention: Duration,
    /// At most this many notifications per user; the oldest go first.
    pub max_per_user: usize,
    /// How long an event id is remembered, so that a redelivered event is recognised.
    pub idempotency_ttl: Duration,
}

/// The outcome of [`NotificationStore::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored now.
    Created(Notification),
    /// The event was recorded before (its notification has this id).
    Duplicate(NotificationId),
}

/// Which notifications to list.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery {
    /// At most this many (1 or more).
    pub first: usize,
    /// Only notifications older than this one.
    pub after: Option<NotificationId>,
    pub unread_only: bool,
}

/// One page of a user's notifications, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Notification>,
    pub has_next_page: bool,
}

/// The email state of one event, shared by every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailClaim {
    /// This caller may send it now (and must settle or release the claim).
    Claimed,
    /// Another delivery is sending it right now.
    InProgress,
    /// Already dealt with (sent, skipped or failed for good).
    Done,
}

/// A template's source, and the fingerprint of the file it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedTemplate {
    pub fingerprint: String,
    pub source: String,
}

/// The storage port of the notifications service.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Stores the notification of event `event_id`, once: later calls with the same event id
    /// store nothing and say so. Trims the user's list to the retention and the cap.
    async fn record(&self, event_id: Uuid, new: NewNotification) -> anyhow::Result<Recorded>;

    /// A page of `user`'s notifications, newest first.
    async fn page(&self, user: Uuid, query: PageQuery) -> anyhow::Result<Page>;

    async fn unread_count(&self, user: Uuid) -> anyhow::Result<u64>;

    /// `user`'s notification `id`, if they have it.
    async fn get(&self, user: Uuid, id: NotificationId) -> anyhow::Result<Option<Notification>>;

    /// Marks `user`'s notification `id` read. `None` when `user` has no such notification
    /// (whether or not someone else has).
    async fn mark_read(
        &self,
        user: Uuid,
        id: NotificationId,
    ) -> anyhow::Result<Option<Notification>>;

    /// Marks every notification of `user` read; returns how many were unread.
    async fn mark_all_read(&self, user: Uuid) -> anyhow::Result<u64>;

    async fn preferences(&self, user: Uuid) -> anyhow::Result<Preferences>;

    /// Applies `changes` (kind, email on?) at once and returns the result.
    async fn update_preferences(
        &self,
        user: Uuid,
        changes: &[(NotificationKind, bool)],
    ) -> anyhow::Result<Preferences>;

    async fn remember_contact(&self, user: Uuid, contact: &Contact) -> anyhow::Result<()>;

    async fn contact(&self, user: Uuid) -> anyhow::Result<Option<Contact>>;

    /// Removes everything kept about `user` (the account was deleted), but its standing.
    async fn forget_user(&self, user: Uuid) -> anyhow::Result<()>;

    /// Keeps `change` as the account's standing unless the one kept is newer or a
    /// deletion ([`StandingChange::supersedes`]); idempotent. The account's unexpired
    /// access tokens are judged by it from then on.
    async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()>;

    /// The account's standing, if a change of it was recorded.
    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>>;

    /// Claims the email of event `event_id` for `lease`; an expired lease (a crashed sender)
    /// can be claimed again.
    async fn claim_email(&self, event_id: Uuid, lease: Duration) -> anyhow::Result<EmailClaim>;

    /// The email of `event_id` is dealt with for good: later claims answer `Done`.
    async fn settle_email(&self, event_id: Uuid) -> anyhow::Result<()>;

    /// Gives a claim back (sending failed transiently and will be retried).
    async fn release_email(&self, event_id: Uuid) -> anyhow::Result<()>;

    /// Counts one email to `user` in the current window; false when that exceeds `limit`.
    async fn take_email_quota(
        &self,
        user: Uuid,
        limit: u32,
        window: Duration,
    ) -> anyhow::Result<bool>;

    /// Undoes one `take_email_quota` that did not lead to an email.
    async fn return_email_quota(&self, user: Uuid) -> anyhow::Result<()>;

    async fn cached_template(&self, name: &str) -> anyhow::Result<Option<CachedTemplate>>;

    async fn cache_template(&self, name: &str, template: &CachedTemplate) -> anyhow::Result<()>;

    /// For `/ready`.
    async fn ping(&self) -> Result<(), String>;
}

/// The id bound below which notifications are past `retention`.
fn retention_bound(retention: Duration) -> String {
    let cutoff = chrono::Duration::from_std(retention)
        .ok()
        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::UNIX_EPOCH);
    NotificationId::lower_bound(cutoff)
}

/// The standings a notifications store keeps, for the GraphQL handler and the websocket
/// to judge tokens by.
pub struct Standings(pub Arc<dyn NotificationStore>);

#[async_trait::async_trait]
impl AccountDirectory for Standings {
    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>> {
        self.0.standing(user).await
    }
}
