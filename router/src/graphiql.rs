//! The GraphiQL playground, served entirely by the router: no CDN is reachable from many
//! networks (nor from the project's machines), and a page that loads its scripts from one
//! renders nothing. The assets are vendored gzipped (`router/assets/graphiql`, rebuilt by
//! its `update.sh`) and embedded in the binary.

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

const PAGE: &str = include_str!("../assets/graphiql/index.html");

/// The playground page, opening with `example` when one is configured.
pub fn page(example: Option<&str>) -> String {
    let mut options = serde_json::Map::new();
    if let Some(example) = example {
        options.insert("defaultQuery".into(), example.into());
    }
    // `</` inside a script element would end it early: escape it in the JSON.
    let options = serde_json::Value::Object(options)
        .to_string()
        .replace("</", "<\\/");
    PAGE.replace("/*OPTIONS*/{}", &options)
}

const ASSETS: [(&str, &str, &[u8]); 4] = [
    (
        "graphiql.min.js",
        "application/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.js.gz"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.css.gz"),
    ),
    (
        "react.production.min.js",
        "application/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js.gz"),
    ),
    (
        "react-dom.production.min.js",
        "application/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js.gz"),
    ),
];

/// A playground asset, sent gzipped as stored (every browser accepts gzip).
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = axum::body::Body::from(bytes::Bytes::from_static(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
