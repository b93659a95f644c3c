//! An account's standing, changed by an ADMIN, judges its tokens at once: a deactivated
//! account's still-valid access token, refresh token and password all stop working, a
//! demoted ADMIN's token acts as a USER's, and each change is announced.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    contract,
    helpers::{Backend, ME, REFRESH, error_code, spawn_app},
};

contract!(
    a_deactivated_accounts_tokens_and_password_stop_working_until_it_is_reactivated,
    a_demoted_admins_token_acts_as_a_users,
    only_an_admin_changes_standing_and_never_their_own,
);

const DEACTIVATE: &str = "mutation($id: ID!) { deactivateUser(id: $id) { id isActive role } }";
const REACTIVATE: &str = "mutation($id: ID!) { reactivateUser(id: $id) { id isActive } }";
const CHANGE_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { changeUserRole(id: $id, role: $role) { id role } }";
const USERS: &str = "{ users(first: 1) { edges { node { id } } } }";

fn token(payload: &Value, which: &str) -> String {
    payload[which].as_str().unwrap().to_owned()
}

async fn a_deactivated_accounts_tokens_and_password_stop_working_until_it_is_reactivated(
    backend: Backend,
) {
    let mut app = spawn_app(backend).await;
    let ada = app.register("ada@example.com", "correct horse").await;
    let (access, refresh) = (token(&ada, "accessToken"), token(&ada, "refreshToken"));
    let id = ada["user"]["id"].clone();
    let admin = app.admin_token().await;
    assert!(
        app.graphql(ME, json!({}), Some(&access)).await["errors"].is_null(),
        "the token works before"
    );

    let deactivated = app
        .graphql(DEACTIVATE, json!({ "id": id }), Some(&admin))
        .await;
    assert_eq!(
        deactivated["data"]["deactivateUser"]["isActive"], false,
        "{deactivated}"
    );
    let event = app
        .next_event("user.deactivated", Duration::from_secs(15))
        .await
        .expect("user.deactivated");
    assert_eq!(event.data["userId"], id);
    assert_eq!(event.data["active"], false);
    assert_eq!(event.data["role"], "USER");

    let me = app.graphql(ME, json!({}), Some(&access)).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED", "{me}");
    assert_eq!(me["errors"][0]["message"], "the account is deactivated");
    let refreshed = app
        .graphql(REFRESH, json!({ "token": refresh }), None)
        .await;
    assert_eq!(error_code(&refreshed), "UNAUTHENTICATED", "{refreshed}");
    let login = app.login("ada@example.com", "correct horse").await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED", "{login}");
    // Deactivating again changes and announces nothing.
    app.graphql(DEACTIVATE, json!({ "id": id }), Some(&admin))
        .await;

    let reactivated = app
        .graphql(REACTIVATE, json!({ "id": id }), Some(&admin))
        .await;
    assert_eq!(
        reactivated["data"]["reactivateUser"]["isActive"], true,
        "{reactivated}"
    );
    let next = app
        .next_event("user.reactivated", Duration::from_secs(15))
        .await
        .expect("user.reactivated");
    assert_eq!(next.data["active"], true);
    let later = app.events_within(Duration::from_millis(500)).await;
    assert!(
        later.iter().all(|e| e.event_type != "user.deactivated"),
        "{later:?}"
    );
    assert!(
        app.graphql(ME, json!({}), Some(&access)).await["errors"].is_null(),
        "the unexpired token works again"
    );
    let login = app.login("ada@example.com", "correct horse").await;
    assert!(login["errors"].is_null(), "{login}");
}

async fn a_demoted_admins_token_acts_as_a_users(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let demoted = app.admin_token().await;
    let admin = app.admin_token().await;
    assert!(app.graphql(USERS, json!({}), Some(&demoted)).await["errors"].is_null());
    let id = app.graphql(ME, json!({}), Some(&demoted)).await["data"]["me"]["id"].clone();

    let changed = app
        .graphql(
            CHANGE_ROLE,
            json!({ "id": id, "role": "USER" }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        changed["data"]["changeUserRole"]["role"], "USER",
        "{changed}"
    );
    let event = app
        .next_event("user.role_changed", Duration::from_secs(15))
        .await
        .expect("user.role_changed");
    assert_eq!(event.data["role"], "USER");
    assert_eq!(event.data["active"], true);

    let users = app.graphql(USERS, json!({}), Some(&demoted)).await;
    assert_eq!(error_code(&users), "FORBIDDEN", "{users}");
    // Still a user: their own account is theirs.
    assert!(app.graphql(ME, json!({}), Some(&demoted)).await["errors"].is_null());
}

async fn only_an_admin_changes_standing_and_never_their_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register("ada@example.com", "correct horse").await;
    let bob = app.register("bob@example.com", "correct horse").await;
    let ada_token = token(&ada, "accessToken");
    let bob_id = bob["user"]["id"].clone();
    for (query, variables) in [
        (DEACTIVATE, json!({ "id": bob_id })),
        (REACTIVATE, json!({ "id": bob_id })),
        (
            CHANGE_ROLE,
            json!({ "id": ada["user"]["id"], "role": "ADMIN" }),
        ),
    ] {
        let refused = app.graphql(query, variables, Some(&ada_token)).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{query}: {refused}");
    }
    let anonymous = app.graphql(DEACTIVATE, json!({ "id": bob_id }), None).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let admin = app.admin_token().await;
    let own = app.graphql(ME, json!({}), Some(&admin)).await["data"]["me"]["id"].clone();
    let demote_self = app
        .graphql(
            CHANGE_ROLE,
            json!({ "id": own, "role": "USER" }),
            Some(&admin),
        )
        .await;
    assert_eq!(error_code(&demote_self), "BAD_USER_INPUT", "{demote_self}");
    let unknown = app
        .graphql(
            DEACTIVATE,
            json!({ "id": uuid::Uuid::now_v7() }),
            Some(&admin),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND", "{unknown}");
    // Bob was never touched.
    let bob_login = app.login("bob@example.com", "correct horse").await;
    assert!(bob_login["errors"].is_null(), "{bob_login}");
}
