//! Router-specific telemetry glue: W3C trace context for subgraph requests, and metric names.
//! Logs, `/metrics` and `/health` come from `service_kit::telemetry`.

use axum::http::{HeaderMap, HeaderValue};
use rand::RngCore;

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

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Operation names come from clients: keep metric labels bounded in size and shape.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            n.to_owned()
        }
        Some(_) => "invalid".to_owned(),
        None => "anonymous".to_owned(),
    }
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
