//! Consuming events: durable work queues (competing consumers, manual ack, retries with
//! backoff through delay queues, a dead-letter queue after a bounded number of attempts)
//! and live fan-out (one exclusive queue per running instance).
//!
//! The same [`EventSource`] runs on RabbitMQ or on the in-process bus of the one-command
//! run, so a service's handlers do not know which they are on.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lapin::{
    BasicProperties, Channel,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
        BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{BusError, Envelope, InProcessBus, rabbitmq};

/// How a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth another try later (a dependency is down, a timeout).
    #[error("transient: {0:#}")]
    Retry(anyhow::Error),
    /// Will never succeed (a bad payload): dead-letter it now.
    #[error("permanent: {0:#}")]
    Reject(anyhow::Error),
}

/// Handles one event. Must be idempotent: a message can be delivered more than once.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &Envelope) -> Result<(), HandleError>;
}

/// A durable work queue shared by every instance of a service.
#[derive(Debug, Clone)]
pub struct WorkQueue {
    /// Queue name, e.g. `notifications.work`. Its retry queues are `<name>.retry.<ms>ms`
    /// and its dead-letter queue `<name>.dlq`.
    pub name: String,
    /// Routing-key patterns to bind (topic syntax: `*` one word, `#` any number).
    pub bindings: Vec<String>,
    /// Unacknowledged deliveries at once per consumer, also the handler concurrency.
    pub prefetch: u16,
    /// Attempts before a message is dead-lettered (the first delivery counts).
    pub max_attempts: u32,
    /// Delay before attempt 2, 3, …; the last one repeats.
    pub retry_delays: Vec<Duration>,
}

impl WorkQueue {
    pub fn new(name: impl Into<String>, bindings: &[&str]) -> Self {
        Self {
            name: name.into(),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            prefetch: 16,
            max_attempts: 5,
            retry_delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
        }
    }

    /// The durable queue itself, as publishers declare it too.
    pub fn durable(&self) -> super::topology::DurableQueue {
        super::topology::DurableQueue {
            name: self.name.clone(),
            bindings: self.bindings.clone(),
        }
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dlq", self.name)
    }

    fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.retry.{}ms", self.name, delay.as_millis())
    }

    fn delay_for(&self, attempt: u32) -> Duration {
        // attempt is the one that just failed (1-based).
        let index = (attempt as usize).saturating_sub(1);
        self.retry_delays
            .get(index)
            .or(self.retry_delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

impl From<super::topology::DurableQueue> for WorkQueue {
    /// The queue with the default prefetch, attempts and retry delays.
    fn from(queue: super::topology::DurableQueue) -> Self {
        Self {
            bindings: queue.bindings,
            ..Self::new(queue.name, &[])
        }
    }
}

/// Where events come from: RabbitMQ, or the in-process bus.
#[derive(Clone)]
pub enum EventSource {
    Rabbit { url: String, exchange: String },
    InProcess(InProcessBus),
}

const ATTEMPT_HEADER: &str = "x-attempt";
const REASON_HEADER: &str = "x-dead-letter-reason";

impl EventSource {
    /// RabbitMQ when `amqp_url` is set, otherwise the in-process bus.
    pub fn new(amqp_url: Option<&str>, exchange: &str, embedded: &InProcessBus) -> Self {
        match amqp_url {
            Some(url) => Self::Rabbit {
                url: url.to_owned(),
                exchange: exchange.to_owned(),
            },
            None => Self::InProcess(embedded.clone()),
        }
    }

    /// Consumes `queue` until `stop`, reconnecting after failures.
    pub async fn run_work_queue(
        &self,
        queue: WorkQueue,
        handler: Arc<dyn EventHandler>,
        stop: CancellationToken,
    ) {
        match self {
            Self::Rabbit { url, exchange } => {
                reconnecting(&stop, &queue.name, || {
                    consume_work(url, exchange, &queue, handler.clone(), stop.clone())
                })
                .await
            }
            Self::InProcess(bus) => in_process_work(bus, &queue, handler, stop).await,
        }
    }

    /// Delivers every matching event to `handler` while this instance runs (no retries:
    /// live delivery is best effort; the durable path stores the event).
    pub async fn run_live(
        &self,
        bindings: Vec<String>,
        handler: Arc<dyn EventHandler>,
        stop: CancellationToken,
    ) {
        match self {
            Self::Rabbit { url, exchange } => {
                reconnecting(&stop, "live", || {
                    consume_live(url, exchange, &bindings, handler.clone(), stop.clone())
                })
                .await
            }
            Self::InProcess(bus) => {
                let mut rx = bus.subscribe();
                loop {
                    let event = tokio::select! {
                        () = stop.cancelled() => return,
                        event = rx.recv() => event,
                    };
                    match event {
                        Ok(event)
                            if bindings.iter().any(|b| topic_matches(b, &event.event_type)) =>
                        {
                            let _ = handler.handle(&event).await;
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(
                                skipped = n,
                                "live consumer lagged behind the in-process bus"
                            );
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    }
}

async fn reconnecting<F, Fut>(stop: &CancellationToken, what: &str, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), BusError>>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        match run().await {
            Ok(()) => return,
            Err(e) => {
                if stop.is_cancelled() {
                    return;
                }
                tracing::warn!(consumer = what, error = %e, retry_in_ms = backoff.as_millis() as u64, "event consumer disconnected");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {},
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

/// Declares the work queue, its delay queues and its dead-letter queue (idempotent).
pub async fn declare_work_queue(
    channel: &Channel,
    exchange: &str,
    queue: &WorkQueue,
) -> Result<(), BusError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    rabbitmq::declare_exchange(channel, exchange).await?;
    channel
        .queue_declare(
            queue.dead_letter_queue().into(),
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    for delay in &queue.retry_delays {
        // A delay queue has no consumer: messages wait out its TTL, then dead-letter back
        // to the work queue through the default exchange.
        let mut args = FieldTable::default();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(delay.as_millis() as i64),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(queue.name.as_str().into()),
        );
        channel
            .queue_declare(queue.retry_queue(*delay).into(), durable, args)
            .await
            .map_err(unavailable)?;
    }
    queue.durable().declare(channel, exchange).await?;
    Ok(())
}

async fn consume_work(
    url: &str,
    exchange: &str,
    queue: &WorkQueue,
    handler: Arc<dyn EventHandler>,
    stop: CancellationToken,
) -> Result<(), BusError> {
    let conn = rabbitmq::connect(url).await?;
    let channel = conn.create_channel().await.map_err(unavailable)?;
    declare_work_queue(&channel, exchange, queue).await?;
    // Retries and dead letters are published with confirms before the original is acked,
    // so a message is never lost between the two.
    let publisher = conn.create_channel().await.map_err(unavailable)?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(unavailable)?;
    channel
        .basic_qos(queue.prefetch, BasicQosOptions::default())
        .await
        .map_err(unavailable)?;
    let mut consumer = channel
        .basic_consume(
            queue.name.as_str().into(),
            ShortString::from(format!("{}-{}", queue.name, uuid::Uuid::new_v4().simple())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    tracing::info!(queue = %queue.name, "consuming work queue");
    let queue = Arc::new(queue.clone());
    let mut in_flight = JoinSet::new();
    let result = loop {
        let next = tokio::select! {
            () = stop.cancelled() => break Ok(()),
            next = consumer.next() => next,
        };
        match next {
            Some(Ok(delivery)) => {
                let (handler, queue, publisher) =
                    (handler.clone(), queue.clone(), publisher.clone());
                in_flight.spawn(async move {
                    process_delivery(delivery, handler.as_ref(), &queue, &publisher).await;
                });
                // Reap finished tasks so the set does not grow.
                while in_flight.try_join_next().is_some() {}
            }
            Some(Err(e)) => break Err(unavailable(e)),
            None => break Err(unavailable("consumer cancelled by the broker")),
        }
    };
    // Let in-flight handlers finish and ack before the connection goes.
    while in_flight.join_next().await.is_some() {}
    let _ = conn.close(200, "bye".into()).await;
    result
}

fn attempt_of(properties: &BasicProperties) -> u32 {
    properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(n),
            _ => None,
        })
        .unwrap_or(1)
}

async fn process_delivery(
    delivery: lapin::message::Delivery,
    handler: &dyn EventHandler,
    queue: &WorkQueue,
    publisher: &Channel,
) {
    let attempt = attempt_of(&delivery.properties);
    let labels = |outcome: &'static str| {
        [
            ("queue", queue.name.clone()),
            ("outcome", outcome.to_owned()),
        ]
    };
    let outcome = match Envelope::from_slice(&delivery.data) {
        Err(e) => {
            tracing::error!(queue = %queue.name, error = %e, "unparseable message sent to the dead-letter queue");
            metrics::counter!("events_dead_lettered_total", "queue" => queue.name.clone(), "reason" => "unparseable").increment(1);
            forward(
                publisher,
                &queue.dead_letter_queue(),
                &delivery,
                attempt,
                Some("unparseable"),
            )
            .await
        }
        Ok(event) => match handler.handle(&event).await {
            Ok(()) => {
                metrics::counter!("events_consumed_total", &labels("ok")).increment(1);
                Ok(())
            }
            Err(HandleError::Retry(e)) if attempt < queue.max_attempts => {
                let delay = queue.delay_for(attempt);
                tracing::warn!(queue = %queue.name, event_id = %event.id, event_type = %event.event_type, attempt, retry_in_ms = delay.as_millis() as u64, error = format!("{e:#}"), "event handling failed, will retry");
                metrics::counter!("events_consumed_total", &labels("retry")).increment(1);
                forward(
                    publisher,
                    &queue.retry_queue(delay),
                    &delivery,
                    attempt + 1,
                    None,
                )
                .await
            }
            Err(e) => {
                let reason = match &e {
                    HandleError::Retry(_) => "attempts exhausted",
                    HandleError::Reject(_) => "rejected",
                };
                tracing::error!(queue = %queue.name, event_id = %event.id, event_type = %event.event_type, attempt, error = %e, reason, "event sent to the dead-letter queue");
                metrics::counter!("events_dead_lettered_total", "queue" => queue.name.clone(), "reason" => reason).increment(1);
                metrics::counter!("events_consumed_total", &labels("dead_letter")).increment(1);
                forward(
                    publisher,
                    &queue.dead_letter_queue(),
                    &delivery,
                    attempt,
                    Some(reason),
                )
                .await
            }
        },
    };
    let settled = match outcome {
        Ok(()) => delivery.ack(BasicAckOptions::default()).await,
        // Could not move it on: give it back to the queue rather than lose it.
        Err(e) => {
            tracing::warn!(queue = %queue.name, error = %e, "could not forward a message; requeueing it");
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(queue = %queue.name, error = %e, "could not settle a delivery; the broker will redeliver it");
    }
}

/// Publishes a copy of `delivery` to `target` (through the default exchange) with the
/// attempt counter, waiting for the broker's confirm.
async fn forward(
    publisher: &Channel,
    target: &str,
    delivery: &lapin::message::Delivery,
    attempt: u32,
    reason: Option<&str>,
) -> Result<(), BusError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ATTEMPT_HEADER.into(),
        AMQPValue::LongLongInt(i64::from(attempt)),
    );
    headers.insert(
        "x-original-routing-key".into(),
        AMQPValue::LongString(delivery.routing_key.as_str().into()),
    );
    if let Some(reason) = reason {
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    }
    let properties = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let confirm = publisher
        .basic_publish(
            "".into(),
            target.into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await
        .map_err(unavailable)?
        .await
        .map_err(unavailable)?;
    if confirm.is_ack() {
        Ok(())
    } else {
        Err(BusError::Rejected(format!(
            "publish to {target} not confirmed"
        )))
    }
}

async fn consume_live(
    url: &str,
    exchange: &str,
    bindings: &[String],
    handler: Arc<dyn EventHandler>,
    stop: CancellationToken,
) -> Result<(), BusError> {
    let conn = rabbitmq::connect(url).await?;
    let channel = conn.create_channel().await.map_err(unavailable)?;
    // This instance's own queue, gone with it.
    let bindings: Vec<&str> = bindings.iter().map(String::as_str).collect();
    let queue = rabbitmq::declare_exclusive_queue(&channel, exchange, &bindings).await?;
    let mut consumer = channel
        .basic_consume(
            queue,
            "live".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    let result = loop {
        let next = tokio::select! {
            () = stop.cancelled() => break Ok(()),
            next = consumer.next() => next,
        };
        match next {
            Some(Ok(delivery)) => match Envelope::from_slice(&delivery.data) {
                Ok(event) => {
                    let _ = handler.handle(&event).await;
                }
                Err(e) => tracing::debug!(error = %e, "ignoring an unparseable live event"),
            },
            Some(Err(e)) => break Err(unavailable(e)),
            None => break Err(unavailable("live consumer cancelled by the broker")),
        }
    };
    let _ = conn.close(200, "bye".into()).await;
    result
}

/// The in-process work queue: same retry policy, dead letters end in the log.
async fn in_process_work(
    bus: &InProcessBus,
    queue: &WorkQueue,
    handler: Arc<dyn EventHandler>,
    stop: CancellationToken,
) {
    let mut rx = bus.consume_queue(&queue.name);
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = rx.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::error!(queue = %queue.name, skipped = n, "in-process work queue lagged; events were dropped");
                continue;
            }
            Err(_) => return,
        };
        if !queue
            .bindings
            .iter()
            .any(|b| topic_matches(b, &event.event_type))
        {
            continue;
        }
        let handler = handler.clone();
        let queue = queue.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut attempt = 1;
            loop {
                match handler.handle(&event).await {
                    Ok(()) => return,
                    Err(HandleError::Retry(e)) if attempt < queue.max_attempts => {
                        let delay = queue.delay_for(attempt);
                        tracing::warn!(queue = %queue.name, event_id = %event.id, attempt, error = format!("{e:#}"), "event handling failed, will retry");
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(delay) => {},
                        }
                        attempt += 1;
                    }
                    Err(e) => {
                        tracing::error!(queue = %queue.name, event_id = %event.id, error = %e, "event dead-lettered");
                        metrics::counter!("events_dead_lettered_total", "queue" => queue.name.clone(), "reason" => "failed").increment(1);
                        return;
                    }
                }
            }
        });
    }
}

/// AMQP topic matching: words separated by `.`, `*` matches one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("user.*", "user.registered"));
        assert!(!topic_matches("user.*", "user.a.b"));
        assert!(topic_matches("#", "payment.completed"));
        assert!(topic_matches("payment.#", "payment"));
        assert!(topic_matches("*.deleted", "user.deleted"));
        assert!(!topic_matches("user.deleted", "user.login"));
    }

    struct Collect(tokio::sync::mpsc::UnboundedSender<String>);

    #[async_trait::async_trait]
    impl EventHandler for Collect {
        async fn handle(&self, event: &Envelope) -> Result<(), HandleError> {
            let _ = self.0.send(event.event_type.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_in_process_queue_keeps_what_was_published_after_it_was_declared() {
        use crate::events::{EventBus, UserLogin};
        let bus = InProcessBus::default();
        let login = |n: u8| {
            Envelope::new(
                "/test",
                &UserLogin {
                    user_id: uuid::Uuid::now_v7(),
                    email: format!("{n}@example.com"),
                    timestamp: chrono::Utc::now(),
                },
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        bus.publish(&login(0)).await.ok();
        bus.declare_queue("work");
        bus.publish(&login(1)).await.ok();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let consumer = tokio::spawn({
            let (bus, stop) = (bus.clone(), stop.clone());
            async move {
                let queue = WorkQueue::new("work", &["user.*"]);
                EventSource::InProcess(bus)
                    .run_work_queue(queue, Arc::new(Collect(tx)), stop)
                    .await;
            }
        });
        // Published before the consumer ran, after the declaration: delivered, once.
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(first.ok().flatten().as_deref(), Some("user.login"));
        stop.cancel();
        consumer.await.ok();
        assert!(
            rx.try_recv().is_err(),
            "the undeclared-time event is not replayed"
        );
    }

    #[test]
    fn retry_delays_grow_then_repeat() {
        let q = WorkQueue::new("q", &["#"]);
        assert_eq!(q.delay_for(1), Duration::from_secs(1));
        assert_eq!(q.delay_for(2), Duration::from_secs(5));
        assert_eq!(q.delay_for(9), Duration::from_secs(30));
    }
}
