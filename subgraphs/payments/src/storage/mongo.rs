//! The MongoDB adapter.
//!
//! - `payments`: one document per payment, its history embedded. Indexes (created at
//!   start-up): `(userId, createdAt, _id)` for newest-first pages, `(userId, status,
//!   createdAt, _id)` for pages filtered by status and for `user.deleted`, `(status,
//!   updatedAt)` to find interrupted processing, and a unique
//!   `(userId, idempotencyKey)` that makes `createPayment` idempotent.
//! - `outbox`: events waiting for the relay, written in the same transaction as the payment;
//!   published ones are deleted a week later by a TTL index.
//!
//! Transactions need a replica set (a single-node one is enough), as MongoDB requires.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::{
    Client, Collection, IndexModel,
    bson::{self, Bson, Document, doc},
    error::{
        Error as MongoError, ErrorKind, TRANSIENT_TRANSACTION_ERROR,
        UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure,
    },
    options::{ClientOptions, Hint, IndexOptions, ReturnDocument},
};
use rand::Rng;
use service_kit::{
    accounts::{Standing, StandingChange},
    events::Envelope,
    outbox::OutboxStore,
};
use uuid::Uuid;

use super::{Inserted, PageQuery, PaymentStore};
use crate::domain::{
    Actor, Amount, Currency, Description, HistoryEntry, IdempotencyKey, Money, Payment,
    PaymentStatus, Transition,
};

const USER_CREATED: &str = "user_created";
const USER_STATUS_CREATED: &str = "user_status_created";
const STATUS_UPDATED: &str = "status_updated";
const DUPLICATE_KEY: i32 = 11000;
/// How long published events stay in the outbox (for inspection) before MongoDB drops them.
const PUBLISHED_EVENTS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
const WRITE_CONFLICT: i32 = 112;
/// How often a transaction is run after transient errors (write conflicts with racing
/// writers); with the backoff below that is several seconds of contention.
const TRANSACTION_ATTEMPTS: u32 = 100;

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    database: mongodb::Database,
    payments: Collection<Document>,
    outbox: Collection<Document>,
    /// The last standing change per account (`_id`: its id; `asOf`: µs since the epoch),
    /// from `user.*` events.
    standings: Collection<Document>,
}

impl MongoStore {
    /// Connects (failing within a few seconds when the server is unreachable) and creates
    /// the indexes.
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url)
            .await
            .context("parsing MONGODB_URL")?;
        options.app_name.get_or_insert_with(|| "payments".into());
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options)?;
        let database = client.database(database);
        let store = Self {
            payments: database.collection("payments"),
            outbox: database.collection("outbox"),
            standings: database.collection("accountStandings"),
            database,
            client,
        };
        store.create_indexes().await?;
        Ok(store)
    }

    /// The database (tests drop it when they are done).
    pub fn database(&self) -> &mongodb::Database {
        &self.database
    }

    /// Loads payments without queuing events, in batches: for data loads and benchmarks,
    /// never for payments the platform creates.
    pub async fn insert_many_without_events(&self, payments: &[Payment]) -> anyhow::Result<()> {
        for batch in payments.chunks(1_000) {
            self.payments
                .insert_many(batch.iter().map(payment_doc))
                .await?;
        }
        Ok(())
    }

    async fn create_indexes(&self) -> anyhow::Result<()> {
        let index = |name: &str, keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_owned())
                        .unique(unique)
                        .build(),
                )
                .build()
        };
        self.payments
            .create_indexes([
                index(
                    USER_CREATED,
                    doc! { "userId": 1, "createdAt": -1, "_id": -1 },
                    false,
                ),
                index(
                    USER_STATUS_CREATED,
                    doc! { "userId": 1, "status": 1, "createdAt": -1, "_id": -1 },
                    false,
                ),
                index(STATUS_UPDATED, doc! { "status": 1, "updatedAt": 1 }, false),
                index(
                    "user_idempotency_key",
                    doc! { "userId": 1, "idempotencyKey": 1 },
                    true,
                ),
            ])
            .await
            .context("creating the payments indexes")?;
        self.outbox
            .create_indexes([
                index(
                    "unpublished",
                    doc! { "publishedAt": 1, "createdAt": 1, "_id": 1 },
                    false,
                ),
                // MongoDB deletes published events after a week; unsent ones (publishedAt
                // null) are never touched by a TTL index.
                IndexModel::builder()
                    .keys(doc! { "publishedAt": 1 })
                    .options(
                        IndexOptions::builder()
                            .name("published_ttl".to_owned())
                            .expire_after(PUBLISHED_EVENTS_KEPT)
                            .build(),
                    )
                    .build(),
            ])
            .await
            .context("creating the outbox indexes")?;
        Ok(())
    }

    /// Runs `body` in a transaction, retrying the whole of it after a transient error and
    /// the commit after an unknown commit result, as MongoDB's drivers recommend.
    async fn in_transaction<T, F>(&self, mut body: F) -> Result<T, MongoError>
    where
        F: for<'s> FnMut(
            &'s mut mongodb::ClientSession,
        ) -> futures::future::BoxFuture<'s, Result<T, MongoError>>,
    {
        let mut session = self.client.start_session().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            session.start_transaction().await?;
            let value = match body(&mut session).await {
                Ok(value) => value,
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    if is_transient(&e) && attempt < TRANSACTION_ATTEMPTS {
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(e);
                }
            };
            let mut commit_attempt = 0;
            let committed = loop {
                commit_attempt += 1;
                match session.commit_transaction().await {
                    Err(e)
                        if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                            && commit_attempt < TRANSACTION_ATTEMPTS => {}
                    other => break other,
                }
            };
            match committed {
                Ok(()) => return Ok(value),
                Err(e) if is_transient(&e) && attempt < TRANSACTION_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Exponential from 2 ms to at most 100 ms, with jitter so that racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let ceiling = (2_u64 << attempt.min(6)).min(100);
    Duration::from_millis(rand::thread_rng().gen_range(ceiling / 2..=ceiling))
}

/// Worth running the whole transaction again: MongoDB labels these, and a write conflict
/// (code 112) inside a transaction always is one.
fn is_transient(error: &MongoError) -> bool {
    error.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || matches!(error.kind.as_ref(), ErrorKind::Command(e) if e.code == WRITE_CONFLICT)
}

fn is_duplicate_key(error: &MongoError) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

fn date(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

fn history_doc(h: &HistoryEntry) -> Document {
    doc! {
        "from": h.from.map(|s| s.as_str()),
        "to": h.to.as_str(),
        "at": date(h.at),
        "actor": h.actor.to_string(),
        "note": h.note.as_deref(),
    }
}

fn payment_doc(p: &Payment) -> Document {
    doc! {
        "_id": p.id.to_string(),
        "userId": p.user_id.to_string(),
        "amount": p.money.amount.minor_units(),
        "currency": p.money.currency.code(),
        "description": p.description.as_ref().map(|d| d.as_str()),
        "idempotencyKey": p.idempotency_key.as_str(),
        "status": p.status.as_str(),
        "failureReason": p.failure_reason.as_deref(),
        "payerEmail": p.payer_email.as_deref(),
        "history": p.history.iter().map(|h| Bson::Document(history_doc(h))).collect::<Vec<_>>(),
        "createdAt": date(p.created_at),
        "updatedAt": date(p.updated_at),
    }
}

fn outbox_doc(envelope: &Envelope) -> anyhow::Result<Document> {
    Ok(doc! {
        "_id": envelope.id.to_string(),
        "type": envelope.event_type.as_str(),
        "envelope": serde_json::to_string(envelope)?,
        "createdAt": date(envelope.time),
        "publishedAt": Bson::Null,
    })
}

fn opt_str(d: &Document, key: &str) -> anyhow::Result<Option<String>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(other) => anyhow::bail!("{key} is not a string: {other:?}"),
    }
}

fn time(d: &Document, key: &str) -> anyhow::Result<DateTime<Utc>> {
    let millis = d.get_datetime(key)?.timestamp_millis();
    DateTime::from_timestamp_millis(millis).with_context(|| format!("{key} out of range"))
}

fn uuid(d: &Document, key: &str) -> anyhow::Result<Uuid> {
    Ok(Uuid::parse_str(d.get_str(key)?)?)
}

fn parse_payment(d: &Document) -> anyhow::Result<Payment> {
    let bad = |e: String| anyhow::anyhow!(e);
    let amount = match d.get("amount") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        other => anyhow::bail!("amount is not an integer: {other:?}"),
    };
    let history = d
        .get_array("history")?
        .iter()
        .map(|entry| {
            let h = entry
                .as_document()
                .context("history entry is not a document")?;
            Ok(HistoryEntry {
                from: opt_str(h, "from")?
                    .as_deref()
                    .map(PaymentStatus::parse)
                    .transpose()
                    .map_err(bad)?,
                to: PaymentStatus::parse(h.get_str("to")?).map_err(bad)?,
                at: time(h, "at")?,
                actor: Actor::parse(h.get_str("actor")?).map_err(bad)?,
                note: opt_str(h, "note")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::Ok(Payment {
        id: uuid(d, "_id")?,
        user_id: uuid(d, "userId")?,
        money: Money::new(
            Amount::new(amount).map_err(bad)?,
            Currency::parse(d.get_str("currency")?).map_err(bad)?,
        ),
        description: Description::parse_optional(opt_str(d, "description")?.as_deref())
            .map_err(bad)?,
        idempotency_key: IdempotencyKey::parse(d.get_str("idempotencyKey")?).map_err(bad)?,
        status: PaymentStatus::parse(d.get_str("status")?).map_err(bad)?,
        failure_reason: opt_str(d, "failureReason")?,
        payer_email: opt_str(d, "payerEmail")?,
        history,
        created_at: time(d, "createdAt")?,
        updated_at: time(d, "updatedAt")?,
    })
    .with_context(|| format!("reading stored payment {:?}", d.get("_id")))
}

#[async_trait::async_trait]
impl PaymentStore for MongoStore {
    #[tracing::instrument(target = "storage", name = "mongodb.insert", level = "debug", skip_all)]
    async fn insert(&self, payment: &Payment, event: &Envelope) -> anyhow::Result<Inserted> {
        let payment_doc = payment_doc(payment);
        let event_doc = outbox_doc(event)?;
        let (payments, outbox) = (self.payments.clone(), self.outbox.clone());
        let written = self
            .in_transaction(|session| {
                let (payments, outbox) = (payments.clone(), outbox.clone());
                let (payment_doc, event_doc) = (payment_doc.clone(), event_doc.clone());
                Box::pin(async move {
                    payments
                        .insert_one(payment_doc)
                        .session(&mut *session)
                        .await?;
                    outbox.insert_one(event_doc).session(&mut *session).await?;
                    Ok(())
                })
            })
            .await;
        match written {
            Ok(()) => Ok(Inserted::Created(payment.clone())),
            Err(e) if is_duplicate_key(&e) => {
                // The unique index refused it: the key is taken, and the payment that took
                // it is committed. Nothing of ours was written.
                let existing = self
                    .payments
                    .find_one(doc! {
                        "userId": payment.user_id.to_string(),
                        "idempotencyKey": payment.idempotency_key.as_str(),
                    })
                    .await?
                    .context("duplicate idempotency key but no payment holds it")?;
                Ok(Inserted::Existing(parse_payment(&existing)?))
            }
            Err(e) => Err(anyhow::Error::new(e).context("inserting a payment")),
        }
    }

    #[tracing::instrument(target = "storage", name = "mongodb.get", level = "debug", skip_all)]
    async fn get(&self, id: Uuid) -> anyhow::Result<Option<Payment>> {
        self.payments
            .find_one(doc! { "_id": id.to_string() })
            .await?
            .map(|d| parse_payment(&d))
            .transpose()
    }

    #[tracing::instrument(target = "storage", name = "mongodb.apply", level = "debug", skip_all)]
    async fn apply(
        &self,
        transition: &Transition,
        event: Option<&Envelope>,
    ) -> anyhow::Result<Option<Payment>> {
        let filter = doc! {
            "_id": transition.payment_id.to_string(),
            "status": transition.from.as_str(),
        };
        let mut set = doc! {
            "status": transition.to.as_str(),
            "updatedAt": date(transition.entry.at),
        };
        if let Some(reason) = &transition.failure_reason {
            set.insert("failureReason", reason.as_str());
        }
        let update = doc! {
            "$set": set,
            "$push": { "history": history_doc(&transition.entry) },
        };
        // Always a transaction, even without an event: a plain write that meets another
        // transaction's uncommitted write waits on the server until that transaction ends,
        // while a write inside a transaction fails at once with a transient WriteConflict
        // and is retried here. Mixing the two can exhaust the connection pool with waiting
        // plain writes while the transaction they wait for cannot get a connection to commit.
        let event_doc = event.map(outbox_doc).transpose()?;
        let (payments, outbox) = (self.payments.clone(), self.outbox.clone());
        let updated = self
            .in_transaction(|session| {
                let (payments, outbox) = (payments.clone(), outbox.clone());
                let (filter, update, event_doc) =
                    (filter.clone(), update.clone(), event_doc.clone());
                Box::pin(async move {
                    let updated = payments
                        .find_one_and_update(filter, update)
                        .return_document(ReturnDocument::After)
                        .session(&mut *session)
                        .await?;
                    // Lost the race: write no event either.
                    if let (Some(_), Some(event_doc)) = (&updated, event_doc) {
                        outbox.insert_one(event_doc).session(&mut *session).await?;
                    }
                    Ok(updated)
                })
            })
            .await?;
        updated.map(|d| parse_payment(&d)).transpose()
    }

    #[tracing::instrument(target = "storage", name = "mongodb.page", level = "debug", skip_all)]
    async fn page(&self, query: &PageQuery) -> anyhow::Result<Vec<Payment>> {
        let mut filter = doc! { "userId": query.user_id.to_string() };
        let mut index = USER_CREATED;
        if let Some(status) = query.status {
            filter.insert("status", status.as_str());
            index = USER_STATUS_CREATED;
        }
        if let Some(cursor) = query.after {
            // (createdAt, _id) < (cursor.createdAt, cursor.id), written with a plain range on
            // createdAt in front so that the index scan starts at the cursor.
            let at = date(cursor.created_at);
            filter.insert("createdAt", doc! { "$lte": at });
            filter.insert(
                "$or",
                vec![
                    doc! { "createdAt": { "$lt": at } },
                    doc! { "_id": { "$lt": cursor.id.to_string() } },
                ],
            );
        }
        let docs: Vec<Document> = self
            .payments
            .find(filter)
            .sort(doc! { "createdAt": -1, "_id": -1 })
            // The index that also gives the order. MongoDB's planner finds it by itself;
            // the hint keeps simpler planners (the test server's) from sorting the whole
            // history in memory through the (userId, idempotencyKey) index.
            .hint(Hint::Name(index.to_owned()))
            .limit(i64::from(query.limit))
            .await?
            .try_collect()
            .await?;
        docs.iter().map(parse_payment).collect()
    }

    async fn stale_processing(
        &self,
        updated_before: DateTime<Utc>,
        limit: u32,
    ) -> anyhow::Result<Vec<Payment>> {
        let docs: Vec<Document> = self
            .payments
            .find(doc! {
                "status": PaymentStatus::Processing.as_str(),
                "updatedAt": { "$lt": date(updated_before) },
            })
            .hint(Hint::Name(STATUS_UPDATED.to_owned()))
            .limit(i64::from(limit))
            .await?
            .try_collect()
            .await?;
        docs.iter().map(parse_payment).collect()
    }

    async fn pending_of_user(&self, user_id: Uuid) -> anyhow::Result<Vec<Uuid>> {
        let docs: Vec<Document> = self
            .payments
            .find(doc! { "userId": user_id.to_string(), "status": PaymentStatus::Pending.as_str() })
            .projection(doc! { "_id": 1 })
            .hint(Hint::Name(USER_STATUS_CREATED.to_owned()))
            .await?
            .try_collect()
            .await?;
        docs.iter().map(|d| uuid(d, "_id")).collect()
    }

    async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()> {
        // One conditional upsert: it matches only a kept change this one supersedes; when
        // a newer one (or a deletion) is kept, the upsert's insert hits the `_id` and is
        // refused, which is the outcome wanted.
        let mut filter = doc! { "_id": change.user_id.to_string() };
        if change.standing != Standing::Deleted {
            filter.insert("deleted", doc! { "$ne": true });
            filter.insert("asOf", doc! { "$lt": change.as_of.timestamp_micros() });
        }
        let update = doc! { "$set": {
            "standing": bson::to_bson(&change.standing)?,
            "deleted": change.standing == Standing::Deleted,
            "asOf": change.as_of.timestamp_micros(),
        } };
        match self.standings.update_one(filter, update).upsert(true).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn standing(&self, user_id: Uuid) -> anyhow::Result<Option<Standing>> {
        let Some(doc) = self
            .standings
            .find_one(doc! { "_id": user_id.to_string() })
            .await?
        else {
            return Ok(None);
        };
        let standing = doc
            .get("standing")
            .cloned()
            .context("an account standing without its standing")?;
        Ok(Some(bson::from_bson(standing)?))
    }

    async fn ping(&self) -> Result<(), String> {
        self.database
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|_| "unreachable".to_owned())
    }
}

#[async_trait::async_trait]
impl OutboxStore for MongoStore {
    async fn pending(&self, limit: u64) -> anyhow::Result<Vec<Envelope>> {
        let docs: Vec<Document> = self
            .outbox
            .find(doc! { "publishedAt": Bson::Null })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await?
            .try_collect()
            .await?;
        docs.iter()
            .map(|d| Ok(serde_json::from_str(d.get_str("envelope")?)?))
            .collect()
    }

    async fn mark_published(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        self.outbox
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "publishedAt": date(crate::domain::now()) } },
            )
            .await?;
        Ok(())
    }
}
