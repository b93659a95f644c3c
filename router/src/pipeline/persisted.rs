//! Persisted: a request that names its document (APQ's `extensions.persistedQuery`, a
//! persisted document's `documentId`) gets the document here, and a safelist refuses what
//! is not on it; the stages after this one see an ordinary request (`crate::persisted`).

use super::{GraphQLRequest, error::RequestError};
use crate::{persisted::Named, server::AppState};

pub(crate) async fn resolve(
    state: &AppState,
    request: &mut GraphQLRequest,
) -> Result<(), RequestError> {
    let named = Named {
        query: request.query.as_deref().filter(|q| !q.trim().is_empty()),
        document_id: request.document_id.as_deref(),
        extensions: request.extensions.as_ref(),
    };
    if let Some(document) = state.persisted.resolve(named).await? {
        request.query = Some(document.as_ref().to_owned());
    }
    Ok(())
}
