//! How clients reach the pipeline: GraphQL over HTTP (one response, SSE or multipart, by
//! `Accept`) and over websockets.

pub(crate) mod http;
pub(crate) mod websocket;
