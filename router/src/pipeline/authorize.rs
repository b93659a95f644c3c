//! Authorize: the operation's guarded places (`@authenticated`, `@requiresScopes`,
//! `@policy`; found while planning, `crate::authorization`) judged for this caller, before
//! any subgraph is called. In `filter` mode the operation runs without what the caller may
//! not see; in `reject` mode, and for operations whose payloads stream (subscriptions,
//! `@defer`), it is refused whole.

use std::sync::Arc;

use axum::http::StatusCode;

use super::error::{GraphQLError, RequestError, codes};
use crate::{
    auth::Caller,
    authorization,
    config::AuthorizationMode,
    planner::{PreparedOperation, schema::OperationType},
    server::{AppState, Runtime},
};

pub(crate) async fn authorize(
    state: &AppState,
    runtime: &Runtime,
    prepared: Arc<PreparedOperation>,
    caller: Option<&Caller>,
) -> Result<Arc<PreparedOperation>, RequestError> {
    let config = &state.config.authorization;
    // Without token verification the router knows no caller: the subgraphs judge.
    if !config.enabled || state.auth.is_none() {
        return Ok(prepared);
    }
    let Some(access) = prepared.access.clone() else {
        return Ok(prepared);
    };
    let verdict = authorization::judge(config, &access.guards, caller);
    if !verdict.any() {
        return Ok(prepared);
    }
    metrics::counter!("router_unauthorized_operations_total").increment(1);
    let whole = config.mode == AuthorizationMode::Reject
        || prepared.kind == OperationType::Subscription
        || prepared.defer.is_some();
    if whole {
        return Err(match caller {
            None => RequestError::new(
                StatusCode::UNAUTHORIZED,
                GraphQLError::new(
                    "this operation needs an authenticated caller",
                    codes::ErrorCode::Unauthenticated.as_str(),
                ),
            ),
            Some(_) => RequestError {
                status: StatusCode::FORBIDDEN,
                errors: verdict.errors(&access.guards),
                retry_after: None,
            },
        });
    }
    let supergraph = Arc::clone(&runtime.supergraph);
    // Planning a variant the first time is CPU work: off the async workers.
    tokio::task::spawn_blocking(move || supergraph.authorized_variant(&prepared, &access, &verdict))
        .await
        .unwrap_or_else(|_| {
            Err(RequestError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                GraphQLError::new(
                    "the operation could not be planned",
                    codes::QUERY_PLANNING_FAILED,
                ),
            ))
        })
}
