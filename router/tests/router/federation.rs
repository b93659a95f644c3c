//! Federated queries through the real router against the shop fixture subgraphs.

use crate::common;

use common::{TestRouter, error_codes, shop_config, start_shop};
use serde_json::json;

async fn shop_router() -> (common::Shop, TestRouter) {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    (shop, router)
}

#[tokio::test]
async fn a_query_spanning_four_subgraphs_is_merged_into_one_response() {
    let (_shop, router) = shop_router().await;
    let (status, body) = router
        .query(
            "{ topProducts(first: 2) { upc name price inStock shippingEstimate reviews { body author { name username } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["topProducts"],
        json!([
            {
                "upc": "1", "name": "Table", "price": 899, "inStock": true, "shippingEstimate": 50,
                "reviews": [
                    { "body": "Love it!", "author": { "name": "User 1", "username": "user1" } },
                    { "body": "Prefer something else.", "author": { "name": "User 2", "username": "user2" } }
                ]
            },
            {
                "upc": "2", "name": "Couch", "price": 1299, "inStock": false, "shippingEstimate": 0,
                "reviews": [
                    { "body": "Too expensive.", "author": { "name": "User 1", "username": "user1" } }
                ]
            }
        ])
    );
}

#[tokio::test]
async fn requires_chains_across_three_subgraphs() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query("{ topProducts { upc shippingNote } }", json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["topProducts"],
        json!([
            { "upc": "1", "shippingNote": "shipping costs 50" },
            { "upc": "2", "shippingNote": "free shipping" },
            { "upc": "3", "shippingNote": "shipping costs 25" }
        ])
    );
}

#[tokio::test]
async fn provided_fields_and_entities_from_another_subgraph() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query(
            r#"{ review(id: "3") { body author { username name reviews { id } } product { name } } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["review"],
        json!({
            "body": "Could be better.",
            "author": { "username": "user2", "name": "User 2", "reviews": [{ "id": "3" }, { "id": "4" }] },
            "product": { "name": "Chair" }
        })
    );
}

#[tokio::test]
async fn aliases_fragments_and_typename_keep_the_client_shape_and_order() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query(
            r#"query Shape {
                b: product(upc: "3") { t: __typename label: name ...Stock }
                a: topProducts(first: 1) { __typename ...P }
                __typename
            }
            fragment P on Product { code: upc n: name }
            fragment Stock on Product { inStock }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"],
        json!({
            "b": { "t": "Product", "label": "Chair", "inStock": true },
            "a": [{ "__typename": "Product", "code": "1", "n": "Table" }],
            "__typename": "Query"
        })
    );
    // Keys come in the order the operation asked for them (checked on the raw text, since
    // a parsed JSON object forgets its order).
    let text = router
        .http
        .post(router.url("/graphql"))
        .json(&json!({ "query": "{ b: product(upc: \"3\") { t: __typename label: name } a: __typename }" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        text,
        r#"{"data":{"b":{"t":"Product","label":"Chair"},"a":"Query"}}"#
    );
}

#[tokio::test]
async fn include_and_skip_follow_variables() {
    let (_shop, router) = shop_router().await;
    let query = r#"query($with: Boolean!, $without: Boolean = false) {
        product(upc: "1") { name reviews @include(if: $with) { body } inStock @skip(if: $without) }
    }"#;
    let (_, on) = router.query(query, json!({ "with": true })).await;
    assert_eq!(
        on["data"]["product"],
        json!({ "name": "Table", "reviews": [{ "body": "Love it!" }, { "body": "Prefer something else." }], "inStock": true }),
        "{on}"
    );
    let (_, off) = router
        .query(query, json!({ "with": false, "without": true }))
        .await;
    assert_eq!(off["data"]["product"], json!({ "name": "Table" }), "{off}");
}

#[tokio::test]
async fn mutation_root_fields_run_in_order_across_subgraphs() {
    let (shop, router) = shop_router().await;
    let (_, body) = router
        .query(
            r#"mutation {
                first: createUser(name: "Ann") { id name }
                review: addReview(upc: "1", body: "second") { body product { name } }
                third: createUser(name: "Bob") { name }
            }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["first"], json!({ "id": "4", "name": "Ann" }));
    assert_eq!(
        body["data"]["review"],
        json!({ "body": "second", "product": { "name": "Table" } })
    );
    assert_eq!(body["data"]["third"], json!({ "name": "Bob" }));
    let calls = shop.accounts_state.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        ["createUser:Ann", "addReview:second", "createUser:Bob"]
    );
}

#[tokio::test]
async fn entity_field_errors_come_back_with_nulls_and_their_codes() {
    let (_shop, router) = shop_router().await;
    let (status, body) = router
        .query("{ topProducts(first: 2) { upc warehouse } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "upc": "1", "warehouse": null }, { "upc": "2", "warehouse": null }])
    );
    // async-graphql reports entity errors without the entity's index (see the re-pathing
    // test with a scripted subgraph in `resilience.rs`), so only the codes are checked here.
    assert_eq!(
        error_codes(&body),
        ["WAREHOUSE_DOWN", "WAREHOUSE_DOWN"],
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["serviceName"], "inventory");
}

#[tokio::test]
async fn a_root_field_error_keeps_the_other_root_fields() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query("{ brokenField users { id } }", json!({}))
        .await;
    assert_eq!(body["data"]["brokenField"], json!(null));
    assert_eq!(
        body["data"]["users"],
        json!([{ "id": "1" }, { "id": "2" }, { "id": "3" }])
    );
    assert_eq!(body["errors"][0]["path"], json!(["brokenField"]));
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(body["errors"][0]["message"], "accounts says no");
}

#[tokio::test]
async fn typename_only_queries_need_no_subgraph() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router.query("{ __typename }", json!({})).await;
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn invalid_operations_are_rejected_with_the_spec_errors() {
    let (_shop, router) = shop_router().await;
    let (status, body) = router.query("{ topProducts { nope } }", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{body}"
    );
    assert!(body["errors"][0]["locations"].is_array(), "{body}");

    let (status, body) = router.query("{ topProducts { ", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["GRAPHQL_PARSE_FAILED"]);

    let (status, body) = router
        .query(
            "query($upc: String!) { product(upc: $upc) { name } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn variables_reach_the_subgraphs() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query(
            "query($upc: String!, $n: Int) { product(upc: $upc) { name } topProducts(first: $n) { upc } }",
            json!({ "upc": "2", "n": 1 }),
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "product": { "name": "Couch" }, "topProducts": [{ "upc": "1" }] }),
        "{body}"
    );
}

#[tokio::test]
async fn get_requests_run_queries_but_not_mutations() {
    let (_shop, router) = shop_router().await;
    let response = router
        .http
        .get(router.url("/graphql"))
        .query(&[
            ("query", "query($u: String!) { product(upc: $u) { name } }"),
            ("variables", r#"{"u":"1"}"#),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["product"]["name"], "Table");

    let response = router
        .http
        .get(router.url("/graphql"))
        .query(&[("query", r#"mutation { createUser(name: "x") { id } }"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn authorization_and_trace_context_are_forwarded() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query_with(
            r#"{ auth: echoHeader(name: "authorization") trace: echoHeader(name: "traceparent") }"#,
            json!({}),
            &[
                ("authorization", "Bearer abc"),
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ),
            ],
        )
        .await;
    assert_eq!(body["data"]["auth"], "Bearer abc", "{body}");
    let trace = body["data"]["trace"].as_str().unwrap();
    assert!(
        trace.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{trace}"
    );
    assert!(
        !trace.contains("00f067aa0ba902b7"),
        "a new span id: {trace}"
    );
}

#[tokio::test]
async fn parallel_entity_fetches_to_one_subgraph_are_batched_and_merged_by_path() {
    let (_shop, router) = shop_router().await;
    // Two paths need inventory at the same time: the planner batches them into one
    // request with an aliased `_entities` per path (a BatchFetch node).
    let (_, body) = router
        .query(
            r#"{ topProducts(first: 2) { upc inStock } product(upc: "3") { upc inStock shippingEstimate } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"],
        json!({
            "topProducts": [{ "upc": "1", "inStock": true }, { "upc": "2", "inStock": false }],
            "product": { "upc": "3", "inStock": true, "shippingEstimate": 25 }
        })
    );
    // The plan really has a BatchFetch (so the test exercises that node).
    let sdl =
        std::fs::read_to_string(common::fixtures_dir().join("shop/supergraph.graphql")).unwrap();
    let supergraph = std::sync::Arc::new(
        router::Supergraph::from_sdl(&sdl, Default::default(), 4, &|_| None).unwrap(),
    );
    let prepared = supergraph
        .prepare(r#"{ topProducts(first: 2) { upc inStock } product(upc: "3") { upc inStock shippingEstimate } }"#, None)
        .await
        .unwrap();
    let plan = format!("{:?}", prepared.plan);
    assert!(plan.contains("BatchFetch"), "{plan}");
}

#[tokio::test]
async fn defer_without_a_streaming_client_answers_everything_at_once() {
    let (_shop, router) = shop_router().await;
    let (status, body) = router
        .query(
            "{ topProducts(first: 1) { name ... @defer { inStock } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "topProducts": [{ "name": "Table", "inStock": true }] } })
    );
    let (status, body) = router
        .query(
            "{ topProducts { name ... @stream { inStock } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["STREAM_NOT_SUPPORTED"]);
}

#[tokio::test]
async fn graphql_over_http_media_types_decide_the_status_of_invalid_operations() {
    let (_shop, router) = shop_router().await;
    let send = |accept: Option<&'static str>| {
        let mut request = router
            .http
            .post(router.url("/graphql"))
            .json(&json!({ "query": "{ nope }" }));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send()
    };
    let modern = send(Some("application/graphql-response+json"))
        .await
        .unwrap();
    assert_eq!(modern.status(), 400);
    assert!(
        modern.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
    let legacy = send(Some("application/json")).await.unwrap();
    assert_eq!(legacy.status(), 200);
    assert_eq!(legacy.headers()["content-type"], "application/json");
    let body: serde_json::Value = legacy.json().await.unwrap();
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);
    assert!(body.get("data").is_none());
    // A body that is not a GraphQL request is a 400 for everyone.
    let malformed = router
        .http
        .post(router.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    // No Accept header counts as application/json.
    let no_accept = send(None).await.unwrap();
    assert_eq!(no_accept.status(), 200);
}

#[tokio::test]
async fn documents_that_normalize_alike_share_one_plan() {
    let sdl =
        std::fs::read_to_string(common::fixtures_dir().join("shop/supergraph.graphql")).unwrap();
    let supergraph = std::sync::Arc::new(
        router::Supergraph::from_sdl(&sdl, Default::default(), 16, &|_| None).unwrap(),
    );
    let a = supergraph
        .prepare("query A { topProducts { name inStock } }", None)
        .await
        .unwrap();
    let b = supergraph
        .prepare(
            "query B {\n  topProducts { ...F }\n}\nfragment F on Product { name inStock }",
            None,
        )
        .await
        .unwrap();
    let c = supergraph
        .prepare("{ topProducts { name } }", None)
        .await
        .unwrap();
    let (pa, pb, pc) = (
        a.plan.clone().unwrap(),
        b.plan.clone().unwrap(),
        c.plan.clone().unwrap(),
    );
    assert!(
        std::sync::Arc::ptr_eq(&pa, &pb),
        "same normalized operation, same plan"
    );
    assert!(
        !std::sync::Arc::ptr_eq(&pa, &pc),
        "a different operation is planned anew"
    );
    // The document cache answers the very same text without preparing again.
    let again = supergraph
        .prepare("query A { topProducts { name inStock } }", None)
        .await
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &again));
}

#[tokio::test]
async fn deep_entity_chains_with_repeated_entities_merge_everywhere() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query(
            "{ users { id reviews { body product { name reviews { author { name username } } } } } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let table_reviews = json!([
        { "author": { "name": "User 1", "username": "user1" } },
        { "author": { "name": "User 2", "username": "user2" } }
    ]);
    assert_eq!(
        body["data"]["users"],
        json!([
            { "id": "1", "reviews": [
                { "body": "Love it!", "product": { "name": "Table", "reviews": table_reviews } },
                { "body": "Too expensive.", "product": { "name": "Couch", "reviews": [
                    { "author": { "name": "User 1", "username": "user1" } }
                ] } }
            ] },
            { "id": "2", "reviews": [
                { "body": "Could be better.", "product": { "name": "Chair", "reviews": [
                    { "author": { "name": "User 2", "username": "user2" } }
                ] } },
                { "body": "Prefer something else.", "product": { "name": "Table", "reviews": table_reviews } }
            ] },
            { "id": "3", "reviews": [] }
        ])
    );
}

#[tokio::test]
async fn the_same_field_selected_in_several_places_is_merged() {
    let (_shop, router) = shop_router().await;
    let (_, body) = router
        .query(
            r#"query($on: Boolean = true) {
                product(upc: "2") {
                    reviews { body }
                    ... on Product { reviews { author { name } } }
                    ...More
                    reviews @include(if: $on) { id }
                }
            }
            fragment More on Product { reviews { body author { username } } }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["product"]["reviews"],
        json!([{ "body": "Too expensive.", "author": { "name": "User 1", "username": "user1" }, "id": "2" }])
    );
}

#[tokio::test]
async fn batched_requests_answer_in_order() {
    let (_shop, router) = shop_router().await;
    let response = router
        .http
        .post(router.url("/graphql"))
        .json(&json!([
            { "query": "{ product(upc: \"2\") { name } }" },
            { "query": "{ nope }" },
            { "query": "query($id: ID!) { user(id: $id) { name } }", "variables": { "id": "3" } }
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body[0],
        json!({ "data": { "product": { "name": "Couch" } } })
    );
    assert_eq!(error_codes(&body[1]), ["GRAPHQL_VALIDATION_FAILED"]);
    assert_eq!(body[2], json!({ "data": { "user": { "name": "User 3" } } }));

    let too_many: Vec<_> = (0..17)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let (status, body) = {
        let response = router
            .http
            .post(router.url("/graphql"))
            .json(&too_many)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["LIMIT_EXCEEDED"]);
}
