//! A payment, what it takes to create one, and its history.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Amount, Currency, Money, PaymentStatus};

/// The client's key that makes `createPayment` safe to retry: 1 to 255 characters, not
/// blank, no control characters. Compared exactly (it is opaque: no trimming, no case folding).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("idempotencyKey must not be empty".into());
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "idempotencyKey must be at most {} characters",
                Self::MAX_CHARS
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err("idempotencyKey must not contain control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the payment is for: trimmed, 1 to 500 characters, no control characters other
/// than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 500;

    /// `None` for a missing or blank description.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, String> {
        let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if text.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "description must be at most {} characters",
                Self::MAX_CHARS
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err("description must not contain control characters".into());
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated request to create a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub money: Money,
    pub description: Option<Description>,
    pub idempotency_key: IdempotencyKey,
}

impl NewPayment {
    pub fn parse(
        amount: i64,
        currency: &str,
        description: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            money: Money::new(Amount::new(amount)?, Currency::parse(currency)?),
            description: Description::parse_optional(description)?,
            idempotency_key: IdempotencyKey::parse(idempotency_key)?,
        })
    }
}

/// Who changed a payment: a user (the owner or an ADMIN), or the system itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user, by id.
    User(Uuid),
    /// A part of the payments service, e.g. `simulated-processor` or `user-deleted`.
    System(String),
}

impl Actor {
    /// `user:<uuid>` or `system:<name>`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.split_once(':') {
            Some(("user", id)) => Uuid::parse_str(id)
                .map(Self::User)
                .map_err(|_| format!("bad actor {raw:?}")),
            Some(("system", name)) if !name.is_empty() => Ok(Self::System(name.to_owned())),
            _ => Err(format!("bad actor {raw:?}")),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::System(name) => write!(f, "system:{name}"),
        }
    }
}

/// One step of a payment's life: its creation (no `from`) or a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub from: Option<PaymentStatus>,
    pub to: PaymentStatus,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// Why, when there is more to say (a decline reason, "user deleted").
    pub note: Option<String>,
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: Uuid,
    pub user_id: Uuid,
    pub money: Money,
    pub description: Option<Description>,
    pub idempotency_key: IdempotencyKey,
    pub status: PaymentStatus,
    pub failure_reason: Option<String>,
    /// The payer's email as their token carried it at creation, so that every event of
    /// the payment can say where its receipt goes. `None` for payments created before
    /// it was kept.
    pub payer_email: Option<String>,
    /// Oldest first; the first entry is the creation.
    pub history: Vec<HistoryEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Payment {
    /// The payment, with the payer's email (see [`Payment::payer_email`]).
    pub fn with_payer_email(self, email: impl Into<String>) -> Self {
        Self {
            payer_email: Some(email.into()),
            ..self
        }
    }

    /// A new PENDING payment of `user_id`, created by `actor` at `at`.
    pub fn create(user_id: Uuid, request: NewPayment, actor: Actor, at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            user_id,
            money: request.money,
            description: request.description,
            idempotency_key: request.idempotency_key,
            status: PaymentStatus::Pending,
            failure_reason: None,
            payer_email: None,
            history: vec![HistoryEntry {
                from: None,
                to: PaymentStatus::Pending,
                at,
                actor,
                note: None,
            }],
            created_at: at,
            updated_at: at,
        }
    }

    /// Whether `request` asks for exactly this payment (an idempotent retry) rather than
    /// reusing its key for something else.
    pub fn is_same_request(&self, request: &NewPayment) -> bool {
        self.money == request.money
            && self.description == request.description
            && self.idempotency_key == request.idempotency_key
    }

    /// The change to `to`, if the state machine allows it from the current status.
    /// `note` becomes the failure reason of a FAILED payment.
    pub fn transition(
        &self,
        to: PaymentStatus,
        actor: Actor,
        at: DateTime<Utc>,
        note: Option<String>,
    ) -> Result<Transition, String> {
        if !self.status.can_become(to) {
            return Err(format!("a {} payment cannot be {}", self.status, to.verb()));
        }
        Ok(Transition {
            payment_id: self.id,
            from: self.status,
            to,
            failure_reason: (to == PaymentStatus::Failed)
                .then(|| note.clone())
                .flatten(),
            entry: HistoryEntry {
                from: Some(self.status),
                to,
                at,
                actor,
                note,
            },
        })
    }
}

/// An allowed status change, to be applied only if the payment is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub payment_id: Uuid,
    pub from: PaymentStatus,
    pub to: PaymentStatus,
    pub failure_reason: Option<String>,
    pub entry: HistoryEntry,
}

impl Transition {
    /// Applies the change to an in-memory payment that is in `from`.
    pub fn apply_to(&self, payment: &mut Payment) {
        payment.status = self.to;
        payment.updated_at = self.entry.at;
        if self.failure_reason.is_some() {
            payment.failure_reason.clone_from(&self.failure_reason);
        }
        payment.history.push(self.entry.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(amount: i64, key: &str) -> NewPayment {
        NewPayment::parse(amount, "USD", Some("  tea  "), key).unwrap()
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let err = NewPayment::parse(0, "USD", None, "k").unwrap_err();
        assert!(err.contains("positive"), "{err}");
        let err = NewPayment::parse(5, "ZZZ", None, "k").unwrap_err();
        assert!(err.contains("unknown currency"), "{err}");
        let err = NewPayment::parse(5, "USD", None, "   ").unwrap_err();
        assert!(err.contains("idempotencyKey"), "{err}");
        let long = "x".repeat(Description::MAX_CHARS + 1);
        assert!(NewPayment::parse(5, "USD", Some(&long), "k").is_err());
        assert!(NewPayment::parse(5, "USD", None, "a\u{0}b").is_err());
    }

    #[test]
    fn descriptions_are_trimmed_and_blank_means_none() {
        assert_eq!(request(5, "k").description.unwrap().as_str(), "tea");
        assert_eq!(Description::parse_optional(Some("  ")).unwrap(), None);
    }

    #[test]
    fn same_request_compares_every_input() {
        let user = Uuid::now_v7();
        let payment = Payment::create(
            user,
            request(500, "k"),
            Actor::User(user),
            crate::domain::now(),
        );
        assert!(payment.is_same_request(&request(500, "k")));
        assert!(!payment.is_same_request(&request(501, "k")));
        let mut other = request(500, "k");
        other.description = None;
        assert!(!payment.is_same_request(&other));
    }

    #[test]
    fn transitions_follow_the_state_machine_and_are_recorded() {
        let user = Uuid::now_v7();
        let now = crate::domain::now();
        let mut payment = Payment::create(user, request(500, "k"), Actor::User(user), now);
        let err = payment
            .transition(PaymentStatus::Refunded, Actor::User(user), now, None)
            .unwrap_err();
        assert_eq!(err, "a PENDING payment cannot be refunded");
        payment
            .transition(PaymentStatus::Processing, Actor::User(user), now, None)
            .unwrap()
            .apply_to(&mut payment);
        let system = Actor::System("simulated-processor".into());
        let failed = payment
            .transition(
                PaymentStatus::Failed,
                system.clone(),
                now,
                Some("declined".into()),
            )
            .unwrap();
        failed.apply_to(&mut payment);
        assert_eq!(payment.status, PaymentStatus::Failed);
        assert_eq!(payment.failure_reason.as_deref(), Some("declined"));
        let steps: Vec<_> = payment.history.iter().map(|h| (h.from, h.to)).collect();
        assert_eq!(
            steps,
            vec![
                (None, PaymentStatus::Pending),
                (Some(PaymentStatus::Pending), PaymentStatus::Processing),
                (Some(PaymentStatus::Processing), PaymentStatus::Failed),
            ]
        );
        assert_eq!(payment.history[2].actor, system);
    }

    #[test]
    fn actors_round_trip() {
        let id = Uuid::now_v7();
        for actor in [Actor::User(id), Actor::System("user-deleted".into())] {
            assert_eq!(Actor::parse(&actor.to_string()).unwrap(), actor);
        }
        assert!(Actor::parse("robot:1").is_err());
    }
}
