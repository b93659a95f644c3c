//! A payment whose processing was interrupted (the service died between asking the
//! processor and recording its answer) does not stay PROCESSING forever.

use std::time::Duration;

use payments::domain::{Actor, PaymentStatus};
use serde_json::json;
use uuid::Uuid;

use crate::{
    contract,
    helpers::{Backend, TestApp, spawn_app},
};

contract!(interrupted_processing_is_finished_by_the_sweep);

async fn read(app: &TestApp, token: &str, id: Uuid) -> serde_json::Value {
    app.graphql(
        "query($id: ID!) { payment(id: $id) { status history { status actor } } }",
        json!({ "id": id }),
        Some(token),
    )
    .await["data"]["payment"]
        .clone()
}

async fn interrupted_processing_is_finished_by_the_sweep(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let alice = app.user();
    let id =
        |payment: serde_json::Value| -> Uuid { payment["id"].as_str().unwrap().parse().unwrap() };
    let stale = id(app.create(&alice, 1_000, "stale").await);
    let fresh = id(app.create(&alice, 1_013, "fresh").await);
    // What a crash right after PENDING -> PROCESSING leaves behind: one an hour ago, one now.
    let store = app.service.store().clone();
    let now = payments::domain::now();
    for (payment_id, at) in [(stale, now - chrono::Duration::hours(1)), (fresh, now)] {
        let payment = store.get(payment_id).await.unwrap().unwrap();
        let transition = payment
            .transition(PaymentStatus::Processing, Actor::User(alice.id), at, None)
            .unwrap();
        assert!(store.apply(&transition, None).await.unwrap().is_some());
    }

    let finished = app
        .service
        .resume_stale_processing(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(finished, 1);
    let done = read(&app, &alice.token, stale).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["history"][2]["actor"], "system:simulated-processor");
    let event = app
        .next_event("payment.completed", Duration::from_secs(10))
        .await
        .expect("payment.completed");
    assert_eq!(event.data["paymentId"], stale.to_string());
    // One still within its time is left to its own request.
    assert_eq!(
        read(&app, &alice.token, fresh).await["status"],
        "PROCESSING"
    );
    // Nothing left to finish.
    assert_eq!(
        app.service
            .resume_stale_processing(Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
}
