//! Prepare: parse the document (with the token limit), select the operation, check the
//! document limits, validate against the API schema, normalize and plan. The planner
//! (`crate::planner`) does the work and caches the result by document, so a document seen
//! before costs one cache lookup.

use std::sync::Arc;

use super::{GraphQLRequest, decode, error::RequestError};
use crate::{planner::PreparedOperation, server::Runtime};

pub(crate) async fn prepare(
    runtime: &Runtime,
    request: &GraphQLRequest,
) -> Result<Arc<PreparedOperation>, RequestError> {
    let query = decode::document(request)?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            query = %crate::telemetry::redact_query(query),
            variables = %request.variables.as_ref().map(crate::telemetry::redact_variables).unwrap_or_default(),
            operation_name = request.operation_name.as_deref().unwrap_or_default(),
            "graphql request received"
        );
    }
    runtime
        .supergraph
        .prepare(query, request.operation_name.as_deref())
        .await
        .map_err(|e| (*e).clone())
}
