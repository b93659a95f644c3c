//! Every transport through the one pipeline: GraphQL over SSE (distinct connections), Apollo's
//! multipart subscriptions, and websockets getting the operation timeout, metrics and codes
//! of plain HTTP.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::common::{self, TestRouter, counter, gated_subgraph, shop_config, start_shop};

/// POSTs `query` with `accept`; returns the status, the content type and the whole body.
async fn post(router: &TestRouter, accept: &str, query: &str) -> (u16, String, String) {
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("accept", accept)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .expect("the stream ends")
        .unwrap();
    (status, content_type, body)
}

/// The `data:` of every `next` event, and whether the stream ended with `complete`.
fn sse_events(body: &str) -> (Vec<Value>, bool) {
    let mut next = Vec::new();
    let mut completed = false;
    for event in body.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let kind = event.lines().find_map(|l| l.strip_prefix("event: "));
        let data = event.lines().find_map(|l| l.strip_prefix("data: "));
        match kind {
            Some("next") => next.push(serde_json::from_str(data.unwrap()).unwrap()),
            Some("complete") => completed = true,
            _ => assert!(
                event.starts_with(':'),
                "only comments besides events: {event:?}"
            ),
        }
    }
    (next, completed)
}

const REVIEWS: &str =
    r#"subscription { reviewAdded(upc: "1", everyMs: 5) { body author { name } } }"#;

#[tokio::test]
async fn a_subscription_over_server_sent_events() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let (status, content_type, body) = post(&router, "text/event-stream", REVIEWS).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream");
    let (events, completed) = sse_events(&body);
    assert!(completed, "{body}");
    assert_eq!(
        events,
        [
            json!({ "data": { "reviewAdded": { "body": "Love it!", "author": { "name": "User 1" } } } }),
            json!({ "data": { "reviewAdded": { "body": "Prefer something else.", "author": { "name": "User 2" } } } }),
        ]
    );
}

#[tokio::test]
async fn a_query_over_server_sent_events_is_one_event() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let (status, _, body) = post(
        &router,
        "text/event-stream",
        r#"{ product(upc: "1") { name } }"#,
    )
    .await;
    assert_eq!(status, 200);
    let (events, completed) = sse_events(&body);
    assert!(completed);
    assert_eq!(
        events,
        [json!({ "data": { "product": { "name": "Table" } } })]
    );
}

#[tokio::test]
async fn a_subscription_over_multipart_http() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let (status, content_type, body) = post(
        &router,
        "multipart/mixed;subscriptionSpec=\"1.0\", application/json",
        REVIEWS,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\""
    );
    assert!(body.ends_with("\r\n--graphql--\r\n"), "{body:?}");
    let parts: Vec<Value> = body
        .split("\r\n--graphql")
        .filter_map(|part| part.split_once("\r\n\r\n").map(|(_, json)| json))
        .map(|json| serde_json::from_str(json).unwrap())
        .filter(|v: &Value| v != &json!({}))
        .collect();
    assert_eq!(
        parts,
        [
            json!({ "payload": { "data": { "reviewAdded": { "body": "Love it!", "author": { "name": "User 1" } } } } }),
            json!({ "payload": { "data": { "reviewAdded": { "body": "Prefer something else.", "author": { "name": "User 2" } } } } }),
        ]
    );
}

#[tokio::test]
async fn a_subscription_without_a_streaming_transport_is_refused_with_a_code() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let (status, _, body) = post(&router, "application/graphql-response+json", REVIEWS).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(common::error_codes(&body), ["OPERATION_NOT_SUPPORTED"]);
}

#[tokio::test]
async fn a_query_over_a_websocket_gets_the_operation_timeout_and_is_counted() {
    let products = gated_subgraph(|_| (200, json!({ "data": { "topProducts": [] } }))).await;
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    common::set_subgraph_url(&mut config, "products", products.addr);
    config.limits.operation_timeout_ms = 200;
    config.traffic.dedupe.client_requests = false;
    let router = TestRouter::start(config).await;
    let labels = [
        "operation=\"SlowOverWs\"",
        "outcome=\"timeout\"",
        "transport=\"websocket\"",
    ];
    let before = counter("router_requests_total", &labels);
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/graphql", router.port))
            .await
            .unwrap();
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({ "type": "connection_init" })))
        .await
        .unwrap();
    socket
        .send(send(json!({ "id": "q", "type": "subscribe", "payload": {
            "query": "query SlowOverWs { topProducts { name } }"
        } })))
        .await
        .unwrap();
    let error = loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("the socket closed")
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] == "error" {
            break message;
        }
    };
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "OPERATION_TIMEOUT"
    );
    assert_eq!(counter("router_requests_total", &labels) - before, 1.0);
}
