//! The router's HTTP application: shared state, the routes (`/graphql` for every transport,
//! GraphiQL, health, readiness, metrics) and the layers every request goes through. The
//! transports themselves are in `transports`, the request pipeline in `pipeline`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde_json::Value;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
};

use crate::{
    auth::Authenticator,
    config::RouterConfig,
    dedupe::InFlight,
    error::{GraphQLError, RequestError, codes},
    executor::{self, fetch::SubgraphClient},
    limits::rate::{self, UserLimiter},
    persisted::PersistedOperations,
    pipeline::execute::OperationKey,
    planner::Supergraph,
    subscriptions::upstream::Upstreams,
    transports,
};

/// What a supergraph needs at run time; replaced whole when the supergraph file changes.
pub struct Runtime {
    pub supergraph: Arc<Supergraph>,
    pub client: Arc<SubgraphClient>,
    /// Websocket URL per subgraph, for subscriptions.
    pub websocket_urls: HashMap<String, String>,
    /// Queries executing now, for client-request deduplication.
    pub(crate) operations: Arc<InFlight<OperationKey, executor::ExecutionOutput>>,
    /// Shared websocket connections to subgraphs, for subscriptions.
    pub(crate) upstreams: Arc<Upstreams>,
}

/// Shared by every handler.
pub struct AppState {
    pub config: RouterConfig,
    runtime: RwLock<Arc<Runtime>>,
    pub auth: Option<Arc<Authenticator>>,
    pub user_limiter: Option<Arc<UserLimiter>>,
    /// Cancelled on shutdown, so websockets close cleanly.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub subscriptions: Arc<crate::subscriptions::Registry>,
    /// APQ and the persisted documents manifest.
    pub persisted: Arc<PersistedOperations>,
}

impl AppState {
    pub fn new(
        config: RouterConfig,
        runtime: Runtime,
        auth: Option<Arc<Authenticator>>,
        user_limiter: Option<Arc<UserLimiter>>,
        persisted: Arc<PersistedOperations>,
    ) -> Self {
        Self {
            config,
            runtime: RwLock::new(Arc::new(runtime)),
            auth,
            user_limiter,
            shutdown: tokio_util::sync::CancellationToken::new(),
            subscriptions: Arc::default(),
            persisted,
        }
    }

    /// The current runtime; requests keep the one they started with across a reload.
    pub fn runtime(&self) -> Arc<Runtime> {
        match self.runtime.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace_runtime(&self, runtime: Runtime) {
        match self.runtime.write() {
            Ok(mut r) => *r = Arc::new(runtime),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(runtime),
        }
    }
}

pub type SharedState = Arc<AppState>;

/// All routes with their layers, and the per-IP limiter's sweep to run beside them (when
/// that limit is on).
pub fn routes(state: SharedState) -> anyhow::Result<(Router, Option<rate::Sweep>)> {
    let config = &state.config;
    let graphql = Router::new().route(
        "/graphql",
        get(transports::http::get).post(transports::http::post),
    );
    let (graphql, sweep) = match &config.rate_limit.per_ip {
        Some(limit) => {
            let (graphql, sweep) = rate::with_per_ip_limit(graphql, limit)?;
            (graphql, Some(sweep))
        }
        None => (graphql, None),
    };
    let mut app = Router::new()
        .merge(graphql)
        .route("/", get(graphiql_page))
        .route("/graphiql/{file}", get(crate::graphiql::asset))
        .route("/ready", get(ready))
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    // The body limit applies where the body is read, so an oversized request gets a GraphQL
    // error (413) rather than a bare text response.
    app = app.layer(DefaultBodyLimit::max(config.limits.max_body_bytes));
    if let Some(cors) = cors_layer(config)? {
        app = app.layer(cors);
    }
    let trusted = Arc::new(trusted_proxies(config));
    app = app.layer(axum::middleware::from_fn_with_state(
        trusted,
        rate::client_address,
    ));
    let app = app.layer(CatchPanicLayer::custom(|_| {
        tracing::error!("a request handler panicked");
        RequestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            GraphQLError::new("internal error", codes::ErrorCode::Internal.as_str()),
        )
        .into_response()
    }));
    Ok((app, sweep))
}

/// `trusted_proxies`, or every peer under the deprecated `trust_forwarded_headers`.
fn trusted_proxies(config: &RouterConfig) -> service_kit::client_address::TrustedProxies {
    let deprecated = config
        .rate_limit
        .per_ip
        .as_ref()
        .is_some_and(|ip| ip.trust_forwarded_headers);
    if deprecated && config.trusted_proxies.is_empty() {
        tracing::warn!(
            "rate_limit.per_ip.trust_forwarded_headers is deprecated: list the proxies in trusted_proxies; every peer's X-Forwarded-For is believed meanwhile"
        );
        return service_kit::client_address::TrustedProxies::any();
    }
    config.trusted_proxies.clone()
}

fn cors_layer(config: &RouterConfig) -> anyhow::Result<Option<CorsLayer>> {
    let cors = &config.cors;
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("apollographql-client-name"),
            HeaderName::from_static("apollographql-client-version"),
        ])
        .max_age(Duration::from_secs(600));
    if cors.allow_any_origin {
        tracing::warn!("CORS allows any origin: for development only");
        return Ok(Some(base.allow_origin(AllowOrigin::any())));
    }
    if cors.allow_origins.is_empty() {
        return Ok(None);
    }
    let origins = cors
        .allow_origins
        .iter()
        .map(|o| HeaderValue::from_str(o).map_err(|_| anyhow::anyhow!("invalid CORS origin {o:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(
        base.allow_origin(AllowOrigin::list(origins))
            .allow_credentials(cors.allow_credentials),
    ))
}

pub(crate) async fn graphiql_page(State(state): State<SharedState>) -> Response {
    if !state.config.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(crate::graphiql::page(
        state.config.graphiql_example.as_deref(),
    ))
    .into_response()
}

/// Prometheus text, from the process-wide recorder the kit installs.
async fn metrics() -> Response {
    let handle = service_kit::telemetry::metrics_handle();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Ready when every subgraph answers (a `{ __typename }` query) and no breaker is open.
async fn ready(State(state): State<SharedState>) -> Response {
    let runtime = state.runtime();
    let checks = runtime.supergraph.subgraphs.keys().map(|name| {
        let client = runtime.client.clone();
        async move {
            let body = Bytes::from_static(br#"{"query":"{__typename}"}"#);
            let result = client.send(name, body, &HeaderMap::new(), false).await;
            (name.clone(), result.map(|_| ()).map_err(|e| e.to_string()))
        }
    });
    let results = futures::future::join_all(checks).await;
    let all_ok = results.iter().all(|(_, r)| r.is_ok());
    let checks: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => serde_json::json!({ "status": "up" }),
                Err(reason) => serde_json::json!({ "status": "down", "reason": reason }),
            };
            (name, v)
        })
        .collect();
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if all_ok { "ready" } else { "not ready" },
            "subgraphs": checks,
        })),
    )
        .into_response()
}
