//! Auth throughput benchmark (not a test): argon2id hash time with the default (OWASP)
//! parameters, and register / login throughput over HTTP against the real application
//! on PostgreSQL.
//!
//!     cargo bench -p auth --bench auth
//!
//! `BENCH_SECONDS` (default 10) and `BENCH_CONCURRENCY` (default 16) tune the runs;
//! `TEST_DATABASE_URL` points at a PostgreSQL that may create databases.

#![allow(clippy::unwrap_used)] // A benchmark harness: a panic is the report.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use auth::{
    Application, AuthConfig, config::Argon2Params, domain::Password, passwords::PasswordHasher,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use service_kit::{
    config::Env,
    events::InProcessBus,
    testing::{servers, unique_name},
};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let seconds = env_u64("BENCH_SECONDS", 10);
    let concurrency = env_u64("BENCH_CONCURRENCY", 16);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores; run: {seconds}s per phase, {concurrency} concurrent clients");

    // 1. argon2id with the defaults, one hash at a time.
    let hasher = PasswordHasher::new(Argon2Params::default()).unwrap();
    let password = Password::parse("correct horse battery staple").unwrap();
    hasher.hash(&password).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        hasher.hash(&password).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "argon2id m=19456KiB t=2 p=1: p50 {:.1} ms, p99 {:.1} ms (30 hashes)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );

    // 2. The real application on a fresh PostgreSQL database, default argon2 parameters.
    let database = unique_name("auth_bench");
    let admin = Database::connect(servers::postgres_admin_url())
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let base = servers::postgres_admin_url()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let dir = std::env::temp_dir().join(&database);
    let config = AuthConfig::from_env(&Env::from_map([
        ("AUTH_PORT", "0".to_owned()),
        ("DATABASE_URL", format!("{base}/{database}")),
        ("DATABASE_MAX_CONNECTIONS", "20".to_owned()),
        ("DATA_DIR", dir.display().to_string()),
        ("RUST_LOG", "warn".to_owned()),
    ]))
    .unwrap();
    let app = Application::build(config, Arc::new(InProcessBus::default()))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}/graphql", app.port());
    tokio::spawn(app.run_until_stopped(Box::pin(std::future::pending())));
    let client = reqwest::Client::new();

    let counter = Arc::new(AtomicU64::new(0));
    let run = |op: &'static str| {
        let (client, url, counter) = (client.clone(), url.clone(), counter.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut tasks = Vec::new();
            for worker in 0..concurrency {
                let (client, url, counter) = (client.clone(), url.clone(), counter.clone());
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let email = format!("w{worker}-{i}@example.com");
                        let body = match op {
                            "register" => json!({ "query": "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }", "variables": { "i": { "email": email, "password": "correct horse", "firstName": "B", "lastName": "M" } } }),
                            // Log in as the users the register phase created.
                            _ => json!({ "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", "variables": { "i": { "email": format!("w{worker}-{}@example.com", i % 5), "password": "correct horse" } } }),
                        };
                        let started = Instant::now();
                        let response: serde_json::Value = client.post(&url).json(&body).send().await.unwrap().json().await.unwrap();
                        assert!(response["errors"].is_null(), "{response}");
                        latencies.push(started.elapsed());
                        counter.fetch_add(1, Ordering::Relaxed);
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
            let total = all.len() as f64;
            println!(
                "{op}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({} requests, {concurrency} clients)",
                total / seconds as f64,
                percentile(&all, 0.5).as_secs_f64() * 1e3,
                percentile(&all, 0.99).as_secs_f64() * 1e3,
                all.len()
            );
        }
    };
    run("register").await;
    run("login").await;

    drop(client);
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
