//! Shared helpers for the router's integration tests: fixture subgraphs served on port 0,
//! a router built in-process against them, and small HTTP helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod shop;

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
        .route("/graphql", post(handler::<Q, M, S>))
        .route_service("/graphql/ws", GraphQLSubscription::new(schema.clone()))
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
