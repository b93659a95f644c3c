//! The durable part of the broker's topology: each consumer's work queue and what is bound
//! to it. RabbitMQ drops an event that no queue is bound to, so if only a consumer declared
//! its queue, whatever was published before that consumer first ran would be lost. Every
//! publisher therefore declares these queues too (idempotently, with the arguments the
//! consumer uses), and an event waits in its queue however late its consumer starts.
//!
//! Every service reads both queue names (`PAYMENTS_WORK_QUEUE`, `NOTIFICATIONS_QUEUE`), so
//! that publishers and consumers agree on them.

use lapin::{
    Channel,
    options::{QueueBindOptions, QueueDeclareOptions},
    types::FieldTable,
};

use super::{ACCOUNT_STANDING_EVENTS, BusError, Event, UserDeleted, UserLogin, UserRegistered};
use crate::config::Env;

/// Payments' work queue unless `PAYMENTS_WORK_QUEUE` names another.
pub const PAYMENTS_QUEUE: &str = "payments.work";
/// Notifications' work queue unless `NOTIFICATIONS_QUEUE` names another.
pub const NOTIFICATIONS_QUEUE: &str = "notifications.work";

/// Payments' queue name: `PAYMENTS_WORK_QUEUE`, default [`PAYMENTS_QUEUE`].
pub fn payments_queue(env: &Env) -> String {
    env.get("PAYMENTS_WORK_QUEUE")
        .unwrap_or_else(|| PAYMENTS_QUEUE.into())
}

/// Notifications' queue name: `NOTIFICATIONS_QUEUE`, default [`NOTIFICATIONS_QUEUE`].
pub fn notifications_queue(env: &Env) -> String {
    env.get("NOTIFICATIONS_QUEUE")
        .unwrap_or_else(|| NOTIFICATIONS_QUEUE.into())
}

/// A durable queue one of the platform's services consumes, and its bindings (topic
/// patterns on the platform's exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableQueue {
    pub name: String,
    pub bindings: Vec<String>,
}

impl DurableQueue {
    /// Payments' queue: the events that change an account's standing.
    pub fn payments(name: impl Into<String>) -> Self {
        let mut bindings = vec![UserDeleted::TYPE.to_owned()];
        bindings.extend(ACCOUNT_STANDING_EVENTS.map(str::to_owned));
        Self {
            name: name.into(),
            bindings,
        }
    }

    /// Notifications' queue: every event that notifies a user, and those that change an
    /// account's standing.
    pub fn notifications(name: impl Into<String>) -> Self {
        let mut bindings = vec![
            UserRegistered::TYPE.to_owned(),
            UserLogin::TYPE.to_owned(),
            UserDeleted::TYPE.to_owned(),
        ];
        bindings.extend(ACCOUNT_STANDING_EVENTS.map(str::to_owned));
        bindings.push("payment.*".to_owned());
        Self {
            name: name.into(),
            bindings,
        }
    }

    /// The platform's queues, named as `env` configures them.
    pub fn platform(env: &Env) -> Vec<Self> {
        vec![
            Self::payments(payments_queue(env)),
            Self::notifications(notifications_queue(env)),
        ]
    }

    /// Declares the queue (durable, no arguments: exactly as its consumer does) and binds
    /// it to `exchange`. Idempotent.
    pub async fn declare(&self, channel: &Channel, exchange: &str) -> Result<(), BusError> {
        let unavailable = |e: lapin::Error| BusError::Unavailable(e.to_string());
        channel
            .queue_declare(
                self.name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        for binding in &self.bindings {
            channel
                .queue_bind(
                    self.name.as_str().into(),
                    exchange.into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}
