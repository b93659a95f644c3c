//! GraphQL errors as the router sends them: every one carries `extensions.code`, and
//! messages never contain internal details (those go to the logs).

use serde::Serialize;
use serde_json::{Map, Value};

/// Codes the router itself produces, in addition to the platform's `ErrorCode`s.
pub mod codes {
    pub use service_kit::graphql::ErrorCode;
    pub const SUBGRAPH_UNAVAILABLE: &str = "SUBGRAPH_UNAVAILABLE";
    pub const SUBGRAPH_REQUEST_FAILED: &str = "SUBGRAPH_REQUEST_FAILED";
    pub const SUBGRAPH_TIMEOUT: &str = "SUBGRAPH_TIMEOUT";
    pub const SUBGRAPH_INVALID_RESPONSE: &str = "SUBGRAPH_INVALID_RESPONSE";
    pub const OPERATION_NOT_FOUND: &str = "OPERATION_NOT_FOUND";
    pub const OPERATION_NOT_SUPPORTED: &str = "OPERATION_NOT_SUPPORTED";
    pub const OPERATION_TIMEOUT: &str = "OPERATION_TIMEOUT";
    pub const QUERY_PLANNING_FAILED: &str = "QUERY_PLANNING_FAILED";
    pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const NOT_NULL_VIOLATION: &str = "NON_NULL_VIOLATION";
    pub const DEFER_NOT_SUPPORTED: &str = "DEFER_NOT_SUPPORTED";
    pub const STREAM_NOT_SUPPORTED: &str = "STREAM_NOT_SUPPORTED";
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GraphQLError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<Location>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<Value>>,
    pub extensions: Map<String, Value>,
}

impl GraphQLError {
    pub fn new(message: impl Into<String>, code: &str) -> Self {
        let mut extensions = Map::new();
        extensions.insert("code".into(), Value::String(code.to_owned()));
        Self {
            message: message.into(),
            locations: None,
            path: None,
            extensions,
        }
    }

    pub fn with_path(mut self, path: Vec<Value>) -> Self {
        self.path = Some(path);
        self
    }

    pub fn with_locations(mut self, locations: Vec<Location>) -> Self {
        if !locations.is_empty() {
            self.locations = Some(locations);
        }
        self
    }

    pub fn with_extension(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn code(&self) -> Option<&str> {
        self.extensions.get("code").and_then(Value::as_str)
    }

    /// An error a subgraph sent, kept as it was (message, extensions) except that its path
    /// is the one the client sees and that a missing code becomes `fallback_code`.
    pub fn from_subgraph(raw: &Value, service: &str, path: Option<Vec<Value>>) -> Self {
        let message = raw
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("subgraph error")
            .to_owned();
        let mut extensions = raw
            .get("extensions")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !extensions.get("code").is_some_and(Value::is_string) {
            extensions.insert(
                "code".into(),
                Value::String(codes::SUBGRAPH_REQUEST_FAILED.into()),
            );
        }
        extensions
            .entry("serviceName")
            .or_insert_with(|| Value::String(service.to_owned()));
        Self {
            message,
            locations: None,
            path,
            extensions,
        }
    }
}

/// A request that fails before execution: HTTP status plus the errors to send.
#[derive(Debug, Clone)]
pub struct RequestError {
    pub status: axum::http::StatusCode,
    pub errors: Vec<GraphQLError>,
    /// Seconds for `Retry-After` (rate limits).
    pub retry_after: Option<u64>,
}

impl RequestError {
    pub fn new(status: axum::http::StatusCode, error: GraphQLError) -> Self {
        Self {
            status,
            errors: vec![error],
            retry_after: None,
        }
    }

    /// The first error's code.
    pub fn code(&self) -> Option<&str> {
        self.errors.first().and_then(GraphQLError::code)
    }

    pub fn bad_request(message: impl Into<String>, code: &str) -> Self {
        Self::new(
            axum::http::StatusCode::BAD_REQUEST,
            GraphQLError::new(message, code),
        )
    }
}

impl RequestError {
    /// The status and errors as an HTTP response (`application/json`; the HTTP transport
    /// picks the media type the client asked for).
    pub fn into_response(self) -> axum::response::Response {
        count_errors(&self.errors);
        let mut response = json_response(self.status, error_body(&self.errors));
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if self.status == axum::http::StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static("POST"),
            );
        }
        if self.status == axum::http::StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl axum::response::IntoResponse for RequestError {
    fn into_response(self) -> axum::response::Response {
        RequestError::into_response(self)
    }
}

/// `{"errors": [...]}`.
pub fn error_body(errors: &[GraphQLError]) -> Vec<u8> {
    let mut body = b"{\"errors\":".to_vec();
    let _ = serde_json::to_writer(&mut body, errors);
    body.push(b'}');
    body
}

pub(crate) fn json_response(
    status: axum::http::StatusCode,
    body: impl Into<axum::body::Body>,
) -> axum::response::Response {
    let mut response = axum::response::Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// `router_errors_total{code}`: what went wrong, for the dashboards and alerts. Codes are
/// a small fixed set (ours and the subgraphs'), so the label stays bounded; anything else
/// is counted as `OTHER`.
pub(crate) fn count_errors(errors: &[GraphQLError]) {
    for error in errors {
        let code = match error.code() {
            Some(code)
                if code.len() <= 40
                    && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
            {
                code.to_owned()
            }
            _ => "OTHER".to_owned(),
        };
        metrics::counter!("router_errors_total", "code" => code).increment(1);
    }
}
