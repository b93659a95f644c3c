//! Payments' use cases, independent of GraphQL: each validates its input through the
//! domain types, authorizes the caller (owner or ADMIN), changes a payment only through
//! the state machine with one atomic conditional write (its event queued in the same
//! write), and returns errors that are safe to show.

use std::{sync::Arc, time::Duration};

use service_kit::{
    accounts::{self, CurrentAccounts, StandingChange},
    graphql::{ApiError, ApiResult, Identity},
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    domain::{self, Actor, NewPayment, Payment, PaymentStatus},
    events,
    processor::{Decision, PaymentProcessor},
    storage::{Cursor, Inserted, PageQuery, PaymentStore, Standings},
};

/// The largest page `payments(first:)` serves, and the default.
pub const MAX_PAGE: i32 = 100;
pub const DEFAULT_PAGE: i32 = 20;

/// The actor of cancellations caused by `user.deleted`.
pub const USER_DELETED_ACTOR: &str = "user-deleted";

/// `createPayment`'s input, as the client sent it.
pub struct CreatePayment {
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub idempotency_key: String,
}

/// One page of a user's payments, newest first.
pub struct PaymentPage {
    pub payments: Vec<Payment>,
    pub has_next_page: bool,
}

pub struct PaymentService {
    store: Arc<dyn PaymentStore>,
    processor: Arc<dyn PaymentProcessor>,
    outbox: Arc<Notify>,
    accounts: Arc<CurrentAccounts>,
}

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(e)
}

impl PaymentService {
    /// `outbox` is rung after every write that queued an event, so the relay sends it at once.
    pub fn new(
        store: Arc<dyn PaymentStore>,
        processor: Arc<dyn PaymentProcessor>,
        outbox: Arc<Notify>,
    ) -> Self {
        let accounts = Arc::new(CurrentAccounts::new(
            Arc::new(Standings(store.clone())),
            accounts::CACHE_TTL,
        ));
        Self {
            store,
            processor,
            outbox,
            accounts,
        }
    }

    /// The standing every request's caller is checked against.
    pub fn accounts(&self) -> Arc<CurrentAccounts> {
        self.accounts.clone()
    }

    pub fn store(&self) -> &Arc<dyn PaymentStore> {
        &self.store
    }

    /// Creates a PENDING payment of the caller, or returns the one this idempotency key
    /// already created if the input is the same; a different input is a CONFLICT.
    pub async fn create(&self, caller: &Identity, input: CreatePayment) -> ApiResult<Payment> {
        let request = NewPayment::parse(
            input.amount,
            &input.currency,
            input.description.as_deref(),
            &input.idempotency_key,
        )
        .map_err(ApiError::BadUserInput)?;
        let payment = Payment::create(
            caller.user_id,
            request.clone(),
            Actor::User(caller.user_id),
            domain::now(),
        )
        .with_payer_email(caller.email.clone());
        let event = events::envelope_for(&payment)
            .map_err(internal)?
            .ok_or_else(|| internal(anyhow::anyhow!("a new payment has no event")))?;
        match self
            .store
            .insert(&payment, &event)
            .await
            .map_err(internal)?
        {
            Inserted::Created(payment) => {
                self.outbox.notify_one();
                metrics::counter!("payments_created_total").increment(1);
                Ok(payment)
            }
            Inserted::Existing(existing) if existing.is_same_request(&request) => Ok(existing),
            Inserted::Existing(_) => Err(ApiError::Conflict(
                "this idempotencyKey was already used for a different payment".into(),
            )),
        }
    }

    /// A payment of the caller's, or anyone's for an ADMIN.
    pub async fn payment(&self, caller: &Identity, id: Uuid) -> ApiResult<Payment> {
        let payment = self
            .store
            .get(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::NotFound("payment not found".into()))?;
        caller.ensure_may_access(payment.user_id)?;
        Ok(payment)
    }

    /// Moves a PENDING payment to PROCESSING (only one caller can), asks the processor,
    /// and returns the payment COMPLETED or FAILED.
    pub async fn process(self: &Arc<Self>, caller: &Identity, id: Uuid) -> ApiResult<Payment> {
        let payment = self.payment(caller, id).await?;
        let processing = self
            .transition(
                &payment,
                PaymentStatus::Processing,
                Actor::User(caller.user_id),
                None,
            )
            .await?;
        // Finish on a task of its own: a client that goes away mid-request must not leave
        // the payment PROCESSING.
        let this = Arc::clone(self);
        let id = processing.id;
        let finished = tokio::spawn(async move { this.finish_processing(processing).await })
            .await
            .map_err(internal)?;
        match finished {
            // The stale-processing sweep finished it first, with the processor's same
            // (idempotent) decision: that is this request's answer too.
            Err(ApiError::Conflict(_)) => match self.store.get(id).await.map_err(internal)? {
                Some(p) if matches!(p.status, PaymentStatus::Completed | PaymentStatus::Failed) => {
                    Ok(p)
                }
                _ => Err(ApiError::Conflict(
                    "the payment was changed by another request".into(),
                )),
            },
            other => other,
        }
    }

    /// Finishes payments whose processing was interrupted: each one PROCESSING for longer
    /// than `older_than` is asked about again (processors are idempotent per payment) and
    /// moved to COMPLETED or FAILED. Returns how many this call finished.
    pub async fn resume_stale_processing(&self, older_than: Duration) -> anyhow::Result<usize> {
        let cutoff = domain::now() - chrono::Duration::from_std(older_than)?;
        let mut finished = 0;
        for payment in self.store.stale_processing(cutoff, 100).await? {
            match self.finish_processing(payment.clone()).await {
                Ok(done) => {
                    tracing::warn!(payment_id = %done.id, status = %done.status, "finished a payment whose processing was interrupted");
                    finished += 1;
                }
                // Its own request (or another instance) finished it meanwhile.
                Err(ApiError::Conflict(_)) => {}
                Err(e) => return Err(anyhow::anyhow!("finishing payment {}: {e:?}", payment.id)),
            }
        }
        Ok(finished)
    }

    async fn finish_processing(&self, processing: Payment) -> ApiResult<Payment> {
        let decision = match self.processor.process(&processing).await {
            Ok(decision) => decision,
            Err(e) => {
                tracing::error!(payment_id = %processing.id, error = format!("{e:#}"), "payment processor failed");
                Decision::Declined {
                    reason: "the payment processor is unavailable".into(),
                }
            }
        };
        let (to, note) = match decision {
            Decision::Approved => (PaymentStatus::Completed, None),
            Decision::Declined { reason } => (PaymentStatus::Failed, Some(reason)),
        };
        let actor = Actor::System(self.processor.name().into());
        self.transition(&processing, to, actor, note).await
    }

    /// Cancels a PENDING payment.
    pub async fn cancel(&self, caller: &Identity, id: Uuid) -> ApiResult<Payment> {
        let payment = self.payment(caller, id).await?;
        self.transition(
            &payment,
            PaymentStatus::Cancelled,
            Actor::User(caller.user_id),
            None,
        )
        .await
    }

    /// Refunds a COMPLETED payment.
    pub async fn refund(&self, caller: &Identity, id: Uuid) -> ApiResult<Payment> {
        let payment = self.payment(caller, id).await?;
        self.transition(
            &payment,
            PaymentStatus::Refunded,
            Actor::User(caller.user_id),
            None,
        )
        .await
    }

    /// `user_id`'s payments, newest first, for that user or an ADMIN.
    pub async fn payments_of(
        &self,
        caller: &Identity,
        user_id: Uuid,
        first: Option<i32>,
        after: Option<&str>,
        status: Option<PaymentStatus>,
    ) -> ApiResult<PaymentPage> {
        caller.ensure_may_access(user_id)?;
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::BadUserInput(format!(
                "first must be between 1 and {MAX_PAGE}"
            )));
        }
        let after = after
            .map(|c| {
                Cursor::decode(c).ok_or_else(|| ApiError::BadUserInput("invalid cursor".into()))
            })
            .transpose()?;
        let first = first as usize;
        let mut payments = self
            .store
            .page(&PageQuery {
                user_id,
                status,
                after,
                limit: (first + 1) as u32,
            })
            .await
            .map_err(internal)?;
        let has_next_page = payments.len() > first;
        payments.truncate(first);
        Ok(PaymentPage {
            payments,
            has_next_page,
        })
    }

    /// Keeps an account's new standing (its unexpired tokens are judged by it from now on).
    pub async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()> {
        self.store.record_standing(change).await?;
        self.accounts.forget(change.user_id);
        Ok(())
    }

    /// Cancels every PENDING payment of a deleted account. Returns how many this call cancelled
    /// (0 when run again for the same user).
    pub async fn cancel_pending_of_deleted_user(&self, user_id: Uuid) -> anyhow::Result<usize> {
        let mut cancelled = 0;
        for id in self.store.pending_of_user(user_id).await? {
            let Some(payment) = self.store.get(id).await? else {
                continue;
            };
            if payment.status != PaymentStatus::Pending {
                continue;
            }
            let actor = Actor::System(USER_DELETED_ACTOR.into());
            match self
                .transition(
                    &payment,
                    PaymentStatus::Cancelled,
                    actor,
                    Some("the account was deleted".into()),
                )
                .await
            {
                Ok(_) => cancelled += 1,
                // Someone else moved it first (processed or cancelled it): nothing to do.
                Err(ApiError::Conflict(_)) => {}
                Err(e) => return Err(anyhow::anyhow!("cancelling payment {id}: {e:?}")),
            }
        }
        Ok(cancelled)
    }

    /// Applies one state-machine step with its event, atomically and only if nobody changed
    /// the payment meanwhile; CONFLICT otherwise, naming the status it has now.
    async fn transition(
        &self,
        payment: &Payment,
        to: PaymentStatus,
        actor: Actor,
        note: Option<String>,
    ) -> ApiResult<Payment> {
        let transition = payment
            .transition(to, actor.clone(), domain::now(), note.clone())
            .map_err(ApiError::Conflict)?;
        let mut after = payment.clone();
        transition.apply_to(&mut after);
        let event = events::envelope_for(&after).map_err(internal)?;
        match self
            .store
            .apply(&transition, event.as_ref())
            .await
            .map_err(internal)?
        {
            Some(updated) => {
                if event.is_some() {
                    self.outbox.notify_one();
                }
                metrics::counter!("payment_transitions_total", "to" => to.as_str()).increment(1);
                Ok(updated)
            }
            None => {
                // Lost a race: explain with the status the payment has now.
                let current = self.store.get(payment.id).await.map_err(internal)?;
                let message = current
                    .and_then(|c| c.transition(to, actor, domain::now(), note).err())
                    .unwrap_or_else(|| "the payment was changed by another request".into());
                Err(ApiError::Conflict(message))
            }
        }
    }
}
