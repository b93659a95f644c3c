//! The router benchmark (not a test), side by side with its peers in one run, on the same
//! subgraphs and the same queries:
//!
//! - our router: the release binary, its own process;
//! - Hive Router 0.1.2 (the same query planner, 2.10.11), when built:
//!   `cargo install hive-router --version 0.1.2 --locked --features graphiql --root ~/.cache/hive-router`
//!   (or `HIVE_ROUTER_BIN`);
//! - Hive Gateway 2.15.1 on Node, when installed: `(cd router/benches/hive-gateway && npm ci)`.
//!
//! Scenarios, on the four subgraphs of the public gateways benchmark (`common::gateways`,
//! async-graphql, in this process) and its nested `TestQuery` (87 KB answers):
//!
//! - (a)/(b) `BENCH_CONCURRENCY` (50) clients for `BENCH_SECONDS` (10) per target and round
//!   (`BENCH_ROUNDS`, 2), in three configurations: client-request dedupe on (Hive Router's
//!   benchmark configuration, Hive Gateway's too), subgraph-request dedupe only (Hive Router's
//!   defaults), and all dedupe off;
//! - (c) one client fetching an ~8 MB response from one subgraph, median latency;
//! - (d) cold planning of an operation with many possible plans (in process: every peer here
//!   uses the same planner).
//!
//! `BENCH_PEERS` (`ours,hive-router,hive-gateway`; add `ours-otlp` for our router exporting
//! every span over OTLP) and `BENCH_SCENARIOS` (`a,b,c,d`) choose.
//!
//! Reported: throughput, p50/p99 latency, CPU per request (user + system time of the gateway
//! process over the measured window / requests) and peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo bench -p router --bench gateways
//! ```

#![allow(clippy::unwrap_used, dead_code)] // A benchmark harness: a panic is the report.

#[path = "../tests/router/common/mod.rs"]
mod common;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::json;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Ours,
    HiveRouter,
    HiveGateway,
    /// Our router exporting every span over OTLP (to a receiver in this process that
    /// discards them): what trace export costs.
    OursOtlp,
}

/// The OTLP receiver of `Peer::OursOtlp`.
static OTLP_SINK: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn otlp_sink() -> String {
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Ours => "our router",
            Peer::HiveRouter => "Hive Router 0.1.2",
            Peer::HiveGateway => "Hive Gateway 2.15.1",
            Peer::OursOtlp => "our router, OTLP export on",
        }
    }
}

/// Which in-flight deduplication is on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dedupe {
    /// Client requests and subgraph requests.
    Client,
    /// Subgraph requests only.
    Subgraph,
    Off,
}

impl Dedupe {
    fn describe(self) -> &'static str {
        match self {
            Dedupe::Client => "client-request dedupe on (+ subgraph dedupe)",
            Dedupe::Subgraph => "subgraph-request dedupe only",
            Dedupe::Off => "all dedupe off",
        }
    }
}

struct Gateway {
    child: tokio::process::Child,
    url: String,
}

impl Gateway {
    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }
}

fn hive_router_bin() -> Option<PathBuf> {
    let path = std::env::var("HIVE_ROUTER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/hive-router/bin/hive_router")
        });
    path.exists().then_some(path)
}

fn hive_gateway_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hive-gateway")
}

fn hive_gateway_installed() -> bool {
    hive_gateway_dir()
        .join("node_modules/.bin/hive-gateway")
        .exists()
}

async fn start(peer: Peer, dedupe: Dedupe, supergraph: &Path, dir: &Path) -> Gateway {
    let port = service_kit::testing::free_port();
    let quiet = || (std::process::Stdio::null(), std::process::Stdio::null());
    let child = match peer {
        Peer::Ours | Peer::OursOtlp => {
            let (out, err) = quiet();
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_router"));
            if peer == Peer::OursOtlp {
                command.env(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    OTLP_SINK.get().cloned().unwrap_or_default(),
                );
            }
            command
                .arg("--supergraph")
                .arg(supergraph)
                .env("ROUTER_PORT", port.to_string())
                .env("ROUTER_SUPERGRAPH_WATCH", "false")
                .env(
                    "ROUTER_DEDUPE_CLIENT_REQUESTS",
                    (dedupe == Dedupe::Client).to_string(),
                )
                .env(
                    "ROUTER_DEDUPE_SUBGRAPH_REQUESTS",
                    (dedupe != Dedupe::Off).to_string(),
                )
                .stdout(out)
                .stderr(err)
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        }
        Peer::HiveRouter => {
            let config = dir.join(format!("hive-router-{port}.yaml"));
            std::fs::write(
                &config,
                format!(
                    "http:\n  port: {port}\nsupergraph:\n  source: file\n  path: {}\n\
                     traffic_shaping:\n  all:\n    dedupe_enabled: {}\n  router:\n    dedupe:\n      enabled: {}\n",
                    supergraph.display(),
                    dedupe != Dedupe::Off,
                    dedupe == Dedupe::Client,
                ),
            )
            .unwrap();
            let (out, err) = quiet();
            tokio::process::Command::new(hive_router_bin().unwrap())
                .env("ROUTER_CONFIG_FILE_PATH", &config)
                .stdout(out)
                .stderr(err)
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        }
        Peer::HiveGateway => {
            let hive = hive_gateway_dir();
            let config = match dedupe {
                Dedupe::Client => "dedupe.config.mjs",
                _ => "plain.config.mjs",
            };
            let (out, err) = quiet();
            tokio::process::Command::new(hive.join("node_modules/.bin/hive-gateway"))
                .current_dir(&hive)
                .arg("supergraph")
                .arg(supergraph)
                .arg("--port")
                .arg(port.to_string())
                .arg("--config-path")
                .arg(config)
                .env("NODE_OPTIONS", "--import ./preload.mjs")
                .env("NODE_ENV", "production")
                .stdout(out)
                .stderr(err)
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        }
    };
    let url = format!("http://127.0.0.1:{port}/graphql");
    let http = reqwest::Client::new();
    for _ in 0..1200 {
        let up = http
            .post(&url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return Gateway { child, url };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} did not come up", peer.name());
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ") ".
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0.0);
    let stime: f64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0.0);
    // Linux reports clock ticks; USER_HZ is 100 on every mainstream configuration.
    (utime + stime) / 100.0
}

/// Peak resident memory of a process (and, for Node, it is one process) in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

struct Stats {
    requests: u64,
    errors: u64,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_request: f64,
    peak_rss_mib: f64,
}

impl Stats {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

type Http = Client<HttpConnector, Full<Bytes>>;

fn http_client(concurrency: usize) -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency * 2)
        .build(connector)
}

/// One request; `Err` with a reason when the answer is not a 200 or contains errors.
async fn call(http: &Http, url: &str, body: &Bytes) -> Result<Bytes, String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .unwrap();
    let response = http.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != 200 {
        return Err(format!("status {status}"));
    }
    // As the benchmark's k6 checks: no `"errors"` anywhere in the body.
    if bytes.windows(8).any(|w| w == b"\"errors\"") {
        return Err(String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned());
    }
    Ok(bytes)
}

/// `concurrency` clients for `warmup` then `duration`; every answer must be `expected`
/// (compared in full on each client's first answer and by length after).
async fn load(
    gateway: &Gateway,
    body: Bytes,
    expected: &Bytes,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Stats {
    let http = http_client(concurrency);
    let url = Arc::new(gateway.url.clone());
    let expected = expected.clone();
    let run = |window: Duration| {
        let deadline = Instant::now() + window;
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (http, url, body, expected) =
                    (http.clone(), url.clone(), body.clone(), expected.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut errors = 0u64;
                    let mut first = true;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match call(&http, &url, &body).await {
                            Ok(answer) => {
                                let same = if first {
                                    answer == expected
                                } else {
                                    answer.len() == expected.len()
                                };
                                if !same {
                                    if errors == 0 {
                                        eprintln!(
                                            "unexpected answer ({} bytes, expected {})",
                                            answer.len(),
                                            expected.len()
                                        );
                                    }
                                    errors += 1;
                                }
                                first = false;
                            }
                            Err(reason) => {
                                if errors == 0 {
                                    eprintln!("failed request: {reason}");
                                }
                                errors += 1;
                            }
                        }
                        latencies.push(t.elapsed());
                    }
                    (latencies, errors)
                })
            })
            .collect();
        async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            for w in workers {
                let (l, e) = w.await.unwrap();
                latencies.extend(l);
                errors += e;
            }
            (latencies, errors)
        }
    };
    run(warmup).await;
    let pid = gateway.pid();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let (mut latencies, errors) = run(duration).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Stats {
        requests: latencies.len() as u64,
        errors,
        seconds,
        p50: pct(0.50),
        p99: pct(0.99),
        cpu_per_request: cpu / latencies.len().max(1) as f64,
        peak_rss_mib: peak_rss_mib(pid),
    }
}

fn row(scenario: &str, peer: Peer, s: &Stats) {
    println!(
        "| {scenario} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.2} ms | {:.0} MiB | {} |",
        peer.name(),
        s.throughput(),
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.cpu_per_request * 1e3,
        s.peak_rss_mib,
        s.errors,
    );
}

/// The supergraph of a fixture with its subgraphs' real URLs, for peers that read URLs
/// from the supergraph.
fn supergraph_for(fixture: &str, urls: &[(&str, String)], dir: &Path) -> PathBuf {
    let mut sdl = std::fs::read_to_string(
        common::fixtures_dir()
            .join(fixture)
            .join("supergraph.graphql"),
    )
    .unwrap();
    for (name, url) in urls {
        sdl = sdl.replace(&format!("http://127.0.0.1:1/{name}/graphql"), url);
    }
    let path = dir.join(format!("{fixture}.graphql"));
    std::fs::write(&path, sdl).unwrap();
    path
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
    let concurrency = env_u64("BENCH_CONCURRENCY", 50) as usize;
    let rounds = env_u64("BENCH_ROUNDS", 2);
    let big_requests = env_u64("BENCH_BIG_REQUESTS", 20);
    let scenarios = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "a,b,c,d".into());
    let dir = std::env::temp_dir().join(format!("router-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    let wanted =
        std::env::var("BENCH_PEERS").unwrap_or_else(|_| "ours,hive-router,hive-gateway".into());
    let mut peers = Vec::new();
    if wanted.contains("ours") {
        peers.push(Peer::Ours);
    }
    if wanted.contains("ours-otlp") {
        let _ = OTLP_SINK.set(otlp_sink().await);
        peers.push(Peer::OursOtlp);
    }
    if wanted.contains("hive-router") {
        match hive_router_bin() {
            Some(_) => peers.push(Peer::HiveRouter),
            None => println!("Hive Router: not built (see the header of this file); skipped"),
        }
    }
    if wanted.contains("hive-gateway") {
        if hive_gateway_installed() {
            peers.push(Peer::HiveGateway);
        } else {
            println!(
                "Hive Gateway: not installed (cd router/benches/hive-gateway && npm ci); skipped"
            );
        }
    }

    let subgraphs = common::gateways::Gateways::start().await;
    let supergraph = supergraph_for("gateways", &subgraphs.urls(), &dir);
    let expected = Bytes::from(
        std::fs::read(common::fixtures_dir().join("gateways/expected_response.json")).unwrap(),
    );
    let body =
        Bytes::from(serde_json::to_vec(&json!({ "query": common::gateways::TEST_QUERY })).unwrap());

    if scenarios.contains('a') || scenarios.contains('b') {
        println!(
            "\n## (a)/(b) TestQuery, {concurrency} clients, {seconds} s per target and round, {rounds} rounds\n"
        );
        println!(
            "| configuration | gateway | req/s | p50 | p99 | CPU per request | peak RSS | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let modes = std::env::var("BENCH_DEDUPE").unwrap_or_else(|_| "client,subgraph,off".into());
        let modes = [Dedupe::Client, Dedupe::Subgraph, Dedupe::Off]
            .into_iter()
            .filter(|d| modes.contains(&format!("{d:?}").to_lowercase()));
        for dedupe in modes {
            let mut results: Vec<(Peer, Vec<Stats>)> = Vec::new();
            for _ in 0..rounds {
                for &peer in &peers {
                    // Hive Gateway dedupes inbound requests or nothing.
                    if peer == Peer::HiveGateway && dedupe == Dedupe::Subgraph {
                        continue;
                    }
                    let gateway = start(peer, dedupe, &supergraph, &dir).await;
                    let stats = load(
                        &gateway,
                        body.clone(),
                        &expected,
                        concurrency,
                        Duration::from_secs(3),
                        Duration::from_secs(seconds),
                    )
                    .await;
                    row(dedupe.describe(), peer, &stats);
                    match results.iter_mut().find(|(p, _)| *p == peer) {
                        Some((_, list)) => list.push(stats),
                        None => results.push((peer, vec![stats])),
                    }
                    drop(gateway);
                }
            }
            ratios(dedupe.describe(), &results);
        }
    }

    if scenarios.contains('c') {
        big_response(&peers, big_requests, &dir).await;
    }
    if scenarios.contains('d') {
        cold_planning().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Our figures over Hive Router's (and Hive Gateway's), from the mean of the rounds.
fn ratios(what: &str, results: &[(Peer, Vec<Stats>)]) {
    let mean = |list: &[Stats], f: &dyn Fn(&Stats) -> f64| {
        list.iter().map(f).sum::<f64>() / list.len().max(1) as f64
    };
    let Some((_, ours)) = results.iter().find(|(p, _)| *p == Peer::Ours) else {
        return;
    };
    for (peer, theirs) in results.iter().filter(|(p, _)| *p != Peer::Ours) {
        println!(
            "| {what}: ours / {} | throughput {:.2}x | p99 {:.2}x | CPU per request {:.2}x | peak RSS {:.2}x | |",
            peer.name(),
            mean(ours, &Stats::throughput) / mean(theirs, &Stats::throughput),
            mean(ours, &|s| s.p99.as_secs_f64()) / mean(theirs, &|s| s.p99.as_secs_f64()),
            mean(ours, &|s| s.cpu_per_request) / mean(theirs, &|s| s.cpu_per_request),
            mean(ours, &|s| s.peak_rss_mib) / mean(theirs, &|s| s.peak_rss_mib),
        );
    }
}

const BIG_QUERY: &str = "{ catalog(entries: 12000) { id title description price quantity tags dimensions { width height depth } } }";

/// (c) One client, one ~8 MB answer at a time: median latency and CPU per request.
async fn big_response(peers: &[Peer], requests: u64, dir: &Path) {
    let big = common::serve_subgraph(common::gateways::big_schema()).await;
    let supergraph = supergraph_for("big-response", &[("big", common::subgraph_url(big))], dir);
    let body = Bytes::from(serde_json::to_vec(&json!({ "query": BIG_QUERY })).unwrap());
    println!("\n## (c) one client, ~8 MB response, {requests} requests per gateway\n");
    println!("| gateway | response | median | p90 | CPU per request | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let http = http_client(1);
    for &peer in peers {
        let gateway = start(peer, Dedupe::Off, &supergraph, dir).await;
        let mut size = 0;
        for _ in 0..3 {
            size = call(&http, &gateway.url, &body).await.unwrap().len();
        }
        let cpu_before = cpu_seconds(gateway.pid());
        let mut latencies = Vec::new();
        for _ in 0..requests {
            let t = Instant::now();
            call(&http, &gateway.url, &body).await.unwrap();
            latencies.push(t.elapsed());
        }
        let cpu = (cpu_seconds(gateway.pid()) - cpu_before) / requests as f64;
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "| {} | {:.1} MB | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} MiB |",
            peer.name(),
            size as f64 / 1e6,
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.9).as_secs_f64() * 1e3,
            cpu * 1e3,
            peak_rss_mib(gateway.pid()),
        );
    }
}

const MANY_PLANS_QUERY: &str = "{ items { id name price stock rating owner { name items { name price related { name stock owner { name } } } } related { name price rating related { name price stock rating owner { id name } } } } }";

/// (d) Planning an operation over subgraphs that can each resolve every field: a fresh
/// supergraph each time, so nothing is cached.
async fn cold_planning() {
    let sdl = std::fs::read_to_string(common::fixtures_dir().join("many-plans/supergraph.graphql"))
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let supergraph = Arc::new(
            router::Supergraph::from_sdl(
                &sdl,
                router::config::LimitsConfig::default(),
                16,
                &|_| None,
            )
            .unwrap(),
        );
        let t = Instant::now();
        supergraph.prepare(MANY_PLANS_QUERY, None).await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!("\n## (d) cold planning, 4 subgraphs that each resolve every field\n");
    println!(
        "median {:.1} ms, max {:.1} ms over 10 fresh supergraphs (Hive Router and Hive Gateway's\n\
         router runtime use the same planner crate, 2.10.11)",
        times[5].as_secs_f64() * 1e3,
        times[9].as_secs_f64() * 1e3
    );
}
