//! GraphQL subscriptions over a websocket on `/graphql` (`graphql-transport-ws`, and the
//! legacy `graphql-ws` sub-protocol).
//!
//! The connection is authenticated before async-graphql sees it: the first message must be
//! `connection_init`, whose payload's `{"Authorization": "Bearer <token>"}` is verified
//! with the shared [`JwtVerifier`]. A connection without a token is anonymous: its
//! operations must each bring their caller's token in `extensions.headers` (the router's
//! shared connections do; `service_kit::graphql::OperationAuth` verifies them), or they
//! answer `UNAUTHENTICATED`. Following the protocol, a `connection_init` with a bad token
//! closes the socket with `4403 Forbidden`, a `subscribe` before the connection is
//! acknowledged with `4401 Unauthorized`, and no `connection_init` within 10 seconds with
//! `4408`.

use std::time::Duration;

use async_graphql::{Data, ObjectType, SubscriptionType};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    response::Response,
};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use service_kit::{
    graphql::{Identity, RequestAuth},
    http::GraphqlState,
    jwt::{JwtVerifier, bearer_token},
};

const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /graphql` with a websocket upgrade.
pub async fn upgrade<Q, M, S>(
    State(state): State<GraphqlState<Q, M, S>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        // Thousands of small-message sockets: the 128 KiB default buffers cost about
        // 150 KiB a subscription (load harness); a larger message still gets through.
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| connection(socket, state, protocol))
}

/// What the client's first messages amounted to.
enum Opening {
    /// With the connection's identity, when its `connection_init` had a token.
    Accepted(Option<Box<Identity>>, Message),
    Rejected(u16, &'static str),
    Gone,
}

async fn connection<Q, M, S>(
    socket: WebSocket,
    state: GraphqlState<Q, M, S>,
    protocol: GraphQLProtocol,
) where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let (mut sink, mut stream) = socket.split();
    let opening = tokio::time::timeout(
        INIT_TIMEOUT,
        opening(&mut sink, &mut stream, &state.verifier),
    )
    .await
    .unwrap_or(Opening::Rejected(4408, "Connection initialisation timeout"));
    let (identity, init) = match opening {
        Opening::Accepted(identity, init) => (identity, init),
        Opening::Rejected(code, reason) => {
            metrics::counter!("notifications_websocket_rejected_total", "code" => code.to_string())
                .increment(1);
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
            return;
        }
        Opening::Gone => return,
    };
    let auth = match identity {
        Some(identity) => {
            tracing::debug!(user = %identity.user_id, "websocket connection authenticated");
            RequestAuth::Authenticated(*identity)
                .current(state.accounts.as_deref())
                .await
        }
        None => RequestAuth::Anonymous,
    };
    if matches!(auth, RequestAuth::Invalid(_)) {
        metrics::counter!("notifications_websocket_rejected_total", "code" => "4403").increment(1);
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 4403,
                reason: "Forbidden".into(),
            })))
            .await;
        return;
    }
    let data = {
        let mut data = Data::default();
        data.insert(auth);
        data
    };
    // Hand the connection to async-graphql, replaying the connection_init it must see.
    let stream = futures::stream::once(async move { Ok(init) }).chain(stream);
    GraphQLWebSocket::new_with_pair(sink, stream, state.schema, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .serve()
        .await;
}

/// Reads until `connection_init` (answering pings meanwhile) and verifies its token.
async fn opening(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    stream: &mut futures::stream::SplitStream<WebSocket>,
    verifier: &JwtVerifier,
) -> Opening {
    while let Some(Ok(message)) = stream.next().await {
        let text = match &message {
            Message::Text(text) => text.as_str().to_owned(),
            Message::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Message::Close(_) => return Opening::Gone,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let Ok(parsed) = serde_json::from_str::<Value>(&text) else {
            return Opening::Rejected(4400, "Invalid message");
        };
        match parsed.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                return match authenticate(verifier, parsed.get("payload")).await {
                    Ok(identity) => Opening::Accepted(identity.map(Box::new), message),
                    Err(()) => Opening::Rejected(4403, "Forbidden"),
                };
            }
            Some("ping") => {
                let pong = serde_json::json!({ "type": "pong" }).to_string();
                if sink.send(Message::Text(pong.into())).await.is_err() {
                    return Opening::Gone;
                }
            }
            Some("subscribe" | "start") => return Opening::Rejected(4401, "Unauthorized"),
            _ => return Opening::Rejected(4400, "Invalid message"),
        }
    }
    Opening::Gone
}

/// The identity of a `connection_init` payload's `Authorization` (any case) bearer token:
/// `Ok(None)` without one, `Err` for one that does not verify.
async fn authenticate(
    verifier: &JwtVerifier,
    payload: Option<&Value>,
) -> Result<Option<Identity>, ()> {
    let header = payload
        .and_then(Value::as_object)
        .and_then(|p| {
            p.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        })
        .map(|(_, value)| value.as_str().ok_or(()));
    let Some(header) = header.transpose()? else {
        return Ok(None);
    };
    let token = bearer_token(header).ok_or(())?;
    match verifier.verify(token).await.and_then(Identity::from_claims) {
        Ok(identity) => Ok(Some(identity)),
        Err(e) => {
            tracing::debug!(reason = %e, "websocket connection rejected");
            Err(())
        }
    }
}
