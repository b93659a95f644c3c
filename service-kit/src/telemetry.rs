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
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: when set, spans are exported there over OTLP
    /// (HTTP/protobuf, `<endpoint>/v1/traces`).
    pub otlp_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`, else the service's own name: the `service.name` of its spans.
    pub service_name: String,
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
            otlp_endpoint: env.url_opt("OTEL_EXPORTER_OTLP_ENDPOINT", &["http", "https"])?,
            service_name: env
                .get("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| "platform".into()),
        })
    }

    /// Names the service in its traces, unless `OTEL_SERVICE_NAME` did.
    pub fn service(mut self, name: &str) -> Self {
        if self.service_name == "platform" {
            self.service_name = name.to_owned();
        }
        self
    }
}

/// A span for the trace exporter: at `info` when spans are exported, at `debug` (free
/// unless debug logging is on) otherwise. Same arguments as `tracing::info_span!`.
#[macro_export]
macro_rules! exported_span {
    ($($args:tt)*) => {
        if $crate::telemetry::otlp_enabled() {
            $crate::__tracing::info_span!($($args)*)
        } else {
            $crate::__tracing::debug_span!($($args)*)
        }
    };
}

/// The OTLP pipeline, when one was installed (for [`flush_traces`]).
static TRACER_PROVIDER: OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported: code that would only make spans for the exporter (a span per
/// subgraph fetch, per resolver) asks, so that without it they cost nothing.
pub fn otlp_enabled() -> bool {
    TRACER_PROVIDER.get().is_some()
}

/// Sends the spans still buffered (at shutdown, so that the last requests' spans arrive).
pub fn flush_traces() {
    if let Some(provider) = TRACER_PROVIDER.get() {
        let provider = provider.clone();
        // The exporter's blocking HTTP client must not run on an async worker.
        let _ = std::thread::spawn(move || provider.force_flush()).join();
    }
}

fn otlp_layer<S>(config: &LogConfig, endpoint: &str) -> anyhow::Result<impl Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let name = config.service_name.clone();
    // Built on a plain thread: the blocking HTTP client may neither be created nor dropped
    // on an async runtime's thread.
    let provider = std::thread::spawn(move || -> anyhow::Result<_> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .build()?;
        Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(name)
                    .build(),
            )
            .build())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the OTLP exporter could not be built"))??;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let tracer = provider.tracer(config.service_name.clone());
    let _ = TRACER_PROVIDER.set(provider);
    // What a span records beyond its name, fields and timing costs on every request
    // (busy/idle tracking times every poll): off, to keep export within a few percent.
    Ok(tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_target(false)
        .with_context_activation(false))
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut axum::http::HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(key.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` continue the W3C trace context (`traceparent`, `tracestate`) of a request
/// received with `headers`, when spans are exported.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !otlp_enabled() || headers.get("traceparent").is_none() {
        return;
    }
    let context =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let _ = span.set_parent(context);
}

/// Writes the current span's trace context into `headers` of a request this service
/// makes, so that the callee's spans join the trace; `false` (and nothing written) when
/// spans are not exported.
pub fn inject_trace(headers: &mut axum::http::HeaderMap) -> bool {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !otlp_enabled() {
        return false;
    }
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers));
    });
    true
}

/// The span of one HTTP request a service receives: at `info` (exported) with OTLP, at
/// `debug` otherwise, continuing the caller's trace context.
pub fn http_request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let span = if otlp_enabled() {
        tracing::info_span!("http_request", method = %request.method(), path = %request.uri().path())
    } else {
        tracing::debug_span!("http_request", method = %request.method(), path = %request.uri().path())
    };
    continue_trace(&span, request.headers());
    span
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
    if let Some(endpoint) = &config.otlp_endpoint {
        // Storage spans are at debug (target `storage`): exported, never logged at info.
        let exported = filter().add_directive(
            "storage=debug"
                .parse()
                .map_err(|e| anyhow::anyhow!("storage filter: {e}"))?,
        );
        layers.push(otlp_layer(config, endpoint)?.with_filter(exported).boxed());
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
