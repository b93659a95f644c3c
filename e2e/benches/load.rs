//! Load harness on the multi-process platform (a benchmark, not a test): the four release
//! binaries on the real servers, as `e2e::Stack` runs them.
//!
//! 1. The federated `me` query (auth, then payments and notifications in parallel), side by
//!    side in one run: through our router; the same three subgraph calls made directly by
//!    the client (the floor); through Hive Gateway (`@graphql-hive/gateway`) on the same
//!    supergraph, when installed.
//! 2. `BENCH_SUBSCRIBERS` (default 10,000) concurrent `notificationAdded` subscribers over
//!    graphql-transport-ws through one router, one user each; a `user.login` event per
//!    user is published to RabbitMQ and the time until its notification reaches the
//!    client is measured, with the router's and notifications' memory and sockets per
//!    subscription.
//!
//! ```sh
//! cargo build --release --workspace --bins             # the services under test
//! (cd router/benches/hive-gateway && npm ci)            # once, to include Hive Gateway
//! cargo bench -p e2e --bench load
//! ```
//!
//! `BENCH_SECONDS` (10), `BENCH_CONCURRENCY` (32), `BENCH_SUBSCRIBERS` (10000),
//! `BENCH_EVENTS_PER_SECOND` (1000) and `BENCH_ROUTERS` (1: router processes sharing the
//! subscribers) tune it.

#![allow(clippy::unwrap_used)] // A benchmark harness: a panic is the report.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{Options, Service, Stack};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use service_kit::{
    events::{Envelope, EventBus, UserLogin, rabbitmq::RabbitBus},
    testing::servers,
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const ME: &str = "{ me { email payments(first: 5) { edges { node { id amount status } } } notifications(first: 5) { edges { node { id kind } } } unreadNotificationCount } }";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
}

impl Stats {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }
}

/// `concurrency` loops calling `call` for `duration`; a call returns whether it succeeded.
async fn drive<F, Fut>(concurrency: u64, duration: Duration, call: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut stats = Stats::default();
                while start.elapsed() < duration {
                    let t = Instant::now();
                    if call().await {
                        stats.latencies.push(t.elapsed());
                    } else {
                        stats.errors += 1;
                    }
                }
                stats
            })
        })
        .collect();
    let mut all = Stats::default();
    for task in tasks {
        let stats = task.await.unwrap();
        all.latencies.extend(stats.latencies);
        all.errors += stats.errors;
    }
    all.elapsed = start.elapsed();
    all
}

async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Option<Value> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .ok()?;
    let value: Value = response.json().await.ok()?;
    value["errors"].is_null().then_some(value)
}

/// CPU seconds a process has used (user + system), from `/proc`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Resident memory of a process in bytes, from `/proc`.
fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Open sockets of a process (its file descriptors that are sockets).
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| {
        dir.filter_map(Result::ok)
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
            })
            .count()
    })
}

fn row(name: &str, stats: &Stats, cpu: Option<f64>) {
    let cpu = cpu.map_or("—".into(), |c| format!("{:.0} µs", c * 1e6));
    println!(
        "| {name} | {:.0} req/s | {:.2} ms | {:.2} ms | {cpu} | {} |",
        stats.throughput(),
        stats.percentile(0.5).as_secs_f64() * 1e3,
        stats.percentile(0.99).as_secs_f64() * 1e3,
        stats.errors
    );
}

#[tokio::main]
async fn main() {
    let seconds = Duration::from_secs(env_u64("BENCH_SECONDS", 10));
    let concurrency = env_u64("BENCH_CONCURRENCY", 32);
    let stack = Stack::start(
        Options {
            log_level: "warn",
            ..Options::default()
        }
        // The per-user limit stays on (its cost is part of the path), out of the way.
        .with(
            Service::Router,
            "ROUTER_RATE_LIMIT_USER_REQUESTS",
            "1000000000",
        )
        .with(Service::Router, "ROUTER_WS_MAX_PER_USER", "1000000")
        .with(
            Service::Notifications,
            "NOTIFICATIONS_EMAIL_RATE_LIMIT",
            "0",
        )
        .with(Service::Notifications, "NOTIFICATIONS_PREFETCH", "200"),
    )
    .await
    .unwrap();
    let client = stack.client();
    let user = client
        .register("load@example.com", "a long password")
        .await
        .unwrap();
    for i in 0..5 {
        client
            .create_payment(&user, 1000 + i, &format!("load-{i}"))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .unwrap();
    let token = Arc::new(user.access_token.clone());

    println!("## The federated `me` query: router vs subgraphs directly vs Hive Gateway\n");
    println!(
        "{concurrency} concurrent clients, {} s each.\n",
        seconds.as_secs()
    );
    println!("| target | throughput | p50 | p99 | CPU per request | errors |");
    println!("|---|---|---|---|---|---|");

    // The floor: the client makes the plan's three fetches itself.
    let (auth, payments, notifications) = (
        format!("http://127.0.0.1:{}/graphql", stack.port(Service::Auth)),
        format!("http://127.0.0.1:{}/graphql", stack.port(Service::Payments)),
        format!(
            "http://127.0.0.1:{}/graphql",
            stack.port(Service::Notifications)
        ),
    );
    let direct = {
        let (http, token) = (http.clone(), token.clone());
        drive(concurrency, seconds, move || {
            let (http, token) = (http.clone(), token.clone());
            let (auth, payments, notifications) = (auth.clone(), payments.clone(), notifications.clone());
            async move {
                let Some(me) = post(&http, &auth, &token, &json!({ "query": "{ me { __typename id email } }" })).await else {
                    return false;
                };
                let reps = json!([{ "__typename": "User", "id": me["data"]["me"]["id"] }]);
                let pb = json!({ "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { payments(first: 5) { edges { node { id amount status } } } } } }", "variables": { "r": reps } });
                let nb = json!({ "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { notifications(first: 5) { edges { node { id kind } } } unreadNotificationCount } } }", "variables": { "r": reps } });
                let (p, n) = tokio::join!(post(&http, &payments, &token, &pb), post(&http, &notifications, &token, &nb));
                p.is_some() && n.is_some()
            }
        })
        .await
    };
    row("subgraphs directly (3 fetches)", &direct, None);

    let router_pid = stack.pid(Service::Router).unwrap();
    let cpu_before = cpu_seconds(router_pid);
    let ours = {
        let (http, token, url) = (http.clone(), token.clone(), stack.url());
        drive(concurrency, seconds, move || {
            let (http, token, url) = (http.clone(), token.clone(), url.clone());
            async move {
                post(&http, &url, &token, &json!({ "query": ME }))
                    .await
                    .is_some()
            }
        })
        .await
    };
    let cpu = cpu_before
        .zip(cpu_seconds(router_pid))
        .map(|(a, b)| (b - a) / ours.latencies.len().max(1) as f64);
    row("our router", &ours, cpu);

    let hive_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../router/benches/hive-gateway");
    let hive_bin = hive_dir.join("node_modules/.bin/hive-gateway");
    let mut hive_stats = None;
    if hive_bin.exists() {
        // The platform's supergraph with this stack's subgraph URLs.
        let mut supergraph = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/supergraph.graphql"),
        )
        .unwrap();
        for (service, default) in [
            (Service::Auth, 4001),
            (Service::Payments, 4002),
            (Service::Notifications, 4003),
        ] {
            supergraph = supergraph.replace(
                &format!("http://127.0.0.1:{default}/graphql"),
                &format!("http://127.0.0.1:{}/graphql", stack.port(service)),
            );
        }
        let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hive-gateway");
        let supergraph_path = stack.dir.join("supergraph-for-hive.graphql");
        std::fs::write(&supergraph_path, supergraph).unwrap();
        let port = service_kit::testing::free_port();
        let mut hive = tokio::process::Command::new(&hive_bin)
            .current_dir(&config_dir)
            .arg("supergraph")
            .arg(&supergraph_path)
            .arg("--port")
            .arg(port.to_string())
            .env(
                "NODE_OPTIONS",
                format!("--import {}", hive_dir.join("preload.mjs").display()),
            )
            .env("NODE_ENV", "production")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/graphql");
        let mut up = false;
        for _ in 0..300 {
            if post(&http, &url, &token, &json!({ "query": ME }))
                .await
                .is_some()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            up,
            "Hive Gateway answered `me` (is the Authorization header propagated?)"
        );
        let pid = hive.id().unwrap();
        let cpu_before = cpu_seconds(pid);
        let stats = {
            let (http, token) = (http.clone(), token.clone());
            drive(concurrency, seconds, move || {
                let (http, token, url) = (http.clone(), token.clone(), url.clone());
                async move {
                    post(&http, &url, &token, &json!({ "query": ME }))
                        .await
                        .is_some()
                }
            })
            .await
        };
        let cpu = cpu_before
            .zip(cpu_seconds(pid))
            .map(|(a, b)| (b - a) / stats.latencies.len().max(1) as f64);
        row("Hive Gateway", &stats, cpu);
        let _ = hive.kill().await;
        hive_stats = Some(stats);
    } else {
        println!(
            "| Hive Gateway | not installed: (cd router/benches/hive-gateway && npm ci) | | | | |"
        );
    }
    println!();
    println!(
        "- router throughput / direct: {:.2}; p50 overhead over direct: {:.2} ms",
        ours.throughput() / direct.throughput(),
        (ours.percentile(0.5).as_secs_f64() - direct.percentile(0.5).as_secs_f64()) * 1e3
    );
    if let Some(hive) = hive_stats {
        println!(
            "- router / Hive Gateway: {:.1}x the throughput, {:.1}x lower p99",
            ours.throughput() / hive.throughput(),
            hive.percentile(0.99).as_secs_f64() / ours.percentile(0.99).as_secs_f64()
        );
    }

    subscribers(&stack, &user.access_token).await;
}

/// Claims as auth issues them for `user`: a real token's claims with another subject.
fn claims_for(template: &Value, user: uuid::Uuid) -> Value {
    let mut claims = template.clone();
    claims["sub"] = json!(user);
    claims["email"] = json!(format!("{user}@example.com"));
    claims["jti"] = json!(uuid::Uuid::new_v4());
    claims
}

async fn subscribers(stack: &Stack, real_token: &str) {
    let n = env_u64("BENCH_SUBSCRIBERS", 10_000) as usize;
    let rate = env_u64("BENCH_EVENTS_PER_SECOND", 1_000);
    // One router by default: it holds one socket per client and shares its upstream
    // websockets to notifications (500 operations each). BENCH_ROUTERS spreads the clients.
    let routers = env_u64("BENCH_ROUTERS", 1).max(1) as usize;
    let mut replicas = Vec::new();
    let mut ports = vec![stack.port(Service::Router)];
    for i in 1..routers {
        let (child, port) = stack.replica(Service::Router, i).await.unwrap();
        replicas.push(child);
        ports.push(port);
    }
    let mut pids: Vec<u32> = vec![stack.pid(Service::Router).unwrap()];
    pids.extend(replicas.iter().filter_map(|c| c.id()));
    let notifications_pid = stack.pid(Service::Notifications).unwrap();

    // Tokens for n users, signed with auth's key as auth would sign them.
    let pem = std::fs::read(stack.dir.join("auth-signing-key.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap();
    let header_json: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(real_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let template: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(real_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = header_json["kid"].as_str().map(str::to_owned);
    let users: Vec<(uuid::Uuid, String)> = (0..n)
        .map(|_| {
            let user = uuid::Uuid::new_v4();
            let token = jsonwebtoken::encode(&header, &claims_for(&template, user), &key).unwrap();
            (user, token)
        })
        .collect();

    let rss = |pids: &[u32]| pids.iter().map(|p| rss_bytes(*p)).sum::<u64>();
    let (routers_before, notifications_before) = (rss(&pids), rss_bytes(notifications_pid));

    // Open every subscription (200 at a time) and keep the sockets.
    let received: Arc<Mutex<HashMap<uuid::Uuid, Instant>>> = Arc::default();
    let opened = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::new();
    for (i, (user, token)) in users.iter().enumerate() {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let url = format!("ws://127.0.0.1:{}/graphql", ports[i % ports.len()]);
        let (user, token, received) = (*user, token.clone(), received.clone());
        tasks.push(tokio::spawn(async move {
            let ok = subscribe_one(&url, &token, user, received).await;
            drop(permit);
            ok
        }));
    }
    let mut connected = 0;
    for task in tasks {
        if task.await.unwrap_or(false) {
            connected += 1;
        }
    }
    let open_time = opened.elapsed();
    // Let the routers' upstream subscriptions settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (routers_after, notifications_after) = (rss(&pids), rss_bytes(notifications_pid));
    let router_sockets: usize = pids.iter().map(|p| sockets(*p)).sum();
    let notifications_sockets = sockets(notifications_pid);

    // One user.login per user, at `rate` per second, straight onto the broker.
    let bus = RabbitBus::new(servers::amqp_url(), stack.exchange());
    let sent: Arc<Mutex<HashMap<uuid::Uuid, Instant>>> = Arc::default();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let publish_start = Instant::now();
    for (i, (user, _)) in users.iter().enumerate() {
        let due = publish_start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let envelope = Envelope::new(
            "load",
            &UserLogin {
                user_id: *user,
                email: format!("{user}@example.com"),
                timestamp: chrono::Utc::now(),
            },
        )
        .unwrap();
        sent.lock().unwrap().insert(*user, Instant::now());
        bus.publish(&envelope).await.unwrap();
    }
    // Wait for the stragglers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.lock().unwrap().len() < connected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received = received.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = received
        .iter()
        .filter_map(|(user, at)| sent.get(user).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!("\n## {n} concurrent `notificationAdded` subscribers through the router\n");
    println!(
        "{routers} router process(es), {connected} subscriptions open after {:.1} s; {} user.login events at {rate}/s.\n",
        open_time.as_secs_f64(),
        users.len()
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| notifications delivered | {} of {} |",
        received.len(),
        users.len()
    );
    println!("| event → client p50 | {:.1} ms |", pct(0.5));
    println!("| event → client p99 | {:.1} ms |", pct(0.99));
    println!("| event → client max | {:.1} ms |", pct(1.0));
    println!(
        "| router memory per subscription | {:.1} KiB |",
        (routers_after.saturating_sub(routers_before)) as f64 / 1024.0 / connected.max(1) as f64
    );
    println!(
        "| notifications memory per subscription | {:.1} KiB |",
        (notifications_after.saturating_sub(notifications_before)) as f64
            / 1024.0
            / connected.max(1) as f64
    );
    println!(
        "| router sockets per subscription | {:.3} ({router_sockets} sockets) |",
        router_sockets as f64 / connected.max(1) as f64
    );
    println!("| notifications sockets | {notifications_sockets} |");
    println!(
        "| routers' resident memory with {connected} subscriptions | {:.0} MiB |",
        routers_after as f64 / 1048576.0
    );
    drop(replicas);
}

/// One graphql-transport-ws subscription; records when its first notification arrives.
async fn subscribe_one(
    url: &str,
    token: &str,
    user: uuid::Uuid,
    received: Arc<Mutex<HashMap<uuid::Uuid, Instant>>>,
) -> bool {
    let Ok(mut request) = url.into_client_request() else {
        return false;
    };
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await else {
        return false;
    };
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    if ws.send(Message::text(init.to_string())).await.is_err() {
        return false;
    }
    loop {
        match ws.next().await {
            Some(Ok(m)) if m.to_text().is_ok_and(|t| t.contains("connection_ack")) => break,
            Some(Ok(_)) => {}
            _ => return false,
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notificationAdded { id kind } }" } });
    if ws.send(Message::text(subscribe.to_string())).await.is_err() {
        return false;
    }
    // Subscribed: the socket lives on in a task of its own, recording the first event.
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Ok(text) = message.to_text() else {
                continue;
            };
            if text.contains("\"next\"") {
                received
                    .lock()
                    .unwrap()
                    .entry(user)
                    .or_insert_with(Instant::now);
            } else if text.contains("\"ping\"") {
                let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
            }
        }
    });
    true
}
