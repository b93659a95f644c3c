//! GraphQL over websockets on `/graphql`: `graphql-transport-ws` (the graphql-ws library)
//! and the legacy `graphql-ws` (subscriptions-transport-ws). The caller is authenticated
//! from the upgrade request's header or the `connection_init` payload; every `subscribe`
//! then runs through the same pipeline as an HTTP request (limits, timeout, metrics and
//! codes alike), a query or mutation answering once, a subscription or `@defer` streaming.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::Caller,
    pipeline::{
        self, Execution, GraphQLRequest, Operation, Transport,
        error::{GraphQLError, RequestError, codes},
    },
    server::{AppState, SharedState},
    subscriptions::upstream::SOCKET_BUFFER,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library).
    TransportWs,
    /// `graphql-ws` (the legacy subscriptions-transport-ws library).
    LegacyWs,
}

impl Protocol {
    fn next_type(self) -> &'static str {
        match self {
            Self::TransportWs => "next",
            Self::LegacyWs => "data",
        }
    }
}

/// Accepts the upgrade with the subprotocol the client asked for. A token in the upgrade
/// request's header is verified now (401 when bad); otherwise `connection_init` brings it.
pub(crate) async fn upgrade(
    state: SharedState,
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Response {
    let caller = match &state.auth {
        Some(auth) if auth.has_token(&headers) => match auth.authenticate(&headers).await {
            Ok(caller) => caller,
            Err(e) => return e.into_response(),
        },
        _ => None,
    };
    let requested = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let protocol = if requested
        .split(',')
        .any(|p| p.trim() == "graphql-transport-ws")
        || requested.is_empty()
    {
        Protocol::TransportWs
    } else {
        Protocol::LegacyWs
    };
    // A subscribe message is a GraphQL request: it gets the same size limit as a body.
    let max = state.config.limits.max_body_bytes;
    ws.protocols(["graphql-transport-ws", "graphql-ws"])
        .max_message_size(max)
        .max_frame_size(max)
        // Subscription messages are small and a router holds thousands of sockets: the
        // 128 KiB default buffers made a subscription cost about 300 KiB (load harness).
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .on_upgrade(move |socket| async move {
            metrics::gauge!("router_websockets_open").increment(1.0);
            connection(state, socket, protocol, caller, headers, ip).await;
            metrics::gauge!("router_websockets_open").decrement(1.0);
        })
}

struct Connection {
    state: SharedState,
    protocol: Protocol,
    caller: Option<Caller>,
    headers: HeaderMap,
    ip: Option<std::net::IpAddr>,
    out: mpsc::Sender<Message>,
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn connection(
    state: SharedState,
    socket: WebSocket,
    protocol: Protocol,
    caller: Option<Caller>,
    headers: HeaderMap,
    ip: Option<std::net::IpAddr>,
) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(64);
    // One writer, so operation tasks never contend for the socket.
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let config = state.config.subscriptions.clone();
    // connection_init must come first, and soon.
    let init = tokio::time::timeout(Duration::from_secs(config.init_timeout_secs), async {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(t) => return serde_json::from_str::<Value>(&t).ok(),
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    })
    .await;
    let init = match init {
        Ok(Some(v)) if v["type"] == "connection_init" => v,
        Ok(Some(_)) => {
            let _ = out.send(close(4401, "Unauthorized")).await;
            return finish(writer, out).await;
        }
        Ok(None) => return finish(writer, out).await,
        Err(_) => {
            let _ = out
                .send(close(4408, "Connection initialisation timeout"))
                .await;
            return finish(writer, out).await;
        }
    };
    let caller = match authenticate_init(&state, caller, &init["payload"]).await {
        Ok(caller) => caller,
        Err(_) => {
            let _ = out.send(close(4403, "Forbidden")).await;
            return finish(writer, out).await;
        }
    };
    let _ = out.send(text(json!({ "type": "connection_ack" }))).await;
    // Without JWT configuration the router does not judge tokens, but subgraphs may: an
    // Authorization given in connection_init travels like the HTTP header would.
    let mut headers = headers;
    if state.auth.is_none()
        && !headers.contains_key(header::AUTHORIZATION)
        && let Some(value) = ["Authorization", "authorization"]
            .iter()
            .find_map(|k| init["payload"].get(*k).and_then(Value::as_str))
            .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::AUTHORIZATION, value);
    }

    let conn = Arc::new(Connection {
        state: state.clone(),
        protocol,
        caller,
        headers,
        ip,
        out: out.clone(),
    });
    let mut operations: HashMap<String, CancellationToken> = HashMap::new();
    let mut keepalive = tokio::time::interval(Duration::from_secs(config.keepalive_secs));
    keepalive.tick().await;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => {
                let _ = out.send(close(1001, "Router shutting down")).await;
                break;
            }
            _ = keepalive.tick() => {
                let ping = match protocol {
                    Protocol::TransportWs => json!({ "type": "ping" }),
                    Protocol::LegacyWs => json!({ "type": "ka" }),
                };
                if out.send(text(ping)).await.is_err() {
                    break;
                }
            }
            Some(id) = done_rx.recv() => {
                operations.remove(&id);
            }
            message = stream.next() => {
                let Some(Ok(message)) = message else { break };
                let value = match message {
                    Message::Text(t) => match serde_json::from_str::<Value>(&t) {
                        Ok(v) => v,
                        Err(_) => {
                            let _ = out.send(close(4400, "Invalid message")).await;
                            break;
                        }
                    },
                    Message::Close(_) => break,
                    _ => continue,
                };
                let id = value["id"].as_str().map(str::to_owned);
                match (value["type"].as_str().unwrap_or_default(), id) {
                    ("subscribe" | "start", Some(id)) => {
                        if operations.contains_key(&id) {
                            if protocol == Protocol::TransportWs {
                                let _ = out.send(close(4409, "Subscriber already exists")).await;
                                break;
                            }
                            continue;
                        }
                        if operations.len() >= config.max_per_connection {
                            send_error(&out, protocol, &id, vec![GraphQLError::new(
                                "too many subscriptions on this connection",
                                codes::LIMIT_EXCEEDED,
                            )]).await;
                            continue;
                        }
                        let request: GraphQLRequest =
                            serde_json::from_value(value["payload"].clone()).unwrap_or_default();
                        let cancel = CancellationToken::new();
                        operations.insert(id.clone(), cancel.clone());
                        let conn = conn.clone();
                        let done = done_tx.clone();
                        tokio::spawn(async move {
                            conn.operation(&id, request, cancel).await;
                            let _ = done.send(id);
                        });
                    }
                    ("complete" | "stop", Some(id)) => {
                        if let Some(cancel) = operations.remove(&id) {
                            cancel.cancel();
                        }
                    }
                    ("ping", _) => {
                        let _ = out.send(text(json!({ "type": "pong" }))).await;
                    }
                    ("pong" | "ka", _) => {}
                    ("connection_terminate", _) => break,
                    ("connection_init", _) => {
                        let _ = out.send(close(4429, "Too many initialisation requests")).await;
                        break;
                    }
                    _ => {
                        let _ = out.send(close(4400, "Invalid message")).await;
                        break;
                    }
                }
            }
        }
    }
    for cancel in operations.values() {
        cancel.cancel();
    }
    drop(conn);
    finish(writer, out).await;
}

async fn finish(writer: tokio::task::JoinHandle<()>, out: mpsc::Sender<Message>) {
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// The caller from the upgrade request's header, or from the `connection_init` payload.
async fn authenticate_init(
    state: &AppState,
    from_header: Option<Caller>,
    payload: &Value,
) -> Result<Option<Caller>, RequestError> {
    let Some(auth) = &state.auth else {
        return Ok(None);
    };
    if from_header.is_some() {
        return Ok(from_header);
    }
    let token = auth.token_from_init_payload(payload);
    auth.authenticate_token(token, None).await
}

async fn send_error(
    out: &mpsc::Sender<Message>,
    protocol: Protocol,
    id: &str,
    errors: Vec<GraphQLError>,
) {
    let payload = match protocol {
        Protocol::TransportWs => serde_json::to_value(&errors).unwrap_or_default(),
        // The legacy protocol's error payload is one error object.
        Protocol::LegacyWs => errors
            .first()
            .and_then(|e| serde_json::to_value(e).ok())
            .unwrap_or_default(),
    };
    let _ = out
        .send(text(
            json!({ "id": id, "type": "error", "payload": payload }),
        ))
        .await;
}

impl Connection {
    /// Sends a `next` (`data` in the legacy protocol) message with a response payload.
    async fn send_next(&self, id: &str, payload: &[u8]) -> bool {
        let mut message = Vec::with_capacity(payload.len() + 48);
        message.extend_from_slice(b"{\"id\":");
        crate::executor::tree::write_escaped(&mut message, id);
        message.extend_from_slice(b",\"type\":\"");
        message.extend_from_slice(self.protocol.next_type().as_bytes());
        message.extend_from_slice(b"\",\"payload\":");
        message.extend_from_slice(payload);
        message.push(b'}');
        let text = String::from_utf8(message).unwrap_or_default();
        self.out.send(Message::Text(text.into())).await.is_ok()
    }

    async fn send_complete(&self, id: &str) {
        let _ = self
            .out
            .send(text(json!({ "id": id, "type": "complete" })))
            .await;
    }

    /// One operation of the connection, through the pipeline; ends when it does or when
    /// the client completes it.
    async fn operation(&self, id: &str, request: GraphQLRequest, cancel: CancellationToken) {
        let operation = Operation {
            request,
            caller: self.caller.clone(),
            client_ip: self.ip,
            headers: self.headers.clone(),
            transport: Transport::WEBSOCKET,
        };
        let result = tokio::select! {
            r = pipeline::run(&self.state, operation) => r,
            () = cancel.cancelled() => return,
        };
        match result {
            Err(e) => send_error(&self.out, self.protocol, id, e.errors).await,
            Ok(Execution::Single(output)) => {
                if self.send_next(id, &output.body).await {
                    self.send_complete(id).await;
                }
            }
            Ok(Execution::Stream(mut stream)) => loop {
                let payload = tokio::select! {
                    p = stream.payloads.recv() => p,
                    // Dropping the stream stops the work behind it.
                    () = cancel.cancelled() => return,
                };
                match payload {
                    Some(Ok(payload)) => {
                        if !self.send_next(id, &payload).await {
                            return;
                        }
                    }
                    Some(Err(errors)) => {
                        return send_error(&self.out, self.protocol, id, errors).await;
                    }
                    None => {
                        self.send_complete(id).await;
                        return;
                    }
                }
            },
        }
    }
}
