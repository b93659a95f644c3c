use serde_json::json;

use crate::{
    contract,
    helpers::{Backend, ME, REGISTER, error_code, spawn_app},
};

contract!(
    register_returns_a_session_for_the_new_user,
    bad_registration_input_is_rejected_and_nothing_is_written,
    duplicate_email_is_a_conflict_regardless_of_case,
    login_with_wrong_password_or_unknown_email_fails_the_same_way,
    repeated_failures_throttle_the_address_not_the_owner,
    responses_never_contain_password_or_hash,
    health_ready_and_metrics_answer,
);

async fn register_returns_a_session_for_the_new_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let payload = app.register("ada@example.com", "correct horse").await;
    assert_eq!(payload["tokenType"], "Bearer");
    assert_eq!(payload["expiresIn"], 900);
    assert_eq!(payload["user"]["email"], "ada@example.com");
    assert_eq!(payload["user"]["role"], "USER");
    assert_eq!(payload["user"]["isActive"], true);
    let token = payload["accessToken"].as_str().unwrap();
    let me = app.graphql(ME, json!({}), Some(token)).await;
    assert_eq!(me["data"]["me"]["id"], payload["user"]["id"]);
    assert_eq!(me["data"]["me"]["firstName"], "Ada");
    assert_eq!(app.user_count().await, 1);
}

async fn bad_registration_input_is_rejected_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("not-an-email", "correct horse", "Ada", "Lovelace", "email"),
        ("a@example.com", "short", "Ada", "Lovelace", "at least 8"),
        (
            "a@example.com",
            &"x".repeat(129),
            "Ada",
            "Lovelace",
            "at most 128",
        ),
        (
            "a@example.com",
            "correct horse",
            "  ",
            "Lovelace",
            "firstName",
        ),
        ("a@example.com", "correct horse", "Ada", "", "lastName"),
    ];
    for (email, password, first, last, mentions) in cases {
        let response = app
            .graphql(
                REGISTER,
                json!({ "input": { "email": email, "password": password, "firstName": first, "lastName": last } }),
                None,
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "{message} should mention {mentions}"
        );
        assert!(response["data"].is_null());
    }
    assert_eq!(app.user_count().await, 0);
}

async fn duplicate_email_is_a_conflict_regardless_of_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("grace@example.com", "correct horse").await;
    let response = app
        .graphql(
            REGISTER,
            json!({ "input": { "email": "GRACE@Example.COM", "password": "another horse", "firstName": "G", "lastName": "H" } }),
            None,
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
    assert_eq!(app.user_count().await, 1);
    // The original credentials still work, with any case of the email.
    let login = app.login("Grace@example.com", "correct horse").await;
    assert!(login["errors"].is_null(), "{login}");
}

async fn login_with_wrong_password_or_unknown_email_fails_the_same_way(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("alan@example.com", "correct horse").await;
    let wrong = app.login("alan@example.com", "wrong horse!").await;
    let unknown = app.login("nobody@example.com", "correct horse").await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    let ok = app.login("alan@example.com", "correct horse").await;
    assert_eq!(ok["data"]["login"]["user"]["email"], "alan@example.com");
}

async fn repeated_failures_throttle_the_address_not_the_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("target@example.com", "correct horse").await;
    let attacker = "203.0.113.7";
    // Five free failures, a sixth that starts the wait, then refused before any check.
    for guess in 0..6 {
        let wrong = app
            .login_from(attacker, "target@example.com", &format!("guess {guess}"))
            .await;
        assert_eq!(
            error_code(&wrong),
            "UNAUTHENTICATED",
            "guess {guess}: {wrong}"
        );
    }
    let throttled = app
        .login_from(attacker, "target@example.com", "correct horse")
        .await;
    assert_eq!(error_code(&throttled), "RATE_LIMITED", "{throttled}");
    assert!(throttled["data"].is_null(), "{throttled}");
    // An unknown email is throttled alike: the answer does not tell which accounts exist.
    for guess in 0..7 {
        let unknown = app
            .login_from(attacker, "nobody@example.com", &format!("guess {guess}"))
            .await;
        let expected = if guess < 6 {
            "UNAUTHENTICATED"
        } else {
            "RATE_LIMITED"
        };
        assert_eq!(error_code(&unknown), expected, "guess {guess}: {unknown}");
    }
    // The owner, elsewhere, is not locked out.
    let owner = app
        .login_from("198.51.100.2", "target@example.com", "correct horse")
        .await;
    assert_eq!(
        owner["data"]["login"]["user"]["email"], "target@example.com",
        "{owner}"
    );
}

async fn responses_never_contain_password_or_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let password = "very secret horse";
    let payload = app.register("sec@example.com", password).await;
    let token = payload["accessToken"].as_str().unwrap();
    let everything = app
        .graphql(
            "{ me { id email firstName lastName isActive role createdAt updatedAt } validateToken { userId email role issuer audience issuedAt expiresAt } }",
            json!({}),
            Some(token),
        )
        .await;
    let login = app.login("sec@example.com", password).await;
    for body in [
        payload.to_string(),
        everything.to_string(),
        login.to_string(),
    ] {
        assert!(!body.contains(password));
        assert!(!body.contains("$argon2"));
    }
    // The schema has no field that could expose the hash.
    let probe = app
        .graphql("{ me { passwordHash } }", json!({}), Some(token))
        .await;
    assert_eq!(error_code(&probe), "GRAPHQL_VALIDATION_FAILED");
}

async fn health_ready_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    let ready: serde_json::Value = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "up");
    assert_eq!(ready["checks"]["broker"]["status"], "up");
    app.register("metrics@example.com", "correct horse").await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("users_registered_total"), "{metrics}");
    assert!(
        metrics.contains(
            r#"graphql_requests_total{service="auth",operation="Register",outcome="ok"}"#
        ),
        "{metrics}"
    );
}
