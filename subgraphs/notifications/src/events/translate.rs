use chrono::{DateTime, Utc};
use serde::Serialize;
use service_kit::events::{
    Envelope, PaymentCancelled, PaymentCompleted, PaymentCreated, PaymentData, PaymentFailed,
    PaymentRefunded, UserDeleted, UserLogin, UserRegistered,
};
use uuid::Uuid;

use crate::domain::{Contact, Money, NewNotification, NotificationKind};

/// A payment as the templates see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentView {
    pub id: Uuid,
    /// Formatted, e.g. `12.34 USD`.
    pub amount: String,
    pub status: String,
    pub description: Option<String>,
    pub failure_reason: Option<String>,
}

/// Something that happened to a user, decoded from an event: what the notification and
/// the email are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub occurred_at: DateTime<Utc>,
    /// The user's address, when the event carries it (account events do).
    pub contact: Option<Contact>,
    pub payment: Option<PaymentView>,
}

impl Occurrence {
    /// The occurrence an event describes; `Ok(None)` for event types that notify nobody,
    /// `Err` for an event whose data does not match its type.
    pub fn from_envelope(event: &Envelope) -> Result<Option<Self>, String> {
        let Some(kind) = NotificationKind::for_event_type(&event.event_type) else {
            return Ok(None);
        };
        let bad = |e: &dyn std::fmt::Display| e.to_string();
        let base = |user_id, occurred_at| Self {
            event_id: event.id,
            user_id,
            kind,
            occurred_at,
            contact: None,
            payment: None,
        };
        let occurrence = match kind {
            NotificationKind::Welcome => {
                let e: UserRegistered = event.decode().map_err(|e| bad(&e))?;
                Self {
                    contact: Some(Contact {
                        email: e.email,
                        first_name: Some(e.first_name),
                    }),
                    ..base(e.user_id, e.timestamp)
                }
            }
            NotificationKind::NewLogin => {
                let e: UserLogin = event.decode().map_err(|e| bad(&e))?;
                Self {
                    contact: Some(Contact {
                        email: e.email,
                        first_name: None,
                    }),
                    ..base(e.user_id, e.timestamp)
                }
            }
            NotificationKind::AccountDeleted => {
                let e: UserDeleted = event.decode().map_err(|e| bad(&e))?;
                Self {
                    contact: Some(Contact {
                        email: e.email,
                        first_name: None,
                    }),
                    ..base(e.user_id, e.timestamp)
                }
            }
            NotificationKind::PaymentCreated => payment(
                base,
                event.decode::<PaymentCreated>().map_err(|e| bad(&e))?.0,
            )?,
            NotificationKind::PaymentCompleted => payment(
                base,
                event.decode::<PaymentCompleted>().map_err(|e| bad(&e))?.0,
            )?,
            NotificationKind::PaymentFailed => payment(
                base,
                event.decode::<PaymentFailed>().map_err(|e| bad(&e))?.0,
            )?,
            NotificationKind::PaymentCancelled => payment(
                base,
                event.decode::<PaymentCancelled>().map_err(|e| bad(&e))?.0,
            )?,
            NotificationKind::PaymentRefunded => payment(
                base,
                event.decode::<PaymentRefunded>().map_err(|e| bad(&e))?.0,
            )?,
        };
        Ok(Some(occurrence))
    }

    /// The in-app notification: a short title and a one-paragraph body.
    pub fn notification(&self) -> Result<NewNotification, String> {
        let (title, body) = self.text();
        NewNotification::new(self.user_id, self.kind, &title, &body)
    }

    fn text(&self) -> (String, String) {
        let amount = self.payment.as_ref().map_or("", |p| p.amount.as_str());
        let described = self
            .payment
            .as_ref()
            .and_then(|p| p.description.as_deref())
            .map(|d| format!(" for \"{d}\""))
            .unwrap_or_default();
        let at = self.occurred_at.format("%Y-%m-%d %H:%M UTC");
        match self.kind {
            NotificationKind::Welcome => (
                "Welcome to the platform".into(),
                "Your account is ready.".into(),
            ),
            NotificationKind::NewLogin => (
                "New sign-in".into(),
                format!(
                    "Someone signed in to your account at {at}. If it was not you, change your password."
                ),
            ),
            NotificationKind::PaymentCreated => (
                "Payment created".into(),
                format!("Your payment of {amount}{described} is waiting to be processed."),
            ),
            NotificationKind::PaymentCompleted => (
                "Payment completed".into(),
                format!("Your payment of {amount}{described} went through."),
            ),
            NotificationKind::PaymentFailed => {
                let reason = self
                    .payment
                    .as_ref()
                    .and_then(|p| p.failure_reason.as_deref())
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                (
                    "Payment failed".into(),
                    format!("Your payment of {amount}{described} was declined{reason}."),
                )
            }
            NotificationKind::PaymentCancelled => (
                "Payment cancelled".into(),
                format!("Your payment of {amount}{described} was cancelled."),
            ),
            NotificationKind::PaymentRefunded => (
                "Payment refunded".into(),
                format!("Your payment of {amount}{described} was refunded."),
            ),
            NotificationKind::AccountDeleted => (
                "Account deleted".into(),
                "Your account and its notifications were deleted.".into(),
            ),
        }
    }
}

fn payment(
    base: impl FnOnce(Uuid, DateTime<Utc>) -> Occurrence,
    data: PaymentData,
) -> Result<Occurrence, String> {
    let amount = Money::new(data.amount, &data.currency)?;
    Ok(Occurrence {
        payment: Some(PaymentView {
            id: data.payment_id,
            amount: amount.to_string(),
            status: data.status,
            description: data.description,
            failure_reason: data.failure_reason,
        }),
        // Payment events carry the payer's address since version 1.1 of the contract;
        // an older one leaves it to what the account events taught us.
        contact: data.email.map(|email| Contact {
            email,
            first_name: None,
        }),
        ..base(data.user_id, data.timestamp)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment_event(currency: &str) -> Envelope {
        Envelope::new(
            "/payments",
            &PaymentFailed(PaymentData {
                payment_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                amount: 1999,
                currency: currency.into(),
                status: "FAILED".into(),
                description: Some("Coffee".into()),
                failure_reason: Some("card declined".into()),
                email: Some("payer@example.com".into()),
                timestamp: Utc::now(),
            }),
        )
        .unwrap()
    }

    #[test]
    fn a_failed_payment_says_how_much_and_why() {
        let occurrence = Occurrence::from_envelope(&payment_event("usd"))
            .unwrap()
            .unwrap();
        assert_eq!(occurrence.kind, NotificationKind::PaymentFailed);
        let (title, body) = occurrence.text();
        assert_eq!(title, "Payment failed");
        assert_eq!(
            body,
            "Your payment of 19.99 USD for \"Coffee\" was declined: card declined."
        );
        assert!(occurrence.notification().is_ok());
    }

    #[test]
    fn unknown_types_are_ignored_and_bad_data_is_an_error() {
        let mut other = payment_event("USD");
        other.event_type = "payment.audited".into();
        assert_eq!(Occurrence::from_envelope(&other), Ok(None));
        let mut broken = payment_event("USD");
        broken.data = serde_json::json!({ "userId": "nope" });
        assert!(Occurrence::from_envelope(&broken).is_err());
        assert!(Occurrence::from_envelope(&payment_event("DOLLARS")).is_err());
    }

    #[test]
    fn a_payment_event_names_its_payers_address_and_an_old_one_still_decodes() {
        let new = Occurrence::from_envelope(&payment_event("USD"))
            .unwrap()
            .unwrap();
        assert_eq!(
            new.contact.map(|c| c.email).as_deref(),
            Some("payer@example.com")
        );
        // Version 1.0 of the contract had no email.
        let mut old = payment_event("USD");
        if let serde_json::Value::Object(data) = &mut old.data {
            data.remove("email");
        }
        let old = Occurrence::from_envelope(&old).unwrap().unwrap();
        assert_eq!(old.contact, None);
        assert_eq!(old.kind, NotificationKind::PaymentFailed);
    }
}
