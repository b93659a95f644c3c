//! Who may see and change a payment: its owner and ADMINs; nobody without a valid token.

use serde_json::{Value, json};
use service_kit::jwt::Role;

use crate::{
    contract,
    helpers::{
        Backend, CREATE, PAYMENT, USER_PAYMENTS, claims, error_code, generate_keys, spawn_app,
    },
};

contract!(
    only_the_owner_and_admins_see_a_payment,
    only_the_owner_and_admins_change_a_payment,
    every_operation_needs_a_valid_token,
);

async fn only_the_owner_and_admins_see_a_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, mallory, admin) = (app.user(), app.user(), app.admin());
    let id = app.create(&alice, 4_200, "private").await["id"].clone();

    let own = app
        .graphql(PAYMENT, json!({ "id": id }), Some(&alice.token))
        .await;
    assert_eq!(own["data"]["payment"]["amount"], 4_200, "{own}");
    let by_admin = app
        .graphql(PAYMENT, json!({ "id": id }), Some(&admin.token))
        .await;
    assert_eq!(by_admin["data"]["payment"]["amount"], 4_200, "{by_admin}");
    let other = app
        .graphql(PAYMENT, json!({ "id": id }), Some(&mallory.token))
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN");
    assert!(!other.to_string().contains("4200"), "{other}");

    let list = |token: String| {
        let app = &app;
        let user = alice.id;
        async move {
            app.graphql(
                USER_PAYMENTS,
                json!({ "r": [{ "__typename": "User", "id": user }] }),
                Some(&token),
            )
            .await
        }
    };
    let own_list = list(alice.token.clone()).await;
    assert_eq!(
        own_list["data"]["_entities"][0]["payments"]["edges"][0]["node"]["id"],
        id
    );
    let admin_list = list(admin.token.clone()).await;
    assert_eq!(
        admin_list["data"]["_entities"][0]["payments"]["edges"][0]["node"]["id"],
        id
    );
    let other_list = list(mallory.token.clone()).await;
    assert_eq!(error_code(&other_list), "FORBIDDEN");
    assert!(!other_list.to_string().contains(id.as_str().unwrap()));

    // The Payment entity (how the router fetches a payment by key) follows the same rule.
    let entity =
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Payment { id amount } } }";
    let reps = json!({ "r": [{ "__typename": "Payment", "id": id }] });
    let own_entity = app.graphql(entity, reps.clone(), Some(&alice.token)).await;
    assert_eq!(
        own_entity["data"]["_entities"][0]["amount"], 4_200,
        "{own_entity}"
    );
    let other_entity = app.graphql(entity, reps, Some(&mallory.token)).await;
    assert_eq!(error_code(&other_entity), "FORBIDDEN");
}

async fn only_the_owner_and_admins_change_a_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, mallory, admin) = (app.user(), app.user(), app.admin());
    let first = app.create(&alice, 1_000, "a").await["id"].clone();
    for mutation in ["processPayment", "cancelPayment", "refundPayment"] {
        let response = app.act(mutation, &first, &mallory).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{mutation}: {response}");
    }
    // Nothing changed.
    assert_eq!(app.all_payments(alice.id).await[0]["status"], "PENDING");
    // An ADMIN may act on anyone's payment, and is recorded as the actor.
    let processed = app.act("processPayment", &first, &admin).await;
    assert_eq!(
        processed["data"]["processPayment"]["status"], "COMPLETED",
        "{processed}"
    );
    assert_eq!(
        processed["data"]["processPayment"]["history"][1]["actor"],
        format!("user:{}", admin.id)
    );
    let refunded = app.act("refundPayment", &first, &admin).await;
    assert_eq!(
        refunded["data"]["refundPayment"]["status"], "REFUNDED",
        "{refunded}"
    );
    let second = app.create(&alice, 1_000, "b").await["id"].clone();
    let cancelled = app.act("cancelPayment", &second, &alice).await;
    assert_eq!(
        cancelled["data"]["cancelPayment"]["status"], "CANCELLED",
        "{cancelled}"
    );
}

async fn every_operation_needs_a_valid_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    let id = app.create(&alice, 1_000, "mine").await["id"].clone();
    let other_keys = generate_keys();
    let expired = app.keys.sign(&claims(alice.id, Role::Admin, -3600));
    let mut wrong_audience = claims(alice.id, Role::User, 600);
    wrong_audience.aud = "someone-else".into();
    let wrong_audience = app.keys.sign(&wrong_audience);
    // Signed by a key the JWKS does not have, under a kid it does have.
    let mut forged_claims = claims(alice.id, Role::Admin, 600);
    forged_claims.jti = "forged".into();
    let forged = other_keys.sign_with_kid(app.keys.kid(), &forged_claims);
    let operations: Vec<(&str, Value)> = vec![
        (PAYMENT, json!({ "id": id })),
        (
            CREATE,
            json!({ "input": { "amount": 1, "currency": "USD", "idempotencyKey": "anon" } }),
        ),
        (
            "mutation($id: ID!) { processPayment(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { cancelPayment(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: ID!) { refundPayment(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            USER_PAYMENTS,
            json!({ "r": [{ "__typename": "User", "id": alice.id }] }),
        ),
        (
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Payment { id } } }",
            json!({ "r": [{ "__typename": "Payment", "id": id }] }),
        ),
    ];
    for (query, variables) in &operations {
        for (name, token) in [
            ("no token", None),
            ("expired", Some(expired.as_str())),
            ("wrong audience", Some(wrong_audience.as_str())),
            ("wrong key", Some(forged.as_str())),
            ("garbage", Some("not.a.token")),
        ] {
            let response = app.graphql(query, variables.clone(), token).await;
            assert_eq!(
                error_code(&response),
                "UNAUTHENTICATED",
                "{name} on {query}: {response}"
            );
        }
    }
    // None of that changed anything.
    let payments = app.all_payments(alice.id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "PENDING");
    // And the owner's real token works on the same payment, so the failures above were
    // about the tokens.
    let ok = app
        .graphql(PAYMENT, json!({ "id": id }), Some(&alice.token))
        .await;
    assert_eq!(ok["data"]["payment"]["status"], "PENDING", "{ok}");
}
