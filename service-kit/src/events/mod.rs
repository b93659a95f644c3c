//! The platform's events: the CloudEvents envelope, the typed contracts, and the bus that
//! carries them (RabbitMQ in production, in-process for the one-command run).

mod bus;
pub mod consumer;
mod contracts;
mod envelope;
pub mod rabbitmq;
pub mod topology;

pub use bus::{BrokerCheck, BusError, EventBus, InProcessBus};
pub use consumer::{EventHandler, EventSource, HandleError, WorkQueue};
pub use contracts::*;
pub use envelope::{DecodeError, Envelope, Event};

/// The durable topic exchange every service publishes to; routing key = event type.
pub const DEFAULT_EXCHANGE: &str = "platform.events";

use std::sync::Arc;

/// RabbitMQ when the common config's `AMQP_URL` is set, otherwise the given in-process
/// bus; either way the platform's durable queues are declared by the publisher, so that
/// nothing published before a consumer first runs is lost ([`topology`]).
pub fn bus_for(common: &crate::config::CommonConfig, embedded: &InProcessBus) -> Arc<dyn EventBus> {
    match &common.amqp_url {
        Some(url) => Arc::new(
            rabbitmq::RabbitBus::new(url, &common.amqp_exchange)
                .declaring(common.amqp_queues.clone()),
        ),
        None => {
            for queue in &common.amqp_queues {
                embedded.declare_queue(&queue.name);
            }
            Arc::new(embedded.clone())
        }
    }
}
