//! `@defer` through the router: the initial payload first, each deferred fragment later
//! with its path and label, across subgraphs, errors staying in their part, `if` honoured,
//! over multipart (Apollo's `deferSpec=20220824`), SSE and websockets.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::common::{self, TestRouter, gated_subgraph, shop_config, start_shop};

const MULTIPART: &str = "multipart/mixed;deferSpec=20220824, application/json";

/// The JSON parts of a multipart body, as they arrive; `None` at the end.
struct Parts {
    response: reqwest::Response,
    buffer: String,
}

impl Parts {
    async fn post(router: &TestRouter, query: &str, variables: Value) -> (String, Self) {
        let response = router
            .http
            .post(router.url("/graphql"))
            .header("accept", MULTIPART)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (
            content_type,
            Self {
                response,
                buffer: String::new(),
            },
        )
    }

    async fn next(&mut self) -> Option<Value> {
        loop {
            // A part is complete when the next boundary (or the end) follows it.
            if let Some(start) = self.buffer.find("\r\n\r\n") {
                let rest = &self.buffer[start + 4..];
                if let Some(end) = rest.find("\r\n--graphql") {
                    let json: Value = serde_json::from_str(&rest[..end]).unwrap();
                    self.buffer = rest[end..].to_owned();
                    return Some(json);
                }
            }
            if self.buffer.ends_with("--graphql--\r\n") && !self.buffer.contains("\r\n\r\n") {
                return None;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a part in time");
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                _ => return None,
            }
        }
    }
}

async fn shop_router() -> (common::Shop, TestRouter) {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    (shop, router)
}

#[tokio::test]
async fn the_initial_payload_comes_first_and_the_deferred_fields_from_another_subgraph_later() {
    // Inventory holds its answer until the initial payload has been read.
    let inventory = gated_subgraph(|_| {
        (
            200,
            json!({ "data": { "_entities": [{ "inStock": true }] } }),
        )
    })
    .await;
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    common::set_subgraph_url(&mut config, "inventory", inventory.addr);
    let router = TestRouter::start(config).await;
    let (content_type, mut parts) = Parts::post(
        &router,
        r#"query Q { product(upc: "1") { name ... @defer(label: "stock") { inStock } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        content_type,
        "multipart/mixed;boundary=\"graphql\";deferSpec=20220824"
    );
    assert_eq!(
        parts.next().await.unwrap(),
        json!({ "data": { "product": { "name": "Table" } }, "hasNext": true })
    );
    // The deferred fragment's fetch reaches inventory and waits there.
    service_kit::testing::eventually("the deferred fetch reached inventory", || async {
        (inventory.hits() == 1).then_some(())
    })
    .await;
    inventory.open();
    assert_eq!(
        parts.next().await.unwrap(),
        json!({
            "incremental": [{ "data": { "inStock": true }, "path": ["product"], "label": "stock" }],
            "hasNext": false
        })
    );
    assert_eq!(parts.next().await, None);
}

#[tokio::test]
async fn a_fragment_deferred_in_a_list_arrives_for_every_item_with_its_path() {
    let (_shop, router) = shop_router().await;
    let (_, mut parts) = Parts::post(
        &router,
        "{ topProducts(first: 2) { upc ... @defer { inStock shippingEstimate } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        parts.next().await.unwrap(),
        json!({ "data": { "topProducts": [{ "upc": "1" }, { "upc": "2" }] }, "hasNext": true })
    );
    assert_eq!(
        parts.next().await.unwrap(),
        json!({
            "incremental": [
                { "data": { "inStock": true, "shippingEstimate": 50 }, "path": ["topProducts", 0] },
                { "data": { "inStock": false, "shippingEstimate": 0 }, "path": ["topProducts", 1] }
            ],
            "hasNext": false
        })
    );
}

#[tokio::test]
async fn errors_in_a_deferred_fragment_stay_in_its_payload() {
    let (_shop, router) = shop_router().await;
    let (_, mut parts) = Parts::post(
        &router,
        r#"{ product(upc: "1") { name ... @defer(label: "w") { warehouse } } }"#,
        json!({}),
    )
    .await;
    let initial = parts.next().await.unwrap();
    assert!(initial.get("errors").is_none(), "{initial}");
    let later = parts.next().await.unwrap();
    let item = &later["incremental"][0];
    assert_eq!(item["data"], json!({ "warehouse": null }), "{later}");
    assert_eq!(item["path"], json!(["product"]));
    assert_eq!(
        item["errors"][0]["extensions"]["code"], "WAREHOUSE_DOWN",
        "{later}"
    );
}

#[tokio::test]
async fn defer_if_false_answers_at_once_and_if_true_defers() {
    let (_shop, router) = shop_router().await;
    let query = r#"query($later: Boolean!) { product(upc: "1") { name ... @defer(if: $later) { inStock } } }"#;
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("accept", MULTIPART)
        .json(&json!({ "query": query, "variables": { "later": false } }))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "data": { "product": { "name": "Table", "inStock": true } } })
    );
    let (_, mut parts) = Parts::post(&router, query, json!({ "later": true })).await;
    assert_eq!(parts.next().await.unwrap()["hasNext"], true);
    assert_eq!(parts.next().await.unwrap()["hasNext"], false);
}

#[tokio::test]
async fn deferred_results_over_server_sent_events_and_websockets() {
    let (_shop, router) = shop_router().await;
    let query = r#"{ product(upc: "2") { name ... @defer { inStock } } }"#;
    let body = router
        .http
        .post(router.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = body
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("event: next\ndata: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        events,
        [
            json!({ "data": { "product": { "name": "Couch" } }, "hasNext": true }),
            json!({ "incremental": [{ "data": { "inStock": false }, "path": ["product"] }], "hasNext": false }),
        ]
    );
    assert!(body.ends_with("event: complete\ndata:\n\n"));

    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/graphql", router.port))
            .await
            .unwrap();
    let text = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(text(json!({ "type": "connection_init" })))
        .await
        .unwrap();
    socket
        .send(text(
            json!({ "id": "d", "type": "subscribe", "payload": { "query": query } }),
        ))
        .await
        .unwrap();
    let mut payloads = Vec::new();
    while let Some(Ok(Message::Text(t))) = socket.next().await {
        let message: Value = serde_json::from_str(&t).unwrap();
        match message["type"].as_str() {
            Some("next") => payloads.push(message["payload"].clone()),
            Some("complete") => break,
            _ => {}
        }
    }
    assert_eq!(payloads, events);
}
