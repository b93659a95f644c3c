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
