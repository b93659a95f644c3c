use serde_json::json;

use crate::{
    contract,
    helpers::{Backend, LOGOUT, ME, REFRESH, error_code, spawn_app},
};

contract!(
    refresh_rotates_the_refresh_token,
    reusing_a_refresh_token_revokes_its_family,
    logout_ends_the_session,
    deleting_a_user_revokes_everything,
);

async fn refresh_rotates_the_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.register("r@example.com", "correct horse").await;
    let token = first["refreshToken"].as_str().unwrap();
    let second = app.graphql(REFRESH, json!({ "token": token }), None).await;
    assert!(second["errors"].is_null(), "{second}");
    let next = second["data"]["refresh"]["refreshToken"].as_str().unwrap();
    assert_ne!(next, token);
    assert_eq!(second["data"]["refresh"]["user"]["id"], first["user"]["id"]);
    let access = second["data"]["refresh"]["accessToken"].as_str().unwrap();
    let me = app.graphql(ME, json!({}), Some(access)).await;
    assert_eq!(me["data"]["me"]["id"], first["user"]["id"]);
    let third = app.graphql(REFRESH, json!({ "token": next }), None).await;
    assert!(third["errors"].is_null(), "{third}");
}

async fn reusing_a_refresh_token_revokes_its_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.register("reuse@example.com", "correct horse").await;
    let stolen = first["refreshToken"].as_str().unwrap();
    let rotated = app.graphql(REFRESH, json!({ "token": stolen }), None).await;
    let current = rotated["data"]["refresh"]["refreshToken"].as_str().unwrap();

    let replay = app.graphql(REFRESH, json!({ "token": stolen }), None).await;
    assert_eq!(error_code(&replay), "UNAUTHENTICATED");
    // The legitimate holder's newer token is revoked too: the session is over.
    let after = app
        .graphql(REFRESH, json!({ "token": current }), None)
        .await;
    assert_eq!(error_code(&after), "UNAUTHENTICATED");

    // Another session of the same user is not affected.
    let other = app.login("reuse@example.com", "correct horse").await;
    let other_token = other["data"]["login"]["refreshToken"].as_str().unwrap();
    let ok = app
        .graphql(REFRESH, json!({ "token": other_token }), None)
        .await;
    assert!(ok["errors"].is_null(), "{ok}");
}

async fn logout_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("bye@example.com", "correct horse").await;
    let token = session["refreshToken"].as_str().unwrap();
    let out = app.graphql(LOGOUT, json!({ "token": token }), None).await;
    assert_eq!(out["data"]["logout"], true);
    let refresh = app.graphql(REFRESH, json!({ "token": token }), None).await;
    assert_eq!(error_code(&refresh), "UNAUTHENTICATED");
    let unknown = app
        .graphql(LOGOUT, json!({ "token": "never-issued" }), None)
        .await;
    assert_eq!(unknown["data"]["logout"], false);
}

async fn deleting_a_user_revokes_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register("gone@example.com", "correct horse").await;
    let access = session["accessToken"].as_str().unwrap();
    let refresh = session["refreshToken"].as_str().unwrap();
    let id = session["user"]["id"].as_str().unwrap();
    let deleted = app
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": id }),
            Some(access),
        )
        .await;
    assert_eq!(deleted["data"]["deleteUser"], true, "{deleted}");
    assert_eq!(app.user_count().await, 0);
    // The still-unexpired access token no longer reaches an account...
    let me = app.graphql(ME, json!({}), Some(access)).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    // ...the refresh token is gone, and the credentials no longer work.
    let again = app
        .graphql(REFRESH, json!({ "token": refresh }), None)
        .await;
    assert_eq!(error_code(&again), "UNAUTHENTICATED");
    let login = app.login("gone@example.com", "correct horse").await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");
}
