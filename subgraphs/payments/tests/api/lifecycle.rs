//! A payment's life through the API, and the events each step publishes.

use std::time::Duration;

use serde_json::json;
use service_kit::events::PaymentData;

use crate::{
    contract,
    helpers::{Backend, PAYMENT, TestApp, error_code, spawn_app},
};

contract!(
    a_payment_is_created_processed_and_refunded,
    a_declined_payment_fails_with_a_reason,
    a_pending_payment_can_be_cancelled,
);

const WAIT: Duration = Duration::from_secs(10);

async fn event_data(app: &mut TestApp, event_type: &str) -> PaymentData {
    let event = app
        .next_event(event_type, WAIT)
        .await
        .unwrap_or_else(|| panic!("no {event_type} event"));
    assert_eq!(event.source, "/payments");
    assert_eq!(event.specversion, "1.0");
    // Payment events are the payment data itself, in camelCase.
    for field in [
        "paymentId",
        "userId",
        "amount",
        "currency",
        "status",
        "timestamp",
    ] {
        assert!(
            event.data.get(field).is_some(),
            "missing {field}: {}",
            event.data
        );
    }
    serde_json::from_value(event.data).unwrap()
}

async fn a_payment_is_created_processed_and_refunded(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let alice = app.user();
    let created = app.create(&alice, 12_345, "order-1").await;
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["amount"], 12_345);
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["description"], "test");
    assert_eq!(created["user"]["id"], alice.id.to_string());
    assert_eq!(created["history"].as_array().unwrap().len(), 1);
    assert_eq!(created["history"][0]["status"], "PENDING");
    assert_eq!(created["history"][0]["previousStatus"], json!(null));
    assert_eq!(created["history"][0]["actor"], format!("user:{}", alice.id));
    let id = created["id"].clone();
    let data = event_data(&mut app, "payment.created").await;
    assert_eq!(data.payment_id.to_string(), id.as_str().unwrap());
    assert_eq!(data.user_id, alice.id);
    assert_eq!((data.amount, data.currency.as_str()), (12_345, "USD"));
    assert_eq!(data.status, "PENDING");
    // Where the receipt goes: the payer's email, from their token.
    let payer = format!("{}@example.com", alice.id.simple());
    assert_eq!(data.email.as_deref(), Some(payer.as_str()));

    let processed = app.act("processPayment", &id, &alice).await;
    let payment = &processed["data"]["processPayment"];
    assert_eq!(payment["status"], "COMPLETED", "{processed}");
    assert_eq!(payment["failureReason"], json!(null));
    let steps: Vec<(String, String)> = payment["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap().to_owned(),
                h["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("PENDING".to_owned(), format!("user:{}", alice.id)),
            ("PROCESSING".to_owned(), format!("user:{}", alice.id)),
            (
                "COMPLETED".to_owned(),
                "system:simulated-processor".to_owned()
            ),
        ]
    );
    assert_eq!(payment["history"][2]["previousStatus"], "PROCESSING");
    let completed = event_data(&mut app, "payment.completed").await;
    assert_eq!(completed.status, "COMPLETED");
    // A later event, caused by the processor, still names the payer.
    assert_eq!(completed.email.as_deref(), Some(payer.as_str()));
    assert_eq!(completed.payment_id.to_string(), id.as_str().unwrap());

    let refunded = app.act("refundPayment", &id, &alice).await;
    assert_eq!(
        refunded["data"]["refundPayment"]["status"], "REFUNDED",
        "{refunded}"
    );
    assert_eq!(
        refunded["data"]["refundPayment"]["history"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        event_data(&mut app, "payment.refunded").await.status,
        "REFUNDED"
    );
    // The stored payment agrees with what the mutation returned.
    let read = app
        .graphql(PAYMENT, json!({ "id": id }), Some(&alice.token))
        .await;
    assert_eq!(read["data"]["payment"]["status"], "REFUNDED");
    // A final status stays final.
    let again = app.act("refundPayment", &id, &alice).await;
    assert_eq!(error_code(&again), "CONFLICT");
}

async fn a_declined_payment_fails_with_a_reason(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let bob = app.user();
    // The simulated processor declines amounts ending in 13.
    let id = app.create(&bob, 1_013, "declined").await["id"].clone();
    let processed = app.act("processPayment", &id, &bob).await;
    let payment = &processed["data"]["processPayment"];
    assert_eq!(payment["status"], "FAILED", "{processed}");
    assert_eq!(payment["failureReason"], "card declined (simulated)");
    assert_eq!(payment["history"][2]["note"], "card declined (simulated)");
    let failed = event_data(&mut app, "payment.failed").await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("card declined (simulated)")
    );
    // A failed payment cannot be refunded, cancelled or processed again.
    for mutation in ["refundPayment", "cancelPayment", "processPayment"] {
        let response = app.act(mutation, &id, &bob).await;
        assert_eq!(error_code(&response), "CONFLICT", "{mutation}: {response}");
    }
}

async fn a_pending_payment_can_be_cancelled(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let carol = app.user();
    let id = app.create(&carol, 700, "to-cancel").await["id"].clone();
    let cancelled = app.act("cancelPayment", &id, &carol).await;
    assert_eq!(
        cancelled["data"]["cancelPayment"]["status"], "CANCELLED",
        "{cancelled}"
    );
    assert_eq!(
        event_data(&mut app, "payment.cancelled").await.status,
        "CANCELLED"
    );
    let processed = app.act("processPayment", &id, &carol).await;
    assert_eq!(error_code(&processed), "CONFLICT");
    assert!(
        processed["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("CANCELLED"),
        "{processed}"
    );
}
