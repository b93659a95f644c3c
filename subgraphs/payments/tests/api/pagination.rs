//! `User.payments`: newest first, cursor pages that stay stable while payments arrive.

use serde_json::{Value, json};

use crate::{
    contract,
    helpers::{Backend, Caller, TestApp, USER_PAYMENTS, error_code, spawn_app},
};

contract!(
    pages_stay_stable_while_new_payments_arrive,
    pages_filter_by_status,
    bad_page_arguments_are_rejected,
);

async fn page(
    app: &TestApp,
    caller: &Caller,
    first: i64,
    after: Option<&str>,
    status: Option<&str>,
) -> Value {
    let response = app
        .graphql(
            USER_PAYMENTS,
            json!({ "r": [{ "__typename": "User", "id": caller.id }], "first": first, "after": after, "status": status }),
            Some(&caller.token),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["_entities"][0]["payments"].clone()
}

fn amounts(connection: &Value) -> Vec<i64> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["amount"].as_i64().unwrap())
        .collect()
}

async fn pages_stay_stable_while_new_payments_arrive(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    // Amounts 1..=7 in creation order, so newest first reads 7, 6, 5, ...
    for amount in 1..=7 {
        app.create(&alice, amount, &format!("key-{amount}")).await;
    }
    let first = page(&app, &alice, 3, None, None).await;
    assert_eq!(amounts(&first), [7, 6, 5]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(
        first["pageInfo"]["startCursor"],
        first["edges"][0]["cursor"]
    );
    assert_eq!(first["pageInfo"]["endCursor"], first["edges"][2]["cursor"]);

    // New payments arrive between the pages: they do not shift what comes next.
    app.create(&alice, 100, "late-1").await;
    app.create(&alice, 200, "late-2").await;
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let second = page(&app, &alice, 3, Some(&cursor), None).await;
    assert_eq!(amounts(&second), [4, 3, 2]);
    assert_eq!(second["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(second["pageInfo"]["hasNextPage"], true);
    app.create(&alice, 300, "late-3").await;
    let cursor = second["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let third = page(&app, &alice, 3, Some(&cursor), None).await;
    assert_eq!(amounts(&third), [1]);
    assert_eq!(third["pageInfo"]["hasNextPage"], false);

    // From the top again, the new ones come first.
    let fresh = page(&app, &alice, 4, None, None).await;
    assert_eq!(amounts(&fresh), [300, 200, 100, 7]);
    // Someone else's payments never show up in alice's pages.
    let bob = app.user();
    app.create(&bob, 55, "bob").await;
    let all = page(&app, &alice, 100, None, None).await;
    assert_eq!(amounts(&all), [300, 200, 100, 7, 6, 5, 4, 3, 2, 1]);
}

async fn pages_filter_by_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    let mut ids = Vec::new();
    for amount in 1..=6 {
        ids.push(app.create(&alice, amount, &format!("s-{amount}")).await["id"].clone());
    }
    // Cancel the payments of amounts 2, 4 and 6.
    for id in [&ids[1], &ids[3], &ids[5]] {
        let r = app.act("cancelPayment", id, &alice).await;
        assert!(r["errors"].is_null(), "{r}");
    }
    let cancelled = page(&app, &alice, 2, None, Some("CANCELLED")).await;
    assert_eq!(amounts(&cancelled), [6, 4]);
    let cursor = cancelled["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let rest = page(&app, &alice, 2, Some(&cursor), Some("CANCELLED")).await;
    assert_eq!(amounts(&rest), [2]);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    let pending = page(&app, &alice, 10, None, Some("PENDING")).await;
    assert_eq!(amounts(&pending), [5, 3, 1]);
    let none = page(&app, &alice, 10, None, Some("REFUNDED")).await;
    assert_eq!(amounts(&none), Vec::<i64>::new());
    assert_eq!(none["pageInfo"]["endCursor"], Value::Null);
}

async fn bad_page_arguments_are_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.user();
    app.create(&alice, 1, "only").await;
    for (first, after) in [
        (0, None),
        (101, None),
        (-1, None),
        (10, Some("%%%")),
        (10, Some("bm90OmFjdXJzb3I")),
    ] {
        let response = app
            .graphql(
                USER_PAYMENTS,
                json!({ "r": [{ "__typename": "User", "id": alice.id }], "first": first, "after": after }),
                Some(&alice.token),
            )
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{first} {after:?}: {response}"
        );
    }
}
