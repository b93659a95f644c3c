//! Persisted operations: the document a request runs may be named instead of sent.
//!
//! - **APQ** (Apollo's automatic persisted queries, `extensions.persistedQuery.sha256Hash`):
//!   a client sends the hash alone, is told `PERSISTED_QUERY_NOT_FOUND` the first time, and
//!   sends hash and document once; the router checks the hash, keeps the document in an
//!   in-process LRU and, with `REDIS_URL`, in Redis, so every replica knows it.
//! - **Persisted documents** (a manifest of the operations an application may send, by id):
//!   clients send `documentId` (or the APQ extension with the manifest's id); in `enforce`
//!   mode every other document is refused with `PERSISTED_QUERY_NOT_IN_LIST`, in `log` mode
//!   it is served and logged. The manifest is reloaded when its file changes.
//!
//! The pipeline's `persisted` stage calls [`PersistedOperations::resolve`] before anything
//! else, so what follows (planning, limits, authorization) sees an ordinary document.

mod apq;
mod manifest;

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

/// A document's SHA-256 in lowercase hex: the id APQ and Apollo's manifests use.
pub use service_kit::digest::sha256_hex;

use crate::{
    config::{ApqConfig, PersistedDocumentsConfig, PersistedDocumentsMode},
    error::{GraphQLError, RequestError},
};

/// Error codes of this feature (Apollo's, which clients such as Apollo Client act on).
pub mod codes {
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
    pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    pub const PERSISTED_QUERY_NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";
}

/// APQ and the manifest, as configured.
pub struct PersistedOperations {
    apq: Option<apq::ApqCache>,
    manifest: Option<manifest::Watched>,
    mode: PersistedDocumentsMode,
}

/// What a request named, read off its fields.
pub(crate) struct Named<'a> {
    pub query: Option<&'a str>,
    pub document_id: Option<&'a str>,
    pub extensions: Option<&'a Value>,
}

impl PersistedOperations {
    pub async fn new(
        apq: &ApqConfig,
        documents: &PersistedDocumentsConfig,
    ) -> anyhow::Result<Self> {
        let manifest = match &documents.path {
            Some(path) => Some(manifest::Watched::load(path, documents.poll_interval_ms).await?),
            None => None,
        };
        Ok(Self {
            apq: apq.enabled.then(|| apq::ApqCache::new(apq)).transpose()?,
            manifest,
            mode: documents.mode,
        })
    }

    /// What keeps the manifest current while it runs (nothing without a manifest).
    pub(crate) fn watcher(
        self: &Arc<Self>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let this = Arc::clone(self);
        self.manifest.as_ref()?;
        Some(async move {
            if let Some(m) = &this.manifest {
                m.watch().await;
            }
        })
    }

    /// The document to run: `Ok(None)` when the request's own `query` stands as sent,
    /// `Ok(Some(text))` when it named a persisted one.
    pub(crate) async fn resolve(
        &self,
        request: Named<'_>,
    ) -> Result<Option<Arc<str>>, RequestError> {
        let manifest = self.manifest.as_ref().map(|m| m.current());
        if let Some(id) = request.document_id {
            if request.query.is_some() {
                return Err(RequestError::bad_request(
                    "send either documentId or query, not both",
                    crate::error::codes::BAD_REQUEST,
                ));
            }
            let found = manifest.as_deref().and_then(|m| m.by_id(id));
            return match found {
                Some(body) => {
                    metrics_hit("document");
                    Ok(Some(body))
                }
                None => Err(not_found("no persisted document has this documentId")),
            };
        }
        let hash = persisted_query_hash(request.extensions)?;
        if let Some(hash) = hash
            && let Some(body) = manifest.as_deref().and_then(|m| m.by_id(hash))
        {
            metrics_hit("document");
            return Ok(Some(body));
        }
        let enforce = manifest.is_some() && self.mode == PersistedDocumentsMode::Enforce;
        // A document sent in full passes the safelist when it is one of the manifest's.
        if let Some(query) = request.query {
            let listed = manifest.as_deref().is_some_and(|m| m.contains_body(query));
            if manifest.is_some() && !listed {
                if enforce {
                    metrics::counter!("router_persisted_documents_total", "result" => "refused")
                        .increment(1);
                    return Err(not_in_list());
                }
                metrics::counter!("router_persisted_documents_total", "result" => "not_in_list")
                    .increment(1);
                tracing::warn!(
                    query = %crate::telemetry::redact_query(query),
                    "an operation not in the persisted documents manifest was served (log mode)"
                );
            }
        }
        let Some(hash) = hash else {
            return Ok(None);
        };
        if enforce {
            // Registering through APQ would let any document past the safelist.
            return Err(not_in_list());
        }
        let Some(apq) = &self.apq else {
            return match request.query {
                Some(_) => Ok(None),
                None => Err(RequestError::new(
                    StatusCode::OK,
                    GraphQLError::new(
                        "PersistedQueryNotSupported",
                        codes::PERSISTED_QUERY_NOT_SUPPORTED,
                    ),
                )),
            };
        };
        match request.query {
            Some(query) => {
                if sha256_hex(query) != hash.to_ascii_lowercase() {
                    return Err(RequestError::bad_request(
                        "the persisted query's sha256Hash does not match the query",
                        codes::PERSISTED_QUERY_HASH_MISMATCH,
                    ));
                }
                apq.register(hash, query).await;
                metrics::counter!("router_apq_total", "result" => "registered").increment(1);
                Ok(None)
            }
            None => match apq.get(hash).await {
                Some(body) => {
                    metrics_hit("apq");
                    Ok(Some(body))
                }
                None => {
                    metrics::counter!("router_apq_total", "result" => "miss").increment(1);
                    Err(not_found("PersistedQueryNotFound"))
                }
            },
        }
    }
}

fn metrics_hit(kind: &'static str) {
    match kind {
        "apq" => metrics::counter!("router_apq_total", "result" => "hit").increment(1),
        _ => metrics::counter!("router_persisted_documents_total", "result" => "hit").increment(1),
    }
}

/// Answered with 200, as Apollo's servers do: clients read the code and send the document.
fn not_found(message: &str) -> RequestError {
    RequestError::new(
        StatusCode::OK,
        GraphQLError::new(message, codes::PERSISTED_QUERY_NOT_FOUND),
    )
}

fn not_in_list() -> RequestError {
    RequestError::bad_request(
        "this operation is not in the list of persisted documents",
        codes::PERSISTED_QUERY_NOT_IN_LIST,
    )
}

/// `extensions.persistedQuery.sha256Hash`, checked: version 1, 64 hex digits.
fn persisted_query_hash(extensions: Option<&Value>) -> Result<Option<&str>, RequestError> {
    let Some(pq) = extensions.and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    let invalid = |message: &str| {
        RequestError::bad_request(message.to_owned(), crate::error::codes::BAD_REQUEST)
    };
    if pq.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(invalid("persistedQuery.version must be 1"));
    }
    match pq.get("sha256Hash").and_then(Value::as_str) {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(Some(h)),
        _ => Err(invalid(
            "persistedQuery.sha256Hash must be the document's SHA-256 in hex",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_persisted_query_extension_is_a_bad_request() {
        for ext in [
            serde_json::json!({"persistedQuery": {"version": 2, "sha256Hash": "a".repeat(64)}}),
            serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}),
            serde_json::json!({"persistedQuery": {"version": 1}}),
        ] {
            let error = persisted_query_hash(Some(&ext)).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{ext}");
        }
        assert!(persisted_query_hash(None).unwrap().is_none());
    }
}
