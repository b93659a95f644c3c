//! Racing requests on one payment: each transition is one atomic conditional update, so
//! exactly one request wins and the others get a CONFLICT.

use std::{collections::HashMap, time::Duration};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, PAYMENT_FIELDS, TestApp, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_process_calls_process_once_real() {
    fifty_concurrent_process_calls_process_once(Backend::Real).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_process_calls_process_once_embedded() {
    fifty_concurrent_process_calls_process_once(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_cancels_and_processes_have_one_winner_real() {
    racing_cancels_and_processes_have_one_winner(Backend::Real).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_cancels_and_processes_have_one_winner_embedded() {
    racing_cancels_and_processes_have_one_winner(Backend::Embedded).await
}

/// Outcome of each response: the resulting status, or the error code.
fn outcomes(responses: &[Value], field: impl Fn(usize) -> &'static str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (i, r) in responses.iter().enumerate() {
        let outcome = match r["errors"][0]["extensions"]["code"].as_str() {
            Some(code) => code.to_owned(),
            None => r["data"][field(i)]["status"].as_str().unwrap().to_owned(),
        };
        *counts.entry(outcome).or_default() += 1;
    }
    counts
}

async fn spawn(backend: Backend) -> TestApp {
    let mut options = Options::new(backend);
    // Long enough that every request arrives while the winner is still processing.
    options.processor_latency_ms = 200;
    spawn_app_with(options).await
}

async fn fifty_concurrent_process_calls_process_once(backend: Backend) {
    let mut app = spawn(backend).await;
    let alice = app.user();
    let id = app.create(&alice, 5_000, "contended").await["id"].clone();
    let query = format!("mutation($id: ID!) {{ processPayment(id: $id) {{ {PAYMENT_FIELDS} }} }}");
    let responses =
        join_all((0..50).map(|_| app.graphql(&query, json!({ "id": id }), Some(&alice.token))))
            .await;
    let counts = outcomes(&responses, |_| "processPayment");
    assert_eq!(counts.get("COMPLETED"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("CONFLICT"), Some(&49), "{counts:?}");
    for r in responses.iter().filter(|r| !r["errors"].is_null()) {
        let message = r["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("cannot be processed"), "{message}");
    }
    let winner = responses.iter().find(|r| r["errors"].is_null()).unwrap();
    let history = winner["data"]["processPayment"]["history"]
        .as_array()
        .unwrap();
    let statuses: Vec<&str> = history
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PENDING", "PROCESSING", "COMPLETED"]);
    // Exactly one outcome event.
    let completed = app
        .next_event("payment.completed", Duration::from_secs(10))
        .await
        .expect("payment.completed");
    assert_eq!(completed.data["paymentId"], id);
    let rest = app.events_within(Duration::from_secs(2)).await;
    let outcome_events: Vec<_> = rest
        .iter()
        .filter(|e| e.event_type == "payment.completed" || e.event_type == "payment.failed")
        .collect();
    assert!(outcome_events.is_empty(), "{outcome_events:?}");
}

async fn racing_cancels_and_processes_have_one_winner(backend: Backend) {
    let mut app = spawn(backend).await;
    let alice = app.user();
    let id = app.create(&alice, 5_000, "cancel-or-process").await["id"].clone();
    let mutations: Vec<&'static str> = (0..30)
        .map(|i| {
            if i % 2 == 0 {
                "cancelPayment"
            } else {
                "processPayment"
            }
        })
        .collect();
    let responses = join_all(mutations.iter().map(|m| {
        let query = format!("mutation($id: ID!) {{ {m}(id: $id) {{ id status }} }}");
        let app = &app;
        let id = id.clone();
        let token = alice.token.clone();
        async move { app.graphql(&query, json!({ "id": id }), Some(&token)).await }
    }))
    .await;
    let counts = outcomes(&responses, |i| mutations[i]);
    let winners = counts.get("CANCELLED").copied().unwrap_or(0)
        + counts.get("COMPLETED").copied().unwrap_or(0);
    assert_eq!(winners, 1, "{counts:?}");
    assert_eq!(counts.get("CONFLICT"), Some(&29), "{counts:?}");
    let final_status = if counts.contains_key("CANCELLED") {
        "payment.cancelled"
    } else {
        "payment.completed"
    };
    assert!(
        app.next_event(final_status, Duration::from_secs(10))
            .await
            .is_some()
    );
    let payments = app.all_payments(alice.id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(
        payments[0]["status"],
        if final_status == "payment.cancelled" {
            "CANCELLED"
        } else {
            "COMPLETED"
        }
    );
}
