//! Reading and changing notifications over GraphQL: ownership, pagination, read state.

use serde_json::{Value, json};
use service_kit::{events::PaymentCreated, jwt::Role};
use uuid::Uuid;

use crate::{
    contract,
    helpers::{Backend, TestApp, error_code, payment, spawn_app},
    tokens,
};

contract!(
    someone_elses_or_an_unknown_notification_is_not_found,
    pages_unread_filter_and_mark_all_read,
    another_users_notifications_are_forbidden_and_anonymous_is_unauthenticated,
    ready_reports_the_store_the_broker_and_the_mailer,
);

const MARK_READ: &str = "mutation($id: ID!) { markNotificationRead(id: $id) { id kind read } }";

/// `n` notifications for `user`, oldest first in the returned ids.
async fn seed(app: &TestApp, user: Uuid, n: usize) -> Vec<String> {
    for i in 0..n {
        app.fixture
            .publish(&PaymentCreated(payment(user, 100 + i as i64, "PENDING")))
            .await;
        app.wait_for_notifications(user, i + 1).await;
    }
    let token = tokens::token_for(&app.keys, user);
    let page = app.notifications_of(user, &token, "(first: 100)").await;
    let mut ids: Vec<String> = page["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.reverse();
    ids
}

async fn someone_elses_or_an_unknown_notification_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let ids = seed(&app, owner, 1).await;
    let id = &ids[0];
    let other_token = tokens::token_for(&app.keys, other);
    let owner_token = tokens::token_for(&app.keys, owner);

    let stolen = app
        .graphql(MARK_READ, json!({ "id": id }), Some(&other_token))
        .await;
    assert_eq!(error_code(&stolen), "NOT_FOUND", "{stolen}");
    let unknown_id = uuid::Uuid::now_v7().to_string();
    let unknown = app
        .graphql(MARK_READ, json!({ "id": unknown_id }), Some(&other_token))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    // The same answer, word for word: nothing tells an existing id from an unknown one.
    assert_eq!(
        stolen["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    let garbage = app
        .graphql(MARK_READ, json!({ "id": "not-an-id" }), Some(&other_token))
        .await;
    assert_eq!(error_code(&garbage), "NOT_FOUND");
    let peek = app
        .graphql(
            "query($id: ID!) { notification(id: $id) { id } }",
            json!({ "id": id }),
            Some(&other_token),
        )
        .await;
    assert!(peek["data"]["notification"].is_null(), "{peek}");
    // Still unread for its owner: the attempts above changed nothing.
    let page = app.notifications_of(owner, &owner_token, "").await;
    assert_eq!(page["unreadNotificationCount"], 1);

    let marked = app
        .graphql(MARK_READ, json!({ "id": id }), Some(&owner_token))
        .await;
    assert_eq!(
        marked["data"]["markNotificationRead"]["id"],
        id.as_str(),
        "{marked}"
    );
    assert_eq!(marked["data"]["markNotificationRead"]["read"], true);
    let page = app.notifications_of(owner, &owner_token, "").await;
    assert_eq!(page["unreadNotificationCount"], 0);
    assert_eq!(page["notifications"]["edges"][0]["node"]["read"], true);
    let own = app
        .graphql(
            "query($id: ID!) { notification(id: $id) { id read kind } }",
            json!({ "id": id }),
            Some(&owner_token),
        )
        .await;
    assert_eq!(
        own["data"]["notification"]["kind"], "PAYMENT_CREATED",
        "{own}"
    );
}

fn ids_of(page: &Value) -> Vec<String> {
    page["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn pages_unread_filter_and_mark_all_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = Uuid::new_v4();
    let token = tokens::token_for(&app.keys, user);
    let ids = seed(&app, user, 3).await; // oldest first
    let first = app.notifications_of(user, &token, "(first: 2)").await;
    assert_eq!(ids_of(&first), [ids[2].clone(), ids[1].clone()]);
    assert_eq!(first["notifications"]["pageInfo"]["hasNextPage"], true);
    let cursor = first["notifications"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app
        .notifications_of(user, &token, &format!("(first: 2, after: \"{cursor}\")"))
        .await;
    assert_eq!(ids_of(&second), [ids[0].clone()]);
    assert_eq!(second["notifications"]["pageInfo"]["hasNextPage"], false);

    app.graphql(MARK_READ, json!({ "id": ids[1] }), Some(&token))
        .await;
    let unread = app
        .notifications_of(user, &token, "(unreadOnly: true)")
        .await;
    assert_eq!(ids_of(&unread), [ids[2].clone(), ids[0].clone()]);
    assert_eq!(unread["unreadNotificationCount"], 2);

    let all = app
        .graphql(
            "mutation { markAllNotificationsRead }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(all["data"]["markAllNotificationsRead"], 2, "{all}");
    let after = app
        .notifications_of(user, &token, "(unreadOnly: true)")
        .await;
    assert!(ids_of(&after).is_empty());
    assert_eq!(after["unreadNotificationCount"], 0);
    assert_eq!(
        ids_of(&app.notifications_of(user, &token, "").await).len(),
        3
    );

    let bad_first = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { notifications(first: 0) { nodes { id } } } } }",
            json!({ "reps": [{ "__typename": "User", "id": user }] }),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&bad_first), "BAD_USER_INPUT");
    let bad_cursor = app
        .graphql(
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { notifications(after: \"garbage\") { nodes { id } } } } }",
            json!({ "reps": [{ "__typename": "User", "id": user }] }),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&bad_cursor), "BAD_USER_INPUT");
}

async fn another_users_notifications_are_forbidden_and_anonymous_is_unauthenticated(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let owner = Uuid::new_v4();
    seed(&app, owner, 1).await;
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on User { unreadNotificationCount } } }";
    let reps = json!({ "reps": [{ "__typename": "User", "id": owner }] });
    let other = app
        .graphql(
            query,
            reps.clone(),
            Some(&tokens::token_for(&app.keys, Uuid::new_v4())),
        )
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN", "{other}");
    let anonymous = app.graphql(query, reps.clone(), None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let forged = tokens::token_for(&tokens::generate(), owner);
    let forged = app.graphql(query, reps.clone(), Some(&forged)).await;
    assert_eq!(error_code(&forged), "UNAUTHENTICATED");
    // An ADMIN may read anyone's.
    let admin = app
        .keys
        .sign(&tokens::claims(Uuid::new_v4(), Role::Admin, 600));
    let seen = app.graphql(query, reps, Some(&admin)).await;
    assert_eq!(
        seen["data"]["_entities"][0]["unreadNotificationCount"], 1,
        "{seen}"
    );
}

async fn ready_reports_the_store_the_broker_and_the_mailer(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    for check in ["store", "broker", "mail"] {
        assert_eq!(body["checks"][check]["status"], "up", "{body}");
    }
    let health: Value = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}
