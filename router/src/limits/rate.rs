//! Rate limits. Per client IP: an in-process token bucket (`tower_governor`), cheap and
//! enough against floods on one instance. Per user: a fixed window counted in Redis when
//! `REDIS_URL` is set, so the budget holds across every router instance, and in this
//! process otherwise (and while Redis is unreachable, when failing open); operations that
//! select a sensitive root field (`login`, `register`) have a stricter budget and are
//! counted per IP for anonymous callers.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response, StatusCode, header},
};
use service_kit::client_address::{ClientAddress, TrustedProxies};
use tower_governor::{
    GovernorError, GovernorLayer, governor::GovernorConfigBuilder, key_extractor::KeyExtractor,
};

use crate::{
    config::{PerIpLimit, PerUserLimit},
    error::{GraphQLError, RequestError, codes::ErrorCode},
    shared_redis::{SharedRedis, bounded},
};

/// Keys the per-IP limiter by the client address the edge computed ([`client_address`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp;

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        req.extensions()
            .get::<ClientAddress>()
            .map(|a| a.0)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// The router's edge: computes the client address once (the peer, or behind a trusted
/// proxy the nearest untrusted forwarded hop) for the limits, the logs and the subgraphs.
pub async fn client_address(
    axum::extract::State(trusted): axum::extract::State<Arc<TrustedProxies>>,
    mut request: Request<Body>,
    next: axum::middleware::Next,
) -> Response<Body> {
    if let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let address = trusted.client_address(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(address));
    }
    next.run(request).await
}

/// The per-IP limiter's sweep, which forgets idle clients every minute so that memory
/// stays bounded: a background task of the router's host.
pub type Sweep = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Wraps `routes` in the per-IP limiter; the [`Sweep`] must run beside them.
pub fn with_per_ip_limit<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    config: &PerIpLimit,
) -> anyhow::Result<(axum::Router<S>, Sweep)> {
    let period = Duration::from_nanos(1_000_000_000 / config.per_second.max(1));
    let governor = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(config.burst.max(1))
        .key_extractor(ClientIp)
        .finish()
        .ok_or_else(|| anyhow::anyhow!("invalid per-IP rate limit"))?;
    let governor = Arc::new(governor);
    let limiter = governor.limiter().clone();
    let sweep: Sweep = Box::pin(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.retain_recent();
        }
    });
    let layer = GovernorLayer::new(governor).error_handler(|e| match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            metrics::counter!("router_rate_limited_total", "limit" => "ip").increment(1);
            rate_limited_response(wait_time.max(1))
        }
        other => {
            tracing::warn!(error = %other, "per-IP rate limiter could not key a request");
            let body = crate::error::error_body(&[GraphQLError::new(
                "internal error",
                ErrorCode::Internal.as_str(),
            )]);
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    });
    Ok((routes.layer(layer), sweep))
}

/// 429 with `Retry-After` and a `RATE_LIMITED` GraphQL error.
pub fn rate_limited_response(retry_after: u64) -> Response<Body> {
    let body = crate::error::error_body(&[rate_limited_error()]);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = response.headers_mut();
    h.insert(header::RETRY_AFTER, retry_after.into());
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn rate_limited_error() -> GraphQLError {
    GraphQLError::new("too many requests", ErrorCode::RateLimited.as_str())
}

/// Counts requests per user (and per IP for sensitive anonymous operations), in Redis or
/// in this process.
pub struct UserLimiter {
    config: PerUserLimit,
    redis: Option<SharedRedis>,
    script: redis::Script,
    local: LocalWindows,
}

/// Fixed windows counted in this process, with the semantics of the Redis script.
#[derive(Default)]
struct LocalWindows {
    windows: std::sync::Mutex<HashMap<String, (u64, Instant)>>,
}

/// Beyond this many keys, windows that have ended are dropped, so memory stays bounded.
const LOCAL_SWEEP_AT: usize = 100_000;

impl LocalWindows {
    /// Counts one request under `key`: the count in the current window and the
    /// milliseconds until it ends.
    fn count(&self, key: &str, window: Duration) -> (u64, i64) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= LOCAL_SWEEP_AT {
            windows.retain(|_, (_, started)| now.duration_since(*started) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 += 1;
        let left = window.saturating_sub(now.duration_since(entry.1));
        (entry.0, i64::try_from(left.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Who a request is counted against.
pub enum Subject<'a> {
    User(&'a str),
    Ip(IpAddr),
}

const WINDOW_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {n, ttl}
";

impl UserLimiter {
    pub fn new(config: PerUserLimit) -> anyhow::Result<Self> {
        let redis = match &config.redis_url {
            Some(url) => Some(SharedRedis::open(url, "REDIS_URL")?),
            None => None,
        };
        if redis.is_none() {
            tracing::info!(
                "per-user rate limit without REDIS_URL: counted in this process (per router instance)"
            );
        }
        Ok(Self {
            config,
            redis,
            script: redis::Script::new(WINDOW_SCRIPT),
            local: LocalWindows::default(),
        })
    }

    pub fn is_sensitive(&self, root_fields: &[String]) -> bool {
        root_fields
            .iter()
            .any(|f| self.config.sensitive_fields.iter().any(|s| s == f))
    }

    /// Counts one request; `Err` with a 429 when over budget (or when Redis is down and the
    /// limiter fails closed).
    pub async fn check(&self, subject: Subject<'_>, sensitive: bool) -> Result<(), RequestError> {
        let (bucket, limit) = if sensitive {
            ("sensitive", self.config.sensitive_requests)
        } else {
            ("user", self.config.requests)
        };
        let who = match subject {
            Subject::User(id) => format!("u:{id}"),
            Subject::Ip(ip) => format!("ip:{ip}"),
        };
        let window = Duration::from_secs(self.config.window_secs);
        let key = format!("{}:{bucket}:{who}", self.config.key_prefix);
        let (count, ttl_ms) = match &self.redis {
            None => self.local.count(&key, window),
            Some(redis) => match self.count(redis, &key, window.as_millis() as u64).await {
                Ok(counted) => counted,
                Err(e) if self.config.fail_open => {
                    tracing::warn!(error = %e, "rate-limit store unreachable: counting in this process (fail open)");
                    self.local.count(&key, window)
                }
                Err(e) => {
                    tracing::error!(error = %e, "rate-limit store unreachable: rejecting the request (fail closed)");
                    return Err(RequestError {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        errors: vec![GraphQLError::new(
                            "rate limiting is unavailable",
                            ErrorCode::RateLimited.as_str(),
                        )],
                        retry_after: Some(1),
                    });
                }
            },
        };
        if count > limit {
            metrics::counter!("router_rate_limited_total", "limit" => bucket).increment(1);
            let retry_after = (ttl_ms.max(0) as u64).div_ceil(1000).max(1);
            return Err(RequestError {
                status: StatusCode::TOO_MANY_REQUESTS,
                errors: vec![rate_limited_error()],
                retry_after: Some(retry_after),
            });
        }
        Ok(())
    }

    async fn count(
        &self,
        redis: &SharedRedis,
        key: &str,
        window_ms: u64,
    ) -> Result<(u64, i64), String> {
        let mut connection = redis.connection().await?;
        let mut invocation = self.script.key(key);
        invocation.arg(window_ms);
        bounded(invocation.invoke_async::<(u64, i64)>(&mut connection)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_windows_count_per_key_and_start_again_when_the_window_ends() {
        let windows = LocalWindows::default();
        let window = Duration::from_millis(50);
        assert_eq!(windows.count("a", window).0, 1);
        assert_eq!(windows.count("a", window).0, 2);
        assert_eq!(windows.count("b", window).0, 1);
        let (_, left) = windows.count("a", window);
        assert!(left > 0 && left <= 50, "{left}");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(windows.count("a", window).0, 1);
    }
}
