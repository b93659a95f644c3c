//! Subscriptions to subgraphs over shared `graphql-transport-ws` connections: many client
//! subscriptions to one subgraph travel over one connection (up to
//! `MAX_OPERATIONS_PER_CONNECTION` each), so a router holds about one socket per client
//! subscription instead of two.
//!
//! Identity travels per operation, never per connection: the connection's
//! `connection_init` carries no user's credentials, and each `subscribe` carries the
//! headers its own client request would have sent (`Authorization`, the verified claims,
//! the trace context) in `payload.extensions.headers`. A subgraph that reads identity only
//! from `connection_init` therefore sees anonymous operations (it fails closed) rather than
//! one user's identity on another user's subscription.
//!
//! When a connection drops (the subgraph restarted), it is re-established with backoff and
//! every active operation subscribed again; after `subscriptions.upstream_reconnect_secs` without success each
//! operation ends with `Gone`, which the client sees as `SUBGRAPH_UNAVAILABLE`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// Operations one upstream connection carries before another is opened.
const MAX_OPERATIONS_PER_CONNECTION: usize = 500;
/// Read and write buffer of each websocket (a message may still be larger).
pub(crate) const SOCKET_BUFFER: usize = 8 * 1024;

/// What one upstream operation delivers.
#[derive(Debug)]
pub(crate) enum UpstreamEvent {
    /// A `next` payload (`{"data":…,"errors":…}`) as JSON.
    Next(Bytes),
    Complete,
    /// The subgraph's `error` message payload (a list of GraphQL errors).
    Error(Vec<Value>),
    /// The connection is gone and could not be re-established.
    Gone,
}

/// The operation to subscribe to on a subgraph.
#[derive(Clone)]
pub(crate) struct UpstreamRequest {
    /// The subgraph operation (shared by every subscription of one plan).
    pub query: Arc<str>,
    pub variables: Map<String, Value>,
    /// Headers of the client's request, sent in `payload.extensions.headers`.
    pub headers: HeaderMap,
}

/// One subscription on an upstream connection; completes it upstream when dropped.
pub(crate) struct UpstreamSubscription {
    pub events: mpsc::Receiver<UpstreamEvent>,
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for UpstreamSubscription {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Complete(self.id));
    }
}

enum Command {
    Subscribe {
        id: u64,
        request: UpstreamRequest,
        events: mpsc::Sender<UpstreamEvent>,
    },
    Complete(u64),
}

/// A connection's handle: its commands, and how many operations it carries.
struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    operations: Arc<std::sync::atomic::AtomicUsize>,
}

/// The upstream connections of one runtime, by websocket URL.
pub(crate) struct Upstreams {
    connections: Mutex<HashMap<String, Vec<Handle>>>,
    /// Held while a connection is opened, so that subscriptions arriving meanwhile wait
    /// for it instead of opening one each.
    opening: tokio::sync::Mutex<()>,
    next_id: std::sync::atomic::AtomicU64,
    /// How long a dropped connection is retried before its operations are given up.
    reconnect_for: Duration,
}

impl Upstreams {
    pub fn new(reconnect_for: Duration) -> Self {
        Self {
            connections: Mutex::default(),
            opening: tokio::sync::Mutex::new(()),
            next_id: std::sync::atomic::AtomicU64::new(0),
            reconnect_for,
        }
    }

    /// Subscribes to `request` on a connection to `url` with room for it (a new one when
    /// none has). The first subscribe on a new connection waits for its `connection_ack`.
    pub async fn subscribe(
        self: &Arc<Self>,
        url: &str,
        request: UpstreamRequest,
    ) -> Result<UpstreamSubscription, String> {
        use std::sync::atomic::Ordering;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let with_room = || {
            let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
            let list = connections.entry(url.to_owned()).or_default();
            list.retain(|h| !h.commands.is_closed());
            list.iter()
                .find(|h| h.operations.load(Ordering::Relaxed) < MAX_OPERATIONS_PER_CONNECTION)
                .map(|h| (h.commands.clone(), h.operations.clone()))
        };
        let mut opening = None;
        let mut existing = with_room();
        if existing.is_none() {
            // Another subscription may be opening one right now: wait, then look again.
            opening = Some(self.opening.lock().await);
            existing = with_room();
        }
        let (commands, operations) = match existing {
            Some(found) => found,
            None => {
                let socket = connect(url).await?;
                metrics::gauge!("router_upstream_websockets_open").increment(1.0);
                let (tx, rx) = mpsc::unbounded_channel();
                let operations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                tokio::spawn(run_connection(
                    url.to_owned(),
                    socket,
                    rx,
                    operations.clone(),
                    Arc::downgrade(self),
                    self.reconnect_for,
                ));
                let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
                connections.entry(url.to_owned()).or_default().push(Handle {
                    commands: tx.clone(),
                    operations: operations.clone(),
                });
                (tx, operations)
            }
        };
        operations.fetch_add(1, Ordering::Relaxed);
        drop(opening);
        // Events are few per subscription; a slow client holds back only its own.
        let (events_tx, events) = mpsc::channel(16);
        commands
            .send(Command::Subscribe {
                id,
                request,
                events: events_tx,
            })
            .map_err(|_| "the upstream connection closed".to_owned())?;
        Ok(UpstreamSubscription {
            events,
            id,
            commands,
        })
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a `graphql-transport-ws` connection and waits for its `connection_ack`; the
/// `connection_init` payload is empty: no user's identity goes here.
async fn connect(url: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let config = tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }).to_string(),
    )
    .await?;
    let ack = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let tungstenite::Message::Text(t) = message {
                let kind = serde_json::from_str::<Value>(&t)
                    .ok()
                    .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
                match kind.as_deref() {
                    Some("connection_ack") => return true,
                    Some("ping") => {
                        let _ = send(&mut socket, r#"{"type":"pong"}"#.to_owned()).await;
                    }
                    _ => {}
                }
            }
        }
        false
    })
    .await;
    if matches!(ack, Ok(true)) {
        Ok(socket)
    } else {
        Err("no connection_ack".into())
    }
}

async fn send(socket: &mut Socket, text: String) -> Result<(), String> {
    socket
        .send(tungstenite::Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())
}

fn subscribe_message(id: u64, request: &UpstreamRequest) -> String {
    let headers: Map<String, Value> = request
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_owned(),
                Value::String(value.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    json!({
        "id": id.to_string(),
        "type": "subscribe",
        "payload": {
            "query": &*request.query,
            "variables": request.variables,
            "extensions": { "headers": headers },
        }
    })
    .to_string()
}

/// An incoming message, with its payload left as raw JSON.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: Option<sonic_rs::LazyValue<'a>>,
}

struct Active {
    request: UpstreamRequest,
    events: mpsc::Sender<UpstreamEvent>,
}

/// Drives one connection: sends subscribes and completes, routes incoming messages by
/// operation id, answers pings, and reconnects (subscribing every active operation again)
/// when the socket drops.
async fn run_connection(
    url: String,
    socket: Socket,
    mut commands: mpsc::UnboundedReceiver<Command>,
    operations: Arc<std::sync::atomic::AtomicUsize>,
    owner: Weak<Upstreams>,
    reconnect_for: Duration,
) {
    use std::sync::atomic::Ordering;
    let mut active: HashMap<u64, Active> = HashMap::new();
    let mut socket = Some(socket);
    loop {
        let Some(ws) = socket.as_mut() else {
            // Reconnect with backoff; operations keep waiting meanwhile.
            match reconnect(&url, &active, reconnect_for).await {
                Some(ws) => {
                    metrics::counter!("router_upstream_reconnects_total").increment(1);
                    socket = Some(ws);
                    continue;
                }
                None => {
                    for (_, op) in active.drain() {
                        let _ = op.events.try_send(UpstreamEvent::Gone);
                    }
                    break;
                }
            }
        };
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Subscribe { id, request, events }) => {
                    let message = subscribe_message(id, &request);
                    active.insert(id, Active { request, events });
                    if send(ws, message).await.is_err() {
                        socket = None;
                    }
                }
                Some(Command::Complete(id)) => {
                    if active.remove(&id).is_some() {
                        operations.fetch_sub(1, Ordering::Relaxed);
                        let message = json!({ "id": id.to_string(), "type": "complete" }).to_string();
                        if send(ws, message).await.is_err() {
                            socket = None;
                        }
                    }
                }
                None => break,
            },
            message = ws.next() => {
                let text = match message {
                    Some(Ok(tungstenite::Message::Text(t))) => t,
                    Some(Ok(tungstenite::Message::Close(_))) | Some(Err(_)) | None => {
                        tracing::warn!(url = %url, "upstream subscription connection lost; reconnecting");
                        socket = None;
                        continue;
                    }
                    Some(Ok(_)) => continue,
                };
                let Ok(incoming) = sonic_rs::from_str::<Incoming>(&text) else { continue };
                match incoming.kind.as_ref() {
                    "ping" => {
                        if send(ws, r#"{"type":"pong"}"#.to_owned()).await.is_err() {
                            socket = None;
                        }
                        continue;
                    }
                    "pong" | "ka" => continue,
                    _ => {}
                }
                let Some(id) = incoming.id.as_deref().and_then(|i| i.parse::<u64>().ok()) else { continue };
                let event = match incoming.kind.as_ref() {
                    "next" | "data" => UpstreamEvent::Next(Bytes::copy_from_slice(
                        incoming.payload.as_ref().map_or("null", |p| p.as_raw_str()).as_bytes(),
                    )),
                    "complete" => UpstreamEvent::Complete,
                    "error" => {
                        let raw = incoming.payload.as_ref().map_or("[]", |p| p.as_raw_str());
                        let errors = match serde_json::from_str::<Value>(raw) {
                            Ok(Value::Array(list)) => list,
                            Ok(other) => vec![other],
                            Err(_) => Vec::new(),
                        };
                        UpstreamEvent::Error(errors)
                    }
                    _ => continue,
                };
                let ends = !matches!(event, UpstreamEvent::Next(_));
                let Some(op) = active.get(&id) else { continue };
                // Never wait for one subscriber: every other operation on this connection
                // would wait too. One that does not keep up is ended (it sees `Gone`).
                let overflowed = match op.events.try_send(event) {
                    Ok(()) => false,
                    // Its client is gone; the subscription's drop completes it.
                    Err(mpsc::error::TrySendError::Closed(_)) => continue,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        metrics::counter!("router_subscription_overflows_total").increment(1);
                        true
                    }
                };
                if (ends || overflowed) && active.remove(&id).is_some() {
                    operations.fetch_sub(1, Ordering::Relaxed);
                    if overflowed {
                        let message = json!({ "id": id.to_string(), "type": "complete" }).to_string();
                        if send(ws, message).await.is_err() {
                            socket = None;
                        }
                    }
                }
            }
        }
    }
    metrics::gauge!("router_upstream_websockets_open").decrement(1.0);
    if let Some(owner) = owner.upgrade() {
        // The handle's sender is in the pool; find it by the closed receiver.
        commands.close();
        let mut connections = owner.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = connections.get_mut(&url) {
            list.retain(|h| !h.commands.is_closed());
        }
    }
}

/// Re-establishes a connection and subscribes every active operation again; `None` after
/// `reconnect_for` without success.
async fn reconnect(
    url: &str,
    active: &HashMap<u64, Active>,
    reconnect_for: Duration,
) -> Option<Socket> {
    let give_up = tokio::time::Instant::now() + reconnect_for;
    let mut delay = Duration::from_millis(100);
    while tokio::time::Instant::now() < give_up {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
        let Ok(mut socket) = connect(url).await else {
            continue;
        };
        let mut ok = true;
        for (id, op) in active {
            if send(&mut socket, subscribe_message(*id, &op.request))
                .await
                .is_err()
            {
                ok = false;
                break;
            }
        }
        if ok {
            return Some(socket);
        }
    }
    None
}
