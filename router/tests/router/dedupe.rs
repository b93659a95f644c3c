//! In-flight deduplication: identical concurrent queries share one execution (client level)
//! or one subgraph request (subgraph level); different callers, mutations and finished
//! requests never share; a failure reaches every waiter. The products subgraph is a gated
//! one that holds requests until the test opens it, so requests overlap for certain.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::common::{self, GatedSubgraph, TestRouter, counter, gated_subgraph};
use service_kit::testing::eventually;

fn products(_: Value) -> (u16, Value) {
    (
        200,
        json!({ "data": { "topProducts": [{ "name": "Table" }] } }),
    )
}

async fn router_with(
    subgraph: &GatedSubgraph,
    configure: impl FnOnce(&mut router::RouterConfig),
) -> (common::Shop, TestRouter) {
    let shop = common::start_shop().await;
    let mut config = common::shop_config(&shop);
    common::set_subgraph_url(&mut config, "products", subgraph.addr);
    configure(&mut config);
    (shop, TestRouter::start(config).await)
}

/// Sends `n` copies of `query` at once, each with its own headers.
async fn concurrently(
    router: &TestRouter,
    query: &str,
    headers: Vec<Vec<(&'static str, String)>>,
) -> Vec<tokio::task::JoinHandle<(u16, Value)>> {
    headers
        .into_iter()
        .map(|h| {
            let http = router.http.clone();
            let url = router.url("/graphql");
            let query = query.to_owned();
            tokio::spawn(async move {
                let mut request = http.post(url).json(&json!({ "query": query }));
                for (k, v) in h {
                    request = request.header(k, v);
                }
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.json().await.unwrap())
            })
        })
        .collect()
}

async fn answers(calls: Vec<tokio::task::JoinHandle<(u16, Value)>>) -> Vec<(u16, Value)> {
    join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn identical_concurrent_queries_share_one_execution() {
    let subgraph = gated_subgraph(products).await;
    let (_shop, router) = router_with(&subgraph, |_| {}).await;
    let query = "query SharedTop { topProducts { name } }";
    let label = "operation=\"SharedTop\"";
    let before = counter(
        "router_deduplicated_requests_total",
        &["level=\"client\"", label],
    );
    let calls = concurrently(&router, query, vec![Vec::new(); 8]).await;
    // Every request but the first joins the first, which waits at the subgraph.
    eventually("seven requests joined", || async {
        (counter(
            "router_deduplicated_requests_total",
            &["level=\"client\"", label],
        ) - before
            >= 7.0)
            .then_some(())
    })
    .await;
    subgraph.open();
    for (status, body) in answers(calls).await {
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({ "data": { "topProducts": [{ "name": "Table" }] } })
        );
    }
    assert_eq!(subgraph.hits(), 1, "one execution, one subgraph request");
    // Finished work is not a cache: the next request executes again.
    assert_eq!(router.query(query, json!({})).await.0, 200);
    assert_eq!(subgraph.hits(), 2);
}

#[tokio::test]
async fn identical_concurrent_subgraph_requests_share_one_http_request() {
    let subgraph = gated_subgraph(products).await;
    let (_shop, router) =
        router_with(&subgraph, |c| c.traffic.dedupe.client_requests = false).await;
    let labels = ["level=\"subgraph\"", "subgraph=\"products\""];
    let before = counter("router_deduplicated_requests_total", &labels);
    let calls = concurrently(&router, "{ topProducts { name } }", vec![Vec::new(); 6]).await;
    eventually("five subgraph requests joined", || async {
        (counter("router_deduplicated_requests_total", &labels) - before >= 5.0).then_some(())
    })
    .await;
    subgraph.open();
    for (status, body) in answers(calls).await {
        assert_eq!(status, 200);
        assert_eq!(body["data"]["topProducts"][0]["name"], "Table");
    }
    assert_eq!(subgraph.hits(), 1);
}

#[tokio::test]
async fn with_deduplication_off_every_request_reaches_the_subgraph() {
    let subgraph = gated_subgraph(products).await;
    let (_shop, router) = router_with(&subgraph, |c| {
        c.traffic.dedupe.client_requests = false;
        c.traffic.dedupe.subgraph_requests = false;
    })
    .await;
    let calls = concurrently(&router, "{ topProducts { name } }", vec![Vec::new(); 5]).await;
    // All five are held at the subgraph at once: none waited for another.
    eventually("five requests reached the subgraph", || async {
        (subgraph.hits() == 5).then_some(())
    })
    .await;
    subgraph.open();
    assert!(answers(calls).await.iter().all(|(s, _)| *s == 200));
}

#[tokio::test]
async fn callers_with_different_authorization_never_share() {
    let subgraph = gated_subgraph(products).await;
    let (_shop, router) = router_with(&subgraph, |_| {}).await;
    let headers = ["Bearer a", "Bearer b", "Bearer a"]
        .iter()
        .map(|t| vec![("authorization", (*t).to_owned())])
        .collect();
    let calls = concurrently(&router, "{ topProducts { name } }", headers).await;
    eventually("both callers reached the subgraph", || async {
        (subgraph.hits() == 2).then_some(())
    })
    .await;
    subgraph.open();
    assert!(answers(calls).await.iter().all(|(s, _)| *s == 200));
    assert_eq!(
        subgraph.hits(),
        2,
        "the two 'Bearer a' requests shared, 'b' did not"
    );
}

#[tokio::test]
async fn mutations_never_share() {
    let subgraph =
        gated_subgraph(|_| (200, json!({ "data": { "createUser": { "name": "Ada" } } }))).await;
    let shop = common::start_shop().await;
    let mut config = common::shop_config(&shop);
    common::set_subgraph_url(&mut config, "accounts", subgraph.addr);
    let router = TestRouter::start(config).await;
    let calls = concurrently(
        &router,
        r#"mutation { createUser(name: "Ada") { name } }"#,
        vec![Vec::new(); 4],
    )
    .await;
    eventually("every mutation reached the subgraph", || async {
        (subgraph.hits() == 4).then_some(())
    })
    .await;
    subgraph.open();
    for (status, body) in answers(calls).await {
        assert_eq!(status, 200);
        assert_eq!(body["data"]["createUser"]["name"], "Ada");
    }
}

#[tokio::test]
async fn a_failure_reaches_every_waiter() {
    let subgraph = gated_subgraph(products).await;
    let (_shop, router) = router_with(&subgraph, |c| {
        // The gate never opens: the one shared request times out.
        c.traffic.subgraph_timeout_ms = 300;
    })
    .await;
    let calls = concurrently(&router, "{ topProducts { name } }", vec![Vec::new(); 5]).await;
    for (status, body) in answers(calls).await {
        assert_eq!(status, 200);
        assert_eq!(common::error_codes(&body), ["SUBGRAPH_TIMEOUT"], "{body}");
    }
    assert_eq!(subgraph.hits(), 1);
}
