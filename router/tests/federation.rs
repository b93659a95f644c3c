//! Federated queries through the real router against the shop fixture subgraphs.

mod common;

use common::{TestRouter, shop_config, start_shop};
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
