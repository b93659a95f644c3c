//! Events: `user.deleted` cancels a deleted account's pending payments (once), every
//! standing event judges the account's unexpired tokens, and the outbox keeps every
//! payment event while RabbitMQ is unreachable.

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};
use service_kit::{
    accounts::{Standing, StandingChange},
    events::{Envelope, UserDeleted},
    jwt::Role,
    testing::{eventually, standing_event},
};
use uuid::Uuid;

use crate::{
    contract,
    helpers::{Backend, Options, PAYMENT, TestApp, error_code, spawn_app, spawn_app_with},
};

contract!(
    a_deleted_users_pending_payments_are_cancelled_once,
    a_deactivated_or_demoted_accounts_tokens_follow_its_standing,
);

const WAIT: Duration = Duration::from_secs(15);

fn user_deleted(user_id: Uuid) -> Envelope {
    Envelope::new(
        "/auth",
        &UserDeleted {
            user_id,
            email: "gone@example.com".into(),
            timestamp: chrono::Utc::now(),
        },
    )
    .unwrap()
}

async fn cancelled_ids(app: &mut TestApp, count: usize) -> HashSet<String> {
    let mut ids = HashSet::new();
    while ids.len() < count {
        let event = app
            .next_event("payment.cancelled", WAIT)
            .await
            .expect("payment.cancelled");
        ids.insert(event.data["paymentId"].as_str().unwrap().to_owned());
    }
    ids
}

async fn payment(app: &TestApp, id: &Value) -> Value {
    let admin = app.admin();
    let response = app
        .graphql(
            "query($id: ID!) { payment(id: $id) { status history { status actor note } } }",
            json!({ "id": id }),
            Some(&admin.token),
        )
        .await;
    response["data"]["payment"].clone()
}

async fn a_deleted_users_pending_payments_are_cancelled_once(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (alice, bob) = (app.user(), app.user());
    let first = app.create(&alice, 100, "a").await["id"].clone();
    let second = app.create(&alice, 200, "b").await["id"].clone();
    let done = app.create(&alice, 300, "c").await["id"].clone();
    let processed = app.act("processPayment", &done, &alice).await;
    assert_eq!(processed["data"]["processPayment"]["status"], "COMPLETED");
    let bobs = app.create(&bob, 400, "d").await["id"].clone();

    let event = user_deleted(alice.id);
    app.publisher.publish(&event).await.unwrap();
    let cancelled = cancelled_ids(&mut app, 2).await;
    let expected: HashSet<String> = [&first, &second]
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cancelled, expected);
    for id in [&first, &second] {
        let p = payment(&app, id).await;
        assert_eq!(p["status"], "CANCELLED");
        assert_eq!(p["history"][1]["actor"], "system:user-deleted");
        assert_eq!(p["history"][1]["note"], "the account was deleted");
    }
    // Money that moved stays on record; other users are untouched.
    assert_eq!(payment(&app, &done).await["status"], "COMPLETED");
    assert_eq!(payment(&app, &bobs).await["status"], "PENDING");

    // The same event again changes nothing. Bob's deletion, published after it, tells
    // when the consumer has got past it.
    app.publisher.publish(&event).await.unwrap();
    app.publisher.publish(&user_deleted(bob.id)).await.unwrap();
    let bob_cancelled = cancelled_ids(&mut app, 1).await;
    assert_eq!(
        bob_cancelled,
        HashSet::from([bobs.as_str().unwrap().to_owned()])
    );
    let later = app.events_within(Duration::from_secs(1)).await;
    assert!(later.is_empty(), "{later:?}");
    for id in [&first, &second] {
        assert_eq!(
            payment(&app, id).await["history"].as_array().unwrap().len(),
            2
        );
    }
    // Alice's token is still unexpired, and refused from now on; Bob's too.
    let refused = app
        .graphql(
            "mutation { createPayment(input: { amount: 1, currency: \"USD\", description: \"ghost\", idempotencyKey: \"ghost\" }) { id } }",
            serde_json::json!({}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    // Handling it yet again directly: nothing left to cancel.
    assert_eq!(
        app.service
            .cancel_pending_of_deleted_user(alice.id)
            .await
            .unwrap(),
        0
    );
}

fn change(user_id: Uuid, standing: Standing, age: chrono::Duration) -> Envelope {
    standing_event(&StandingChange {
        user_id,
        standing,
        as_of: chrono::Utc::now() - age,
    })
}

/// The code of the first error of `caller`'s read of payment `id` (`None`: it worked).
async fn read_code(app: &TestApp, id: &Value, token: &str) -> Option<String> {
    let response = app
        .graphql(
            "query($id: ID!) { payment(id: $id) { id } }",
            json!({ "id": id }),
            Some(token),
        )
        .await;
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned)
}

async fn a_deactivated_or_demoted_accounts_tokens_follow_its_standing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, admin, bob) = (app.user(), app.admin(), app.user());
    let id = app.create(&alice, 100, "a").await["id"].clone();
    assert_eq!(read_code(&app, &id, &admin.token).await, None);

    let user = Standing::Active { role: Role::User };
    let now = chrono::Duration::zero();
    app.publisher
        .publish(&change(admin.id, user, now))
        .await
        .unwrap();
    eventually(
        "the demoted ADMIN to be refused another's payment",
        || async {
            (read_code(&app, &id, &admin.token).await.as_deref() == Some("FORBIDDEN")).then_some(())
        },
    )
    .await;

    app.publisher
        .publish(&change(alice.id, Standing::Deactivated, now))
        .await
        .unwrap();
    eventually("the deactivated account's token to be refused", || async {
        (read_code(&app, &id, &alice.token).await.as_deref() == Some("UNAUTHENTICATED"))
            .then_some(())
    })
    .await;
    // A reactivation older than the deactivation, delivered late, changes nothing: Bob's
    // deactivation, published after it, tells when the consumer has got past it.
    app.publisher
        .publish(&change(alice.id, user, chrono::Duration::minutes(1)))
        .await
        .unwrap();
    let bobs = app.create(&bob, 100, "b").await["id"].clone();
    app.publisher
        .publish(&change(bob.id, Standing::Deactivated, now))
        .await
        .unwrap();
    eventually("Bob's deactivation to be consumed", || async {
        (read_code(&app, &bobs, &bob.token).await.as_deref() == Some("UNAUTHENTICATED"))
            .then_some(())
    })
    .await;
    assert_eq!(
        read_code(&app, &id, &alice.token).await.as_deref(),
        Some("UNAUTHENTICATED")
    );
    // A newer reactivation lets the unexpired token back in.
    app.publisher
        .publish(&change(alice.id, user, now))
        .await
        .unwrap();
    eventually("the reactivated account's token to work", || async {
        read_code(&app, &id, &alice.token)
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

/// RabbitMQ unreachable while payments are created and processed: the API keeps working
/// (events wait in the outbox), `/ready` says the broker is down, and once it is back
/// every event arrives exactly once, in order.
#[tokio::test]
async fn events_written_while_the_broker_is_down_arrive_once_it_is_back() {
    let mut app = spawn_app_with(Options {
        broker_proxy: true,
        ..Options::new(Backend::Real)
    })
    .await;
    let proxy = app.proxy.take().unwrap();
    proxy.disable();
    let alice = app.user();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.create(&alice, 1_000 + i, &format!("outage-{i}")).await["id"].clone());
    }
    let processed = app.act("processPayment", &ids[0], &alice).await;
    assert_eq!(
        processed["data"]["processPayment"]["status"], "COMPLETED",
        "{processed}"
    );
    let ready = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let during = app.events_within(Duration::from_secs(2)).await;
    assert!(
        during.is_empty(),
        "nothing can be published while the broker is cut off"
    );

    proxy.enable();
    let mut received = Vec::new();
    while received.len() < 4 {
        let event = app
            .next_any(Duration::from_secs(30))
            .await
            .expect("every event arrives after the broker is back");
        received.push(event);
    }
    // Nothing more arrives: each event exactly once.
    received.extend(app.events_within(Duration::from_secs(2)).await);
    let summary: Vec<(String, String)> = received
        .iter()
        .map(|e| {
            (
                e.event_type.clone(),
                e.data["paymentId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let id = |i: usize| ids[i].as_str().unwrap().to_owned();
    assert_eq!(
        summary,
        vec![
            ("payment.created".to_owned(), id(0)),
            ("payment.created".to_owned(), id(1)),
            ("payment.created".to_owned(), id(2)),
            ("payment.completed".to_owned(), id(0)),
        ]
    );
    let unique: HashSet<Uuid> = received.iter().map(|e| e.id).collect();
    assert_eq!(unique.len(), 4);
    let read = app
        .graphql(PAYMENT, json!({ "id": ids[0] }), Some(&alice.token))
        .await;
    assert_eq!(read["data"]["payment"]["status"], "COMPLETED");
}
