//! The HTTP side: GraphQL over HTTP (`POST` and `GET /graphql`), the websocket upgrade, the
//! GraphiQL page, health, readiness and metrics, and the layers every request goes through.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    Extension, Json, Router,
    body::{Body, Bytes},
    extract::{
        ConnectInfo, DefaultBodyLimit, FromRequestParts, Query, State, WebSocketUpgrade,
        rejection::BytesRejection,
    },
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{Map, Value};
use service_kit::graphql::operation_label;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
};
use tracing::Instrument;

use crate::{
    auth::{self, Authenticator, Caller},
    config::RouterConfig,
    dedupe::InFlight,
    error::{GraphQLError, RequestError, codes},
    executor::{self, ExecutionInput, fetch::SubgraphClient},
    limits::rate::{self, Subject, UserLimiter},
    planner::{
        PreparedOperation, Supergraph,
        schema::{OperationType, SchemaIndex},
        variables,
    },
    telemetry::TraceContext,
};

/// What a supergraph needs at run time; replaced whole when the supergraph file changes.
pub struct Runtime {
    pub supergraph: Arc<Supergraph>,
    pub client: Arc<SubgraphClient>,
    /// Websocket URL per subgraph, for subscriptions.
    pub websocket_urls: HashMap<String, String>,
    /// Queries executing now, for client-request deduplication.
    pub(crate) operations: Arc<InFlight<OperationKey, executor::ExecutionOutput>>,
}

/// Shared by every handler.
pub struct AppState {
    pub config: RouterConfig,
    runtime: RwLock<Arc<Runtime>>,
    pub auth: Option<Arc<Authenticator>>,
    pub user_limiter: Option<Arc<UserLimiter>>,
    /// Cancelled on shutdown, so websockets close cleanly.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub subscriptions: crate::subscriptions::Registry,
}

impl AppState {
    pub fn new(
        config: RouterConfig,
        runtime: Runtime,
        auth: Option<Arc<Authenticator>>,
        user_limiter: Option<Arc<UserLimiter>>,
    ) -> Self {
        Self {
            config,
            runtime: RwLock::new(Arc::new(runtime)),
            auth,
            user_limiter,
            shutdown: tokio_util::sync::CancellationToken::new(),
            subscriptions: crate::subscriptions::Registry::default(),
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

/// All routes with their layers.
pub fn routes(state: SharedState) -> anyhow::Result<Router> {
    let config = &state.config;
    let graphql = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            config.limits.max_body_bytes,
            declared_length_limit,
        ));
    let graphql = match &config.rate_limit.per_ip {
        Some(limit) => rate::with_per_ip_limit(graphql, limit)?,
        None => graphql,
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
    Ok(app.layer(CatchPanicLayer::custom(|_| {
        tracing::error!("a request handler panicked");
        error_response(&RequestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            GraphQLError::new("internal error", codes::ErrorCode::Internal.as_str()),
        ))
    })))
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

/// A GraphQL request as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphQLRequest {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Option<Value>,
    /// Accepted for compatibility (persisted-query hashes and the like are not used yet).
    pub extensions: Option<Value>,
}

/// A `POST /graphql` body: one operation, or a batch of them.
#[derive(Debug)]
pub enum PostBody {
    Single(GraphQLRequest),
    /// A JSON array (Apollo Client's BatchHttpLink): each operation runs on its own, and
    /// the answers come back in order.
    Batch(Vec<GraphQLRequest>),
}

impl PostBody {
    /// The body as a GraphQL request; `None` when it is not a JSON GraphQL request.
    pub fn parse(body: &[u8]) -> Option<Self> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            serde_json::from_slice(body).ok().map(Self::Batch)
        } else {
            serde_json::from_slice(body).ok().map(Self::Single)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// The client address, when the server was started with connect info.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Refuses a body whose declared length is over the limit before reading any of it, so a
/// client cannot make the router wait for megabytes it will refuse anyway. (A body without
/// a Content-Length is cut off at the limit where it is read.)
async fn declared_length_limit(
    State(limit): State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error_response(&RequestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            GraphQLError::new("the request body is too large", codes::LIMIT_EXCEEDED),
        ));
    }
    next.run(request).await
}

async fn graphql_post(
    State(state): State<SharedState>,
    caller: Option<Extension<Caller>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is too large"
            } else {
                "the request body could not be read"
            };
            return error_response(&RequestError::new(
                status,
                GraphQLError::new(message, codes::LIMIT_EXCEEDED),
            ));
        }
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/graphql-response+json")
        });
    if !is_json {
        return error_response(&RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GraphQLError::new(
                "expected Content-Type: application/json",
                codes::BAD_REQUEST,
            ),
        ));
    }
    let malformed = || {
        error_response(&RequestError::bad_request(
            "the body is not a JSON GraphQL request",
            codes::BAD_REQUEST,
        ))
    };
    let caller = caller.map(|c| c.0);
    let requests = match PostBody::parse(&body) {
        None => return malformed(),
        Some(PostBody::Single(request)) => {
            return handle(state, request, caller, ip, headers, Method::POST).await;
        }
        Some(PostBody::Batch(requests)) => requests,
    };
    if requests.is_empty() || requests.len() > state.config.limits.max_batch_size {
        return error_response(&RequestError::bad_request(
            format!(
                "a batch holds 1 to {} operations",
                state.config.limits.max_batch_size
            ),
            codes::LIMIT_EXCEEDED,
        ));
    }
    let answers = futures::future::join_all(requests.into_iter().map(|request| {
        handle(
            state.clone(),
            request,
            caller.clone(),
            ip,
            headers.clone(),
            Method::POST,
        )
    }))
    .await;
    let mut body = b"[".to_vec();
    for (i, answer) in answers.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let bytes = http_body_util::BodyExt::collect(answer.into_body())
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        body.extend_from_slice(&bytes);
    }
    body.push(b']');
    json_response(StatusCode::OK, body)
}

async fn graphql_get(
    State(state): State<SharedState>,
    caller: Option<Extension<Caller>>,
    ClientAddr(ip): ClientAddr,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let headers = parts.headers.clone();
    if headers.contains_key(header::UPGRADE) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => crate::subscriptions::upgrade(state, ws, caller.map(|c| c.0), headers, ip),
            Err(rejection) => rejection.into_response(),
        };
    }
    let params: HashMap<String, String> = match Query::try_from_uri(&parts.uri) {
        Ok(Query(p)) => p,
        Err(_) => {
            return error_response(&RequestError::bad_request(
                "invalid query string",
                codes::BAD_REQUEST,
            ));
        }
    };
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !params.contains_key("query") && state.config.graphiql {
        return graphiql_page(State(state)).await.into_response();
    }
    let params = GetParams {
        query: params.get("query").cloned(),
        operation_name: params.get("operationName").cloned(),
        variables: params.get("variables").cloned(),
        extensions: params.get("extensions").cloned(),
    };
    let variables = match params
        .variables
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return error_response(&RequestError::bad_request(
                "variables must be a JSON object",
                codes::BAD_REQUEST,
            ));
        }
    };
    let request = GraphQLRequest {
        query: params.query,
        operation_name: params.operation_name,
        variables,
        extensions: params
            .extensions
            .and_then(|e| serde_json::from_str(&e).ok()),
    };
    handle(
        state,
        request,
        caller.map(|c| c.0),
        ip,
        headers,
        Method::GET,
    )
    .await
}

/// Runs one GraphQL request through planning and execution.
async fn handle(
    state: SharedState,
    request: GraphQLRequest,
    caller: Option<Caller>,
    ip: Option<std::net::IpAddr>,
    headers: HeaderMap,
    method: Method,
) -> Response {
    let started = Instant::now();
    let trace = TraceContext::from_headers(&headers);
    let span = tracing::info_span!(
        "graphql_request",
        trace_id = %trace.trace_id,
        operation = tracing::field::Empty,
        kind = tracing::field::Empty,
    );
    let timeout = Duration::from_millis(state.config.limits.operation_timeout_ms);
    let work = run(
        &state,
        request,
        caller.as_ref(),
        ip,
        &headers,
        &method,
        &trace,
    )
    .instrument(span.clone());
    let (mut response, operation, outcome) = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => (
            error_response(&RequestError::new(
                StatusCode::GATEWAY_TIMEOUT,
                GraphQLError::new("the operation timed out", codes::OPERATION_TIMEOUT),
            )),
            None,
            "timeout",
        ),
    };
    // GraphQL over HTTP: clients that accept application/graphql-response+json get it, with
    // 4xx for invalid operations; legacy application/json clients get 200 for those, since
    // the request itself was well-formed.
    let modern = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/graphql-response+json"));
    if modern {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/graphql-response+json; charset=utf-8"),
        );
    } else if outcome == "request_error" && response.status() == StatusCode::BAD_REQUEST {
        *response.status_mut() = StatusCode::OK;
    }
    let labels = [
        ("operation", operation_label(operation.as_deref())),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!("router_requests_total", &labels).increment(1);
    metrics::histogram!("router_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    // One line per request is what metrics are for; at debug it helps tracing a problem.
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            outcome,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "graphql request"
        );
    });
    response
}

type Handled = (Response, Option<String>, &'static str);

async fn run(
    state: &AppState,
    request: GraphQLRequest,
    caller: Option<&Caller>,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    method: &Method,
    trace: &TraceContext,
) -> Handled {
    let fail = |e: RequestError, op: Option<String>| (error_response(&e), op, "request_error");
    let Some(query) = request.query.as_deref().filter(|q| !q.trim().is_empty()) else {
        // Not a well-formed GraphQL-over-HTTP request: 400 whatever the media type.
        let e = RequestError::bad_request("the request has no query", codes::BAD_REQUEST);
        return (error_response(&e), None, "invalid_request");
    };
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            query = %crate::telemetry::redact_query(query),
            variables = %request.variables.as_ref().map(crate::telemetry::redact_variables).unwrap_or_default(),
            operation_name = request.operation_name.as_deref().unwrap_or_default(),
            "graphql request received"
        );
    }
    let runtime = state.runtime();
    let prepared = match runtime
        .supergraph
        .prepare(query, request.operation_name.as_deref())
        .await
    {
        Ok(p) => p,
        Err(e) => return fail((*e).clone(), request.operation_name.clone()),
    };
    let op_name = prepared.name.clone();
    tracing::Span::current().record("operation", operation_label(op_name.as_deref()));
    tracing::Span::current().record("kind", prepared.kind.as_str());
    if *method == Method::GET && prepared.kind != OperationType::Query {
        let mut response = error_response(&RequestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            GraphQLError::new(
                format!("{}s are not allowed over GET", prepared.kind.as_str()),
                codes::BAD_REQUEST,
            ),
        ));
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return (response, op_name, "request_error");
    }
    if prepared.kind == OperationType::Subscription {
        return fail(
            RequestError::bad_request(
                "subscriptions are served over a websocket (graphql-transport-ws) on /graphql",
                codes::OPERATION_NOT_SUPPORTED,
            ),
            op_name,
        );
    }
    if let Err(e) = check_user_limit(state, &prepared, caller, ip).await {
        return (error_response(&e), op_name, "rate_limited");
    }
    let variables = match coerce_variables(&runtime.supergraph.schema, &prepared, request.variables)
    {
        Ok(v) => v,
        Err(e) => return fail(e, op_name),
    };
    let forward = forward_headers(state, headers, caller, trace);
    let output =
        if prepared.kind == OperationType::Query && state.config.traffic.dedupe.client_requests {
            execute_shared(
                &runtime,
                query,
                request.operation_name,
                prepared,
                variables,
                forward,
            )
            .await
        } else {
            executor::execute(ExecutionInput {
                schema: &runtime.supergraph.schema,
                client: &runtime.client,
                prepared: &prepared,
                variables: &variables,
                headers: &forward,
            })
            .await
        };
    let outcome = if output.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    count_errors(&output.errors);
    (json_response(StatusCode::OK, output.body), op_name, outcome)
}

/// What makes two client operations identical: the same document and operation, the same
/// variables and every header that reaches a subgraph (the trace context aside).
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct OperationKey {
    query: String,
    operation_name: Option<String>,
    variables: Vec<u8>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Executes a query, or waits for the identical one already executing (`traffic.dedupe`).
async fn execute_shared(
    runtime: &Arc<Runtime>,
    query: &str,
    operation_name: Option<String>,
    prepared: Arc<PreparedOperation>,
    variables: Map<String, Value>,
    forward: HeaderMap,
) -> executor::ExecutionOutput {
    let label = operation_label(prepared.name.as_deref());
    let key = OperationKey {
        query: query.to_owned(),
        operation_name,
        // Coerced variables are a BTreeMap: the same values always serialize alike.
        variables: serde_json::to_vec(&variables).unwrap_or_default(),
        headers: forward
            .iter()
            .filter(|(name, _)| *name != "traceparent" && *name != "tracestate")
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    };
    let shared_runtime = Arc::clone(runtime);
    runtime
        .operations
        .run(
            key,
            move || {
                async move {
                    executor::execute(ExecutionInput {
                        schema: &shared_runtime.supergraph.schema,
                        client: &shared_runtime.client,
                        prepared: &prepared,
                        variables: &variables,
                        headers: &forward,
                    })
                    .await
                }
                .boxed()
            },
            |joined| {
                if joined {
                    metrics::counter!("router_deduplicated_requests_total", "level" => "client", "operation" => label)
                        .increment(1);
                }
            },
        )
        .await
}

pub(crate) async fn check_user_limit(
    state: &AppState,
    prepared: &PreparedOperation,
    caller: Option<&Caller>,
    ip: Option<std::net::IpAddr>,
) -> Result<(), RequestError> {
    let Some(limiter) = &state.user_limiter else {
        return Ok(());
    };
    let sensitive = limiter.is_sensitive(&prepared.root_fields);
    let subject = match (caller, ip) {
        (Some(c), _) => Subject::User(&c.subject),
        (None, Some(ip)) if sensitive => Subject::Ip(ip),
        // Anonymous everyday traffic is the per-IP limiter's job.
        _ => return Ok(()),
    };
    limiter.check(subject, sensitive).await
}

/// Headers every subgraph request of this client request carries.
pub(crate) fn forward_headers(
    state: &AppState,
    headers: &HeaderMap,
    caller: Option<&Caller>,
    trace: &TraceContext,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    match caller {
        Some(c) => {
            out.insert(header::AUTHORIZATION, c.authorization.clone());
            if let Some(name) = state.auth.as_ref().and_then(|a| a.claims_header())
                && let Ok(value) = HeaderValue::from_str(&c.claims.to_string())
            {
                out.insert(name.clone(), value);
            }
        }
        None => {
            // Without JWT configuration the router does not judge tokens: subgraphs do.
            if state.auth.is_none()
                && let Some(v) = headers.get(header::AUTHORIZATION)
            {
                out.insert(header::AUTHORIZATION, v.clone());
            }
        }
    }
    out.insert(HeaderName::from_static("traceparent"), trace.child_header());
    if let Some(v) = headers.get("tracestate") {
        out.insert(HeaderName::from_static("tracestate"), v.clone());
    }
    out
}

/// Applies defaults, checks that every non-null variable has a value and that every value
/// fits its declared type.
pub(crate) fn coerce_variables(
    schema: &SchemaIndex,
    prepared: &PreparedOperation,
    provided: Option<Value>,
) -> Result<Map<String, Value>, RequestError> {
    let mut provided = match provided {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(RequestError::bad_request(
                "variables must be a JSON object",
                codes::ErrorCode::BadUserInput.as_str(),
            ));
        }
    };
    let mut out = Map::new();
    for var in &prepared.variables {
        match provided.remove(&var.name) {
            Some(value) => {
                if value.is_null() && var.ty.is_non_null() {
                    return Err(RequestError::bad_request(
                        format!("variable ${} of type {} must not be null", var.name, var.ty),
                        codes::ErrorCode::BadUserInput.as_str(),
                    ));
                }
                if let Err(reason) =
                    variables::check(schema, &var.ty, &value, &format!("${}", var.name))
                {
                    return Err(RequestError::bad_request(
                        format!("invalid variable: {reason}"),
                        codes::ErrorCode::BadUserInput.as_str(),
                    ));
                }
                out.insert(var.name.clone(), value);
            }
            None => match &var.default {
                Some(default) => {
                    out.insert(var.name.clone(), default.clone());
                }
                None if var.ty.is_non_null() => {
                    return Err(RequestError::bad_request(
                        format!(
                            "variable ${} of required type {} was not provided",
                            var.name, var.ty
                        ),
                        codes::ErrorCode::BadUserInput.as_str(),
                    ));
                }
                None => {}
            },
        }
    }
    Ok(out)
}

/// `{"data": ..., "errors": [...]}` with `data` already serialized.
pub fn response_body(data: Option<&[u8]>, errors: &[GraphQLError]) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.map_or(64, |d| d.len() + 64));
    body.push(b'{');
    let mut first = true;
    if let Some(data) = data {
        body.extend_from_slice(b"\"data\":");
        body.extend_from_slice(data);
        first = false;
    }
    if !errors.is_empty() {
        if !first {
            body.push(b',');
        }
        body.extend_from_slice(b"\"errors\":");
        let _ = serde_json::to_writer(&mut body, errors);
    }
    body.push(b'}');
    body
}

pub fn error_body(errors: &[GraphQLError]) -> Vec<u8> {
    response_body(None, errors)
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `router_errors_total{code}`: what went wrong, for the dashboards and alerts. Codes are
/// a small fixed set (ours and the subgraphs'), so the label stays bounded; anything else
/// is counted as `OTHER`.
fn count_errors(errors: &[GraphQLError]) {
    for error in errors {
        let code = match error.code() {
            Some(code)
                if code.len() <= 40
                    && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
            {
                code.to_owned()
            }
            _ => "OTHER".to_owned(),
        };
        metrics::counter!("router_errors_total", "code" => code).increment(1);
    }
}

/// The response for a request that failed before execution.
pub fn error_response(error: &RequestError) -> Response {
    count_errors(&error.errors);
    let mut response = json_response(error.status, error_body(&error.errors));
    if let Some(secs) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

async fn graphiql_page(State(state): State<SharedState>) -> Response {
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
