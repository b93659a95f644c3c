//! Encode: an operation's outcome in the format the client asked for (`Accept`), per
//! GraphQL over HTTP and its companions:
//!
//! - `application/graphql-response+json`: one response, 4xx for invalid operations;
//! - `application/json` (or no `Accept`): one response, 200 for invalid operations since
//!   the request itself was well-formed;
//! - `text/event-stream`: GraphQL over SSE, distinct connections mode: a `next` event per
//!   payload, then `complete`;
//! - `multipart/mixed`: Apollo's multipart subscriptions (`subscriptionSpec="1.0"`: each
//!   event as `{"payload": …}`, a `{}` heartbeat every 5 s) and incremental delivery for
//!   `@defer` (`deferSpec=20220824`).

use std::{convert::Infallible, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;

use super::{
    Execution,
    error::{RequestError, codes, json_response},
    execute::{StreamItem, StreamKind},
};

/// What a client's `Accept` header allows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Accepts {
    pub graphql_response_json: bool,
    pub json: bool,
    pub event_stream: bool,
    pub multipart: bool,
}

impl Accepts {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut accepts = Self::default();
        let mut any = false;
        for value in headers.get_all(header::ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for media in value.split(',') {
                let media = media.trim();
                let essence = media.split(';').next().unwrap_or_default().trim();
                any = true;
                match essence.to_ascii_lowercase().as_str() {
                    "application/graphql-response+json" => accepts.graphql_response_json = true,
                    "application/json" => accepts.json = true,
                    "text/event-stream" => accepts.event_stream = true,
                    "multipart/mixed" => accepts.multipart = true,
                    "*/*" | "application/*" => accepts.json = true,
                    _ => {}
                }
            }
        }
        if !any {
            accepts.json = true;
        }
        accepts
    }

    /// Whether the client can take results one after another.
    pub fn streams(&self) -> bool {
        self.event_stream || self.multipart
    }

    /// Whether the client takes a single JSON response.
    fn single_json(&self) -> bool {
        self.json || self.graphql_response_json
    }
}

/// The HTTP response for an operation's outcome.
pub(crate) fn http(result: Result<Execution, RequestError>, accepts: Accepts) -> Response {
    match result {
        Err(error) => http_error(error, accepts),
        Ok(Execution::Single(output)) => {
            if accepts.event_stream && !accepts.single_json() {
                return event_stream(single_stream(output.body));
            }
            if accepts.multipart && !accepts.single_json() {
                return multipart(single_stream(output.body), StreamKind::Incremental);
            }
            let mut response = json_response(StatusCode::OK, output.body);
            if accepts.graphql_response_json {
                set_content_type(
                    &mut response,
                    "application/graphql-response+json; charset=utf-8",
                );
            }
            response
        }
        Ok(Execution::Stream(stream)) => {
            if accepts.multipart {
                let kind = stream.kind;
                multipart(stream.payloads, kind)
            } else {
                event_stream(stream.payloads)
            }
        }
    }
}

/// An error before execution. Legacy `application/json` clients get 200 for an invalid
/// operation (the request was a well-formed GraphQL-over-HTTP request); malformed
/// requests (`BAD_REQUEST`) and other statuses keep theirs.
pub(crate) fn http_error(error: RequestError, accepts: Accepts) -> Response {
    let legacy = !accepts.graphql_response_json;
    let keeps_status = error.code() == Some(codes::BAD_REQUEST);
    let mut response = error.into_response();
    if legacy {
        if response.status() == StatusCode::BAD_REQUEST && !keeps_status {
            *response.status_mut() = StatusCode::OK;
        }
    } else {
        set_content_type(
            &mut response,
            "application/graphql-response+json; charset=utf-8",
        );
    }
    response
}

fn set_content_type(response: &mut Response, value: &'static str) {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
}

/// A stream of one payload.
fn single_stream(body: Bytes) -> tokio::sync::mpsc::Receiver<StreamItem> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(Ok(body));
    rx
}

/// Comments keep idle SSE connections (and the proxies between) open.
const SSE_KEEPALIVE: Duration = Duration::from_secs(12);
/// Apollo's multipart subscription protocol asks for a heartbeat every 5 s.
const MULTIPART_HEARTBEAT: Duration = Duration::from_secs(5);

fn event_stream(payloads: tokio::sync::mpsc::Receiver<StreamItem>) -> Response {
    let body = framed(payloads, SSE_KEEPALIVE, Frames::EventStream);
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise hold events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn multipart(payloads: tokio::sync::mpsc::Receiver<StreamItem>, kind: StreamKind) -> Response {
    let (content_type, frames) = match kind {
        StreamKind::Subscription => (
            "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\"",
            Frames::MultipartSubscription,
        ),
        StreamKind::Incremental => (
            "multipart/mixed;boundary=\"graphql\";deferSpec=20220824",
            Frames::MultipartIncremental,
        ),
    };
    let body = framed(payloads, MULTIPART_HEARTBEAT, frames);
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frames {
    EventStream,
    MultipartSubscription,
    MultipartIncremental,
}

/// Each part is closed by the boundary right after it, so that a client can take the part
/// at once instead of waiting for the next one: the body is `\r\n--graphql`, then per part
/// `\r\n<headers>\r\n\r\n<json>\r\n--graphql`, then `--\r\n`.
const OPENING: &[u8] = b"\r\n--graphql";
const PART_HEAD: &[u8] = b"\r\ncontent-type: application/json; charset=utf-8\r\n\r\n";
const PART_END: &[u8] = b"\r\n--graphql";

impl Frames {
    fn payload(self, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(payload.len() + 80);
        match self {
            Frames::EventStream => {
                // A payload is one line of compact JSON, so it fits one `data:` field.
                out.put_slice(b"event: next\ndata: ");
                out.put_slice(payload);
                out.put_slice(b"\n\n");
            }
            Frames::MultipartSubscription => {
                out.put_slice(PART_HEAD);
                out.put_slice(b"{\"payload\":");
                out.put_slice(payload);
                out.put_slice(b"}");
                out.put_slice(PART_END);
            }
            Frames::MultipartIncremental => {
                out.put_slice(PART_HEAD);
                out.put_slice(payload);
                out.put_slice(PART_END);
            }
        }
        out.freeze()
    }

    /// Errors that end the stream: Apollo's multipart protocol has a form for them
    /// (`{"payload":null,"errors":…}`); elsewhere they are a payload of errors.
    fn fatal(self, errors: &[crate::error::GraphQLError]) -> Bytes {
        let body = crate::error::error_body(errors);
        match self {
            Frames::MultipartSubscription => {
                let mut out = BytesMut::from(PART_HEAD);
                out.put_slice(b"{\"payload\":null,\"errors\":");
                let _ = serde_json::to_writer((&mut out).writer(), errors);
                out.put_slice(b"}");
                out.put_slice(PART_END);
                out.freeze()
            }
            _ => self.payload(&body),
        }
    }

    /// What the body starts with.
    fn opening(self) -> &'static [u8] {
        match self {
            Frames::EventStream => b"",
            Frames::MultipartSubscription | Frames::MultipartIncremental => OPENING,
        }
    }

    fn keepalive(self) -> Option<Bytes> {
        match self {
            Frames::EventStream => Some(Bytes::from_static(b":\n\n")),
            Frames::MultipartSubscription => {
                let mut out = BytesMut::from(PART_HEAD);
                out.put_slice(b"{}");
                out.put_slice(PART_END);
                Some(out.freeze())
            }
            // Incremental delivery ends by itself soon.
            Frames::MultipartIncremental => None,
        }
    }

    fn end(self) -> Bytes {
        match self {
            Frames::EventStream => Bytes::from_static(b"event: complete\ndata:\n\n"),
            Frames::MultipartSubscription | Frames::MultipartIncremental => {
                Bytes::from_static(b"--\r\n")
            }
        }
    }
}

/// The body of a streamed response: each payload framed, keep-alives while idle, the end
/// marker once the payloads end. Dropping the body (the client went away) drops the
/// receiver, which stops the work producing payloads.
fn framed(
    payloads: tokio::sync::mpsc::Receiver<StreamItem>,
    every: Duration,
    frames: Frames,
) -> Body {
    struct State {
        payloads: tokio::sync::mpsc::Receiver<StreamItem>,
        keepalive: tokio::time::Interval,
        done: bool,
    }
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = State {
        payloads,
        keepalive,
        done: false,
    };
    let opening = futures::stream::iter(
        (!frames.opening().is_empty())
            .then(|| Ok::<_, Infallible>(Bytes::from_static(frames.opening()))),
    );
    let stream = futures::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            tokio::select! {
                payload = state.payloads.recv() => {
                    return match payload {
                        Some(Ok(p)) => Some((Ok::<_, Infallible>(frames.payload(&p)), state)),
                        Some(Err(errors)) => {
                            // The stream ends after this one.
                            state.payloads.close();
                            Some((Ok(frames.fatal(&errors)), state))
                        }
                        None => {
                            state.done = true;
                            Some((Ok(frames.end()), state))
                        }
                    };
                }
                _ = state.keepalive.tick() => {
                    if let Some(k) = frames.keepalive() {
                        return Some((Ok(k), state));
                    }
                }
            }
        }
    });
    Body::from_stream(opening.chain(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> Accepts {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Accepts::from_headers(&headers)
    }

    #[test]
    fn accept_headers_are_read_by_media_type() {
        let a = accepts("multipart/mixed;deferSpec=20220824, application/json;q=0.9");
        assert!(a.multipart && a.json && !a.event_stream);
        let a = accepts("text/event-stream");
        assert!(a.event_stream && !a.single_json());
        let a = Accepts::from_headers(&HeaderMap::new());
        assert!(a.json, "no Accept means JSON");
        let a = accepts("application/graphql-response+json");
        assert!(a.graphql_response_json && !a.json);
    }

    #[test]
    fn frames_follow_each_protocol() {
        let p = br#"{"data":{"a":1}}"#;
        assert_eq!(
            &Frames::EventStream.payload(p)[..],
            b"event: next\ndata: {\"data\":{\"a\":1}}\n\n"
        );
        assert!(
            Frames::MultipartSubscription
                .payload(p)
                .ends_with(b"\r\n\r\n{\"payload\":{\"data\":{\"a\":1}}}\r\n--graphql")
        );
        assert_eq!(&Frames::MultipartIncremental.end()[..], b"--\r\n");
        assert_eq!(
            &Frames::EventStream.end()[..],
            b"event: complete\ndata:\n\n"
        );
    }
}
