//! Bad input: each case is a GraphQL error with its code, and nothing is written.

use std::time::Duration;

use serde_json::json;

use crate::{
    contract,
    helpers::{Backend, CREATE, PAYMENT, error_code, spawn_app},
};

contract!(
    invalid_payments_are_rejected_and_nothing_is_written,
    unknown_and_malformed_ids,
    transitions_the_state_machine_forbids_are_conflicts,
);

async fn invalid_payments_are_rejected_and_nothing_is_written(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let alice = app.user();
    let long = "x".repeat(501);
    for (name, input, needle) in [
        (
            "zero amount",
            json!({ "amount": 0, "currency": "USD", "idempotencyKey": "k1" }),
            "positive",
        ),
        (
            "negative amount",
            json!({ "amount": -500, "currency": "USD", "idempotencyKey": "k2" }),
            "positive",
        ),
        (
            "amount above the bound",
            json!({ "amount": 1_000_000_001, "currency": "USD", "idempotencyKey": "k3" }),
            "at most",
        ),
        (
            "unknown currency",
            json!({ "amount": 100, "currency": "ZZZ", "idempotencyKey": "k4" }),
            "unknown currency",
        ),
        (
            "not a currency code",
            json!({ "amount": 100, "currency": "dollars", "idempotencyKey": "k5" }),
            "unknown currency",
        ),
        (
            "empty currency",
            json!({ "amount": 100, "currency": "", "idempotencyKey": "k6" }),
            "unknown currency",
        ),
        (
            "empty idempotency key",
            json!({ "amount": 100, "currency": "USD", "idempotencyKey": "" }),
            "idempotencyKey",
        ),
        (
            "blank idempotency key",
            json!({ "amount": 100, "currency": "USD", "idempotencyKey": "   " }),
            "idempotencyKey",
        ),
        (
            "description too long",
            json!({ "amount": 100, "currency": "USD", "description": long, "idempotencyKey": "k7" }),
            "description",
        ),
    ] {
        let response = app
            .graphql(CREATE, json!({ "input": input }), Some(&alice.token))
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{name}: {response}"
        );
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{name}: {message}");
        assert!(response["data"].is_null(), "{name}: {response}");
    }
    assert!(app.all_payments(alice.id).await.is_empty());
    let events = app.events_within(Duration::from_secs(1)).await;
    assert!(events.is_empty(), "{events:?}");
    // The same key works once the input is valid: the rejected attempts did not take it.
    let created = app.create(&alice, 100, "k1").await;
    assert_eq!(created["status"], "PENDING");
}

async fn unknown_and_malformed_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    let unknown = json!(uuid::Uuid::now_v7().to_string());
    let read = app
        .graphql(PAYMENT, json!({ "id": unknown }), Some(&alice.token))
        .await;
    assert_eq!(error_code(&read), "NOT_FOUND", "{read}");
    for mutation in ["processPayment", "cancelPayment", "refundPayment"] {
        let response = app.act(mutation, &unknown, &alice).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{mutation}: {response}");
        let malformed = app.act(mutation, &json!("not-a-uuid"), &alice).await;
        assert_eq!(
            error_code(&malformed),
            "BAD_USER_INPUT",
            "{mutation}: {malformed}"
        );
    }
    let malformed = app
        .graphql(PAYMENT, json!({ "id": "42" }), Some(&alice.token))
        .await;
    assert_eq!(error_code(&malformed), "BAD_USER_INPUT");
    assert!(app.all_payments(alice.id).await.is_empty());
}

async fn transitions_the_state_machine_forbids_are_conflicts(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    let pending = app.create(&alice, 1_000, "p").await;
    let refund = app.act("refundPayment", &pending["id"], &alice).await;
    assert_eq!(error_code(&refund), "CONFLICT", "{refund}");
    assert_eq!(
        refund["errors"][0]["message"],
        "a PENDING payment cannot be refunded"
    );
    let completed = app.create(&alice, 2_000, "c").await["id"].clone();
    let processed = app.act("processPayment", &completed, &alice).await;
    assert_eq!(processed["data"]["processPayment"]["status"], "COMPLETED");
    for (mutation, message) in [
        ("cancelPayment", "a COMPLETED payment cannot be cancelled"),
        ("processPayment", "a COMPLETED payment cannot be processed"),
    ] {
        let response = app.act(mutation, &completed, &alice).await;
        assert_eq!(error_code(&response), "CONFLICT", "{mutation}: {response}");
        assert_eq!(response["errors"][0]["message"], message);
    }
    // Nothing was written: statuses and histories are as before.
    let payments = app.all_payments(alice.id).await;
    let read = |id: &serde_json::Value| {
        let app = &app;
        let token = alice.token.clone();
        let id = id.clone();
        async move {
            app.graphql(
                "query($id: ID!) { payment(id: $id) { status history { status } } }",
                json!({ "id": id }),
                Some(&token),
            )
            .await
        }
    };
    assert_eq!(payments.len(), 2);
    let p = read(&pending["id"]).await;
    assert_eq!(p["data"]["payment"]["status"], "PENDING");
    assert_eq!(p["data"]["payment"]["history"].as_array().unwrap().len(), 1);
    let c = read(&completed).await;
    assert_eq!(c["data"]["payment"]["status"], "COMPLETED");
    assert_eq!(c["data"]["payment"]["history"].as_array().unwrap().len(), 3);
}
