//! The platform's federated GraphQL router.
//!
//! A request goes through tower layers (panic catching, CORS, per-IP rate limit), then a
//! transport (`transports`: HTTP with JSON, SSE or multipart answers; websockets) decodes it
//! and authenticates its caller, and the one request `pipeline` takes it through the same
//! stages whatever the transport: prepare (`planner`: parse, validate, normalize, plan,
//! cached), limits, variables, execute (`executor`: fetches, merge, projection;
//! `subscriptions` for event streams), encode.

pub(crate) mod auth;
pub(crate) mod authorization;
#[doc(hidden)]
pub mod bench_support;
pub mod config;
mod dedupe;
pub(crate) mod demand_control;
pub(crate) mod pipeline;
pub(crate) use pipeline::error;
pub(crate) mod executor;
#[doc(hidden)]
pub mod fuzzing;
mod graphiql;
pub(crate) mod limits;
pub(crate) mod persisted;
pub(crate) mod planner;
pub(crate) mod server;
mod shared_redis;
mod subscriptions;
pub(crate) mod telemetry;
mod transports;

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use service_kit::{app::Host, telemetry::Shutdown};

pub use config::RouterConfig;
use executor::fetch::SubgraphClient;
pub use planner::Supergraph;

use server::{AppState, Runtime, SharedState};

/// A router bound to its port, ready to serve.
pub struct Application {
    host: Host,
    state: SharedState,
}

impl Application {
    /// Loads the supergraph, sets up authentication and limits, and binds the listener
    /// (port 0 picks a free one, which is how tests run the real router).
    pub async fn build(config: RouterConfig) -> anyhow::Result<Self> {
        // Install the Prometheus recorder now: metrics recorded before it exists are lost.
        let _ = service_kit::telemetry::metrics_handle();
        let runtime = load_runtime(&config).await?;
        let auth = match &config.jwt {
            Some(jwt) => Some(Arc::new(auth::Authenticator::from_config(jwt)?)),
            None => None,
        };
        let user_limiter = match &config.rate_limit.per_user {
            Some(limit) => Some(Arc::new(limits::rate::UserLimiter::new(limit.clone())?)),
            None => None,
        };
        let persisted = Arc::new(
            persisted::PersistedOperations::new(&config.apq, &config.persisted_documents).await?,
        );
        let (host, port) = (config.host.clone(), config.port);
        let state = Arc::new(AppState::new(
            config,
            runtime,
            auth,
            user_limiter,
            persisted,
        ));
        let (app, sweep) = server::routes(state.clone())?;
        let mut host = Host::bind_app(&host, port, app)
            .await?
            .until_stopped("supergraph watcher", watch_supergraph(state.clone()));
        if let Some(sweep) = sweep {
            host = host.until_stopped("per-IP limiter sweep", sweep);
        }
        if let Some(watcher) = state.persisted.watcher() {
            host = host.until_stopped("persisted documents watcher", watcher);
        }
        Ok(Self { host, state })
    }

    pub fn port(&self) -> u16 {
        self.host.port()
    }

    /// Serves until `shutdown`; in-flight requests finish, websockets are closed cleanly
    /// (the state's token tells them as soon as the signal comes), the watchers stop.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let stop = self.state.shutdown.clone();
        let shutdown = Box::pin(async move {
            shutdown.await;
            stop.cancel();
        });
        self.host
            .run_until_stopped(shutdown)
            .await
            .map_err(Into::into)
    }
}

/// Reads and plans the supergraph file and builds the subgraph client for it.
pub async fn load_runtime(config: &RouterConfig) -> anyhow::Result<Runtime> {
    let path = config.supergraph.path.clone();
    let sdl = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the supergraph {}: {e}", path.display()))?;
    runtime_from_sdl(config, sdl).await
}

async fn runtime_from_sdl(config: &RouterConfig, sdl: String) -> anyhow::Result<Runtime> {
    let limits = config.limits.clone();
    let capacity = config.plan_cache.capacity;
    let overrides: HashMap<String, Option<String>> = config
        .subgraphs
        .iter()
        .map(|(k, v)| (k.clone(), v.url.clone()))
        .collect();
    // Building the planner's graph is CPU work: keep it off the async workers.
    let supergraph = tokio::task::spawn_blocking(move || {
        Supergraph::from_sdl(&sdl, limits, capacity, &|name| {
            let var = format!("ROUTER_SUBGRAPH_{}_URL", config::env_name(name));
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| overrides.get(name).cloned().flatten())
        })
    })
    .await??;
    let client = SubgraphClient::new(&supergraph.subgraphs, config)?;
    let websocket_urls = supergraph
        .subgraphs
        .iter()
        .map(|(name, info)| {
            let url = config
                .subgraphs
                .get(name)
                .and_then(|s| s.websocket_url.clone())
                .unwrap_or_else(|| {
                    info.url
                        .replacen("https://", "wss://", 1)
                        .replacen("http://", "ws://", 1)
                });
            (name.clone(), url)
        })
        .collect();
    Ok(Runtime {
        supergraph: Arc::new(supergraph),
        client: Arc::new(client),
        websocket_urls,
        operations: Arc::default(),
        upstreams: Arc::new(subscriptions::upstream::Upstreams::new(
            Duration::from_secs(config.subscriptions.upstream_reconnect_secs),
        )),
    })
}

/// Polls the supergraph file and swaps in a new runtime when its content changes; requests
/// in flight finish on the runtime they started with, so none is dropped. A file that fails
/// to load is logged and the current supergraph stays.
async fn watch_supergraph(state: SharedState) {
    let config = &state.config;
    if !config.supergraph.watch {
        return;
    }
    let path: &Path = &config.supergraph.path;
    let mut tick = tokio::time::interval(Duration::from_millis(config.supergraph.poll_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_modified = tokio::fs::metadata(path)
        .await
        .and_then(|m| m.modified())
        .ok();
    loop {
        tick.tick().await;
        let modified = tokio::fs::metadata(path)
            .await
            .and_then(|m| m.modified())
            .ok();
        if modified.is_none() || modified == last_modified {
            continue;
        }
        last_modified = modified;
        let Ok(sdl) = tokio::fs::read_to_string(path).await else {
            continue;
        };
        let current = state.runtime();
        if planner_hash(&sdl) == current.supergraph.sdl_hash {
            continue;
        }
        match runtime_from_sdl(config, sdl).await {
            Ok(runtime) => {
                state.replace_runtime(runtime);
                tracing::info!(path = %path.display(), "supergraph reloaded");
                metrics::counter!("router_supergraph_reloads_total", "outcome" => "ok")
                    .increment(1);
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "supergraph reload failed; keeping the current one");
                metrics::counter!("router_supergraph_reloads_total", "outcome" => "error")
                    .increment(1);
            }
        }
    }
}

fn planner_hash(sdl: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    sdl.hash(&mut h);
    h.finish()
}
