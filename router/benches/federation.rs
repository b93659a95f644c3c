//! Router benchmark (not a test): one federated query touching four subgraphs (products,
//! inventory, reviews, accounts), driven at fixed concurrency against, side by side in one
//! run on the same subgraphs and supergraph:
//!
//! - the subgraphs called directly, the same fetches the plan makes (the floor),
//! - our router (the release binary, in its own process, so its CPU time can be read),
//! - Hive Gateway (`@graphql-hive/gateway` on Node), when installed.
//!
//! ```sh
//! (cd router/benches/hive-gateway && npm ci)   # once, to include Hive Gateway
//! cargo bench -p router --bench federation
//! ```
//!
//! `BENCH_SECONDS` (default 10) and `BENCH_CONCURRENCY` (default 32) tune the runs.

#![allow(clippy::unwrap_used, dead_code)] // A benchmark harness: a panic is the report.

#[path = "../tests/router/common/mod.rs"]
mod common;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const QUERY: &str = "{ topProducts { name inStock reviews { body author { name } } } }";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Stats {
    requests: u64,
    errors: u64,
    seconds: f64,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Runs `call` from `concurrency` workers for `duration`; `call` returns false on a bad answer.
async fn load<F, Fut>(concurrency: u64, duration: Duration, call: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    // Warm up connections and caches before measuring.
    for _ in 0..20 {
        call().await;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if !call().await {
                        errors += 1;
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    Stats {
        requests: latencies.len() as u64,
        errors,
        seconds,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every mainstream configuration.
    Some((utime + stime) / 100.0)
}

async fn wait_for(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http
            .post(url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up");
}

fn graphql_call(
    http: reqwest::Client,
    url: String,
    body: Value,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync {
    let body = Arc::new(serde_json::to_vec(&body).unwrap());
    move || {
        let http = http.clone();
        let url = url.clone();
        let body = body.clone();
        Box::pin(async move {
            let Ok(response) = http
                .post(&url)
                .header("content-type", "application/json")
                .body((*body).clone())
                .send()
                .await
            else {
                return false;
            };
            let Ok(value) = response.json::<Value>().await else {
                return false;
            };
            value.get("errors").is_none() && value["data"]["topProducts"].is_array()
                || value["data"]["_entities"].is_array()
        })
    }
}

/// The four fetches the plan makes, made by the client itself: products, then inventory
/// and reviews in parallel, then accounts.
fn direct_call(
    http: reqwest::Client,
    shop: &common::Shop,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync + use<>
{
    let products = common::subgraph_url(shop.products);
    let inventory = common::subgraph_url(shop.inventory);
    let reviews = common::subgraph_url(shop.reviews);
    let accounts = common::subgraph_url(shop.accounts);
    move || {
        let (http, products, inventory, reviews, accounts) = (
            http.clone(),
            products.clone(),
            inventory.clone(),
            reviews.clone(),
            accounts.clone(),
        );
        Box::pin(async move {
            let post = |url: String, body: Value| {
                let http = http.clone();
                async move {
                    http.post(url)
                        .json(&body)
                        .send()
                        .await
                        .ok()?
                        .json::<Value>()
                        .await
                        .ok()
                }
            };
            let Some(top) = post(
                products,
                json!({ "query": "{topProducts{__typename upc name}}" }),
            )
            .await
            else {
                return false;
            };
            let reps: Vec<Value> = top["data"]["topProducts"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|p| json!({ "__typename": "Product", "upc": p["upc"] }))
                        .collect()
                })
                .unwrap_or_default();
            let (stock, revs) = tokio::join!(
                post(
                    inventory,
                    json!({
                        "query": "query($representations:[_Any!]!){_entities(representations:$representations){...on Product{inStock}}}",
                        "variables": { "representations": reps.clone() }
                    })
                ),
                post(
                    reviews,
                    json!({
                        "query": "query($representations:[_Any!]!){_entities(representations:$representations){...on Product{reviews{body author{__typename id}}}}}",
                        "variables": { "representations": reps }
                    })
                ),
            );
            let (Some(_stock), Some(revs)) = (stock, revs) else {
                return false;
            };
            let mut users: Vec<Value> = Vec::new();
            for product in revs["data"]["_entities"].as_array().into_iter().flatten() {
                for review in product["reviews"].as_array().into_iter().flatten() {
                    let rep = json!({ "__typename": "User", "id": review["author"]["id"] });
                    if !users.contains(&rep) {
                        users.push(rep);
                    }
                }
            }
            post(accounts, json!({
                "query": "query($representations:[_Any!]!){_entities(representations:$representations){...on User{name}}}",
                "variables": { "representations": users }
            }))
            .await
            .is_some_and(|v| v["data"]["_entities"].is_array())
        })
    }
}

fn supergraph_for(shop: &common::Shop, dir: &Path) -> PathBuf {
    let mut sdl =
        std::fs::read_to_string(common::fixtures_dir().join("shop/supergraph.graphql")).unwrap();
    for (name, addr) in [
        ("accounts", shop.accounts),
        ("products", shop.products),
        ("inventory", shop.inventory),
        ("reviews", shop.reviews),
    ] {
        sdl = sdl.replace(
            &format!("http://127.0.0.1:1/{name}/graphql"),
            &common::subgraph_url(addr),
        );
    }
    let path = dir.join("supergraph.graphql");
    std::fs::write(&path, sdl).unwrap();
    path
}

fn report(name: &str, stats: &Stats, cpu_per_request: Option<f64>) {
    let cpu = cpu_per_request
        .map(|c| format!("{:.0} µs", c * 1e6))
        .unwrap_or_else(|| "—".into());
    println!(
        "| {name} | {:.0} req/s | {:.2} ms | {:.2} ms | {} | {} |",
        stats.throughput(),
        stats.p50.as_secs_f64() * 1000.0,
        stats.p99.as_secs_f64() * 1000.0,
        cpu,
        stats.errors,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let seconds = env_u64("BENCH_SECONDS", 10);
    let concurrency = env_u64("BENCH_CONCURRENCY", 32);
    let duration = Duration::from_secs(seconds);
    let shop = common::start_shop().await;
    let dir = std::env::temp_dir().join(format!("router-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let supergraph = supergraph_for(&shop, &dir);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    println!("query: {QUERY}");
    println!("{seconds} s per target, {concurrency} concurrent clients\n");
    println!("| target | throughput | p50 | p99 | CPU per request | errors |");
    println!("|---|---|---|---|---|---|");

    let direct = load(concurrency, duration, direct_call(http.clone(), &shop)).await;
    report("subgraphs directly (4 fetches)", &direct, None);

    // Our router: the release binary in its own process.
    let port = common::free_port().await;
    let mut router = tokio::process::Command::new(env!("CARGO_BIN_EXE_router"))
        .arg("--supergraph")
        .arg(&supergraph)
        .env("ROUTER_PORT", port.to_string())
        .env("ROUTER_SUPERGRAPH_WATCH", "false")
        .env("RUST_LOG", "warn")
        .env("LOG_FORMAT", "pretty")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/graphql");
    wait_for(&url).await;
    let pid = router.id().unwrap();
    let cpu_before = cpu_seconds(pid);
    let ours = load(
        concurrency,
        duration,
        graphql_call(http.clone(), url, json!({ "query": QUERY })),
    )
    .await;
    let cpu = cpu_before
        .zip(cpu_seconds(pid))
        .map(|(a, b)| (b - a) / ours.requests.max(1) as f64);
    report("our router", &ours, cpu);
    let _ = router.kill().await;

    let hive_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hive-gateway");
    let hive_bin = hive_dir.join("node_modules/.bin/hive-gateway");
    let mut hive_stats = None;
    if hive_bin.exists() {
        let port = common::free_port().await;
        let mut hive = tokio::process::Command::new(&hive_bin)
            .current_dir(&hive_dir)
            .arg("supergraph")
            .arg(&supergraph)
            .arg("--port")
            .arg(port.to_string())
            .env("NODE_OPTIONS", "--import ./preload.mjs")
            .env("NODE_ENV", "production")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/graphql");
        wait_for(&url).await;
        let pid = hive.id().unwrap();
        let cpu_before = cpu_seconds(pid);
        let stats = load(
            concurrency,
            duration,
            graphql_call(http.clone(), url, json!({ "query": QUERY })),
        )
        .await;
        let cpu = cpu_before
            .zip(cpu_seconds(pid))
            .map(|(a, b)| (b - a) / stats.requests.max(1) as f64);
        report("Hive Gateway", &stats, cpu);
        let _ = hive.kill().await;
        hive_stats = Some(stats);
    } else {
        println!(
            "| Hive Gateway | not installed: (cd router/benches/hive-gateway && npm ci) | | | | |"
        );
    }

    println!();
    let overhead = ours.p50.as_secs_f64() - direct.p50.as_secs_f64();
    println!(
        "router overhead at p50 over calling the subgraphs directly: {:.2} ms",
        overhead * 1000.0
    );
    if let Some(hive) = hive_stats {
        println!(
            "throughput, our router / Hive Gateway: {:.1}x",
            ours.throughput() / hive.throughput()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
