//! Talking to whoever moves the money: the [`PaymentProcessor`] port, and the simulated
//! processor the platform ships with.

use std::time::Duration;

use crate::domain::Payment;

/// What the processor decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Declined { reason: String },
}

/// Charges a payment, after it moved to PROCESSING.
///
/// Must be idempotent per payment id: if processing was interrupted (the service died
/// between asking and recording the answer), the payment is asked about again and the
/// processor must return the same decision without charging twice (real providers offer
/// this through an idempotency key; use the payment id).
#[async_trait::async_trait]
pub trait PaymentProcessor: Send + Sync {
    /// Shown as the actor of the transitions it causes (`system:<name>`).
    fn name(&self) -> &'static str;
    /// `Err` when the processor could not be asked (the payment then fails with a
    /// generic reason rather than staying PROCESSING).
    async fn process(&self, payment: &Payment) -> anyhow::Result<Decision>;
}

/// A stand-in for a real payment provider, deterministic so that both outcomes can be
/// exercised: it **declines every amount whose last two digits of minor units are 13**
/// (e.g. 10.13 USD = 1013, or 513 JPY) with the reason `card declined (simulated)`, and
/// approves every other amount, each after a fixed `latency`.
#[derive(Debug, Clone)]
pub struct SimulatedProcessor {
    latency: Duration,
}

impl SimulatedProcessor {
    pub const DECLINED_REASON: &'static str = "card declined (simulated)";

    pub fn new(latency: Duration) -> Self {
        Self { latency }
    }

    /// The rule, without the wait.
    pub fn decide(minor_units: i64) -> Decision {
        if minor_units % 100 == 13 {
            Decision::Declined {
                reason: Self::DECLINED_REASON.into(),
            }
        } else {
            Decision::Approved
        }
    }
}

#[async_trait::async_trait]
impl PaymentProcessor for SimulatedProcessor {
    fn name(&self) -> &'static str {
        "simulated-processor"
    }

    async fn process(&self, payment: &Payment) -> anyhow::Result<Decision> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(Self::decide(payment.money.amount.minor_units()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declines_amounts_ending_in_13() {
        assert!(matches!(
            SimulatedProcessor::decide(1013),
            Decision::Declined { .. }
        ));
        assert!(matches!(
            SimulatedProcessor::decide(13),
            Decision::Declined { .. }
        ));
        assert_eq!(SimulatedProcessor::decide(1000), Decision::Approved);
        assert_eq!(SimulatedProcessor::decide(1314), Decision::Approved);
        assert_eq!(
            SimulatedProcessor::decide(113),
            SimulatedProcessor::decide(213)
        );
    }
}
