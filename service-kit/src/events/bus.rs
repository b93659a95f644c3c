use std::{collections::HashMap, sync::Arc};

use tokio::sync::broadcast;

use super::Envelope;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("broker refused the event: {0}")]
    Rejected(String),
}

/// Publishes events. `publish` returns only once the broker has taken responsibility for
/// the event (a publisher confirm), so a caller may then mark it as sent.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError>;
    /// For `/ready`: can events be published right now?
    async fn check(&self) -> Result<(), String>;
    /// The in-process bus behind this publisher, if that is what it is, so that a service
    /// given only its publisher can also consume from it (the one-command run).
    fn in_process(&self) -> Option<&InProcessBus> {
        None
    }
}

/// `/ready`'s check of a service's event publisher: named `broker`, up while
/// [`EventBus::check`] passes.
pub struct BrokerCheck(pub Arc<dyn EventBus>);

#[async_trait::async_trait]
impl crate::telemetry::ReadinessCheck for BrokerCheck {
    fn name(&self) -> &'static str {
        "broker"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.check().await
    }
}

/// The embedded bus of the one-command run: a broadcast channel inside the process.
#[derive(Clone)]
pub struct InProcessBus {
    sender: Arc<broadcast::Sender<Envelope>>,
    /// Receivers of declared work queues not yet consumed: like a durable queue, each keeps
    /// what is published from its declaration on (up to the channel's capacity).
    queues: Arc<std::sync::Mutex<HashMap<String, broadcast::Receiver<Envelope>>>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self {
            sender: Arc::new(sender),
            queues: Arc::default(),
        }
    }

    /// Every event published after this call.
    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.sender.subscribe()
    }

    /// Keeps every event published from now on for the work queue `name`, until its
    /// consumer takes them ([`InProcessBus::consume_queue`]): what a publisher declaring
    /// the durable queue does on RabbitMQ. Idempotent.
    pub fn declare_queue(&self, name: &str) {
        if let Ok(mut queues) = self.queues.lock() {
            queues
                .entry(name.to_owned())
                .or_insert_with(|| self.sender.subscribe());
        }
    }

    /// The events of work queue `name`: from its declaration if it was declared, else
    /// from now on.
    pub fn consume_queue(&self, name: &str) -> broadcast::Receiver<Envelope> {
        self.queues
            .lock()
            .ok()
            .and_then(|mut queues| queues.remove(name))
            .unwrap_or_else(|| self.subscribe())
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        // No subscriber yet is not an error: like a topic exchange with no bound queue.
        let _ = self.sender.send(envelope.clone());
        Ok(())
    }

    async fn check(&self) -> Result<(), String> {
        Ok(())
    }

    fn in_process(&self) -> Option<&InProcessBus> {
        Some(self)
    }
}
