//! Subscriptions over websockets (graphql-transport-ws, and the legacy graphql-ws).
//! Placeholder until the protocol handling lands.

use axum::{
    extract::WebSocketUpgrade,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{auth::Caller, server::SharedState};

/// Active subscriptions per user, for the per-user limit.
#[derive(Default)]
pub struct Registry {}

pub fn upgrade(
    _state: SharedState,
    _ws: WebSocketUpgrade,
    _caller: Option<Caller>,
    _headers: HeaderMap,
    _ip: Option<std::net::IpAddr>,
) -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
