//! Payments benchmark (not a test): `createPayment` throughput over HTTP, and the latency of
//! `User.payments` page 1 against page 1,000 for a user with 100,000 payments (cursor
//! pagination should keep them close), on MongoDB and on the embedded store.
//!
//!     cargo bench -p payments --bench payments
//!
//! `BENCH_SECONDS` (default 10) and `BENCH_CONCURRENCY` (default 16) tune the create phase;
//! `BENCH_PAYMENTS` (default 100000) the seeded history, `BENCH_PAGE_SIZE` (default 100)
//! the page size, `BENCH_PAGE_REQUESTS` (default 100) how often each page is read,
//! `BENCH_STORES` (default `mongo,embedded`) which stores run;
//! `TEST_MONGODB_URL` points at the MongoDB(-wire) server.

#![allow(clippy::unwrap_used)] // A benchmark harness: a panic is the report.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use payments::{
    Application, PaymentsConfig,
    domain::{Actor, NewPayment, Payment},
    events::envelope_for,
    storage::{Cursor, MongoStore},
};
use serde_json::{Value, json};
use service_kit::{
    config::Env,
    events::InProcessBus,
    jwt::Role,
    testing::{TestKeys, serve_jwks, servers, unique_name},
};
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A benchmark user's token: valid for an hour, signed with `keys`.
fn bench_token(keys: &TestKeys, user: Uuid) -> String {
    keys.token(user, "bench@example.com", Role::User, 3600)
}

const CREATE: &str = "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { id } }";
const PAGE: &str = "query($r: [_Any!]!, $first: Int, $after: String) { _entities(representations: $r) { ... on User { payments(first: $first, after: $after) { edges { cursor node { id amount status createdAt } } pageInfo { hasNextPage endCursor } } } } }";

async fn post(client: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    let response: Value = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response["errors"].is_null(), "{response}");
    response
}

#[tokio::main]
async fn main() {
    let seconds = env_u64("BENCH_SECONDS", 10);
    let concurrency = env_u64("BENCH_CONCURRENCY", 16);
    let history = env_u64("BENCH_PAYMENTS", 100_000) as usize;
    let page_size = env_u64("BENCH_PAGE_SIZE", 100) as usize;
    let page_requests = env_u64("BENCH_PAGE_REQUESTS", 100) as usize;
    let stores = std::env::var("BENCH_STORES").unwrap_or_else(|_| "mongo,embedded".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "machine: {cores} cores; createPayment for {seconds}s with {concurrency} clients; \
         {history} payments, pages of {page_size}"
    );
    for store in stores.split(',').map(str::trim) {
        run(
            store,
            seconds,
            concurrency,
            history,
            page_size,
            page_requests,
        )
        .await;
    }
}

async fn run(
    store: &str,
    seconds: u64,
    concurrency: u64,
    history: usize,
    page_size: usize,
    page_requests: usize,
) {
    let keys = TestKeys::generate("bench");
    let database = unique_name("payments_bench");
    let dir = std::env::temp_dir().join(&database);
    let mut vars = vec![
        ("PAYMENTS_PORT", "0".to_owned()),
        ("JWKS_URL", serve_jwks(keys.jwks()).await),
        ("PAYMENTS_PROCESSOR_LATENCY_MS", "0".to_owned()),
        ("DATA_DIR", dir.display().to_string()),
    ];
    let mongo = match store {
        "mongo" => {
            vars.push(("MONGODB_URL", servers::mongodb_url()));
            vars.push(("MONGODB_DATABASE", database.clone()));
            true
        }
        "embedded" => false,
        other => panic!("unknown store {other:?}: expected mongo or embedded"),
    };
    let config = PaymentsConfig::from_env(&Env::from_map(vars)).unwrap();
    let app = Application::build(config, Arc::new(InProcessBus::default()))
        .await
        .unwrap();
    let service = app.service();
    let url = format!("http://127.0.0.1:{}/graphql", app.port());
    tokio::spawn(app.run_until_stopped(Box::pin(std::future::pending())));
    let client = reqwest::Client::new();
    println!("\n== {store} ==");

    // 1. createPayment throughput: each client its own user and keys.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.clone());
        let token = bench_token(&keys, Uuid::now_v7());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let body = json!({ "query": CREATE, "variables": { "i": { "amount": 1_000 + i as i64 % 100, "currency": "USD", "idempotencyKey": format!("k{i}") } } });
                let started = Instant::now();
                post(&client, &url, &token, body).await;
                latencies.push(started.elapsed());
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    println!(
        "createPayment: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({} requests, {concurrency} clients)",
        all.len() as f64 / seconds as f64,
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        all.len()
    );

    // 2. One user with `history` payments, one millisecond apart.
    let user = Uuid::now_v7();
    let start = payments::domain::now() - chrono::Duration::milliseconds(history as i64 + 1);
    let seeded: Vec<Payment> = (0..history)
        .map(|i| {
            let request =
                NewPayment::parse(100 + i as i64, "EUR", None, &format!("seed-{i}")).unwrap();
            Payment::create(
                user,
                request,
                Actor::User(user),
                start + chrono::Duration::milliseconds(i as i64),
            )
        })
        .collect();
    let started = Instant::now();
    if mongo {
        let direct = MongoStore::connect(&servers::mongodb_url(), &database)
            .await
            .unwrap();
        direct.insert_many_without_events(&seeded).await.unwrap();
    } else {
        for payment in &seeded {
            let event = envelope_for(payment).unwrap().unwrap();
            service.store().insert(payment, &event).await.unwrap();
        }
    }
    println!(
        "seeded {history} payments in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 3. Page 1 and page 1,000 (or the last full page), newest first.
    let token = bench_token(&keys, user);
    let page_number = (history / page_size).min(1_000);
    let cursor_of_previous = |page: usize| -> Option<String> {
        // Newest first: page p (1-based) starts after the ((p - 1) * size)th newest.
        (page > 1).then(|| Cursor::of(&seeded[history - (page - 1) * page_size]).encode())
    };
    for page in [1, page_number] {
        let after = cursor_of_previous(page);
        let body = json!({ "query": PAGE, "variables": { "r": [{ "__typename": "User", "id": user }], "first": page_size, "after": after } });
        let first = post(&client, &url, &token, body.clone()).await;
        let edges = first["data"]["_entities"][0]["payments"]["edges"]
            .as_array()
            .unwrap();
        assert_eq!(edges.len(), page_size);
        let expected_newest = seeded[history - 1 - (page - 1) * page_size].id.to_string();
        assert_eq!(edges[0]["node"]["id"], expected_newest.as_str());
        let mut times = Vec::new();
        for _ in 0..page_requests {
            let started = Instant::now();
            post(&client, &url, &token, body.clone()).await;
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "page {page} of {page_size}: p50 {:.1} ms, p99 {:.1} ms ({page_requests} requests, one client)",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }

    if mongo && let Ok(client) = mongodb::Client::with_uri_str(servers::mongodb_url()).await {
        let _ = client.database(&database).drop().await;
    }
    let _ = std::fs::remove_dir_all(dir);
}
