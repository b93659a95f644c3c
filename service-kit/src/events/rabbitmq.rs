//! RabbitMQ adapter: one durable topic exchange, persistent messages, publisher confirms,
//! and the consumers' durable queues declared by the publisher too.

use std::time::Duration;

use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio::sync::Mutex;

use super::{BusError, Envelope, EventBus, topology::DurableQueue};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole publish (reconnect, channel, confirm): lapin can wait forever on a connection
/// that died half-way (seen when the broker went away for 30 s), and a stuck publish
/// would stop the outbox relay for good.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// Closing a connection that may already be dead.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens a connection, bounded in time so that an unreachable broker fails fast.
pub async fn connect(url: &str) -> Result<Connection, BusError> {
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
        Err(_) => Err(BusError::Unavailable("connection timed out".into())),
    }
}

/// Declares the platform's durable topic exchange (idempotent).
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), BusError> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))
}

/// Declares `exchange` and a server-named, exclusive, auto-deleted queue bound to it with
/// each of `bindings`: a queue of this connection's own, gone with it. Returns its name.
pub async fn declare_exclusive_queue(
    channel: &Channel,
    exchange: &str,
    bindings: &[&str],
) -> Result<lapin::types::ShortString, BusError> {
    let unavailable = |e: lapin::Error| BusError::Unavailable(e.to_string());
    declare_exchange(channel, exchange).await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    for binding in bindings {
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                (*binding).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    Ok(queue.name().clone())
}

/// Publishes to RabbitMQ, reconnecting lazily after any failure.
pub struct RabbitBus {
    url: String,
    exchange: String,
    queues: Vec<DurableQueue>,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitBus {
    /// Does not connect yet: a broker that is down at start-up must not stop the service,
    /// since the outbox keeps events until it is back.
    pub fn new(url: impl Into<String>, exchange: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            exchange: exchange.into(),
            queues: Vec::new(),
            channel: Mutex::new(None),
        }
    }

    /// Also declares `queues` (with their bindings) on every connection, so that what is
    /// published waits in them even before their consumers ever ran ([`super::topology`]).
    pub fn declaring(mut self, queues: Vec<DurableQueue>) -> Self {
        self.queues = queues;
        self
    }

    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    async fn channel(&self) -> Result<Channel, BusError> {
        let mut slot = self.channel.lock().await;
        if let Some((conn, channel)) = slot.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *slot = None;
        let conn = connect(&self.url).await?;
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        declare_exchange(&channel, &self.exchange).await?;
        for queue in &self.queues {
            queue.declare(&channel, &self.exchange).await?;
        }
        *slot = Some((conn, channel.clone()));
        Ok(channel)
    }

    async fn reset(&self) {
        let taken = self.channel.lock().await.take();
        if let Some((conn, _)) = taken {
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, conn.close(200, "reconnecting".into())).await;
        }
    }

    async fn try_publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let channel = self.channel().await?;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/cloudevents+json".into())
            .with_message_id(envelope.id.to_string().into())
            .with_type(envelope.event_type.clone().into())
            .with_app_id(envelope.source.clone().into());
        let confirm = channel
            .basic_publish(
                self.exchange.clone().into(),
                envelope.event_type.clone().into(),
                BasicPublishOptions::default(),
                &envelope.to_vec(),
                properties,
            )
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
            Ok(Ok(Confirmation::Ack(_))) => Ok(()),
            Ok(Ok(Confirmation::Nack(_))) => Err(BusError::Rejected("nack".into())),
            Ok(Ok(Confirmation::NotRequested)) => {
                Err(BusError::Rejected("confirms not enabled".into()))
            }
            Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
            Err(_) => Err(BusError::Unavailable("confirm timed out".into())),
        }
    }
}

#[async_trait::async_trait]
impl EventBus for RabbitBus {
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let result = match tokio::time::timeout(PUBLISH_TIMEOUT, self.try_publish(envelope)).await {
            Ok(result) => result,
            Err(_) => Err(BusError::Unavailable("publish timed out".into())),
        };
        if result.is_err() {
            self.reset().await;
        }
        result
    }

    async fn check(&self) -> Result<(), String> {
        self.channel().await.map(|_| ()).map_err(|e| e.to_string())
    }
}
