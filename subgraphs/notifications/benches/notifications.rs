//! Notifications benchmark (not a test): events consumed per second end to end (event
//! published to RabbitMQ → notification stored in Redis), and event → websocket delivery
//! latency with many subscribed connections.
//!
//!     cargo bench -p notifications --bench notifications
//!
//! `BENCH_EVENTS` (default 5000) events for the throughput phase; `BENCH_SUBSCRIBERS`
//! (default 1000) websocket connections and `BENCH_RATE` (default 200 events/s) for
//! `BENCH_SECONDS` (default 10) in the latency phase. Uses the real servers of the tests
//! (`TEST_REDIS_URL`, `TEST_AMQP_URL`), under a key prefix and exchange of its own that are
//! removed at the end. No email is sent: the users have no known address.

#![allow(clippy::unwrap_used)] // A benchmark harness: a panic is the report.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use notifications::{
    Application, NotificationsConfig,
    storage::{RedisStore, StoreSettings},
};
use serde_json::{Value, json};
use service_kit::{
    config::Env,
    events::{
        Envelope, EventBus, EventSource, PaymentCreated, PaymentData, WorkQueue,
        consumer::declare_work_queue, rabbitmq::RabbitBus,
    },
    jwt::{JwtSettings, Role},
    telemetry::metrics_handle,
    testing::{TestKeys, servers, unique_name},
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use uuid::Uuid;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A benchmark user's token: valid for an hour, signed with `keys`.
fn bench_token(keys: &TestKeys, user: Uuid) -> String {
    keys.token(user, "bench@example.com", Role::User, 3600)
}

fn payment(user: Uuid, description: String) -> PaymentCreated {
    PaymentCreated(PaymentData {
        payment_id: Uuid::new_v4(),
        user_id: user,
        amount: 1234,
        currency: "USD".into(),
        status: "PENDING".into(),
        description: Some(description),
        failure_reason: None,
        email: None,
        timestamp: chrono::Utc::now(),
    })
}

/// `notifications_created_total`, summed over kinds, from this process's recorder.
fn created_total() -> f64 {
    metrics_handle()
        .render()
        .lines()
        .filter(|l| l.starts_with("notifications_created_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Publishes `events` payment events spread over `users` from 16 concurrent publishers,
/// each waiting for the broker's confirm.
async fn publish_all(bus: &Arc<dyn EventBus>, users: &[Uuid], events: u64, tag: &str) {
    let publishers = 16u64;
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let (bus, users, tag) = (bus.clone(), users.to_vec(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut i = p;
            while i < events {
                let user = users[(i as usize) % users.len()];
                let envelope =
                    Envelope::new("/bench", &payment(user, format!("{tag}{i}"))).unwrap();
                bus.publish(&envelope).await.unwrap();
                i += publishers;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::main]
async fn main() {
    let events = env_u64("BENCH_EVENTS", 5000);
    let subscribers = env_u64("BENCH_SUBSCRIBERS", 1000) as usize;
    let rate = env_u64("BENCH_RATE", 200);
    let seconds = env_u64("BENCH_SECONDS", 10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "machine: {cores} cores; {events} events for throughput, {subscribers} subscribers at {rate}/s for {seconds}s for latency"
    );

    let exchange = unique_name("bench_events");
    let queue = unique_name("bench_notifications");
    let prefix = unique_name("bench_notifications");
    let data_dir = std::env::temp_dir().join(unique_name("notifications_bench"));
    let config = NotificationsConfig::from_env(&Env::from_map([
        ("NOTIFICATIONS_PORT", "0".to_owned()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("AMQP_URL", servers::amqp_url()),
        ("AMQP_EXCHANGE", exchange.clone()),
        ("NOTIFICATIONS_QUEUE", queue.clone()),
        ("REDIS_URL", servers::redis_url()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("NOTIFICATIONS_PREFETCH", "64".to_owned()),
    ]))
    .unwrap();
    let keys = TestKeys::generate("bench");
    let verifier = keys.static_verifier(JwtSettings::new("platform-auth", "platform"));
    let bus: Arc<dyn EventBus> = Arc::new(RabbitBus::new(servers::amqp_url(), exchange.clone()));
    let source = EventSource::Rabbit {
        url: servers::amqp_url(),
        exchange: exchange.clone(),
    };
    // 0. Drain rate: a backlog of `events` waits in the work queue before the service
    //    starts; time from start until every one is stored.
    {
        let conn = service_kit::events::rabbitmq::connect(&servers::amqp_url())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        let work = WorkQueue::from(service_kit::events::topology::DurableQueue::notifications(
            queue.as_str(),
        ));
        declare_work_queue(&channel, &exchange, &work)
            .await
            .unwrap();
        let _ = conn.close(200, "bye".into()).await;
    }
    let backlog_users: Vec<Uuid> = (0..500).map(|_| Uuid::new_v4()).collect();
    publish_all(&bus, &backlog_users, events, "b").await;
    let started = Instant::now();
    let app = Application::build_with_verifier(config, bus.clone(), source, verifier)
        .await
        .unwrap();
    let port = app.port();
    let hub = app.hub();
    let stop = service_kit::CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(app.run_until_stopped(Box::pin(async move {
        stopped.cancelled().await;
    })));
    while created_total() < events as f64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drained = started.elapsed();
    println!(
        "drain: a backlog of {events} events stored in {:.2}s from start-up: {:.0} events/s",
        drained.as_secs_f64(),
        events as f64 / drained.as_secs_f64()
    );

    // Wait until the live consumer runs too: a probe must come back through the live path.
    let probe = Uuid::new_v4();
    let mut live = Box::pin(hub.subscribe(probe));
    loop {
        bus.publish(&Envelope::new("/bench", &payment(probe, "probe".into())).unwrap())
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(300), live.next())
            .await
            .is_ok()
        {
            break;
        }
    }
    drop(live);

    // 1. Throughput: publish `events` as fast as the broker confirms, from 16 publishers,
    //    and time until every one is stored.
    let users: Vec<Uuid> = (0..500).map(|_| Uuid::new_v4()).collect();
    let base = created_total();
    let started = Instant::now();
    publish_all(&bus, &users, events, "t").await;
    let published = started.elapsed();
    while created_total() - base < events as f64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = started.elapsed();
    println!(
        "throughput: {events} events published in {:.2}s ({:.0}/s, 16 publishers with confirms); all stored after {:.2}s: {:.0} events/s end to end",
        published.as_secs_f64(),
        events as f64 / published.as_secs_f64(),
        stored.as_secs_f64(),
        events as f64 / stored.as_secs_f64()
    );

    // 2. Latency: `subscribers` websocket connections, each subscribed to its own user's
    //    notifications; events for random subscribers at `rate`/s; latency = publish call
    //    start → the notification arrives on the subscriber's websocket.
    let url = format!("ws://127.0.0.1:{port}/graphql");
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let subscriber_users: Vec<Uuid> = (0..subscribers).map(|_| Uuid::new_v4()).collect();
    let connect_started = Instant::now();
    let mut readers = Vec::new();
    for user in &subscriber_users {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", bench_token(&keys, *user)) } });
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .unwrap();
        let ack = socket.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"));
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notificationAdded { id body } }" } });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .unwrap();
        let (sent, latencies) = (sent.clone(), latencies.clone());
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let arrived = Instant::now();
                let value: Value = serde_json::from_str(&text).unwrap();
                let body = value["payload"]["data"]["notificationAdded"]["body"]
                    .as_str()
                    .unwrap_or_default();
                let Some(seq) = body
                    .split("\"l")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .and_then(|n| n.parse::<u64>().ok())
                else {
                    continue;
                };
                if let Some(at) = sent.lock().unwrap().remove(&seq) {
                    latencies.lock().unwrap().push(arrived - at);
                }
            }
        }));
    }
    while hub.connected_users() < subscribers {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "latency: {subscribers} websocket subscriptions open after {:.2}s",
        connect_started.elapsed().as_secs_f64()
    );
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut publishes = Vec::new();
    for seq in 0..total {
        ticker.tick().await;
        let user = subscriber_users[(seq as usize * 7919) % subscribers];
        let (bus, sent) = (bus.clone(), sent.clone());
        publishes.push(tokio::spawn(async move {
            let envelope = Envelope::new("/bench", &payment(user, format!("l{seq}"))).unwrap();
            sent.lock().unwrap().insert(seq, Instant::now());
            bus.publish(&envelope).await.unwrap();
        }));
    }
    for p in publishes {
        p.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().unwrap().len() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut measured = latencies.lock().unwrap().clone();
    measured.sort();
    println!(
        "latency: {} of {total} events delivered at {rate}/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        measured.len(),
        percentile(&measured, 0.50).as_secs_f64() * 1000.0,
        percentile(&measured, 0.99).as_secs_f64() * 1000.0,
        measured.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );

    for reader in readers {
        reader.abort();
    }
    stop.cancel();
    let _ = server.await;
    // Clean up what the run created.
    let store = RedisStore::connect(
        &servers::redis_url(),
        &prefix,
        StoreSettings {
            retention: Duration::from_secs(60),
            max_per_user: 1,
            idempotency_ttl: Duration::from_secs(60),
        },
    )
    .await
    .unwrap();
    let _ = store.delete_everything().await;
    let conn = service_kit::events::rabbitmq::connect(&servers::amqp_url())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    for name in [
        queue.clone(),
        format!("{queue}.dlq"),
        format!("{queue}.retry.1000ms"),
        format!("{queue}.retry.5000ms"),
        format!("{queue}.retry.30000ms"),
    ] {
        let _ = channel
            .queue_delete(name.as_str().into(), Default::default())
            .await;
    }
    let _ = channel
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
