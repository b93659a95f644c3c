//! `createPayment` is safe to retry: the unique (user, idempotencyKey) index decides.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::{
    contract,
    helpers::{Backend, CREATE, error_code, spawn_app},
};

contract!(
    the_same_key_and_input_return_the_same_payment,
    the_same_key_with_a_different_input_is_a_conflict,
    concurrent_retries_create_one_payment,
);

async fn the_same_key_and_input_return_the_same_payment(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let alice = app.user();
    let first = app.create(&alice, 2_500, "retry-me").await;
    assert!(
        app.next_event("payment.created", Duration::from_secs(10))
            .await
            .is_some()
    );
    let second = app.create(&alice, 2_500, "retry-me").await;
    assert_eq!(
        second, first,
        "the retry returns the payment exactly as created"
    );
    let payments = app.all_payments(alice.id).await;
    assert_eq!(payments.len(), 1);
    // The retry wrote nothing, so it published nothing.
    let more = app.events_within(Duration::from_secs(1)).await;
    assert!(more.is_empty(), "{more:?}");
    // Keys belong to their user: someone else's identical key is their own payment.
    let bob = app.user();
    let bobs = app.create(&bob, 2_500, "retry-me").await;
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(app.all_payments(alice.id).await.len(), 1);
}

async fn the_same_key_with_a_different_input_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    let original = app.create(&alice, 2_500, "reused").await;
    for (name, input) in [
        (
            "amount",
            json!({ "amount": 2_501, "currency": "USD", "description": "test", "idempotencyKey": "reused" }),
        ),
        (
            "currency",
            json!({ "amount": 2_500, "currency": "EUR", "description": "test", "idempotencyKey": "reused" }),
        ),
        (
            "description",
            json!({ "amount": 2_500, "currency": "USD", "description": "other", "idempotencyKey": "reused" }),
        ),
    ] {
        let response = app
            .graphql(CREATE, json!({ "input": input }), Some(&alice.token))
            .await;
        assert_eq!(error_code(&response), "CONFLICT", "{name}: {response}");
        assert!(response["data"].is_null(), "{response}");
    }
    let payments = app.all_payments(alice.id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["id"], original["id"]);
    assert_eq!(payments[0]["amount"], 2_500);
}

async fn concurrent_retries_create_one_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    let input =
        json!({ "input": { "amount": 999, "currency": "USD", "idempotencyKey": "double-click" } });
    let responses =
        join_all((0..20).map(|_| app.graphql(CREATE, input.clone(), Some(&alice.token)))).await;
    let ids: std::collections::HashSet<String> = responses
        .iter()
        .map(|r| {
            assert!(r["errors"].is_null(), "{r}");
            r["data"]["createPayment"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry got the same payment");
    assert_eq!(app.all_payments(alice.id).await.len(), 1);
}
