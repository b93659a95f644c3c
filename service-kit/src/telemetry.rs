//! Logs, metrics, health and readiness, and graceful shutdown: the same for every service.

use std::{
    collections::BTreeMap,
    future::Future,
    path::Path,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{ConfigError, Env};

/// How logs are written.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `LOG_FORMAT`: `json` (default) or `pretty`.
    pub json: bool,
    /// `LOG_DIR`: when set, `error.log` (errors only) and `combined.log` (everything) are
    /// written there in addition to stdout.
    pub dir: Option<std::path::PathBuf>,
}

impl LogConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let json = match env.get("LOG_FORMAT").as_deref() {
            None | Some("json") => true,
            Some("pretty") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    other,
                    "expected json or pretty",
                ));
            }
        };
        Ok(Self {
            json,
            dir: env.get("LOG_DIR").map(Into::into),
        })
    }
}

/// Installs the global `tracing` subscriber. The filter comes from `RUST_LOG` (default `info`).
/// Safe to call more than once: later calls are ignored, so several services can share a process.
pub fn init_tracing(config: &LogConfig) -> anyhow::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let stdout: Box<dyn Layer<_> + Send + Sync> = if config.json {
        fmt::layer()
            .json()
            .with_current_span(false)
            .with_filter(filter())
            .boxed()
    } else {
        fmt::layer().with_filter(filter()).boxed()
    };
    let mut layers = vec![stdout];
    if let Some(dir) = &config.dir {
        std::fs::create_dir_all(dir)?;
        let combined = tracing_appender::rolling::never(dir, "combined.log");
        let errors = tracing_appender::rolling::never(dir, "error.log");
        layers.push(
            fmt::layer()
                .json()
                .with_ansi(false)
                .with_writer(combined)
                .with_filter(filter())
                .boxed(),
        );
        layers.push(
            fmt::layer()
                .json()
                .with_ansi(false)
                .with_writer(errors)
                .with_filter(tracing_subscriber::filter::LevelFilter::ERROR)
                .boxed(),
        );
    }
    // Another subscriber may already be set (e.g. by a test harness): that is fine.
    let _ = tracing_subscriber::registry().with(layers).try_init();
    let _ = INSTALLED.set(());
    Ok(())
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // A recorder is already installed by someone else: keep a private one so
                // `/metrics` still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// A dependency that must be reachable for the service to be ready (database, broker, ...).
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// Short name shown in `/ready`.
    fn name(&self) -> &'static str;
    /// `Err` with a short, non-secret reason when the dependency is not usable.
    async fn check(&self) -> Result<(), String>;
}

#[derive(Clone)]
struct OpsState {
    checks: Arc<Vec<Arc<dyn ReadinessCheck>>>,
    metrics: PrometheusHandle,
}

/// `/health` (the process is alive), `/ready` (every check passes), `/metrics` (Prometheus).
pub fn ops_routes(checks: Vec<Arc<dyn ReadinessCheck>>) -> Router {
    let state = OpsState {
        checks: Arc::new(checks),
        metrics: metrics_handle(),
    };
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

async fn ready(State(state): State<OpsState>) -> impl IntoResponse {
    let results = futures::future::join_all(state.checks.iter().map(|c| async move {
        let outcome = tokio::time::timeout(Duration::from_secs(2), c.check())
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()));
        (c.name(), outcome)
    }))
    .await;
    let all_ok = results.iter().all(|(_, r)| r.is_ok());
    let checks: BTreeMap<_, _> = results
        .into_iter()
        .map(|(name, r)| match r {
            Ok(()) => (name, json!({ "status": "up" })),
            Err(reason) => (name, json!({ "status": "down", "reason": reason })),
        })
        .collect();
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "status": if all_ok { "ready" } else { "not ready" }, "checks": checks });
    (status, Json(body))
}

async fn render_metrics(State(state): State<OpsState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining in-flight requests");
}

/// A boxed shutdown future, so applications can take "any way to stop".
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Makes sure a directory for a file exists (embedded stores under `./data`).
pub fn ensure_parent_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent),
        _ => Ok(()),
    }
}
