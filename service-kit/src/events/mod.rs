//! The platform's events: the CloudEvents envelope, the typed contracts, and the bus that
//! carries them (RabbitMQ in production, in-process for the one-command run).

mod bus;
pub mod consumer;
mod contracts;
mod envelope;
pub mod rabbitmq;

pub use bus::{BrokerCheck, BusError, EventBus, InProcessBus};
pub use consumer::{EventHandler, EventSource, HandleError, WorkQueue};
pub use contracts::*;
pub use envelope::{Envelope, Event};

/// The durable topic exchange every service publishes to; routing key = event type.
pub const DEFAULT_EXCHANGE: &str = "platform.events";

use std::sync::Arc;

/// RabbitMQ when `amqp_url` is set, otherwise the given in-process bus.
pub fn bus_for(
    amqp_url: Option<&str>,
    exchange: &str,
    embedded: &InProcessBus,
) -> Arc<dyn EventBus> {
    match amqp_url {
        Some(url) => Arc::new(rabbitmq::RabbitBus::new(url, exchange)),
        None => Arc::new(embedded.clone()),
    }
}
