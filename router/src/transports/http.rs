//! GraphQL over HTTP on `/graphql`: `POST` (one operation or a batch) and `GET` (queries;
//! GraphiQL for a browser; the websocket upgrade). The client's `Accept` chooses the answer's
//! format: one JSON response, Server-Sent Events, or multipart (`pipeline::encode`).

use axum::{
    extract::{FromRequestParts, Request, State, WebSocketUpgrade},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    auth::Caller,
    pipeline::{
        self, Operation, Transport, TransportKind, decode,
        encode::{self, Accepts},
        error::{RequestError, json_response},
    },
    server::SharedState,
};

/// The peer address the server was started with (connect info).
/// The client address the edge computed (`limits::rate::client_address`).
fn peer(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<service_kit::client_address::ClientAddress>()
        .map(|c| c.0)
}

/// The caller of an HTTP request: 401 `UNAUTHENTICATED` for a bad token, before anything
/// else is looked at.
async fn authenticate(
    state: &SharedState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, RequestError> {
    match &state.auth {
        Some(auth) => auth.authenticate(headers).await,
        None => Ok(None),
    }
}

fn transport(kind: TransportKind, accepts: &Accepts) -> Transport {
    Transport {
        kind,
        streams: accepts.streams(),
    }
}

pub(crate) async fn post(State(state): State<SharedState>, request: Request) -> Response {
    let client_ip = peer(&request);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let accepts = Accepts::from_headers(&headers);
    let limit = state.config.limits.max_body_bytes;
    let decoded = async {
        decode::check_declared_length(&headers, limit)?;
        let caller = authenticate(&state, &headers).await?;
        decode::check_content_type(&headers)?;
        let body = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| decode::too_large())?;
        let body = decode::post_body(&body, state.config.limits.max_batch_size)?;
        Ok::<_, RequestError>((caller, body))
    }
    .await;
    let (caller, body) = match decoded {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let transport = transport(TransportKind::HttpPost, &accepts);
    match body {
        decode::PostBody::Single(request) => {
            let outcome = pipeline::run(
                &state,
                Operation {
                    request,
                    caller,
                    client_ip,
                    headers,
                    transport,
                },
            )
            .await;
            encode::http(outcome, accepts)
        }
        decode::PostBody::Batch(requests) => {
            batch(&state, requests, caller, client_ip, headers, accepts).await
        }
    }
}

/// A JSON array of operations (Apollo Client's BatchHttpLink): each runs on its own, and
/// the answers come back as an array, in order.
async fn batch(
    state: &SharedState,
    requests: Vec<decode::GraphQLRequest>,
    caller: Option<Caller>,
    client_ip: Option<std::net::IpAddr>,
    headers: HeaderMap,
    accepts: Accepts,
) -> Response {
    let single = Accepts {
        event_stream: false,
        multipart: false,
        ..accepts
    };
    let answers = futures::future::join_all(requests.into_iter().map(|request| {
        let operation = Operation {
            request,
            caller: caller.clone(),
            client_ip,
            headers: headers.clone(),
            transport: Transport {
                kind: TransportKind::HttpPost,
                streams: false,
            },
        };
        async move { encode::http(pipeline::run(state, operation).await, single) }
    }))
    .await;
    let mut body = b"[".to_vec();
    for (i, answer) in answers.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        body.extend_from_slice(&bytes);
    }
    body.push(b']');
    json_response(StatusCode::OK, body)
}

pub(crate) async fn get(State(state): State<SharedState>, request: Request) -> Response {
    let client_ip = peer(&request);
    let (mut parts, _) = request.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => super::websocket::upgrade(state, ws, parts.headers, client_ip).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    let accepts = Accepts::from_headers(&parts.headers);
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let has_query = parts.uri.query().is_some_and(|q| q.contains("query="));
    // The GraphiQL page is public: its own requests carry the token the user enters.
    if wants_html && !has_query && state.config.graphiql {
        return crate::server::graphiql_page(State(state)).await;
    }
    let decoded = async {
        let caller = authenticate(&state, &parts.headers).await?;
        let request = decode::get_params(&parts.uri)?;
        Ok::<_, RequestError>((caller, request))
    }
    .await;
    let (caller, request) = match decoded {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let outcome = pipeline::run(
        &state,
        Operation {
            request,
            caller,
            client_ip,
            headers: parts.headers,
            transport: transport(TransportKind::HttpGet, &accepts),
        },
    )
    .await;
    encode::http(outcome, accepts)
}
