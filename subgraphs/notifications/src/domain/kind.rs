use std::{fmt, str::FromStr};

/// What a notification is about. Each kind has its own email template and its own
/// email preference.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    async_graphql::Enum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    /// The account was created.
    Welcome,
    /// Someone signed in to the account with its password.
    NewLogin,
    /// A payment was created and awaits processing.
    PaymentCreated,
    /// A payment went through.
    PaymentCompleted,
    /// A payment was declined.
    PaymentFailed,
    /// A pending payment was cancelled.
    PaymentCancelled,
    /// A completed payment was refunded.
    PaymentRefunded,
    /// The account was deleted (email only: the account's notifications go with it).
    AccountDeleted,
}

impl NotificationKind {
    pub const ALL: [Self; 8] = [
        Self::Welcome,
        Self::NewLogin,
        Self::PaymentCreated,
        Self::PaymentCompleted,
        Self::PaymentFailed,
        Self::PaymentCancelled,
        Self::PaymentRefunded,
        Self::AccountDeleted,
    ];

    /// The wire and storage name, e.g. `PAYMENT_FAILED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "WELCOME",
            Self::NewLogin => "NEW_LOGIN",
            Self::PaymentCreated => "PAYMENT_CREATED",
            Self::PaymentCompleted => "PAYMENT_COMPLETED",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::PaymentCancelled => "PAYMENT_CANCELLED",
            Self::PaymentRefunded => "PAYMENT_REFUNDED",
            Self::AccountDeleted => "ACCOUNT_DELETED",
        }
    }

    /// The base name of the kind's template files (`welcome.txt`, `welcome.html`).
    pub const fn template_name(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::NewLogin => "new_login",
            Self::PaymentCreated => "payment_created",
            Self::PaymentCompleted => "payment_completed",
            Self::PaymentFailed => "payment_failed",
            Self::PaymentCancelled => "payment_cancelled",
            Self::PaymentRefunded => "payment_refunded",
            Self::AccountDeleted => "account_deleted",
        }
    }

    /// The event type (routing key) that causes this kind.
    pub const fn event_type(self) -> &'static str {
        match self {
            Self::Welcome => "user.registered",
            Self::NewLogin => "user.login",
            Self::PaymentCreated => "payment.created",
            Self::PaymentCompleted => "payment.completed",
            Self::PaymentFailed => "payment.failed",
            Self::PaymentCancelled => "payment.cancelled",
            Self::PaymentRefunded => "payment.refunded",
            Self::AccountDeleted => "user.deleted",
        }
    }

    /// Whether the notification is kept for the in-app list. An account's deletion is not:
    /// everything the account had is removed with it.
    pub const fn is_stored(self) -> bool {
        !matches!(self, Self::AccountDeleted)
    }

    /// The kind an event type causes, if any.
    pub fn for_event_type(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.event_type() == event_type)
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown notification kind {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_events_map_one_to_one() {
        for kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
            assert_eq!(
                NotificationKind::for_event_type(kind.event_type()),
                Some(kind)
            );
        }
        assert!("welcome".parse::<NotificationKind>().is_err());
        assert_eq!(NotificationKind::for_event_type("user.updated"), None);
    }
}
