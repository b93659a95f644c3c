//! The in-process adapter of the one-command run: the same behaviour as Redis (retention,
//! cap, idempotency, claims, rate limits), kept in memory. With a snapshot file (the
//! one-command run's `DATA_DIR/notifications.json`) what users see — notifications, read
//! state, preferences, contacts, and the event ids already handled — survives a restart:
//! [`MemoryStore::flush`] writes it when something changed, atomically (write, then rename).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use service_kit::accounts::{self, Standing, StandingChange};
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
    /// The last standing change kept per account.
    standings: HashMap<Uuid, StandingChange>,
}

/// Notifications in memory. Cheap to clone.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    settings: StoreSettings,
    /// Where [`MemoryStore::flush`] writes the snapshot; `None` keeps nothing.
    file: Option<Arc<PathBuf>>,
    /// Something a snapshot holds changed since the last flush.
    dirty: Arc<AtomicBool>,
}

/// What a snapshot file holds. Email claims, rate-limit windows and the template cache are
/// short-lived and start afresh.
#[derive(Serialize, Deserialize, Default)]
struct Snapshot {
    users: Vec<UserSnapshot>,
    /// Handled event ids, their notification, and when to forget them (Unix seconds).
    events: Vec<(Uuid, NotificationId, u64)>,
    /// Deleted accounts, as snapshots wrote them before standings were kept.
    #[serde(default, skip_serializing)]
    deleted: Vec<Uuid>,
    /// The accounts' last standing changes.
    #[serde(default)]
    standings: Vec<StandingChange>,
}

#[derive(Serialize, Deserialize)]
struct UserSnapshot {
    user: Uuid,
    items: Vec<Notification>,
    unread: Vec<NotificationId>,
    email_off: Vec<NotificationKind>,
    contact: Option<Contact>,
}

impl MemoryStore {
    pub fn new(settings: StoreSettings) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            settings,
            file: None,
            dirty: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A store that starts from the snapshot at `file` (if there is one) and flushes to it.
    pub fn persistent(settings: StoreSettings, file: PathBuf) -> anyhow::Result<Self> {
        let mut store = Self::new(settings);
        match std::fs::read(&file) {
            Ok(bytes) => {
                let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                    anyhow::anyhow!("{} is not a notifications snapshot: {e}", file.display())
                })?;
                *store.lock()? = restore(snapshot);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", file.display())),
        }
        store.file = Some(Arc::new(file));
        Ok(store)
    }

    /// Writes the snapshot if something changed since the last flush.
    pub fn flush(&self) -> anyhow::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        // Serialised under the lock, written outside it.
        let bytes = {
            let state = self.lock()?;
            serde_json::to_vec(&snapshot(&state))?
        };
        let written = write_atomically(file, &bytes);
        if written.is_err() {
            // Try again at the next flush.
            self.dirty.store(true, Ordering::SeqCst);
        }
        written
    }

    fn changed(&self) {
        self.dirty.store(true, Ordering::SeqCst);
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
        self.changed();
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
        self.changed();
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
        self.changed();
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
        self.changed();
        let mut state = self.lock()?;
        let entry = state.users.entry(user).or_default();
        for (kind, enabled) in changes {
            entry.prefs.set_email(*kind, *enabled);
        }
        Ok(entry.prefs.clone())
    }

    async fn remember_contact(&self, user: Uuid, contact: &Contact) -> anyhow::Result<()> {
        self.changed();
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
        self.changed();
        let mut state = self.lock()?;
        state.users.remove(&user);
        Ok(())
    }

    async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()> {
        self.changed();
        accounts::keep(&mut self.lock()?.standings, *change);
        Ok(())
    }

    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>> {
        Ok(self.lock()?.standings.get(&user).map(|c| c.standing))
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn snapshot(state: &State) -> Snapshot {
    let (now, unix) = (Instant::now(), unix_now());
    Snapshot {
        users: state
            .users
            .iter()
            .map(|(user, entry)| UserSnapshot {
                user: *user,
                items: entry.items.values().cloned().collect(),
                unread: entry.unread.iter().copied().collect(),
                email_off: entry.prefs.disabled().collect(),
                contact: entry.contact.clone(),
            })
            .collect(),
        events: state
            .events
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(event, (id, until))| (*event, *id, unix + (*until - now).as_secs()))
            .collect(),
        deleted: Vec::new(),
        standings: state.standings.values().copied().collect(),
    }
}

fn restore(snapshot: Snapshot) -> State {
    let (now, unix) = (Instant::now(), unix_now());
    let mut state = State::default();
    for user in snapshot.users {
        state.users.insert(
            user.user,
            UserState {
                items: user.items.into_iter().map(|n| (n.id, n)).collect(),
                unread: user.unread.into_iter().collect(),
                prefs: Preferences::from_disabled(user.email_off),
                contact: user.contact,
                rate: None,
            },
        );
    }
    let deleted = snapshot.deleted.into_iter().map(|user_id| StandingChange {
        user_id,
        standing: Standing::Deleted,
        as_of: chrono::DateTime::<chrono::Utc>::MIN_UTC,
    });
    for change in deleted.chain(snapshot.standings) {
        accounts::keep(&mut state.standings, change);
    }
    for (event, id, expires) in snapshot.events {
        if expires > unix {
            state
                .events
                .insert(event, (id, now + Duration::from_secs(expires - unix)));
        }
    }
    state
}

fn write_atomically(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    service_kit::telemetry::ensure_parent_dir(file)?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}
