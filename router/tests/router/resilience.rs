//! What clients get when subgraphs fail: partial data, re-pathed errors, null propagation,
//! timeouts and the circuit breaker.

use crate::common;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use common::{
    TestRouter, closed_port, error_codes, scripted_subgraph, set_subgraph_url, shop_config,
    start_shop,
};
use serde_json::{Value, json};

/// Answers `_entities` for Product with stock, and an error for the second representation.
fn inventory_with_an_error(request: Value) -> (u16, Value) {
    let reps = request["variables"]["representations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let entities: Vec<Value> = reps
        .iter()
        .map(|r| json!({ "__typename": "Product", "upc": r["upc"], "warehouse": null }))
        .collect();
    (
        200,
        json!({
            "data": { "_entities": entities },
            "errors": [{
                "message": "shelf 7 is empty",
                "path": ["_entities", 1, "warehouse"],
                "extensions": { "code": "OUT_OF_STOCK" }
            }]
        }),
    )
}

#[tokio::test]
async fn entity_errors_are_repathed_to_the_entity_in_the_response() {
    let shop = start_shop().await;
    let inventory = scripted_subgraph(inventory_with_an_error).await;
    let mut config = shop_config(&shop);
    set_subgraph_url(&mut config, "inventory", inventory.addr);
    let router = TestRouter::start(config).await;
    let (_, body) = router
        .query("{ topProducts { upc warehouse } }", json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["path"],
        json!(["topProducts", 1, "warehouse"]),
        "{body}"
    );
    assert_eq!(error_codes(&body), ["OUT_OF_STOCK"]);
    assert_eq!(body["errors"][0]["message"], "shelf 7 is empty");
    assert_eq!(
        body["data"]["topProducts"][2],
        json!({ "upc": "3", "warehouse": null })
    );
}

#[tokio::test]
async fn a_down_subgraph_leaves_partial_data_and_a_coded_error() {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    set_subgraph_url(&mut config, "inventory", closed_port().await);
    let router = TestRouter::start(config).await;

    let (status, body) = router
        .query("{ topProducts(first: 2) { name warehouse } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "name": "Table", "warehouse": null }, { "name": "Couch", "warehouse": null }])
    );
    assert_eq!(error_codes(&body), ["SUBGRAPH_UNAVAILABLE"]);
    assert_eq!(body["errors"][0]["extensions"]["serviceName"], "inventory");
    // Internal details (addresses, OS errors) stay in the logs.
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("127.0.0.1") && !message.contains("refused"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_non_null_field_nulls_the_nearest_nullable_parent() {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    set_subgraph_url(&mut config, "inventory", closed_port().await);
    let router = TestRouter::start(config).await;
    // `inStock: Boolean!` cannot be resolved, so the nullable `product` becomes null ...
    let (_, body) = router
        .query(
            r#"{ product(upc: "1") { name inStock } users { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["product"], Value::Null, "{body}");
    assert_eq!(body["data"]["users"][0]["id"], "1");
    // ... and through `[Product!]!` the null reaches the root: data is null.
    let (_, body) = router
        .query("{ topProducts { name inStock } }", json!({}))
        .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert!(error_codes(&body).contains(&"SUBGRAPH_UNAVAILABLE".to_owned()));
}

#[tokio::test]
async fn a_slow_subgraph_times_out_without_holding_the_rest() {
    let shop = start_shop().await;
    // A proxy that never answers: accepts connections and holds them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut config = shop_config(&shop);
    set_subgraph_url(&mut config, "inventory", silent);
    config.subgraphs.get_mut("inventory").unwrap().timeout_ms = Some(200);
    let router = TestRouter::start(config).await;
    let (_, body) = router
        .query("{ topProducts(first: 1) { name warehouse } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "name": "Table", "warehouse": null }])
    );
    assert_eq!(error_codes(&body), ["SUBGRAPH_TIMEOUT"]);
}

#[tokio::test]
async fn the_circuit_breaker_fails_fast_then_probes() {
    let shop = start_shop().await;
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let inventory = scripted_subgraph(move |request| {
        if flag.load(Ordering::SeqCst) {
            let (status, mut body) = inventory_with_an_error(request);
            body.as_object_mut().unwrap().remove("errors");
            (status, body)
        } else {
            (500, json!({ "oops": true }))
        }
    })
    .await;
    let mut config = shop_config(&shop);
    set_subgraph_url(&mut config, "inventory", inventory.addr);
    config.traffic.circuit_breaker.failure_threshold = 2;
    config.traffic.circuit_breaker.open_ms = 300;
    let router = TestRouter::start(config).await;
    let query = "{ product(upc: \"1\") { name warehouse } }";

    for _ in 0..2 {
        let (_, body) = router.query(query, json!({})).await;
        assert_eq!(error_codes(&body), ["SUBGRAPH_REQUEST_FAILED"], "{body}");
    }
    assert_eq!(inventory.hits.load(Ordering::SeqCst), 2);
    // Open: inventory is not called, its fields fail fast, the rest still answers.
    for _ in 0..3 {
        let (_, body) = router.query(query, json!({})).await;
        assert_eq!(error_codes(&body), ["SUBGRAPH_UNAVAILABLE"], "{body}");
        assert_eq!(body["data"]["product"]["name"], "Table");
    }
    assert_eq!(inventory.hits.load(Ordering::SeqCst), 2);

    // After the open period one probe goes through; it succeeds, so the breaker closes.
    healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, body) = router.query(query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body) = router.query(query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(inventory.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_skipped_condition_never_calls_its_subgraph() {
    let shop = start_shop().await;
    let inventory = scripted_subgraph(|request| {
        let (status, mut body) = inventory_with_an_error(request);
        body.as_object_mut().unwrap().remove("errors");
        (status, body)
    })
    .await;
    let mut config = shop_config(&shop);
    set_subgraph_url(&mut config, "inventory", inventory.addr);
    let router = TestRouter::start(config).await;
    let query =
        "query($stock: Boolean!) { topProducts(first: 1) { name warehouse @include(if: $stock) } }";
    let (_, body) = router.query(query, json!({ "stock": false })).await;
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "name": "Table" }]),
        "{body}"
    );
    assert_eq!(inventory.hits.load(Ordering::SeqCst), 0);
    let (_, body) = router.query(query, json!({ "stock": true })).await;
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "name": "Table", "warehouse": null }]),
        "{body}"
    );
    assert_eq!(inventory.hits.load(Ordering::SeqCst), 1);
}
