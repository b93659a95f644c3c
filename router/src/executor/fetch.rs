//! Requests to subgraphs: one pooled keep-alive HTTP client for all of them, a timeout per
//! subgraph, and a circuit breaker per subgraph so a dead one fails fast instead of making
//! every request wait for its timeout.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use tracing::Instrument;

use crate::{
    config::{CircuitBreakerConfig, RouterConfig},
    error::codes,
    planner::SubgraphInfo,
};

use super::tree::{Parsed, Tree};
use crate::dedupe::InFlight;

/// Why a subgraph request produced no GraphQL response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("circuit open")]
    CircuitOpen,
    #[error("timed out")]
    Timeout,
    #[error("request failed: {0}")]
    Transport(String),
    #[error("status {0}")]
    Status(u16),
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    #[error("unknown subgraph")]
    UnknownSubgraph,
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::CircuitOpen | Self::Transport(_) | Self::UnknownSubgraph => {
                codes::SUBGRAPH_UNAVAILABLE
            }
            Self::Timeout => codes::SUBGRAPH_TIMEOUT,
            Self::Status(_) => codes::SUBGRAPH_REQUEST_FAILED,
            Self::InvalidResponse(_) => codes::SUBGRAPH_INVALID_RESPONSE,
        }
    }

    /// What the client may read; the detail stays in the logs.
    pub fn client_message(&self, subgraph: &str) -> String {
        match self {
            Self::CircuitOpen | Self::Transport(_) | Self::UnknownSubgraph => {
                format!("subgraph '{subgraph}' is unavailable")
            }
            Self::Timeout => format!("subgraph '{subgraph}' did not answer in time"),
            Self::Status(_) => format!("subgraph '{subgraph}' failed to answer"),
            Self::InvalidResponse(_) => format!("subgraph '{subgraph}' sent an invalid response"),
        }
    }
}

/// Circuit breaker: closed (counting consecutive failures), open (failing fast until a
/// deadline), then half-open (one probe decides).
#[derive(Debug)]
pub struct Breaker {
    config: CircuitBreakerConfig,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Clone, Copy)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl Breaker {
    pub fn new(config: CircuitBreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    /// Whether a request may go out now.
    pub fn allow(&self) -> bool {
        if !self.config.enabled {
            return true;
        }
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        match *state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if Instant::now() >= until => {
                *state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { probing: true } => false,
            BreakerState::HalfOpen { probing: false } => {
                *state = BreakerState::HalfOpen { probing: true };
                true
            }
        }
    }

    pub fn record(&self, ok: bool) {
        if !self.config.enabled {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let open = BreakerState::Open {
            until: Instant::now() + Duration::from_millis(self.config.open_ms),
        };
        *state = match (*state, ok) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false) => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold {
                    tracing::warn!("circuit breaker opened");
                    open
                } else {
                    BreakerState::Closed { failures }
                }
            }
            (BreakerState::HalfOpen { .. } | BreakerState::Open { .. }, false) => open,
        };
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state.lock().map(|s| *s), Ok(BreakerState::Open { .. }))
    }
}

struct Endpoint {
    name: String,
    uri: Uri,
    timeout: Duration,
    breaker: Breaker,
    /// Metric handles, registered once: a lookup per request costs more than the request's
    /// own bookkeeping.
    metrics: EndpointMetrics,
}

struct EndpointMetrics {
    ok: metrics::Histogram,
    error: metrics::Histogram,
    timeout: metrics::Histogram,
    errors_error: metrics::Counter,
    errors_timeout: metrics::Counter,
    circuit_open: metrics::Counter,
    joined: metrics::Counter,
}

impl EndpointMetrics {
    fn new(subgraph: &str) -> Self {
        let duration = |outcome: &'static str| metrics::histogram!("router_subgraph_request_duration_seconds", "subgraph" => subgraph.to_owned(), "outcome" => outcome);
        let errors = |kind: &'static str| metrics::counter!("router_subgraph_errors_total", "subgraph" => subgraph.to_owned(), "kind" => kind);
        Self {
            ok: duration("ok"),
            error: duration("error"),
            timeout: duration("timeout"),
            errors_error: errors("error"),
            errors_timeout: errors("timeout"),
            circuit_open: errors("circuit_open"),
            joined: metrics::counter!("router_deduplicated_requests_total", "level" => "subgraph", "subgraph" => subgraph.to_owned()),
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends GraphQL requests to the subgraphs of one supergraph.
pub struct SubgraphClient {
    http: HttpClient,
    endpoints: HashMap<String, Arc<Endpoint>>,
    in_flight: Arc<InFlight<DedupeKey, Result<SubgraphResponse, FetchError>>>,
    /// Identical concurrent requests share one (`traffic.dedupe.subgraph_requests`).
    dedupe: bool,
}

/// A subgraph's answer: its status and body, parsed by the executor into its data tree.
#[derive(Debug, Clone)]
pub struct SubgraphResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl SubgraphResponse {
    /// Parses the body into `tree`; a body that is no GraphQL response is an error (the
    /// status's, when that was not a success).
    pub(crate) fn parse(self, tree: &mut Tree) -> Result<Parsed, FetchError> {
        match tree.parse_response(self.body) {
            Ok(parsed) => Ok(parsed),
            Err(_) if !self.status.is_success() => Err(FetchError::Status(self.status.as_u16())),
            Err(e) => Err(FetchError::InvalidResponse(e.0)),
        }
    }
}

/// What makes two subgraph requests identical.
#[derive(PartialEq, Eq, Hash)]
struct DedupeKey {
    subgraph: String,
    body: Bytes,
    /// Every forwarded header but the trace context (each request has its own span).
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl SubgraphClient {
    pub fn new(
        subgraphs: &HashMap<String, SubgraphInfo>,
        config: &RouterConfig,
    ) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        http.enforce_http(false);
        // https:// subgraphs are verified against the Mozilla root store bundled in the
        // binary, so the router needs no system certificates.
        let connector = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_millis(config.traffic.pool_idle_timeout_ms))
            .pool_max_idle_per_host(config.traffic.max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let mut endpoints = HashMap::new();
        for (name, info) in subgraphs {
            // A supergraph may leave a routing URL empty for the operator to fill in. The
            // router still serves the rest of the graph; that subgraph's fields fail with
            // SUBGRAPH_UNAVAILABLE until its URL is configured.
            let uri = match info.url.parse::<Uri>() {
                Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) => uri,
                _ => {
                    tracing::error!(
                        subgraph = %name,
                        url = %info.url,
                        "subgraph URL is not an http:// or https:// URL; set subgraphs.<name>.url"
                    );
                    continue;
                }
            };
            endpoints.insert(
                name.clone(),
                Arc::new(Endpoint {
                    name: name.clone(),
                    uri,
                    timeout: config.subgraph_timeout(name),
                    breaker: Breaker::new(config.traffic.circuit_breaker.clone()),
                    metrics: EndpointMetrics::new(name),
                }),
            );
        }
        Ok(Self {
            http,
            endpoints,
            in_flight: Arc::default(),
            dedupe: config.traffic.dedupe.subgraph_requests,
        })
    }

    pub fn breaker_open(&self, subgraph: &str) -> bool {
        self.endpoints
            .get(subgraph)
            .is_some_and(|e| e.breaker.is_open())
    }

    pub fn url(&self, subgraph: &str) -> Option<String> {
        self.endpoints.get(subgraph).map(|e| e.uri.to_string())
    }

    /// POSTs `body` (a GraphQL request as JSON) to `subgraph` with `headers` forwarded.
    /// With `shareable` (a query) and deduplication on, a request identical to one in
    /// flight (same subgraph, body and headers) waits for that one's answer instead.
    pub async fn send(
        &self,
        subgraph: &str,
        body: Bytes,
        headers: &HeaderMap,
        shareable: bool,
    ) -> Result<SubgraphResponse, FetchError> {
        let endpoint = self
            .endpoints
            .get(subgraph)
            .ok_or(FetchError::UnknownSubgraph)?;
        if !(shareable && self.dedupe) {
            return request(self.http.clone(), endpoint.clone(), body, headers.clone()).await;
        }
        let key = DedupeKey {
            subgraph: subgraph.to_owned(),
            body: body.clone(),
            headers: crate::pipeline::execute::sharing_key(headers),
        };
        let (http, endpoint, headers) = (self.http.clone(), endpoint.clone(), headers.clone());
        let joined = endpoint.metrics.joined.clone();
        self.in_flight
            .run(
                key,
                move || request(http, endpoint, body, headers).boxed(),
                |was_joined| {
                    if was_joined {
                        joined.increment(1);
                    }
                },
            )
            .await
    }
}

/// One request to a subgraph, with the breaker, the timeout and the metrics.
async fn request(
    http: HttpClient,
    endpoint: Arc<Endpoint>,
    body: Bytes,
    headers: HeaderMap,
) -> Result<SubgraphResponse, FetchError> {
    if !endpoint.breaker.allow() {
        endpoint.metrics.circuit_open.increment(1);
        return Err(FetchError::CircuitOpen);
    }
    let started = Instant::now();
    // A span per fetch, inside the request's span, so logs and traces show each hop.
    let span = service_kit::exported_span!("subgraph_fetch", subgraph = %endpoint.name);
    let result = tokio::time::timeout(
        endpoint.timeout,
        round_trip(&http, &endpoint, body, &headers),
    )
    .instrument(span)
    .await
    .unwrap_or(Err(FetchError::Timeout));
    let elapsed = started.elapsed().as_secs_f64();
    // GraphQL errors are answers; only failures to answer count against the breaker.
    let answered = match &result {
        Ok(r) => r.status.as_u16() < 500,
        Err(FetchError::Timeout | FetchError::Transport(_)) => false,
        Err(_) => true,
    };
    endpoint.breaker.record(answered);
    match &result {
        Ok(_) => endpoint.metrics.ok.record(elapsed),
        Err(FetchError::Timeout) => {
            endpoint.metrics.timeout.record(elapsed);
            endpoint.metrics.errors_timeout.increment(1);
        }
        Err(_) => {
            endpoint.metrics.error.record(elapsed);
            endpoint.metrics.errors_error.increment(1);
        }
    }
    if let Err(e) = &result {
        tracing::warn!(subgraph = %endpoint.name, error = %e, "subgraph request failed");
    }
    result
}

async fn round_trip(
    http: &HttpClient,
    endpoint: &Endpoint,
    body: Bytes,
    headers: &HeaderMap,
) -> Result<SubgraphResponse, FetchError> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(endpoint.uri.clone())
        .body(Full::new(body))
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    let h = request.headers_mut();
    for (name, value) in headers {
        h.append(name, value.clone());
    }
    // The fetch's own span is the parent of the subgraph's spans (replacing the
    // operation-wide `traceparent` when spans are exported).
    service_kit::telemetry::inject_trace(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/graphql-response+json, application/json"),
    );
    let response = http
        .request(request)
        .await
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| FetchError::Transport(e.to_string()))?
        .to_bytes();
    Ok(SubgraphResponse { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_consecutive_failures_and_half_opens_after_the_wait() {
        let breaker = Breaker::new(CircuitBreakerConfig {
            enabled: true,
            failure_threshold: 2,
            open_ms: 0,
        });
        assert!(breaker.allow());
        breaker.record(false);
        assert!(breaker.allow());
        breaker.record(false);
        assert!(breaker.is_open());
        // open_ms = 0: the next request is the probe, and only one probe at a time.
        assert!(breaker.allow());
        assert!(!breaker.allow());
        breaker.record(true);
        assert!(breaker.allow());
        assert!(!breaker.is_open());
    }

    #[tokio::test]
    async fn subgraph_urls_may_be_http_or_https_and_others_are_unavailable() {
        let config = RouterConfig::default();
        let subgraphs = HashMap::from([
            ("tls".to_owned(), "https://api.example/graphql"),
            ("plain".to_owned(), "http://127.0.0.1:4001/graphql"),
            ("ftp".to_owned(), "ftp://x/graphql"),
            ("empty".to_owned(), ""),
        ])
        .into_iter()
        .map(|(name, url)| {
            let info = SubgraphInfo {
                name: name.clone(),
                url: url.into(),
            };
            (name, info)
        })
        .collect();
        let client = SubgraphClient::new(&subgraphs, &config).unwrap();
        assert!(client.url("tls").is_some());
        assert!(client.url("plain").is_some());
        for name in ["ftp", "empty"] {
            let err = client
                .send(name, Bytes::from_static(b"{}"), &HeaderMap::new(), false)
                .await
                .unwrap_err();
            assert_eq!(err.code(), codes::SUBGRAPH_UNAVAILABLE);
        }
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(CircuitBreakerConfig {
            enabled: true,
            failure_threshold: 2,
            open_ms: 60_000,
        });
        breaker.record(false);
        breaker.record(true);
        breaker.record(false);
        assert!(breaker.allow());
        breaker.record(false);
        assert!(!breaker.allow());
    }
}
