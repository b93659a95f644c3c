#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! The work-queue consumer against real RabbitMQ: retries, dead letters, poison messages.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use lapin::{
    BasicProperties,
    options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeleteOptions},
    types::{AMQPValue, FieldTable},
};
use service_kit::{
    CancellationToken,
    events::{
        Envelope, EventBus, EventHandler, EventSource, HandleError, UserLogin, WorkQueue,
        rabbitmq::{self, RabbitBus},
    },
    testing::{servers, unique_name},
};
use uuid::Uuid;

/// Fails each event a set number of times (transiently), or rejects it outright.
struct Flaky {
    fail_times: u32,
    reject_email: &'static str,
    /// Always handled at once, whatever `fail_times` says.
    good_email: &'static str,
    seen: Mutex<Vec<(Uuid, u32)>>,
    done: Mutex<Vec<Uuid>>,
}

#[async_trait::async_trait]
impl EventHandler for Flaky {
    async fn handle(&self, event: &Envelope) -> Result<(), HandleError> {
        let login: UserLogin = event.decode().map_err(|e| HandleError::Reject(e.into()))?;
        if login.email == self.reject_email {
            return Err(HandleError::Reject(anyhow::anyhow!("unwanted")));
        }
        let attempt = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.iter().filter(|(id, _)| *id == event.id).count() as u32 + 1;
            seen.push((event.id, n));
            n
        };
        if attempt <= self.fail_times && login.email != self.good_email {
            return Err(HandleError::Retry(anyhow::anyhow!("try again")));
        }
        self.done.lock().unwrap().push(event.id);
        Ok(())
    }
}

fn login(email: &str) -> Envelope {
    Envelope::new(
        "/test",
        &UserLogin {
            user_id: Uuid::new_v4(),
            email: email.into(),
            timestamp: chrono::Utc::now(),
        },
    )
    .unwrap()
}

struct Setup {
    exchange: String,
    queue: WorkQueue,
    stop: CancellationToken,
}

impl Setup {
    fn new(max_attempts: u32) -> Self {
        let mut queue = WorkQueue::new(unique_name("test_work"), &["user.*"]);
        queue.max_attempts = max_attempts;
        queue.retry_delays = vec![Duration::from_millis(100), Duration::from_millis(200)];
        Self {
            exchange: unique_name("test_events"),
            queue,
            stop: CancellationToken::new(),
        }
    }

    fn start(&self, handler: Arc<dyn EventHandler>) {
        let source = EventSource::Rabbit {
            url: servers::amqp_url(),
            exchange: self.exchange.clone(),
        };
        let (queue, stop) = (self.queue.clone(), self.stop.clone());
        tokio::spawn(async move { source.run_work_queue(queue, handler, stop).await });
    }

    /// Messages that ended in the dead-letter queue, with their reason header.
    async fn dead_letters(&self, expected: usize) -> Vec<(Vec<u8>, String)> {
        let conn = rabbitmq::connect(&servers::amqp_url()).await.unwrap();
        let channel = conn.create_channel().await.unwrap();
        let mut consumer = channel
            .basic_consume(
                self.queue.dead_letter_queue().into(),
                "dlq-reader".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        while out.len() < expected {
            let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("dead letter in time")
                .unwrap()
                .unwrap();
            let reason = match delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("x-dead-letter-reason").cloned())
            {
                Some(AMQPValue::LongString(s)) => s.to_string(),
                other => panic!("no reason header: {other:?}"),
            };
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            out.push((delivery.data.clone(), reason));
        }
        out
    }

    async fn cleanup(&self) {
        self.stop.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let conn = rabbitmq::connect(&servers::amqp_url()).await.unwrap();
        let channel = conn.create_channel().await.unwrap();
        let mut names = vec![self.queue.name.clone(), self.queue.dead_letter_queue()];
        for delay in &self.queue.retry_delays {
            names.push(format!("{}.retry.{}ms", self.queue.name, delay.as_millis()));
        }
        for name in names {
            let _ = channel
                .queue_delete(name.into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = channel
            .exchange_delete(self.exchange.as_str().into(), Default::default())
            .await;
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn transient_failures_are_retried_until_they_succeed() {
    let setup = Setup::new(5);
    let handler = Arc::new(Flaky {
        fail_times: 2,
        reject_email: "",
        good_email: "",
        seen: Mutex::default(),
        done: Mutex::default(),
    });
    setup.start(handler.clone());
    tokio::time::sleep(Duration::from_millis(500)).await; // queue declared and bound
    let bus = RabbitBus::new(servers::amqp_url(), setup.exchange.clone());
    let event = login("retry@example.com");
    bus.publish(&event).await.unwrap();
    wait_until("the third attempt", || {
        handler.done.lock().unwrap().contains(&event.id)
    })
    .await;
    let attempts: Vec<u32> = handler
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| *id == event.id)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    setup.cleanup().await;
}

#[tokio::test]
async fn poison_and_exhausted_messages_are_dead_lettered_without_blocking_the_queue() {
    let setup = Setup::new(2);
    let handler = Arc::new(Flaky {
        fail_times: u32::MAX,
        reject_email: "reject@example.com",
        good_email: "good@example.com",
        seen: Mutex::default(),
        done: Mutex::default(),
    });
    setup.start(handler.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let conn = rabbitmq::connect(&servers::amqp_url()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    // 1. not JSON at all
    channel
        .basic_publish(
            setup.exchange.as_str().into(),
            "user.login".into(),
            BasicPublishOptions::default(),
            b"{ this is not an event",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    // 2. rejected by the handler, 3. failing every time
    let bus = RabbitBus::new(servers::amqp_url(), setup.exchange.clone());
    bus.publish(&login("reject@example.com")).await.unwrap();
    let exhausted = login("always-fails@example.com");
    bus.publish(&exhausted).await.unwrap();

    let mut reasons: Vec<String> = setup
        .dead_letters(3)
        .await
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec!["attempts exhausted", "rejected", "unparseable"]
    );
    let attempts = handler
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| *id == exhausted.id)
        .count();
    assert_eq!(attempts, 2, "max_attempts bounds the tries");

    // The queue still flows: a good event after the poison is handled.
    let good = login("good@example.com");
    bus.publish(&good).await.unwrap();
    wait_until("the good event", || {
        handler.done.lock().unwrap().contains(&good.id)
    })
    .await;
    setup.cleanup().await;
}

#[tokio::test]
async fn in_process_source_delivers_matching_events_only() {
    let bus = service_kit::events::InProcessBus::default();
    let source = EventSource::InProcess(bus.clone());
    let handler = Arc::new(Flaky {
        fail_times: 0,
        reject_email: "",
        good_email: "",
        seen: Mutex::default(),
        done: Mutex::default(),
    });
    let stop = CancellationToken::new();
    let queue = WorkQueue::new("local", &["user.login"]);
    let h: Arc<dyn EventHandler> = handler.clone();
    let s = stop.clone();
    tokio::spawn(async move { source.run_work_queue(queue, h, s).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let event = login("local@example.com");
    bus.publish(&event).await.unwrap();
    let other = Envelope::new(
        "/test",
        &service_kit::events::UserDeleted {
            user_id: Uuid::new_v4(),
            email: "x@example.com".into(),
            timestamp: chrono::Utc::now(),
        },
    )
    .unwrap();
    bus.publish(&other).await.unwrap();
    wait_until("delivery", || {
        handler.done.lock().unwrap().contains(&event.id)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        handler.seen.lock().unwrap().len(),
        1,
        "user.deleted is not bound"
    );
    stop.cancel();
}
