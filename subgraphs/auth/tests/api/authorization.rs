use serde_json::json;

use crate::{
    contract,
    helpers::{Backend, error_code, spawn_app},
};

contract!(
    a_user_sees_only_themselves,
    an_admin_sees_and_pages_through_everyone,
    a_user_cannot_delete_someone_else,
);

const USER: &str = "query($id: ID!) { user(id: $id) { id email } }";
const USERS: &str = "query($first: Int, $after: String) { users(first: $first, after: $after) { edges { cursor node { email } } pageInfo { hasNextPage endCursor } } }";

async fn a_user_sees_only_themselves(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.register("a@example.com", "correct horse").await;
    let b = app.register("b@example.com", "correct horse").await;
    let a_token = a["accessToken"].as_str().unwrap();
    let own = app
        .graphql(USER, json!({ "id": a["user"]["id"] }), Some(a_token))
        .await;
    assert_eq!(own["data"]["user"]["email"], "a@example.com");
    let other = app
        .graphql(USER, json!({ "id": b["user"]["id"] }), Some(a_token))
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN");
    assert!(!other.to_string().contains("b@example.com"));
    let list = app.graphql(USERS, json!({}), Some(a_token)).await;
    assert_eq!(error_code(&list), "FORBIDDEN");
    let anonymous = app
        .graphql(USER, json!({ "id": a["user"]["id"] }), None)
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

async fn an_admin_sees_and_pages_through_everyone(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..5 {
        app.register(&format!("user{i}@example.com"), "correct horse")
            .await;
    }
    let admin = app.admin_token().await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .graphql(USERS, json!({ "first": 2, "after": after }), Some(&admin))
            .await;
        assert!(page["errors"].is_null(), "{page}");
        let users = &page["data"]["users"];
        for edge in users["edges"].as_array().unwrap() {
            seen.push(edge["node"]["email"].as_str().unwrap().to_owned());
        }
        if users["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = Some(users["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    // Five users and the admin, each exactly once, in sign-up order.
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(
        &seen[..5],
        &[
            "user0@example.com",
            "user1@example.com",
            "user2@example.com",
            "user3@example.com",
            "user4@example.com"
        ]
    );
    let bad = app
        .graphql(USERS, json!({ "first": 500 }), Some(&admin))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    let bad_cursor = app
        .graphql(USERS, json!({ "after": "%%%" }), Some(&admin))
        .await;
    assert_eq!(error_code(&bad_cursor), "BAD_USER_INPUT");
}

async fn a_user_cannot_delete_someone_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.register("a@example.com", "correct horse").await;
    let b = app.register("b@example.com", "correct horse").await;
    let denied = app
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": b["user"]["id"] }),
            a["accessToken"].as_str(),
        )
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    assert_eq!(app.user_count().await, 2);
    let admin = app.admin_token().await;
    let allowed = app
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": b["user"]["id"] }),
            Some(&admin),
        )
        .await;
    assert_eq!(allowed["data"]["deleteUser"], true);
    let missing = app
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": b["user"]["id"] }),
            Some(&admin),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}
