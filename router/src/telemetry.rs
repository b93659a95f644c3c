//! Router-specific telemetry glue: W3C trace context for subgraph requests, and metric names.
//! Logs, `/metrics` and `/health` come from `service_kit::telemetry`.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue};
use rand::RngCore;

/// Outcomes of a request, as `router_requests_total{outcome}` labels them.
pub(crate) const OUTCOMES: [&str; 6] = [
    "ok",
    "error",
    "stream",
    "timeout",
    "rate_limited",
    "request_error",
];
/// Transports, as `router_requests_total{transport}` labels them.
pub(crate) const TRANSPORTS: [&str; 3] = ["http", "http_stream", "websocket"];

/// `router_requests_total` and `router_request_duration_seconds` for one operation, by
/// outcome and transport, registered on first use: looking a labelled metric up on every
/// request cost more than the rest of a deduplicated request's bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct RequestMetrics {
    handles: [[OnceLock<(metrics::Counter, metrics::Histogram)>; 3]; 6],
}

impl RequestMetrics {
    pub fn record(&self, operation: Option<&str>, outcome: usize, transport: usize, seconds: f64) {
        let (Some(row), Some(o), Some(t)) = (
            self.handles.get(outcome),
            OUTCOMES.get(outcome),
            TRANSPORTS.get(transport),
        ) else {
            return;
        };
        let Some(cell) = row.get(transport) else {
            return;
        };
        let (counter, histogram) = cell.get_or_init(|| {
            request_metrics(&service_kit::graphql::operation_label(operation), o, t)
        });
        counter.increment(1);
        histogram.record(seconds);
    }
}

/// The two request metrics of one label set.
pub(crate) fn request_metrics(
    operation: &str,
    outcome: &str,
    transport: &str,
) -> (metrics::Counter, metrics::Histogram) {
    let labels = [
        ("operation", operation.to_owned()),
        ("outcome", outcome.to_owned()),
        ("transport", transport.to_owned()),
    ];
    (
        metrics::counter!("router_requests_total", &labels),
        metrics::histogram!("router_request_duration_seconds", &labels),
    )
}

/// The trace context of one client request.
#[derive(Debug, Clone)]
pub struct TraceContext {
    pub trace_id: String,
    pub sampled: bool,
}

impl TraceContext {
    /// Continues the client's `traceparent` when it is valid, otherwise starts a trace.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent)
            .unwrap_or_else(|| Self {
                trace_id: random_hex(16),
                sampled: true,
            })
    }

    /// A `traceparent` for a request the router makes: same trace, new parent span.
    pub fn child_header(&self) -> HeaderValue {
        let flags = if self.sampled { "01" } else { "00" };
        let value = format!("00-{}-{}-{flags}", self.trace_id, random_hex(8));
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

fn parse_traceparent(value: &str) -> Option<TraceContext> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    if !valid {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some(TraceContext {
        trace_id: trace_id.to_ascii_lowercase(),
        sampled,
    })
}

/// `bytes` random bytes as lowercase hex (at most 16: trace ids and span ids).
fn random_hex(bytes: usize) -> String {
    let mut raw = [0u8; 16];
    let raw = &mut raw[..bytes.min(16)];
    rand::thread_rng().fill_bytes(raw);
    service_kit::digest::lower_hex(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_traceparent_with_a_new_span() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let ctx = TraceContext::from_headers(&headers);
        assert_eq!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = ctx.child_header();
        let child = child.to_str().unwrap();
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!child.contains("00f067aa0ba902b7"));
        assert!(child.ends_with("-01"));
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("00-0000-zz-01"));
        let ctx = TraceContext::from_headers(&headers);
        assert_eq!(ctx.trace_id.len(), 32);
    }
}

/// Argument and variable names whose values never reach the logs.
const SECRET_NAMES: [&str; 8] = [
    "password",
    "newpassword",
    "oldpassword",
    "token",
    "refreshtoken",
    "accesstoken",
    "secret",
    "authorization",
];

fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| lower == *s)
        || lower.ends_with("password")
        || lower.ends_with("token")
}

/// A copy of variables with secret values replaced, for logging.
pub fn redact_variables(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret(k) {
                        serde_json::Value::String("[REDACTED]".into())
                    } else {
                        redact_variables(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(redact_variables).collect())
        }
        other => other.clone(),
    }
}

/// The query text with string literals passed to secret arguments (`password: "…"`) replaced.
pub fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            out.push_str(&name);
            if !is_secret(&name) {
                continue;
            }
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars.get(j) != Some(&':') {
                continue;
            }
            j += 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                continue;
            }
            // Skip the literal, honouring escapes.
            let mut k = j + 1;
            while k < chars.len() && chars[k] != '"' {
                if chars[k] == '\\' {
                    k += 1;
                }
                k += 1;
            }
            out.extend(&chars[i..j]);
            out.push_str("\"[REDACTED]\"");
            i = (k + 1).min(chars.len());
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod redaction_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_in_variables_and_queries_are_redacted() {
        let vars =
            json!({ "input": { "email": "a@b.c", "password": "hunter2" }, "refreshToken": "r" });
        let redacted = redact_variables(&vars);
        assert_eq!(redacted["input"]["password"], "[REDACTED]");
        assert_eq!(redacted["input"]["email"], "a@b.c");
        assert_eq!(redacted["refreshToken"], "[REDACTED]");

        let q = r#"mutation { login(email: "a@b.c", password: "hu\"nter2") { accessToken } }"#;
        let r = redact_query(q);
        assert!(!r.contains("hu\\\"nter2") && !r.contains("nter2"), "{r}");
        assert!(r.contains(r#"password: "[REDACTED]""#), "{r}");
        assert!(r.contains("a@b.c") && r.contains("{ accessToken }"), "{r}");
    }
}
