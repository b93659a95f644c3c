//! The HTTP side every service shares: the GraphQL endpoint handler, the middleware stack
//! and serving with graceful shutdown.

use std::{sync::Arc, time::Duration};

use async_graphql::{ObjectType, Schema, SubscriptionType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    graphql::{DeletedAccounts, RequestAuth},
    jwt::JwtVerifier,
    telemetry::Shutdown,
};

/// What the GraphQL handler needs: the schema and how to verify callers.
pub struct GraphqlState<Q, M, S> {
    pub schema: Schema<Q, M, S>,
    pub verifier: JwtVerifier,
    /// Deleted accounts whose tokens are refused, for a subgraph that keeps them.
    pub deleted_accounts: Option<Arc<dyn DeletedAccounts>>,
}

impl<Q, M, S> Clone for GraphqlState<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            schema: self.schema.clone(),
            verifier: self.verifier.clone(),
            deleted_accounts: self.deleted_accounts.clone(),
        }
    }
}

/// `POST /graphql`: verifies the bearer token (if any) and runs the operation with the
/// caller's [`RequestAuth`] in the context.
pub async fn graphql_handler<Q, M, S>(
    State(state): State<GraphqlState<Q, M, S>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let auth = RequestAuth::from_header(&state.verifier, header)
        .await
        .unless_deleted(state.deleted_accounts.as_deref())
        .await;
    state
        .schema
        .execute(request.into_inner().data(auth))
        .await
        .into()
}

/// Limits every service applies: request body size, a request timeout, panics turned
/// into 500s instead of dropped connections, and a trace span per request.
pub fn with_standard_layers(router: Router, body_limit: usize, timeout: Duration) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Serves `router` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
