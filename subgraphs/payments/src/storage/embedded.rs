//! The embedded store of the one-command run: everything in memory behind one lock, and,
//! when given a file, every change appended to it as a JSON line (replayed and compacted
//! at start-up). The lock makes each operation atomic, which gives the same promises as
//! MongoDB's unique index, conditional update and transaction.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::{
    accounts::{self, Standing, StandingChange},
    events::Envelope,
    outbox::OutboxStore,
};
use uuid::Uuid;

use super::{Inserted, PageQuery, PaymentStore};
use crate::domain::{
    Actor, Amount, Currency, Description, HistoryEntry, IdempotencyKey, Money, Payment,
    PaymentStatus, Transition,
};

#[derive(Default)]
struct State {
    payments: HashMap<Uuid, Payment>,
    /// The unique index: (user, idempotency key) → payment.
    keys: HashMap<(Uuid, String), Uuid>,
    /// The listing index: (user, created_at, id), iterated backwards for newest first.
    by_user: BTreeSet<(Uuid, DateTime<Utc>, Uuid)>,
    /// Unsent events, oldest first.
    outbox: VecDeque<Envelope>,
    /// The last standing change kept per account (from `user.*` events).
    standings: HashMap<Uuid, StandingChange>,
}

impl State {
    fn put(&mut self, payment: Payment) {
        self.keys.insert(
            (payment.user_id, payment.idempotency_key.as_str().to_owned()),
            payment.id,
        );
        self.by_user
            .insert((payment.user_id, payment.created_at, payment.id));
        self.payments.insert(payment.id, payment);
    }

    fn replay(&mut self, record: Record) -> anyhow::Result<()> {
        match record {
            Record::Payment(p) => self.put(p.try_into()?),
            Record::Event(e) => self.outbox.push_back(e),
            Record::Published(ids) => self.outbox.retain(|e| !ids.contains(&e.id)),
            Record::DeletedUser(user_id) => {
                accounts::keep(
                    &mut self.standings,
                    StandingChange {
                        user_id,
                        standing: Standing::Deleted,
                        as_of: DateTime::<Utc>::MIN_UTC,
                    },
                );
            }
            Record::Standing(change) => {
                accounts::keep(&mut self.standings, change);
            }
        }
        Ok(())
    }
}

/// In memory, optionally persisted to a JSON-lines file.
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    log: Option<File>,
}

impl EmbeddedStore {
    /// Nothing survives the process.
    pub fn in_memory() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::default(),
                log: None,
            }),
        }
    }

    /// Loads `path` (if it exists), compacts it, and appends every later change to it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        service_kit::telemetry::ensure_parent_dir(path)?;
        let mut state = State::default();
        if path.exists() {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            for (n, line) in BufReader::new(file).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                // A torn last line (the process died mid-write) is the only damage expected.
                match serde_json::from_str::<Record>(&line) {
                    Ok(record) => state.replay(record)?,
                    Err(e) => {
                        tracing::warn!(file = %path.display(), line = n + 1, error = %e, "skipping an unreadable line of the payments store")
                    }
                }
            }
        }
        let log = compact(path, &state)?;
        Ok(Self {
            inner: Mutex::new(Inner {
                state,
                log: Some(log),
            }),
        })
    }

    fn lock(&self) -> anyhow::Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| anyhow::anyhow!("embedded store lock poisoned"))
    }
}

/// Rewrites the file with only the live state, atomically, and opens it for appending.
fn compact(path: &Path, state: &State) -> anyhow::Result<File> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    {
        let mut out = std::io::BufWriter::new(File::create(&tmp)?);
        let mut payments: Vec<&Payment> = state.payments.values().collect();
        payments.sort_by_key(|p| (p.created_at, p.id));
        for payment in payments {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Record::Payment(payment.into()))?
            )?;
        }
        for event in &state.outbox {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Record::Event(event.clone()))?
            )?;
        }
        for change in state.standings.values() {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Record::Standing(*change))?
            )?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(OpenOptions::new().append(true).open(path)?)
}

impl Inner {
    /// Appends records before the in-memory state changes, so memory never runs ahead
    /// of the file.
    fn log(&mut self, records: &[Record]) -> anyhow::Result<()> {
        let Some(file) = self.log.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for record in records {
            serde_json::to_writer(&mut buf, record)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)
            .context("appending to the payments store")
    }
}

#[async_trait::async_trait]
impl PaymentStore for EmbeddedStore {
    async fn insert(&self, payment: &Payment, event: &Envelope) -> anyhow::Result<Inserted> {
        let mut inner = self.lock()?;
        let key = (payment.user_id, payment.idempotency_key.as_str().to_owned());
        if let Some(existing) = inner.state.keys.get(&key) {
            let existing = inner
                .state
                .payments
                .get(existing)
                .cloned()
                .context("unique index points at a missing payment")?;
            return Ok(Inserted::Existing(existing));
        }
        inner.log(&[
            Record::Payment(payment.into()),
            Record::Event(event.clone()),
        ])?;
        inner.state.put(payment.clone());
        inner.state.outbox.push_back(event.clone());
        Ok(Inserted::Created(payment.clone()))
    }

    async fn get(&self, id: Uuid) -> anyhow::Result<Option<Payment>> {
        Ok(self.lock()?.state.payments.get(&id).cloned())
    }

    async fn apply(
        &self,
        transition: &Transition,
        event: Option<&Envelope>,
    ) -> anyhow::Result<Option<Payment>> {
        let mut inner = self.lock()?;
        let Some(current) = inner.state.payments.get(&transition.payment_id) else {
            return Ok(None);
        };
        if current.status != transition.from {
            return Ok(None);
        }
        let mut updated = current.clone();
        transition.apply_to(&mut updated);
        let mut records = vec![Record::Payment((&updated).into())];
        records.extend(event.map(|e| Record::Event(e.clone())));
        inner.log(&records)?;
        inner.state.put(updated.clone());
        inner.state.outbox.extend(event.cloned());
        Ok(Some(updated))
    }

    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Payment>> {
        let inner = self.lock()?;
        let state = &inner.state;
        let low = (query.user_id, DateTime::<Utc>::MIN_UTC, Uuid::nil());
        let high = match query.after {
            Some(cursor) => (query.user_id, cursor.created_at, cursor.id),
            None => (query.user_id, DateTime::<Utc>::MAX_UTC, Uuid::max()),
        };
        let exclusive_high = query.after.is_some();
        Ok(state
            .by_user
            .range(low..=high)
            .rev()
            .filter(|entry| !(exclusive_high && **entry == high))
            .filter_map(|(_, _, id)| state.payments.get(id))
            .filter(|p| query.status.is_none_or(|s| p.status == s))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    async fn stale_processing(
        &self,
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Payment>> {
        let inner = self.lock()?;
        Ok(inner
            .state
            .payments
            .values()
            .filter(|p| p.status == PaymentStatus::Processing && p.updated_at < updated_before)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn pending_of_user(&self, user_id: Uuid) -> anyhow::Result<Vec<Uuid>> {
        let inner = self.lock()?;
        let state = &inner.state;
        let low = (user_id, DateTime::<Utc>::MIN_UTC, Uuid::nil());
        let high = (user_id, DateTime::<Utc>::MAX_UTC, Uuid::max());
        Ok(state
            .by_user
            .range(low..=high)
            .filter_map(|(_, _, id)| state.payments.get(id))
            .filter(|p| p.status == PaymentStatus::Pending)
            .map(|p| p.id)
            .collect())
    }

    async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()> {
        let mut inner = self.lock()?;
        // Logged first, so that a change the file lacks is not kept in memory either.
        if !accounts::would_keep(&inner.state.standings, change) {
            return Ok(());
        }
        inner.log(&[Record::Standing(*change)])?;
        accounts::keep(&mut inner.state.standings, *change);
        Ok(())
    }

    async fn standing(&self, user_id: Uuid) -> anyhow::Result<Option<Standing>> {
        Ok(self
            .lock()?
            .state
            .standings
            .get(&user_id)
            .map(|change| change.standing))
    }

    async fn ping(&self) -> Result<(), String> {
        self.lock().map(|_| ()).map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl OutboxStore for EmbeddedStore {
    async fn pending(&self, limit: u64) -> anyhow::Result<Vec<Envelope>> {
        let inner = self.lock()?;
        Ok(inner
            .state
            .outbox
            .iter()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn mark_published(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        let mut inner = self.lock()?;
        inner.log(&[Record::Published(ids.to_vec())])?;
        inner.state.outbox.retain(|e| !ids.contains(&e.id));
        Ok(())
    }
}

/// One line of the store's file.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "camelCase")]
enum Record {
    /// The whole payment as it is now (the last one for an id wins).
    Payment(PaymentRecord),
    /// An event queued for the relay.
    Event(Envelope),
    /// Events the relay has published.
    Published(Vec<Uuid>),
    /// An account that was deleted (written before standings existed; read as one).
    DeletedUser(Uuid),
    /// The standing an account changed to.
    Standing(StandingChange),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentRecord {
    id: Uuid,
    user_id: Uuid,
    amount: i64,
    currency: String,
    description: Option<String>,
    idempotency_key: String,
    status: String,
    failure_reason: Option<String>,
    /// Absent in files written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payer_email: Option<String>,
    history: Vec<HistoryRecord>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRecord {
    from: Option<String>,
    to: String,
    at: DateTime<Utc>,
    actor: String,
    note: Option<String>,
}

impl From<&Payment> for PaymentRecord {
    fn from(p: &Payment) -> Self {
        Self {
            id: p.id,
            user_id: p.user_id,
            amount: p.money.amount.minor_units(),
            currency: p.money.currency.code().to_owned(),
            description: p.description.as_ref().map(|d| d.as_str().to_owned()),
            idempotency_key: p.idempotency_key.as_str().to_owned(),
            status: p.status.as_str().to_owned(),
            failure_reason: p.failure_reason.clone(),
            payer_email: p.payer_email.clone(),
            history: p
                .history
                .iter()
                .map(|h| HistoryRecord {
                    from: h.from.map(|s| s.as_str().to_owned()),
                    to: h.to.as_str().to_owned(),
                    at: h.at,
                    actor: h.actor.to_string(),
                    note: h.note.clone(),
                })
                .collect(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl TryFrom<PaymentRecord> for Payment {
    type Error = anyhow::Error;

    fn try_from(r: PaymentRecord) -> anyhow::Result<Self> {
        let bad = |e: String| anyhow::anyhow!("stored payment {}: {e}", r.id);
        Ok(Self {
            id: r.id,
            user_id: r.user_id,
            money: Money::new(
                Amount::new(r.amount).map_err(bad)?,
                Currency::parse(&r.currency).map_err(bad)?,
            ),
            description: Description::parse_optional(r.description.as_deref()).map_err(bad)?,
            idempotency_key: IdempotencyKey::parse(&r.idempotency_key).map_err(bad)?,
            status: PaymentStatus::parse(&r.status).map_err(bad)?,
            failure_reason: r.failure_reason.clone(),
            payer_email: r.payer_email.clone(),
            history: r
                .history
                .iter()
                .map(|h| {
                    Ok(HistoryEntry {
                        from: h.from.as_deref().map(PaymentStatus::parse).transpose()?,
                        to: PaymentStatus::parse(&h.to)?,
                        at: h.at,
                        actor: Actor::parse(&h.actor)?,
                        note: h.note.clone(),
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(bad)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NewPayment;
    use service_kit::events::{PaymentCreated, PaymentData};

    fn payment(user: Uuid, key: &str) -> Payment {
        Payment::create(
            user,
            NewPayment::parse(100, "USD", Some("book"), key).unwrap(),
            Actor::User(user),
            crate::domain::now(),
        )
    }

    fn event(p: &Payment) -> Envelope {
        Envelope::new(
            "/payments",
            &PaymentCreated(PaymentData {
                payment_id: p.id,
                user_id: p.user_id,
                amount: p.money.amount.minor_units(),
                currency: p.money.currency.code().into(),
                status: p.status.as_str().into(),
                description: None,
                failure_reason: None,
                email: None,
                timestamp: p.created_at,
            }),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_file_survives_a_restart_and_is_compacted() {
        let dir = std::env::temp_dir().join(format!("payments_store_{}", Uuid::new_v4().simple()));
        let path = dir.join("payments.jsonl");
        let user = Uuid::now_v7();
        let (a, b) = (payment(user, "a"), payment(user, "b"));
        let (ea, eb) = (event(&a), event(&b));
        {
            let store = EmbeddedStore::open(&path).unwrap();
            store.insert(&a, &ea).await.unwrap();
            store.insert(&b, &eb).await.unwrap();
            let t = a
                .transition(
                    PaymentStatus::Cancelled,
                    Actor::User(user),
                    crate::domain::now(),
                    None,
                )
                .unwrap();
            store.apply(&t, None).await.unwrap().unwrap();
            store.mark_published(&[ea.id]).await.unwrap();
        }
        // A torn last line is skipped.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"op\":\"payme")
            .unwrap();
        let store = EmbeddedStore::open(&path).unwrap();
        let a_back = store.get(a.id).await.unwrap().unwrap();
        assert_eq!(a_back.status, PaymentStatus::Cancelled);
        assert_eq!(a_back.history.len(), 2);
        assert_eq!(store.get(b.id).await.unwrap().unwrap(), b);
        let pending: Vec<Uuid> = store
            .pending(10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(pending, vec![eb.id]);
        // Compacted: one line per payment and per unsent event.
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 3);
        // The unique index is rebuilt too.
        assert!(matches!(
            store.insert(&payment(user, "a"), &ea).await.unwrap(),
            Inserted::Existing(p) if p.id == a.id
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
