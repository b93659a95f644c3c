//! The notifications use cases, independent of GraphQL and of the broker: processing an
//! event (store, email, announce) and what users do with their notifications.

use std::{sync::Arc, time::Duration};

use lettre::message::Mailbox;
use service_kit::{
    accounts::{self, CurrentAccounts, StandingChange},
    events::{Envelope, EventBus, HandleError},
    graphql::{ApiError, ApiResult, Identity},
};
use uuid::Uuid;

use crate::{
    config::RateLimit,
    domain::{Contact, Notification, NotificationId, NotificationKind, PageCursor, Preferences},
    email::{MailError, Mailer, Templates, build_message},
    events::{NotificationCreated, Occurrence, PaymentView},
    storage::{EmailClaim, NotificationStore, Page, PageQuery, Recorded, Standings},
};

/// The `source` of the events this service publishes.
pub const SOURCE: &str = "/notifications";

/// The most notifications one page may hold.
pub const MAX_PAGE: usize = 100;

pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    mailer: Arc<dyn Mailer>,
    templates: Templates,
    bus: Arc<dyn EventBus>,
    from: Mailbox,
    rate_limit: RateLimit,
    /// How long an email claim holds before another delivery may take over.
    email_lease: Duration,
    accounts: Arc<CurrentAccounts>,
}

/// What email templates can use.
#[derive(serde::Serialize)]
struct EmailContext<'a> {
    kind: NotificationKind,
    title: &'a str,
    body: &'a str,
    email: &'a str,
    first_name: Option<&'a str>,
    occurred_at: String,
    payment: Option<&'a PaymentView>,
}

fn retry(e: impl Into<anyhow::Error>) -> HandleError {
    HandleError::Retry(e.into())
}

fn count_email(kind: NotificationKind, outcome: &'static str) {
    metrics::counter!("notification_emails_total", "kind" => kind.as_str(), "outcome" => outcome)
        .increment(1);
}

pub struct Dependencies {
    pub store: Arc<dyn NotificationStore>,
    pub mailer: Arc<dyn Mailer>,
    pub templates: Templates,
    pub bus: Arc<dyn EventBus>,
    pub from: Mailbox,
    pub rate_limit: RateLimit,
    pub email_lease: Duration,
}

impl NotificationService {
    pub fn new(deps: Dependencies) -> Self {
        let accounts = Arc::new(CurrentAccounts::new(
            Arc::new(Standings(deps.store.clone())),
            accounts::CACHE_TTL,
        ));
        Self {
            accounts,
            store: deps.store,
            mailer: deps.mailer,
            templates: deps.templates,
            bus: deps.bus,
            from: deps.from,
            rate_limit: deps.rate_limit,
            email_lease: deps.email_lease,
        }
    }

    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    /// The standing every request's caller is checked against.
    pub fn accounts(&self) -> Arc<CurrentAccounts> {
        self.accounts.clone()
    }

    /// Keeps an account's new standing (its unexpired tokens are judged by it from now on).
    pub async fn record_standing(&self, change: &StandingChange) -> Result<(), HandleError> {
        self.store.record_standing(change).await.map_err(retry)?;
        self.accounts.forget(change.user_id);
        Ok(())
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn mailer(&self) -> &Arc<dyn Mailer> {
        &self.mailer
    }

    // ---- events ---------------------------------------------------------------------

    /// Handles one occurrence, idempotently: the notification is stored once per event id
    /// (and announced to live subscribers only then), and the email is sent at most once
    /// per event id, honouring the user's preferences and the rate limit. Failures worth
    /// retrying return `HandleError::Retry`; the parts already done are not repeated.
    pub async fn process(&self, occurrence: &Occurrence) -> Result<(), HandleError> {
        let user = occurrence.user_id;
        let known = self.store.contact(user).await.map_err(retry)?;
        let contact = match (&occurrence.contact, known) {
            (Some(new), Some(old)) => Some(Contact {
                email: new.email.clone(),
                first_name: new.first_name.clone().or(old.first_name),
            }),
            (Some(new), None) => Some(new.clone()),
            (None, old) => old,
        };
        let new = occurrence
            .notification()
            .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?;
        if occurrence.kind.is_stored() {
            if let Some(contact) = &contact
                && occurrence.contact.is_some()
            {
                self.store
                    .remember_contact(user, contact)
                    .await
                    .map_err(retry)?;
            }
            match self
                .store
                .record(occurrence.event_id, new.clone())
                .await
                .map_err(retry)?
            {
                Recorded::Created(notification) => {
                    metrics::counter!("notifications_created_total", "kind" => notification.kind.as_str())
                        .increment(1);
                    self.announce(notification).await;
                }
                Recorded::Duplicate(id) => {
                    tracing::debug!(event_id = %occurrence.event_id, notification_id = %id, "event seen before; notification not stored again");
                }
            }
        }
        let (title, body) = (new.title().to_owned(), new.body().to_owned());
        self.email(occurrence, contact.as_ref(), &title, &body)
            .await?;
        if occurrence.kind == NotificationKind::AccountDeleted {
            self.store.forget_user(user).await.map_err(retry)?;
        }
        Ok(())
    }

    /// Publishes the stored notification for every instance's live subscribers. Live
    /// delivery is best effort: the notification is stored whatever happens here.
    async fn announce(&self, notification: Notification) {
        let envelope = match Envelope::new(SOURCE, &NotificationCreated(notification)) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a live notification");
                return;
            }
        };
        if let Err(e) = self.bus.publish(&envelope).await {
            tracing::warn!(error = %e, "live notification not announced");
            metrics::counter!("notifications_live_announce_failures_total").increment(1);
        }
    }

    async fn email(
        &self,
        occurrence: &Occurrence,
        contact: Option<&Contact>,
        title: &str,
        body: &str,
    ) -> Result<(), HandleError> {
        let kind = occurrence.kind;
        let user = occurrence.user_id;
        let Some(contact) = contact else {
            tracing::info!(%user, kind = kind.as_str(), "no email address known for the user; email skipped");
            count_email(kind, "no_address");
            return Ok(());
        };
        let preferences = self.store.preferences(user).await.map_err(retry)?;
        if !preferences.email_enabled(kind) {
            count_email(kind, "disabled");
            return Ok(());
        }
        match self
            .store
            .claim_email(occurrence.event_id, self.email_lease)
            .await
            .map_err(retry)?
        {
            EmailClaim::Claimed => {}
            EmailClaim::Done => {
                count_email(kind, "duplicate");
                return Ok(());
            }
            EmailClaim::InProgress => {
                return Err(retry(anyhow::anyhow!(
                    "the email of this event is being sent by another delivery"
                )));
            }
        }
        let result = self.send_claimed(occurrence, contact, title, body).await;
        let settled = match &result {
            Ok(()) => self.store.settle_email(occurrence.event_id).await,
            Err(_) => self.store.release_email(occurrence.event_id).await,
        };
        if let Err(e) = settled {
            tracing::warn!(event_id = %occurrence.event_id, error = format!("{e:#}"), "could not record the email's state");
        }
        result
    }

    /// Sends the email of a claimed event. `Err` only for failures worth retrying; the
    /// claim is then released. Everything else is final (and the claim settled).
    async fn send_claimed(
        &self,
        occurrence: &Occurrence,
        contact: &Contact,
        title: &str,
        body: &str,
    ) -> Result<(), HandleError> {
        let (kind, user, event_id) = (occurrence.kind, occurrence.user_id, occurrence.event_id);
        if !self
            .store
            .take_email_quota(user, self.rate_limit.emails, self.rate_limit.window)
            .await
            .map_err(retry)?
        {
            tracing::info!(%user, kind = kind.as_str(), "email rate limit reached; email skipped");
            count_email(kind, "rate_limited");
            return Ok(());
        }
        let context = EmailContext {
            kind,
            title,
            body,
            email: &contact.email,
            first_name: contact.first_name.as_deref(),
            occurred_at: occurrence
                .occurred_at
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
            payment: occurrence.payment.as_ref(),
        };
        let outcome = match self.templates.render(kind, &context).await {
            Ok(rendered) => {
                let to = contact
                    .email
                    .parse()
                    .map(|address| Mailbox::new(contact.first_name.clone(), address))
                    .map_err(|e| MailError::Permanent(format!("bad recipient address: {e}")));
                match to.and_then(|to| {
                    build_message(
                        &self.from,
                        to,
                        format!(
                            "<{event_id}.{}@notifications.platform>",
                            kind.template_name()
                        ),
                        rendered,
                    )
                }) {
                    Ok(message) => self.mailer.send(message).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(MailError::Permanent(e.to_string())),
        };
        match outcome {
            Ok(()) => {
                count_email(kind, "sent");
                Ok(())
            }
            Err(MailError::Transient(reason)) => {
                if let Err(e) = self.store.return_email_quota(user).await {
                    tracing::debug!(error = format!("{e:#}"), "could not return email quota");
                }
                count_email(kind, "retried");
                Err(retry(anyhow::anyhow!(reason)))
            }
            Err(MailError::Permanent(reason)) => {
                tracing::error!(%event_id, %user, kind = kind.as_str(), %reason, "email failed permanently; not retrying");
                count_email(kind, "failed");
                Ok(())
            }
        }
    }

    // ---- GraphQL use cases -----------------------------------------------------------

    /// Learns the caller's address from their verified token when no account event has
    /// told it yet (e.g. the account predates this service and its user only refreshes
    /// tokens), so that payment emails can reach them. Never overrides what events said.
    pub async fn learn_contact(&self, caller: &Identity) {
        let known = match self.store.contact(caller.user_id).await {
            Ok(known) => known,
            Err(e) => {
                tracing::debug!(error = format!("{e:#}"), "cannot read a contact");
                return;
            }
        };
        if known.is_none()
            && caller.email.parse::<lettre::Address>().is_ok()
            && let Err(e) = self
                .store
                .remember_contact(
                    caller.user_id,
                    &Contact {
                        email: caller.email.clone(),
                        first_name: None,
                    },
                )
                .await
        {
            tracing::debug!(error = format!("{e:#}"), "cannot remember a contact");
        }
    }

    /// A page of `user`'s notifications (the user themselves or an ADMIN).
    pub async fn notifications(
        &self,
        caller: &Identity,
        user: Uuid,
        first: usize,
        after: Option<&str>,
        unread_only: bool,
    ) -> ApiResult<Page> {
        caller.ensure_may_access(user)?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::BadUserInput(format!(
                "first must be between 1 and {MAX_PAGE}"
            )));
        }
        let after = after
            .map(PageCursor::decode)
            .transpose()
            .map_err(ApiError::BadUserInput)?
            .map(|c| c.0);
        self.store
            .page(
                user,
                PageQuery {
                    first,
                    after,
                    unread_only,
                },
            )
            .await
            .map_err(ApiError::internal)
    }

    pub async fn unread_count(&self, caller: &Identity, user: Uuid) -> ApiResult<u64> {
        caller.ensure_may_access(user)?;
        self.store
            .unread_count(user)
            .await
            .map_err(ApiError::internal)
    }

    /// One of the caller's own notifications; `None` for anything else.
    pub async fn notification(
        &self,
        caller: &Identity,
        id: &str,
    ) -> ApiResult<Option<Notification>> {
        let Ok(id) = id.parse::<NotificationId>() else {
            return Ok(None);
        };
        self.store
            .get(caller.user_id, id)
            .await
            .map_err(ApiError::internal)
    }

    /// Marks one of the caller's own notifications read. Anything else (someone else's,
    /// unknown, expired, not even an id) is the same `NOT_FOUND`.
    pub async fn mark_read(&self, caller: &Identity, id: &str) -> ApiResult<Notification> {
        let not_found = || ApiError::NotFound("no such notification".into());
        let id: NotificationId = id.parse().map_err(|_| not_found())?;
        self.store
            .mark_read(caller.user_id, id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(not_found)
    }

    pub async fn mark_all_read(&self, caller: &Identity) -> ApiResult<u64> {
        self.store
            .mark_all_read(caller.user_id)
            .await
            .map_err(ApiError::internal)
    }

    pub async fn preferences(&self, caller: &Identity, user: Uuid) -> ApiResult<Preferences> {
        caller.ensure_may_access(user)?;
        self.store
            .preferences(user)
            .await
            .map_err(ApiError::internal)
    }

    pub async fn update_preferences(
        &self,
        caller: &Identity,
        changes: &[(NotificationKind, bool)],
    ) -> ApiResult<Preferences> {
        if changes.is_empty() {
            return Err(ApiError::BadUserInput("no changes given".into()));
        }
        self.store
            .update_preferences(caller.user_id, changes)
            .await
            .map_err(ApiError::internal)
    }
}
