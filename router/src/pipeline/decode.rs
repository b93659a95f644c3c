//! Decode: from what a transport received to GraphQL requests. HTTP bodies (one operation or
//! a batch), GET query strings, and websocket `subscribe` payloads all become a
//! [`GraphQLRequest`]; what is not a GraphQL request is refused here with a clear error.

use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;

use super::error::{GraphQLError, RequestError, codes};

/// A GraphQL request as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphQLRequest {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Option<Value>,
    /// `persistedQuery` (APQ) is read; the rest is accepted and ignored.
    pub extensions: Option<Value>,
    /// A persisted document's id, sent instead of `query`.
    pub document_id: Option<String>,
}

/// A `POST /graphql` body: one operation, or a batch of them.
#[derive(Debug)]
pub enum PostBody {
    Single(GraphQLRequest),
    /// A JSON array (Apollo Client's BatchHttpLink): each operation runs on its own, and
    /// the answers come back in order.
    Batch(Vec<GraphQLRequest>),
}

impl PostBody {
    /// The body as a GraphQL request; `None` when it is not a JSON GraphQL request.
    pub fn parse(body: &[u8]) -> Option<Self> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            serde_json::from_slice(body).ok().map(Self::Batch)
        } else {
            serde_json::from_slice(body).ok().map(Self::Single)
        }
    }
}

/// A POST body's declared length, refused before any of it is read when over the limit, so
/// a client cannot make the router wait for megabytes it will refuse anyway. (A body
/// without a Content-Length is cut off at the limit where it is read.)
pub(crate) fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), RequestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    Ok(())
}

pub(crate) fn too_large() -> RequestError {
    RequestError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        GraphQLError::new("the request body is too large", codes::LIMIT_EXCEEDED),
    )
}

/// GraphQL over HTTP: a POST body is JSON. Anything else (forms, `text/plain`, which a
/// browser sends cross-site without a preflight) is refused.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), RequestError> {
    if service_kit::http::is_json_body(headers) {
        Ok(())
    } else {
        Err(RequestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GraphQLError::new(
                "expected Content-Type: application/json",
                codes::BAD_REQUEST,
            ),
        ))
    }
}

/// A POST body.
pub(crate) fn post_body(body: &[u8], max_batch: usize) -> Result<PostBody, RequestError> {
    let parsed = PostBody::parse(body).ok_or_else(|| {
        RequestError::bad_request("the body is not a JSON GraphQL request", codes::BAD_REQUEST)
    })?;
    if let PostBody::Batch(requests) = &parsed
        && (requests.is_empty() || requests.len() > max_batch)
    {
        return Err(RequestError::bad_request(
            format!("a batch holds 1 to {max_batch} operations"),
            codes::LIMIT_EXCEEDED,
        ));
    }
    Ok(parsed)
}

/// A GET request's query string (`query`, `operationName`, `variables` and `extensions`,
/// the last two as JSON).
pub(crate) fn get_params(uri: &axum::http::Uri) -> Result<GraphQLRequest, RequestError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        query: Option<String>,
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
        document_id: Option<String>,
    }
    let axum::extract::Query(params) = axum::extract::Query::<Params>::try_from_uri(uri)
        .map_err(|_| RequestError::bad_request("invalid query string", codes::BAD_REQUEST))?;
    let json = |text: Option<String>, what: &str| -> Result<Option<Value>, RequestError> {
        text.map(|t| serde_json::from_str::<Value>(&t))
            .transpose()
            .map_err(|_| {
                RequestError::bad_request(format!("{what} must be JSON"), codes::BAD_REQUEST)
            })
    };
    Ok(GraphQLRequest {
        query: params.query,
        operation_name: params.operation_name,
        variables: json(params.variables, "variables")?,
        extensions: json(params.extensions, "extensions")?,
        document_id: params.document_id,
    })
}

/// The document of a request: present and not blank. Not a well-formed GraphQL-over-HTTP
/// request otherwise: 400 whatever the media type.
pub(crate) fn document(request: &GraphQLRequest) -> Result<&str, RequestError> {
    request
        .query
        .as_deref()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| RequestError::bad_request("the request has no query", codes::BAD_REQUEST))
}
