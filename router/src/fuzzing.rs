//! Synchronous entry points for the cargo-fuzz targets in `fuzz/`: the request path up to
//! execution, without a server, an async runtime, the document cache or the panic guard in
//! the way. Not an API; the router itself never calls it.

use serde_json::Value;

use crate::{
    config::LimitsConfig,
    error::RequestError,
    pipeline::{GraphQLRequest, PostBody, variables},
    planner::{PreparedOperation, Supergraph},
    telemetry,
};

/// The supergraph `sdl` with the default limits, a one-entry plan cache and its own URLs.
pub fn supergraph(sdl: &str) -> anyhow::Result<Supergraph> {
    Supergraph::from_sdl(sdl, LimitsConfig::default(), 1, &|_| None)
}

/// What the router does with one document before executing it: parse (with the token
/// limit), select the operation, check the limits, validate, normalize and plan.
/// Planner panics are not caught.
pub fn prepare(
    supergraph: &Supergraph,
    query: &str,
    operation_name: Option<&str>,
) -> Result<PreparedOperation, RequestError> {
    supergraph.prepare_unguarded(query, operation_name)
}

/// What the router does with a `POST /graphql` body before executing it: parse it (one
/// operation or a batch, bounded by the batch limit), then for each operation redact it for
/// the debug log, prepare it and coerce its variables. Returns how many operations were
/// ready to execute.
pub fn post_body(supergraph: &Supergraph, body: &[u8]) -> usize {
    let requests = match PostBody::parse(body) {
        None => return 0,
        Some(PostBody::Single(request)) => vec![request],
        Some(PostBody::Batch(requests)) => {
            if requests.is_empty() || requests.len() > LimitsConfig::default().max_batch_size {
                return 0;
            }
            requests
        }
    };
    requests
        .into_iter()
        .map(|request| request_ready(supergraph, request))
        .filter(|ready| *ready)
        .count()
}

fn request_ready(supergraph: &Supergraph, request: GraphQLRequest) -> bool {
    let Some(query) = request.query.as_deref().filter(|q| !q.trim().is_empty()) else {
        return false;
    };
    let _ = telemetry::redact_query(query);
    let _ = request
        .variables
        .as_ref()
        .map(telemetry::redact_variables)
        .map(|v: Value| v.to_string());
    let Ok(prepared) = prepare(supergraph, query, request.operation_name.as_deref()) else {
        return false;
    };
    variables::coerce(&supergraph.schema, &prepared, request.variables).is_ok()
}
