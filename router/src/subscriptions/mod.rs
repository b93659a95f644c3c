//! Subscriptions, whatever the client's transport (websocket, SSE, multipart): the
//! subscription's primary fetch is forwarded to the owning subgraph over a shared upstream
//! connection (`upstream`), and each event runs the rest of the plan (entity fields from
//! other subgraphs) before it is sent on. The client's transport consumes the payloads and
//! frames them; dropping them ends the subscription upstream.

pub(crate) mod upstream;

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use serde_json::Map;
use tokio::sync::mpsc;

use crate::{
    executor::{self, ExecutionInput},
    pipeline::{
        error::{GraphQLError, RequestError, codes},
        execute::{PayloadStream, Ready, StreamItem, StreamKind},
    },
    server::{AppState, Runtime},
};
use upstream::{UpstreamEvent, UpstreamRequest};

/// Active subscriptions per user, for the per-user limit across connections.
#[derive(Default)]
pub struct Registry {
    per_user: Mutex<HashMap<String, usize>>,
}

impl Registry {
    fn acquire(self: &Arc<Self>, user: &str, max: usize) -> Option<Slot> {
        let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(user.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            registry: Arc::clone(self),
            user: user.to_owned(),
        })
    }
}

/// One user's place among their active subscriptions, given back when dropped.
struct Slot {
    registry: Arc<Registry>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self
            .registry
            .per_user
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// Starts a subscription: subscribes upstream, then runs each event through the rest of the
/// plan in a task of its own, which ends when either side does.
pub(crate) async fn start(
    state: &AppState,
    runtime: &Arc<Runtime>,
    ready: Ready,
) -> Result<PayloadStream, RequestError> {
    let Ready {
        prepared,
        variables,
        forward,
        caller,
        ..
    } = ready;
    let primary = prepared
        .steps
        .as_deref()
        .and_then(|s| s.subscription())
        .ok_or_else(|| {
            RequestError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                GraphQLError::new(
                    "the subscription could not be planned",
                    codes::QUERY_PLANNING_FAILED,
                ),
            )
        })?;
    let slot = match &caller {
        Some(caller) => Some(
            state
                .subscriptions
                .acquire(&caller.subject, state.config.subscriptions.max_per_user)
                .ok_or_else(|| {
                    RequestError::bad_request(
                        "too many subscriptions for this user",
                        codes::LIMIT_EXCEEDED,
                    )
                })?,
        ),
        None => None,
    };
    let service = primary.request.service.clone();
    let unavailable = || {
        RequestError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            GraphQLError::new(
                format!("subgraph '{service}' is unavailable"),
                codes::SUBGRAPH_UNAVAILABLE,
            )
            .with_extension("serviceName", service.as_str()),
        )
    };
    let url = runtime
        .websocket_urls
        .get(&service)
        .ok_or_else(unavailable)?;
    let mut upstream_variables = Map::new();
    for name in &primary.request.variables {
        if let Some(v) = variables.get(name) {
            upstream_variables.insert(name.clone(), v.clone());
        }
    }
    let subscription = runtime
        .upstreams
        .subscribe(
            url,
            UpstreamRequest {
                query: primary.request.document.clone(),
                variables: upstream_variables,
                headers: forward.clone(),
            },
        )
        .await
        .map_err(|reason| {
            tracing::warn!(subgraph = %service, %reason, "subscription to subgraph failed");
            unavailable()
        })?;
    let (tx, rx) = mpsc::channel::<StreamItem>(16);
    let runtime = Arc::clone(runtime);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let mut subscription = subscription;
        loop {
            let event = tokio::select! {
                event = subscription.events.recv() => event.unwrap_or(UpstreamEvent::Gone),
                () = tx.closed() => break,
                () = shutdown.cancelled() => break,
            };
            let payload = match event {
                UpstreamEvent::Next(payload) => {
                    executor::execute_event(
                        ExecutionInput {
                            schema: &runtime.supergraph.schema,
                            client: &runtime.client,
                            prepared: &prepared,
                            variables: &variables,
                            headers: &forward,
                        },
                        payload,
                        &service,
                    )
                    .await
                    .body
                }
                UpstreamEvent::Complete => break,
                UpstreamEvent::Error(errors) => {
                    let errors: Vec<GraphQLError> = errors
                        .iter()
                        .map(|raw| GraphQLError::from_subgraph(raw, &service, None))
                        .collect();
                    let _ = tx.send(Err(errors)).await;
                    break;
                }
                UpstreamEvent::Gone => {
                    let error = GraphQLError::new(
                        format!("subgraph '{service}' closed the subscription"),
                        codes::SUBGRAPH_UNAVAILABLE,
                    )
                    .with_extension("serviceName", service.as_str());
                    let _ = tx.send(Err(vec![error])).await;
                    break;
                }
            };
            metrics::counter!("router_subscription_events_total").increment(1);
            if tx.send(Ok(payload)).await.is_err() {
                break;
            }
        }
    });
    Ok(PayloadStream {
        kind: StreamKind::Subscription,
        payloads: rx,
    })
}
