//! The GraphiQL playground, served entirely by the router: no CDN is reachable from many
//! networks (nor from these machines), so a page that loads its scripts from one is blank.
//!
//! TODO: embed a built GraphiQL bundle (npm `graphiql`) under `router/assets/graphiql/` and
//! serve it from `/graphiql/{file}`; until then the page is a minimal self-contained editor.

use axum::{
    extract::Path,
    http::StatusCode,
    response::{IntoResponse, Response},
};

pub const PAGE: &str = include_str!("../assets/playground.html");

/// Static assets of the playground.
pub async fn asset(Path(file): Path<String>) -> Response {
    let _ = file;
    StatusCode::NOT_FOUND.into_response()
}
