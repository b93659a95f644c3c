//! Demand control through the real router (the shop fixture, no cost directives: the
//! defaults): `enforce` refuses what is estimated above `max_cost` before any subgraph
//! call, `measure` serves it, and `X-Include-Cost: true` shows the estimate.

use crate::common;

use common::{TestRouter, error_codes, shop_config, start_shop};
use router::config::DemandControlMode;
use serde_json::json;

// Lists without @listSize count `list_size` (10) items: 10 × (1 + 10 × (1 + 1)).
const NESTED: &str = "{ topProducts { reviews { author { username } } } }";

#[tokio::test]
async fn enforce_refuses_an_operation_above_the_limit_and_serves_the_rest() {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    config.demand_control.mode = DemandControlMode::Enforce;
    config.demand_control.max_cost = 100;
    let router = TestRouter::start(config).await;
    let fetches = || {
        common::counter(
            "router_subgraph_request_duration_seconds_count",
            &["subgraph=\"products\""],
        )
    };
    let before = fetches();

    let (status, body) = router
        .query_with(
            NESTED,
            json!({}),
            &[("accept", "application/graphql-response+json")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_codes(&body),
        ["COST_ESTIMATED_TOO_EXPENSIVE"],
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["cost"]["estimated"], 210,
        "{body}"
    );
    assert_eq!(fetches(), before, "no subgraph was called");

    let (status, body) = router
        .query_with(
            "{ topProducts { upc } }",
            json!({}),
            &[("x-include-cost", "true")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["topProducts"][0]["upc"].is_string(), "{body}");
    // The actual cost: one per product answered.
    let answered = body["data"]["topProducts"].as_array().unwrap().len();
    assert!(answered > 0 && answered < 10, "{body}");
    assert_eq!(
        body["extensions"]["cost"],
        json!({ "estimated": 10, "actual": answered, "max": 100 }),
        "{body}"
    );
    assert!(fetches() > before, "the cheap operation was fetched");
    // Not asked for: not shown.
    let (_, body) = router.query("{ topProducts { upc } }", json!({})).await;
    assert!(body.get("extensions").is_none(), "{body}");
}

#[tokio::test]
async fn measure_serves_what_enforce_would_refuse() {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    config.demand_control.max_cost = 100;
    let router = TestRouter::start(config).await;
    let (status, body) = router
        .query_with(NESTED, json!({}), &[("x-include-cost", "true")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["topProducts"].is_array(), "{body}");
    assert_eq!(body["extensions"]["cost"]["estimated"], 210, "{body}");
}
