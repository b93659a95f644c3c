//! Where a payment is in its life, and the only place that says where it may go next.

use std::fmt;

/// The status of a payment. The allowed changes: PENDING to PROCESSING, PROCESSING to
/// COMPLETED or FAILED, PENDING to CANCELLED, COMPLETED to REFUNDED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
#[graphql(name = "PaymentStatus")]
pub enum PaymentStatus {
    /// Created and waiting to be processed; may still be cancelled.
    Pending,
    /// The payment processor is working on it.
    Processing,
    /// The processor accepted the payment; it may be refunded.
    Completed,
    /// The processor declined the payment (`failureReason` says why). Final.
    Failed,
    /// Cancelled before processing. Final.
    Cancelled,
    /// Refunded after completion. Final.
    Refunded,
}

use PaymentStatus::*;

impl PaymentStatus {
    /// Every allowed status change, and nothing else: the state machine.
    pub const TRANSITIONS: &'static [(PaymentStatus, PaymentStatus)] = &[
        (Pending, Processing),
        (Processing, Completed),
        (Processing, Failed),
        (Pending, Cancelled),
        (Completed, Refunded),
    ];

    pub const ALL: [PaymentStatus; 6] =
        [Pending, Processing, Completed, Failed, Cancelled, Refunded];

    /// Whether a payment in this status may move to `next`.
    pub fn can_become(self, next: PaymentStatus) -> bool {
        Self::TRANSITIONS.contains(&(self, next))
    }

    /// No transition leads out of a final status.
    pub fn is_final(self) -> bool {
        !Self::TRANSITIONS.iter().any(|(from, _)| *from == self)
    }

    /// The name used in storage, events and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Pending => "PENDING",
            Processing => "PROCESSING",
            Completed => "COMPLETED",
            Failed => "FAILED",
            Cancelled => "CANCELLED",
            Refunded => "REFUNDED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("unknown payment status {raw:?}"))
    }

    /// The verb for an error message: "cannot be <verb>".
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Pending => "reset",
            Processing => "processed",
            Completed => "completed",
            Failed => "failed",
            Cancelled => "cancelled",
            Refunded => "refunded",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_transitions_and_no_others() {
        let allowed: Vec<(PaymentStatus, PaymentStatus)> = PaymentStatus::ALL
            .into_iter()
            .flat_map(|from| PaymentStatus::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_become(*to))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Pending, Processing),
                (Pending, Cancelled),
                (Processing, Completed),
                (Processing, Failed),
                (Completed, Refunded),
            ]
        );
    }

    #[test]
    fn final_statuses() {
        let finals: Vec<_> = PaymentStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, vec![Failed, Cancelled, Refunded]);
    }

    #[test]
    fn names_round_trip() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(PaymentStatus::parse("pending").is_err());
    }
}
