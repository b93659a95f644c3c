//! The HTTP side every service shares: the GraphQL endpoint handler, the middleware stack
//! and serving with graceful shutdown.
//!
//! The endpoint holds the line the router holds, since a client can reach a subgraph
//! without it: GraphQL over HTTP's content negotiation (a JSON body, so that a browser
//! cannot post `text/plain` or a form cross-site without a preflight), one operation per
//! request, and every refusal (malformed body, too large, wrong method, timeout, panic) a
//! GraphQL JSON error with `extensions.code` and no internal detail.

use std::{sync::Arc, time::Duration};

use async_graphql::{ObjectType, Schema, SubscriptionType};
use async_graphql_axum::GraphQLResponse;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{
        HeaderMap, StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    response::{IntoResponse, Response},
};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    accounts::CurrentAccounts,
    client_address::{ClientAddress, TrustedProxies},
    graphql::RequestAuth,
    jwt::JwtVerifier,
    telemetry::Shutdown,
};

/// What the GraphQL handler needs: the schema and how to verify callers.
pub struct GraphqlState<Q, M, S> {
    pub schema: Schema<Q, M, S>,
    pub verifier: JwtVerifier,
    /// The standing of callers' accounts ([`RequestAuth::current`]).
    pub accounts: Option<Arc<CurrentAccounts>>,
    /// Whose `X-Forwarded-For` names the client ([`ClientAddress`] in the context).
    pub trusted_proxies: TrustedProxies,
}

impl<Q, M, S> Clone for GraphqlState<Q, M, S> {
    fn clone(&self) -> Self {
        Self {
            schema: self.schema.clone(),
            verifier: self.verifier.clone(),
            accounts: self.accounts.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

/// The peer of a connection, when the server was started with connect info (as [`serve`]
/// does; a test calling a router directly has none).
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// `POST /graphql`: decodes one GraphQL request, verifies the bearer token (if any) and
/// runs the operation with the caller's [`RequestAuth`] and [`ClientAddress`] in the
/// context.
pub async fn graphql_handler<Q, M, S>(
    State(state): State<GraphqlState<Q, M, S>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let mut request = match decode(&headers, body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(peer) = peer {
        let address = state.trusted_proxies.client_address(peer, &headers);
        request = request.data(ClientAddress(address));
    }
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let auth = RequestAuth::from_header(&state.verifier, header)
        .await
        .current(state.accounts.as_deref())
        .await;
    GraphQLResponse::from(state.schema.execute(request.data(auth)).await).into_response()
}

/// A request refused before it reached the schema: a status and a GraphQL error.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

impl Refusal {
    const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        (self.status, Json(body)).into_response()
    }
}

/// Whether a POST says its body is JSON: `application/json`, or the GraphQL response
/// media type some clients send (parameters such as `charset` aside). Anything else
/// (`text/plain`, forms: what a browser sends cross-site without a preflight) is refused.
pub fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let media = v.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/json")
                || media.eq_ignore_ascii_case("application/graphql-response+json")
        })
}

/// One GraphQL request from a POST: a JSON body (`application/json`, or the GraphQL
/// response media type some clients send) holding one operation.
pub fn decode(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<async_graphql::Request, Refusal> {
    if !is_json_body(headers) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "expected Content-Type: application/json",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            )
        }
    })?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "batched requests are not supported: send one operation per request",
        ));
    }
    serde_json::from_slice::<async_graphql::Request>(&body).map_err(|error| {
        // serde's message names our types ("expected struct Request"): logs only.
        tracing::debug!(%error, "refused a body that is not a GraphQL request");
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the body is not a JSON GraphQL request ({\"query\": \"…\", \"variables\": {…}})",
        )
    })
}

fn too_large() -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "LIMIT_EXCEEDED",
        "the request body is too large",
    )
}

/// The standard layers' own refusals (wrong method, body too large, timeout, panic) come
/// with an empty or plain-text body: give them the GraphQL error every client expects.
async fn json_refusals(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let refusal = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "method not allowed: GraphQL requests are POSTed",
        ),
        StatusCode::BAD_REQUEST => Refusal::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request is malformed",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::GATEWAY_TIMEOUT => Refusal::new(
            StatusCode::GATEWAY_TIMEOUT,
            "OPERATION_TIMEOUT",
            "the request took too long",
        ),
        StatusCode::INTERNAL_SERVER_ERROR => Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        ),
        _ => return response,
    };
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut refused = refusal.into_response();
    if let Some(allow) = allow {
        refused
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    refused
}

/// Limits every service applies: request body size, a request timeout, panics turned
/// into 500s instead of dropped connections, each of those refusals (and a wrong method's)
/// as a GraphQL JSON error, and a trace span per request.
pub fn with_standard_layers(router: Router, body_limit: usize, timeout: Duration) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::map_response(json_refusals))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::http_request_span))
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
