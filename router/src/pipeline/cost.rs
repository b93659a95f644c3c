//! Cost: the operation's estimated cost (`crate::demand_control`), recorded in
//! `router_operation_cost`, refused above `demand_control.max_cost` in `enforce` mode
//! before any subgraph is called, and told to a client that sends `X-Include-Cost: true`
//! in the response's `extensions.cost`, with the cost of what was answered (`actual`).

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::error::{GraphQLError, RequestError};
use crate::{
    config::DemandControlMode,
    demand_control::Estimator,
    planner::PreparedOperation,
    server::{AppState, Runtime},
};

pub const COST_ESTIMATED_TOO_EXPENSIVE: &str = "COST_ESTIMATED_TOO_EXPENSIVE";

/// The estimate, when demand control is on.
pub(crate) fn estimate(
    state: &AppState,
    runtime: &Runtime,
    prepared: &PreparedOperation,
    variables: Option<&Value>,
) -> Result<Option<u64>, RequestError> {
    let config = &state.config.demand_control;
    if config.mode == DemandControlMode::Off {
        return Ok(None);
    }
    let estimate = || {
        let empty = Map::new();
        Estimator {
            rules: &runtime.supergraph.cost,
            schema: &runtime.supergraph.schema,
            variables: variables.and_then(Value::as_object).unwrap_or(&empty),
            default_list_size: config.list_size,
        }
        .operation(&prepared.operation.selection_set, prepared.kind)
    };
    // Without variables the estimate is the same for every request of the operation.
    let cost = if prepared.variables.is_empty() {
        *prepared.cost.get_or_init(estimate)
    } else {
        estimate()
    };
    metrics::histogram!("router_operation_cost", "kind" => "estimated").record(cost as f64);
    if config.mode == DemandControlMode::Enforce && cost > config.max_cost {
        metrics::counter!("router_cost_rejected_total").increment(1);
        return Err(RequestError::new(
            StatusCode::BAD_REQUEST,
            GraphQLError::new(
                format!(
                    "the operation's estimated cost {cost} is above the limit of {}",
                    config.max_cost
                ),
                COST_ESTIMATED_TOO_EXPENSIVE,
            )
            .with_extension(
                "cost",
                serde_json::json!({ "estimated": cost, "max": config.max_cost }),
            ),
        ));
    }
    Ok(Some(cost))
}

/// The cost of what was answered (`body`, a response object), recorded.
pub(crate) fn actual(
    state: &AppState,
    runtime: &Runtime,
    prepared: &PreparedOperation,
    variables: Option<&Value>,
    body: &[u8],
) -> Option<u64> {
    let response: Value = serde_json::from_slice(body).ok()?;
    let empty = Map::new();
    let cost = Estimator {
        rules: &runtime.supergraph.cost,
        schema: &runtime.supergraph.schema,
        variables: variables.and_then(Value::as_object).unwrap_or(&empty),
        default_list_size: state.config.demand_control.list_size,
    }
    .actual(
        &prepared.operation.selection_set,
        prepared.kind,
        response.get("data")?,
    );
    metrics::histogram!("router_operation_cost", "kind" => "actual").record(cost as f64);
    Some(cost)
}

/// Whether the client asked to see the estimate.
pub(crate) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get("x-include-cost")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
}

/// `body` (a response object) with `extensions.cost` added.
pub(crate) fn with_extension(
    body: &[u8],
    estimated: u64,
    actual: Option<u64>,
    max: u64,
) -> Option<Vec<u8>> {
    let end = body.iter().rposition(|b| *b == b'}')?;
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(&body[..end]);
    let extension = match actual {
        Some(actual) => {
            serde_json::json!({ "cost": { "estimated": estimated, "actual": actual, "max": max } })
        }
        None => serde_json::json!({ "cost": { "estimated": estimated, "max": max } }),
    };
    out.extend_from_slice(b",\"extensions\":");
    serde_json::to_writer(&mut out, &extension).ok()?;
    out.push(b'}');
    Some(out)
}
