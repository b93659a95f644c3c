//! The in-process adapter of the one-command run: the same behaviour as Redis (retention,
//! cap, idempotency, claims, rate limits), kept in memory and lost on restart.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use uuid::Uuid;

use super::{
    CachedTemplate, EmailClaim, NotificationStore, Page, PageQuery, Recorded, StoreSettings,
    retention_bound,
};
use crate::domain::{
    Contact, NewNotification, Notification, NotificationId, NotificationKind, Preferences,
};

/// Expired idempotency entries are swept when a map's size reaches a multiple of this, so
/// a sweep costs O(1) per insert on average.
const PRUNE_EVERY: usize = 1024;

#[derive(Default)]
struct UserState {
    items: BTreeMap<NotificationId, Notification>,
    unread: BTreeSet<NotificationId>,
    prefs: Preferences,
    contact: Option<Contact>,
    rate: Option<(u64, Instant)>,
}

#[derive(Clone, Copy)]
enum EmailState {
    Sending,
    Done,
}

#[derive(Default)]
struct State {
    users: HashMap<Uuid, UserState>,
    events: HashMap<Uuid, (NotificationId, Instant)>,
    emails: HashMap<Uuid, (EmailState, Instant)>,
    templates: HashMap<String, CachedTemplate>,
}

/// Notifications in memory. Cheap to clone.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    settings: StoreSettings,
}

impl MemoryStore {
    pub fn new(settings: StoreSettings) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            settings,
        }
    }

    fn lock(&self) -> anyhow::Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| anyhow::anyhow!("notification store poisoned"))
    }

    /// Whether `id` is still within the retention.
    fn live(&self, id: &NotificationId) -> bool {
        id.to_string() >= retention_bound(self.settings.retention)
    }
}

fn live_entry<T: Copy>(entry: Option<&(T, Instant)>, now: Instant) -> Option<T> {
    entry.filter(|(_, until)| *until > now).map(|(v, _)| *v)
}

#[async_trait::async_trait]
impl NotificationStore for MemoryStore {
    async fn record(&self, event_id: Uuid, new: NewNotification) -> anyhow::Result<Recorded> {
        let now = Instant::now();
        let mut state = self.lock()?;
        if let Some(id) = live_entry(state.events.get(&event_id), now) {
            return Ok(Recorded::Duplicate(id));
        }
        let user = new.user_id();
        let notification = new.into_notification();
        state.events.insert(
            event_id,
            (notification.id, now + self.settings.idempotency_ttl),
        );
        if state.events.len() % PRUNE_EVERY == 0 {
            state.events.retain(|_, (_, until)| *until > now);
        }
        let entry = state.users.entry(user).or_default();
        entry.items.insert(notification.id, notification.clone());
        entry.unread.insert(notification.id);
        let bound = retention_bound(self.settings.retention);
        let expired: Vec<NotificationId> = entry
            .items
            .keys()
            .take_while(|id| id.to_string() < bound)
            .copied()
            .collect();
        let over = entry.items.len().saturating_sub(self.settings.max_per_user);
        let oldest: Vec<NotificationId> = entry.items.keys().take(over).copied().collect();
        for id in expired.into_iter().chain(oldest) {
            entry.items.remove(&id);
            entry.unread.remove(&id);
        }
        Ok(Recorded::Created(notification))
    }

    async fn page(&self, user: Uuid, query: PageQuery) -> anyhow::Result<Page> {
        let state = self.lock()?;
        let Some(entry) = state.users.get(&user) else {
            return Ok(Page {
                items: Vec::new(),
                has_next_page: false,
            });
        };
        let mut matching = entry
            .items
            .values()
            .rev()
            .filter(|n| query.after.is_none_or(|after| n.id < after))
            .filter(|n| self.live(&n.id))
            .filter(|n| !query.unread_only || entry.unread.contains(&n.id))
            .map(|n| Notification {
                read: !entry.unread.contains(&n.id),
                ..n.clone()
            });
        let items: Vec<Notification> = matching.by_ref().take(query.first).collect();
        let has_next_page = matching.next().is_some();
        Ok(Page {
            items,
            has_next_page,
        })
    }

    async fn unread_count(&self, user: Uuid) -> anyhow::Result<u64> {
        let state = self.lock()?;
        Ok(state.users.get(&user).map_or(0, |entry| {
            entry.unread.iter().filter(|id| self.live(id)).count() as u64
        }))
    }

    async fn get(&self, user: Uuid, id: NotificationId) -> anyhow::Result<Option<Notification>> {
        let state = self.lock()?;
        if !self.live(&id) {
            return Ok(None);
        }
        Ok(state.users.get(&user).and_then(|entry| {
            entry.items.get(&id).map(|n| Notification {
                read: !entry.unread.contains(&id),
                ..n.clone()
            })
        }))
    }

    async fn mark_read(
        &self,
        user: Uuid,
        id: NotificationId,
    ) -> anyhow::Result<Option<Notification>> {
        let mut state = self.lock()?;
        if !self.live(&id) {
            return Ok(None);
        }
        let Some(entry) = state.users.get_mut(&user) else {
            return Ok(None);
        };
        let Some(found) = entry.items.get(&id) else {
            return Ok(None);
        };
        let found = Notification {
            read: true,
            ..found.clone()
        };
        entry.unread.remove(&id);
        Ok(Some(found))
    }

    async fn mark_all_read(&self, user: Uuid) -> anyhow::Result<u64> {
        let mut state = self.lock()?;
        let Some(entry) = state.users.get_mut(&user) else {
            return Ok(0);
        };
        let n = entry.unread.iter().filter(|id| self.live(id)).count() as u64;
        entry.unread.clear();
        Ok(n)
    }

    async fn preferences(&self, user: Uuid) -> anyhow::Result<Preferences> {
        let state = self.lock()?;
        Ok(state
            .users
            .get(&user)
            .map(|e| e.prefs.clone())
            .unwrap_or_default())
    }

    async fn update_preferences(
        &self,
        user: Uuid,
        changes: &[(NotificationKind, bool)],
    ) -> anyhow::Result<Preferences> {
        let mut state = self.lock()?;
        let entry = state.users.entry(user).or_default();
        for (kind, enabled) in changes {
            entry.prefs.set_email(*kind, *enabled);
        }
        Ok(entry.prefs.clone())
    }

    async fn remember_contact(&self, user: Uuid, contact: &Contact) -> anyhow::Result<()> {
        self.lock()?.users.entry(user).or_default().contact = Some(contact.clone());
        Ok(())
    }

    async fn contact(&self, user: Uuid) -> anyhow::Result<Option<Contact>> {
        Ok(self
            .lock()?
            .users
            .get(&user)
            .and_then(|e| e.contact.clone()))
    }

    async fn forget_user(&self, user: Uuid) -> anyhow::Result<()> {
        self.lock()?.users.remove(&user);
        Ok(())
    }

    async fn claim_email(&self, event_id: Uuid, lease: Duration) -> anyhow::Result<EmailClaim> {
        let now = Instant::now();
        let mut state = self.lock()?;
        match live_entry(state.emails.get(&event_id), now) {
            Some(EmailState::Done) => Ok(EmailClaim::Done),
            Some(EmailState::Sending) => Ok(EmailClaim::InProgress),
            None => {
                if state.emails.len() % PRUNE_EVERY == 0 {
                    state.emails.retain(|_, (_, until)| *until > now);
                }
                state
                    .emails
                    .insert(event_id, (EmailState::Sending, now + lease));
                Ok(EmailClaim::Claimed)
            }
        }
    }

    async fn settle_email(&self, event_id: Uuid) -> anyhow::Result<()> {
        let until = Instant::now() + self.settings.idempotency_ttl;
        self.lock()?
            .emails
            .insert(event_id, (EmailState::Done, until));
        Ok(())
    }

    async fn release_email(&self, event_id: Uuid) -> anyhow::Result<()> {
        self.lock()?.emails.remove(&event_id);
        Ok(())
    }

    async fn take_email_quota(
        &self,
        user: Uuid,
        limit: u32,
        window: Duration,
    ) -> anyhow::Result<bool> {
        let now = Instant::now();
        let mut state = self.lock()?;
        let entry = state.users.entry(user).or_default();
        let count = match entry.rate {
            Some((n, until)) if until > now => n + 1,
            _ => 1,
        };
        let until = match entry.rate {
            Some((_, until)) if until > now => until,
            _ => now + window,
        };
        entry.rate = Some((count, until));
        Ok(count <= u64::from(limit))
    }

    async fn return_email_quota(&self, user: Uuid) -> anyhow::Result<()> {
        if let Some(entry) = self.lock()?.users.get_mut(&user)
            && let Some((n, _)) = entry.rate.as_mut()
        {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    async fn cached_template(&self, name: &str) -> anyhow::Result<Option<CachedTemplate>> {
        Ok(self.lock()?.templates.get(name).cloned())
    }

    async fn cache_template(&self, name: &str, template: &CachedTemplate) -> anyhow::Result<()> {
        self.lock()?
            .templates
            .insert(name.to_owned(), template.clone());
        Ok(())
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}
