//! Execute: a prepared operation with its variables becomes one response (queries and
//! mutations; identical concurrent queries share one execution) or a stream of them
//! (subscriptions, whose events each run the rest of the plan).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use bytes::Bytes;
use futures::FutureExt;
use serde_json::{Map, Value};
use service_kit::graphql::operation_label;
use tokio::sync::mpsc;

use super::{Execution, error::RequestError};
use crate::{
    auth::Caller,
    executor::{self, ExecutionInput, ExecutionOutput},
    planner::{PreparedOperation, defer::DeferInfo, schema::OperationType},
    server::{AppState, Runtime},
    telemetry::TraceContext,
};

/// What kind of payloads a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// A subscription: each payload a whole response (`{"data":…}`).
    Subscription,
    /// `@defer`: the initial payload (`{"data":…,"hasNext":true}`), then incremental ones
    /// (`{"incremental":[…],"hasNext":…}`).
    Incremental,
}

/// Response payloads (GraphQL response JSON objects) one after another; the stream ends
/// when the sender is dropped, or after an `Err`: errors that end it (a subgraph gone),
/// which each transport reports in its own way. Dropping the receiver stops the work
/// behind it.
pub(crate) struct PayloadStream {
    pub kind: StreamKind,
    pub payloads: mpsc::Receiver<StreamItem>,
}

pub(crate) type StreamItem = Result<Bytes, Vec<crate::error::GraphQLError>>;

/// An operation ready to run.
pub(crate) struct Ready {
    pub prepared: Arc<PreparedOperation>,
    pub variables: Map<String, Value>,
    /// Headers every subgraph request carries.
    pub forward: HeaderMap,
    pub caller: Option<Caller>,
    /// Which deferred fragments are deferred, when the operation has any and the
    /// transport takes a stream.
    pub deferred: Option<Vec<bool>>,
}

pub(crate) async fn execute(
    state: &AppState,
    runtime: &Arc<Runtime>,
    ready: Ready,
) -> Result<Execution, RequestError> {
    // Deferred fragments stream where the client can take it; elsewhere (and in mutations,
    // which must run once) the whole result comes at once.
    if ready.prepared.kind == OperationType::Query
        && let (Some(info), Some(active)) = (ready.prepared.defer.clone(), ready.deferred.clone())
        && DeferInfo::any_active(&active)
    {
        return super::defer::start(runtime, ready, &info, &active)
            .await
            .map(Execution::Stream);
    }
    match ready.prepared.kind {
        OperationType::Subscription => crate::subscriptions::start(state, runtime, ready)
            .await
            .map(Execution::Stream),
        OperationType::Query if state.config.traffic.dedupe.client_requests => {
            Ok(Execution::Single(execute_shared(runtime, ready).await))
        }
        _ => Ok(Execution::Single(
            executor::execute(ExecutionInput {
                schema: &runtime.supergraph.schema,
                client: &runtime.client,
                prepared: &ready.prepared,
                variables: &ready.variables,
                headers: &ready.forward,
            })
            .await,
        )),
    }
}

/// What makes two client operations identical: the same prepared document (the plan
/// cache gives every request of one document and operation name the same one), the same
/// variables and every header that reaches a subgraph (the trace context aside).
pub(crate) struct OperationKey {
    prepared: Arc<PreparedOperation>,
    variables: Vec<u8>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl PartialEq for OperationKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.prepared, &other.prepared)
            && self.variables == other.variables
            && self.headers == other.headers
    }
}

impl Eq for OperationKey {}

impl std::hash::Hash for OperationKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.prepared), state);
        self.variables.hash(state);
        self.headers.hash(state);
    }
}

/// Executes a query, or waits for the identical one already executing (`traffic.dedupe`).
async fn execute_shared(runtime: &Arc<Runtime>, ready: Ready) -> ExecutionOutput {
    let Ready {
        prepared,
        variables,
        forward,
        ..
    } = ready;
    let label = operation_label(prepared.name.as_deref());
    let key = OperationKey {
        prepared: Arc::clone(&prepared),
        // Coerced variables are a BTreeMap: the same values always serialize alike.
        variables: if variables.is_empty() {
            Vec::new()
        } else {
            serde_json::to_vec(&variables).unwrap_or_default()
        },
        headers: sharing_key(&forward),
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

/// The headers that make requests differ, for in-flight deduplication: all but the trace
/// context (each request has its own span) and the client address (what a subgraph
/// answers does not depend on it; only limits do, and those are not shared).
pub(crate) fn sharing_key(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            *name != "traceparent" && *name != "tracestate" && *name != "x-forwarded-for"
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Headers every subgraph request of this operation carries.
pub(crate) fn forward_headers(
    state: &AppState,
    headers: &HeaderMap,
    caller: Option<&Caller>,
    client: Option<std::net::IpAddr>,
    trace: &TraceContext,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    // The client address the edge computed, for the subgraphs' own limits (auth's sign-in
    // throttle): replaces whatever the client sent.
    if let Some(ip) = client
        && let Ok(value) = HeaderValue::from_str(&ip.to_string())
    {
        out.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
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
