//! The public gateways benchmark's query on its four subgraphs (`common::gateways`): the
//! router answers it byte for byte as the benchmark expects (the 87,327-byte response the
//! benchmark's own repository checks in), with deduplication on and off.

use serde_json::json;

use crate::common::{TestRouter, gateways};

async fn answer(configure: impl FnOnce(&mut router::RouterConfig)) -> String {
    let subgraphs = gateways::Gateways::start().await;
    let mut config = subgraphs.config();
    configure(&mut config);
    let router = TestRouter::start(config).await;
    router
        .http
        .post(router.url("/graphql"))
        .json(&json!({ "query": gateways::TEST_QUERY }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn expected() -> String {
    std::fs::read_to_string(crate::common::fixtures_dir().join("gateways/expected_response.json"))
        .unwrap()
}

#[tokio::test]
async fn the_benchmark_query_is_answered_byte_for_byte() {
    assert_eq!(answer(|_| {}).await, expected());
}

#[tokio::test]
async fn without_deduplication_the_answer_is_the_same() {
    let body = answer(|c| {
        c.traffic.dedupe.client_requests = false;
        c.traffic.dedupe.subgraph_requests = false;
    })
    .await;
    assert_eq!(body, expected());
}
