//! One request pipeline for every transport. A transport (HTTP GET/POST, SSE, multipart,
//! websocket) decodes what it received into a [`GraphQLRequest`] and authenticates its
//! caller; [`run`] then takes the operation through the same stages whatever the transport:
//!
//! 0. `persisted`: the document a request names by hash or id (APQ, persisted documents),
//!    and the safelist;
//! 1. `prepare`: parse, validate, normalize and plan (cached by document);
//! 2. `limits`: what this operation may do over this transport, and the caller's budget;
//!    `cost`: its estimated cost (demand control);
//!    `authorize`: what of it the caller may see (the supergraph's authorization directives);
//! 3. `variables`: coercion against the operation's declared types;
//! 4. `execute`: one response, or a stream of them (subscriptions, `@defer`);
//!
//! and `encode` writes the outcome in the transport's format. So a setting (the operation
//! timeout), a metric (`router_requests_total{operation,outcome,transport}`) and an error
//! code mean the same thing over each transport.

pub(crate) mod authorize;
pub(crate) mod cost;
pub(crate) mod decode;
pub(crate) mod defer;
pub(crate) mod encode;
pub mod error;
pub(crate) mod execute;
pub(crate) mod limits;
pub(crate) mod persisted;
pub(crate) mod prepare;
pub mod variables;

use std::{net::IpAddr, sync::Arc, time::Instant};

use axum::http::{HeaderMap, StatusCode};
use service_kit::graphql::operation_label;
use tracing::Instrument;

use crate::{
    auth::Caller, executor::ExecutionOutput, planner::PreparedOperation, server::AppState,
    telemetry::TraceContext,
};
pub use decode::{GraphQLRequest, PostBody};
use error::{GraphQLError, RequestError, codes};

/// How an operation reached the router, which decides what it may do (no mutation over
/// GET, subscriptions and `@defer` only where results can stream) and labels its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transport {
    pub kind: TransportKind,
    /// Whether results can arrive one after another (a websocket, or an HTTP client that
    /// accepts `text/event-stream` or `multipart/mixed`).
    pub streams: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportKind {
    HttpGet,
    HttpPost,
    WebSocket,
}

impl Transport {
    pub(crate) const WEBSOCKET: Self = Self {
        kind: TransportKind::WebSocket,
        streams: true,
    };

    /// Its index in `telemetry::TRANSPORTS`.
    fn index(self) -> usize {
        match (self.kind, self.streams) {
            (TransportKind::WebSocket, _) => 2,
            (_, true) => 1,
            (_, false) => 0,
        }
    }
}

/// One operation as a transport hands it in.
pub(crate) struct Operation {
    pub request: GraphQLRequest,
    pub caller: Option<Caller>,
    pub client_ip: Option<IpAddr>,
    /// The client's headers: the trace context to continue, and `Authorization` to pass
    /// on when the router itself verifies no tokens.
    pub headers: HeaderMap,
    pub transport: Transport,
}

/// What an operation produced.
pub(crate) enum Execution {
    /// One response payload.
    Single(ExecutionOutput),
    /// Payloads one after another.
    Stream(execute::PayloadStream),
}

/// Runs one operation through every stage, within the operation timeout (for a stream:
/// until it starts), counting it in `router_requests_total` and
/// `router_request_duration_seconds`.
pub(crate) async fn run(state: &AppState, operation: Operation) -> Result<Execution, RequestError> {
    let started = Instant::now();
    let trace = TraceContext::from_headers(&operation.headers);
    let span = tracing::info_span!(
        "graphql_request",
        trace_id = %trace.trace_id,
        operation = tracing::field::Empty,
        kind = tracing::field::Empty,
    );
    service_kit::telemetry::continue_trace(&span, &operation.headers);
    let transport = operation.transport;
    let timeout = std::time::Duration::from_millis(state.config.limits.operation_timeout_ms);
    let mut prepared: Option<Arc<PreparedOperation>> = None;
    let client_name = operation.request.operation_name.clone();
    let work = stages(state, operation, &trace, &mut prepared).instrument(span.clone());
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(RequestError::new(
            StatusCode::GATEWAY_TIMEOUT,
            GraphQLError::new("the operation timed out", codes::OPERATION_TIMEOUT),
        )),
    };
    // Indexes into telemetry::OUTCOMES.
    let outcome = match &result {
        Ok(Execution::Single(output)) if output.errors.is_empty() => 0,
        Ok(Execution::Single(_)) => 1,
        Ok(Execution::Stream(_)) => 2,
        Err(e) if e.status == StatusCode::GATEWAY_TIMEOUT => 3,
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => 4,
        Err(_) => 5,
    };
    match &result {
        Ok(Execution::Single(output)) => error::count_errors(&output.errors),
        Ok(Execution::Stream(_)) => {}
        Err(e) => error::count_errors(&e.errors),
    }
    let elapsed = started.elapsed().as_secs_f64();
    match &prepared {
        Some(p) => p
            .metrics
            .record(p.name.as_deref(), outcome, transport.index(), elapsed),
        None => {
            let (counter, histogram) = crate::telemetry::request_metrics(
                &operation_label(client_name.as_deref()),
                crate::telemetry::OUTCOMES[outcome],
                crate::telemetry::TRANSPORTS[transport.index()],
            );
            counter.increment(1);
            histogram.record(elapsed);
        }
    }
    // One line per request is what metrics are for; at debug it helps tracing a problem.
    span.in_scope(|| {
        tracing::debug!(
            outcome = crate::telemetry::OUTCOMES[outcome],
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "graphql request"
        );
    });
    result
}

async fn stages(
    state: &AppState,
    operation: Operation,
    trace: &TraceContext,
    prepared_out: &mut Option<Arc<PreparedOperation>>,
) -> Result<Execution, RequestError> {
    let Operation {
        mut request,
        caller,
        client_ip,
        headers,
        transport,
    } = operation;
    persisted::resolve(state, &mut request).await?;
    let runtime = state.runtime();
    let prepared = prepare::prepare(&runtime, &request)
        .instrument(service_kit::exported_span!("graphql_prepare"))
        .await?;
    *prepared_out = Some(Arc::clone(&prepared));
    let span = tracing::Span::current();
    span.record("operation", operation_label(prepared.name.as_deref()));
    span.record("kind", prepared.kind.as_str());
    limits::check_transport(&prepared, transport)?;
    let cost = cost::estimate(state, &runtime, &prepared, request.variables.as_ref())?;
    limits::check_user_limit(state, &prepared, caller.as_ref(), client_ip).await?;
    let prepared = authorize::authorize(state, &runtime, prepared, caller.as_ref()).await?;
    // `@defer(if: $v)` reads the variables as sent: the operation it runs as no longer
    // declares a variable only @defer used.
    let deferred = match &prepared.defer {
        Some(info) if transport.streams => Some(info.active(request.variables.as_ref())),
        _ => None,
    };
    // The actual cost, when wanted, reads the variables as sent, like the estimate.
    let show_cost = cost.is_some() && cost::wanted(&headers);
    let actual_of = (show_cost || (cost.is_some() && state.config.demand_control.actual))
        .then(|| (Arc::clone(&prepared), request.variables.clone()));
    let variables = variables::coerce(&runtime.supergraph.schema, &prepared, request.variables)?;
    let forward = execute::forward_headers(state, &headers, caller.as_ref(), client_ip, trace);
    let execution = execute::execute(
        state,
        &runtime,
        execute::Ready {
            prepared,
            variables,
            forward,
            caller,
            deferred,
        },
    )
    .await?;
    match (execution, cost, actual_of) {
        (Execution::Single(mut output), Some(estimated), Some((measured, sent))) => {
            let actual = cost::actual(state, &runtime, &measured, sent.as_ref(), &output.body);
            let max = state.config.demand_control.max_cost;
            if show_cost
                && let Some(body) = cost::with_extension(&output.body, estimated, actual, max)
            {
                output.body = body.into();
            }
            Ok(Execution::Single(output))
        }
        (execution, _, _) => Ok(execution),
    }
}
