//! Subscriptions over websockets on `/graphql`: `graphql-transport-ws` (and the legacy
//! `graphql-ws`) from clients, authenticated from `connection_init`. A subscription's
//! primary fetch is forwarded to the owning subgraph over a websocket; each event then runs
//! the rest of the plan (entity fields from other subgraphs) before it is sent. Queries and
//! mutations sent over the socket run once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use futures::{SinkExt, StreamExt};
use hive_router_query_planner::planner::plan_nodes::{PlanNode, SubscriptionNode};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::Caller,
    error::{GraphQLError, RequestError, codes},
    executor::{self, ExecutionInput},
    planner::schema::OperationType,
    server::{self, AppState, GraphQLRequest, SharedState},
    telemetry::TraceContext,
};

/// Active subscriptions per user, for the per-user limit across connections.
#[derive(Default)]
pub struct Registry {
    per_user: Mutex<HashMap<String, usize>>,
}

impl Registry {
    fn acquire(&self, user: &str, max: usize) -> bool {
        let Ok(mut map) = self.per_user.lock() else {
            return true;
        };
        let count = map.entry(user.to_owned()).or_default();
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, user: &str) {
        if let Ok(mut map) = self.per_user.lock()
            && let Some(count) = map.get_mut(user)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(user);
            }
        }
    }
}

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

/// Accepts the upgrade with the subprotocol the client asked for.
/// Read and write buffer of each websocket (a message may still be larger).
const SOCKET_BUFFER: usize = 8 * 1024;

pub fn upgrade(
    state: SharedState,
    ws: WebSocketUpgrade,
    caller: Option<Caller>,
    headers: HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Response {
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

    async fn operation(&self, id: &str, request: GraphQLRequest, cancel: CancellationToken) {
        let state = &self.state;
        let Some(query) = request.query.as_deref() else {
            return send_error(
                &self.out,
                self.protocol,
                id,
                vec![GraphQLError::new(
                    "the request has no query",
                    codes::BAD_REQUEST,
                )],
            )
            .await;
        };
        let runtime = state.runtime();
        let prepared = match runtime
            .supergraph
            .prepare(query, request.operation_name.as_deref())
            .await
        {
            Ok(p) => p,
            Err(e) => return send_error(&self.out, self.protocol, id, e.errors.clone()).await,
        };
        if let Err(e) =
            server::check_user_limit(state, &prepared, self.caller.as_ref(), self.ip).await
        {
            return send_error(&self.out, self.protocol, id, e.errors).await;
        }
        let variables = match server::coerce_variables(
            &runtime.supergraph.schema,
            &prepared,
            request.variables,
        ) {
            Ok(v) => v,
            Err(e) => return send_error(&self.out, self.protocol, id, e.errors).await,
        };
        let trace = TraceContext::from_headers(&self.headers);
        let forward = server::forward_headers(state, &self.headers, self.caller.as_ref(), &trace);
        let input = || ExecutionInput {
            schema: &runtime.supergraph.schema,
            client: &runtime.client,
            prepared: &prepared,
            variables: &variables,
            headers: &forward,
        };
        if prepared.kind != OperationType::Subscription {
            let output = tokio::select! {
                o = executor::execute(input()) => o,
                () = cancel.cancelled() => return,
            };
            if self.send_next(id, &output.body).await {
                self.send_complete(id).await;
            }
            return;
        }
        let Some(primary) = prepared.plan.as_deref().and_then(subscription_node) else {
            return send_error(
                &self.out,
                self.protocol,
                id,
                vec![GraphQLError::new(
                    "the subscription could not be planned",
                    codes::QUERY_PLANNING_FAILED,
                )],
            )
            .await;
        };
        let user = self.caller.as_ref().map(|c| c.subject.clone());
        if let Some(user) = &user
            && !state
                .subscriptions
                .acquire(user, state.config.subscriptions.max_per_user)
        {
            return send_error(
                &self.out,
                self.protocol,
                id,
                vec![GraphQLError::new(
                    "too many subscriptions for this user",
                    codes::LIMIT_EXCEEDED,
                )],
            )
            .await;
        }
        let service = &primary.primary.service_name;
        let url = runtime.websocket_urls.get(service).cloned();
        let mut upstream_vars = Map::new();
        for name in primary.primary.variable_usages.iter().flatten() {
            if let Some(v) = variables.get(name) {
                upstream_vars.insert(name.clone(), v.clone());
            }
        }
        let upstream = match url {
            Some(url) => {
                Upstream::connect(
                    &url,
                    &forward,
                    &primary.primary.operation.document_str,
                    upstream_vars,
                )
                .await
            }
            None => Err("no websocket URL".to_owned()),
        };
        let mut upstream = match upstream {
            Ok(u) => u,
            Err(reason) => {
                tracing::warn!(subgraph = %service, %reason, "subscription to subgraph failed");
                if let Some(user) = &user {
                    state.subscriptions.release(user);
                }
                return send_error(
                    &self.out,
                    self.protocol,
                    id,
                    vec![
                        GraphQLError::new(
                            format!("subgraph '{service}' is unavailable"),
                            codes::SUBGRAPH_UNAVAILABLE,
                        )
                        .with_extension("serviceName", service.as_str()),
                    ],
                )
                .await;
            }
        };
        // The primary fetch is this subscription; each event runs the rest of the plan.
        loop {
            let event = tokio::select! {
                e = upstream.next_event() => e,
                () = cancel.cancelled() => {
                    upstream.stop().await;
                    break;
                }
                () = state.shutdown.cancelled() => break,
            };
            match event {
                UpstreamEvent::Next(payload) => {
                    let data = payload
                        .get("data")
                        .filter(|d| !d.is_null())
                        .and_then(|d| serde_json::to_vec(d).ok())
                        .map(bytes::Bytes::from);
                    let errors: Vec<GraphQLError> = payload
                        .get("errors")
                        .and_then(Value::as_array)
                        .map(|list| {
                            list.iter()
                                .map(|raw| {
                                    let path = raw.get("path").and_then(Value::as_array).cloned();
                                    GraphQLError::from_subgraph(raw, service, path)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let output = executor::execute_event(input(), data, errors).await;
                    if !self.send_next(id, &output.body).await {
                        upstream.stop().await;
                        break;
                    }
                }
                UpstreamEvent::Complete => {
                    self.send_complete(id).await;
                    break;
                }
                UpstreamEvent::Error(errors) => {
                    let errors = errors
                        .iter()
                        .map(|raw| GraphQLError::from_subgraph(raw, service, None))
                        .collect();
                    send_error(&self.out, self.protocol, id, errors).await;
                    break;
                }
                UpstreamEvent::Gone => {
                    send_error(
                        &self.out,
                        self.protocol,
                        id,
                        vec![
                            GraphQLError::new(
                                format!("subgraph '{service}' closed the subscription"),
                                codes::SUBGRAPH_UNAVAILABLE,
                            )
                            .with_extension("serviceName", service.as_str()),
                        ],
                    )
                    .await;
                    break;
                }
            }
        }
        if let Some(user) = &user {
            state.subscriptions.release(user);
        }
    }
}

/// The Subscription node of a plan: the plan itself or the first node of its sequence.
fn subscription_node(plan: &PlanNode) -> Option<&SubscriptionNode> {
    match plan {
        PlanNode::Subscription(s) => Some(s),
        PlanNode::Sequence(seq) => seq.nodes.first().and_then(subscription_node),
        _ => None,
    }
}

enum UpstreamEvent {
    Next(Value),
    Complete,
    Error(Vec<Value>),
    Gone,
}

type SubgraphSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One subscription to a subgraph over `graphql-transport-ws`.
struct Upstream {
    socket: SubgraphSocket,
}

impl Upstream {
    async fn connect(
        url: &str,
        headers: &HeaderMap,
        query: &str,
        variables: Map<String, Value>,
    ) -> Result<Self, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        let h = request.headers_mut();
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("graphql-transport-ws"),
        );
        for (name, value) in headers {
            h.insert(name, value.clone());
        }
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(SOCKET_BUFFER)
            .write_buffer_size(SOCKET_BUFFER);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        // Subgraphs authenticate websockets from the init payload, like the router does.
        let mut init = Map::new();
        if let Some(auth) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            init.insert("Authorization".into(), Value::String(auth.to_owned()));
        }
        send_json(
            &mut socket,
            json!({ "type": "connection_init", "payload": init }),
        )
        .await?;
        let ack = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(message)) = socket.next().await {
                if let tungstenite::Message::Text(t) = message {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    if v["type"] == "connection_ack" {
                        return true;
                    }
                }
            }
            false
        })
        .await;
        if !matches!(ack, Ok(true)) {
            return Err("no connection_ack".into());
        }
        send_json(
            &mut socket,
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } }),
        )
        .await?;
        Ok(Self { socket })
    }

    async fn next_event(&mut self) -> UpstreamEvent {
        loop {
            let Some(Ok(message)) = self.socket.next().await else {
                return UpstreamEvent::Gone;
            };
            let text = match message {
                tungstenite::Message::Text(t) => t,
                tungstenite::Message::Close(_) => return UpstreamEvent::Gone,
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            match v["type"].as_str().unwrap_or_default() {
                "next" | "data" => return UpstreamEvent::Next(v["payload"].clone()),
                "complete" => return UpstreamEvent::Complete,
                "error" => {
                    let errors = match &v["payload"] {
                        Value::Array(list) => list.clone(),
                        other => vec![other.clone()],
                    };
                    return UpstreamEvent::Error(errors);
                }
                "ping"
                    if send_json(&mut self.socket, json!({ "type": "pong" }))
                        .await
                        .is_err() =>
                {
                    return UpstreamEvent::Gone;
                }
                _ => {}
            }
        }
    }

    async fn stop(&mut self) {
        let _ = send_json(&mut self.socket, json!({ "id": "1", "type": "complete" })).await;
        let _ = self.socket.close(None).await;
    }
}

async fn send_json(socket: &mut SubgraphSocket, value: Value) -> Result<(), String> {
    socket
        .send(tungstenite::Message::Text(value.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}
