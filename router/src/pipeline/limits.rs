//! Limits: what an operation may do over the transport it came by, and the caller's budget.
//! Document limits (depth, aliases, root fields, tokens) are checked while preparing, before
//! validation; the body size where the body is read.

use std::net::IpAddr;

use axum::http::StatusCode;

use super::{
    Transport, TransportKind,
    error::{GraphQLError, RequestError, codes},
};
use crate::{
    auth::Caller,
    limits::rate::Subject,
    planner::{PreparedOperation, schema::OperationType},
    server::AppState,
};

/// GET never runs a mutation (GraphQL over HTTP: 405 with `Allow: POST`); a subscription
/// needs a transport that streams (a websocket, or HTTP with `Accept: text/event-stream` or
/// `multipart/mixed`; over SSE it may come by GET, as a browser's `EventSource` sends it).
pub(crate) fn check_transport(
    prepared: &PreparedOperation,
    transport: Transport,
) -> Result<(), RequestError> {
    let allowed_over_get = prepared.kind == OperationType::Query
        || (prepared.kind == OperationType::Subscription && transport.streams);
    if transport.kind == TransportKind::HttpGet && !allowed_over_get {
        return Err(RequestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            GraphQLError::new(
                format!("{}s are not allowed over GET", prepared.kind.as_str()),
                codes::BAD_REQUEST,
            ),
        ));
    }
    if prepared.kind == OperationType::Subscription && !transport.streams {
        return Err(RequestError::bad_request(
            "subscriptions need a streaming transport: a websocket (graphql-transport-ws), \
             or HTTP with Accept: text/event-stream or multipart/mixed",
            codes::OPERATION_NOT_SUPPORTED,
        ));
    }
    Ok(())
}

/// The per-user budget (and, for the sensitive operations of anonymous callers, the
/// per-address one); anonymous everyday traffic is the per-IP limiter's job.
pub(crate) async fn check_user_limit(
    state: &AppState,
    prepared: &PreparedOperation,
    caller: Option<&Caller>,
    ip: Option<IpAddr>,
) -> Result<(), RequestError> {
    let Some(limiter) = &state.user_limiter else {
        return Ok(());
    };
    let sensitive = limiter.is_sensitive(&prepared.root_fields);
    let subject = match (caller, ip) {
        (Some(c), _) => Subject::User(&c.subject),
        (None, Some(ip)) if sensitive => Subject::Ip(ip),
        _ => return Ok(()),
    };
    limiter.check(subject, sensitive).await
}
