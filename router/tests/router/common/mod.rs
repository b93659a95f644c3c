//! Shared helpers for the router's integration tests: fixture subgraphs served on port 0,
//! a router built in-process against them, and small HTTP helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod catalog;
pub mod gateways;
pub mod requires;
pub mod shop;
pub mod tokens;
pub mod vault;

use std::{net::SocketAddr, path::PathBuf};

use async_graphql::{ObjectType, Schema, SubscriptionType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    routing::{get, post},
};
use tokio::net::TcpListener;

/// The fixtures folder (SDLs and composed supergraphs).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Serves `schema` on `127.0.0.1:0` at `/graphql` (HTTP and websocket); returns the address.
pub async fn serve_subgraph<Q, M, S>(schema: Schema<Q, M, S>) -> SocketAddr
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    async fn handler<Q, M, S>(
        State(schema): State<Schema<Q, M, S>>,
        headers: HeaderMap,
        request: GraphQLRequest,
    ) -> GraphQLResponse
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        schema
            .execute(request.into_inner().data(shop::Headers(headers)))
            .await
            .into()
    }
    let app = Router::new()
        .route(
            "/graphql",
            post(handler::<Q, M, S>).get_service(GraphQLSubscription::new(schema.clone())),
        )
        .route("/health", get(|| async { "ok" }))
        .with_state(schema);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// The shop subgraphs, each on its own port.
pub struct Shop {
    pub accounts: SocketAddr,
    pub products: SocketAddr,
    pub inventory: SocketAddr,
    pub reviews: SocketAddr,
    pub accounts_state: shop::AccountsState,
}

pub async fn start_shop() -> Shop {
    let accounts_state = shop::AccountsState::default();
    let accounts = serve_subgraph(shop::accounts_schema(accounts_state.clone())).await;
    let products = serve_subgraph(shop::products_schema()).await;
    let inventory = serve_subgraph(shop::inventory_schema()).await;
    let reviews = serve_subgraph(shop::reviews_schema(accounts_state.calls.clone())).await;
    Shop {
        accounts,
        products,
        inventory,
        reviews,
        accounts_state,
    }
}

pub fn subgraph_url(addr: SocketAddr) -> String {
    format!("http://{addr}/graphql")
}

/// A router config for the shop fixture: port 0, no reload, subgraph URLs pointed at `shop`.
pub fn shop_config(shop: &Shop) -> router::RouterConfig {
    let mut config = router::RouterConfig {
        port: 0,
        ..Default::default()
    };
    config.supergraph.path = fixtures_dir().join("shop/supergraph.graphql");
    config.supergraph.watch = false;
    for (name, addr) in [
        ("accounts", shop.accounts),
        ("products", shop.products),
        ("inventory", shop.inventory),
        ("reviews", shop.reviews),
    ] {
        config.subgraphs.insert(
            name.into(),
            router::config::SubgraphConfig {
                url: Some(subgraph_url(addr)),
                ..Default::default()
            },
        );
    }
    config
}

/// A router running in this process; stops when dropped.
pub struct TestRouter {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub http: reqwest::Client,
}

impl TestRouter {
    pub async fn start(config: router::RouterConfig) -> Self {
        let app = router::Application::build(config).await.unwrap();
        let port = app.port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = app
                .run_until_stopped(Box::pin(async move {
                    let _ = rx.await;
                }))
                .await;
        });
        Self {
            port,
            stop: Some(tx),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs a GraphQL request; returns the status and the JSON body.
    pub async fn query(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.query_with(query, variables, &[]).await
    }

    pub async fn query_with(
        &self,
        query: &str,
        variables: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .post(self.url("/graphql"))
            .header(
                "accept",
                "application/graphql-response+json, application/json",
            )
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `extensions.code` of each error in a response.
pub fn error_codes(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A subgraph whose answers a test scripts: `answer` gets each request body and returns
/// (status, body). Counts requests.
pub struct ScriptedSubgraph {
    pub addr: SocketAddr,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub async fn scripted_subgraph<F>(answer: F) -> ScriptedSubgraph
where
    F: Fn(serde_json::Value) -> (u16, serde_json::Value) + Send + Sync + 'static,
{
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answer = std::sync::Arc::new(answer);
    let counter = hits.clone();
    let app = Router::new().route(
        "/graphql",
        post(move |body: axum::Json<serde_json::Value>| {
            let answer = answer.clone();
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, body) = answer(body.0);
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    axum::Json(body),
                )
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    ScriptedSubgraph { addr, hits }
}

/// A scripted subgraph that holds every request until the test opens its gate, so that
/// tests can have requests overlap for certain. Counts the requests that arrived.
pub struct GatedSubgraph {
    pub addr: SocketAddr,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    gate: tokio::sync::watch::Sender<bool>,
}

impl GatedSubgraph {
    pub fn open(&self) {
        let _ = self.gate.send(true);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub async fn gated_subgraph<F>(answer: F) -> GatedSubgraph
where
    F: Fn(serde_json::Value) -> (u16, serde_json::Value) + Send + Sync + 'static,
{
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, opened) = tokio::sync::watch::channel(false);
    let answer = std::sync::Arc::new(answer);
    let counter = hits.clone();
    let app = Router::new().route(
        "/graphql",
        post(move |body: axum::Json<serde_json::Value>| {
            let answer = answer.clone();
            let counter = counter.clone();
            let mut opened = opened.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = opened.wait_for(|open| *open).await;
                let (status, body) = answer(body.0);
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    axum::Json(body),
                )
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    GatedSubgraph { addr, hits, gate }
}

/// The value of a counter in the process's Prometheus text, summed over the series whose
/// labels include every one of `labels` (`name="value"` pairs).
pub fn counter(name: &str, labels: &[&str]) -> f64 {
    let text = service_kit::telemetry::metrics_handle().render();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An address nothing listens on: port 1 is privileged and unused, so unlike a freed
/// ephemeral port it cannot be taken by a server of a test running alongside.
pub async fn closed_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1))
}

pub fn set_subgraph_url(config: &mut router::RouterConfig, name: &str, addr: SocketAddr) {
    config.subgraphs.entry(name.into()).or_default().url = Some(subgraph_url(addr));
}

/// The real `router` binary in a child process, configured through the environment.
pub struct RouterProcess {
    child: tokio::process::Child,
    pub port: u16,
    http: reqwest::Client,
}

impl RouterProcess {
    pub async fn spawn(env: &[(&str, &str)]) -> Self {
        Self::spawn_with_args(env, &[]).await
    }

    pub async fn spawn_with_args(env: &[(&str, &str)], args: &[&str]) -> Self {
        let port = service_kit::testing::free_port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_router"))
            .args(args)
            .envs(env.iter().copied())
            .env("ROUTER_PORT", port.to_string())
            .env("ROUTER_SUPERGRAPH_WATCH", "false")
            .env("LOG_FORMAT", "pretty")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let health = format!("http://127.0.0.1:{port}/health");
        for _ in 0..200 {
            if http.get(&health).send().await.is_ok() {
                return Self { child, port, http };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the router process did not start");
    }

    pub async fn query_with(
        &self,
        query: &str,
        variables: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .post(format!("http://127.0.0.1:{}/graphql", self.port))
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The catalog subgraphs and a router config pointing at them.
pub async fn catalog_config() -> router::RouterConfig {
    let media = serve_subgraph(catalog::media_schema()).await;
    let ratings = serve_subgraph(catalog::ratings_schema()).await;
    let people = serve_subgraph(catalog::people_schema()).await;
    let mut config = router::RouterConfig {
        port: 0,
        ..Default::default()
    };
    config.supergraph.path = fixtures_dir().join("catalog/supergraph.graphql");
    config.supergraph.watch = false;
    set_subgraph_url(&mut config, "media", media);
    set_subgraph_url(&mut config, "ratings", ratings);
    set_subgraph_url(&mut config, "people", people);
    config
}
