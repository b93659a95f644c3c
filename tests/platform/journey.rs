//! A user's whole journey through the router only, with the four services of the
//! one-command run: register → login → me → a live subscription → create, process and
//! refund a payment → one federated `me` with payments and notifications → mark read →
//! refresh → logout → delete.

use std::time::Duration;

use e2e::{Client, subscribe};
use serde_json::{Value, json};
use service_kit::testing::unique_name;

async fn start() -> (u16, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(unique_name("platform_journey"));
    let env = crate::common::platform_env(&dir, &[("PAYMENTS_PROCESSOR_LATENCY_MS", "10")]);
    let platform = platform::Platform::build(&env).await.unwrap();
    let port = platform.router_port;
    tokio::spawn(platform.run_until_stopped(Box::pin(std::future::pending())));
    (port, dir)
}

#[tokio::test]
async fn a_user_journey_through_the_router() {
    let (port, dir) = start().await;
    let client = Client::new(format!("http://127.0.0.1:{port}/graphql"));

    // register → login → me
    let registered = client
        .ok(
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }",
            json!({ "i": { "email": "journey@example.com", "password": "correct horse", "firstName": "Jo", "lastName": "Urney" } }),
            None,
        )
        .await;
    let user_id = registered["register"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = client
        .ok(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }",
            json!({ "i": { "email": "journey@example.com", "password": "correct horse" } }),
            None,
        )
        .await;
    let token = login["login"]["accessToken"].as_str().unwrap().to_owned();
    let refresh_token = login["login"]["refreshToken"].as_str().unwrap().to_owned();
    let me = client
        .ok("{ me { id email } }", json!({}), Some(&token))
        .await;
    assert_eq!(me["me"]["id"], user_id.as_str());

    // Anonymous and forged callers are turned away by the router.
    let anonymous = client.gql("{ me { id } }", json!({}), None).await.unwrap();
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
    let forged = client
        .http
        .post(&client.url)
        .bearer_auth(format!("{token}x"))
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // A live subscription, then a payment created, processed and refunded.
    let mut live = subscribe(
        &format!("ws://127.0.0.1:{port}/graphql"),
        &token,
        "subscription { notificationAdded { id kind title } }",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let created = client
        .ok(
            "mutation { createPayment(input: { amount: 1299, currency: \"USD\", description: \"Coffee\", idempotencyKey: \"journey-1\" }) { id status } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(created["createPayment"]["status"], "PENDING");
    let payment_id = created["createPayment"]["id"].as_str().unwrap().to_owned();
    let processed = client
        .ok(
            "mutation($id: ID!) { processPayment(id: $id) { status } }",
            json!({ "id": payment_id }),
            Some(&token),
        )
        .await;
    assert_eq!(processed["processPayment"]["status"], "COMPLETED");
    let refunded = client
        .ok(
            "mutation($id: ID!) { refundPayment(id: $id) { status } }",
            json!({ "id": payment_id }),
            Some(&token),
        )
        .await;
    assert_eq!(refunded["refundPayment"]["status"], "REFUNDED");

    // The subscriber receives the payment notifications, live.
    let mut kinds = Vec::new();
    while !kinds.contains(&"PAYMENT_COMPLETED".to_owned()) {
        let event = tokio::time::timeout(Duration::from_secs(20), live.recv())
            .await
            .expect("a live notification")
            .unwrap();
        kinds.push(
            event["data"]["notificationAdded"]["kind"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(kinds.contains(&"PAYMENT_CREATED".to_owned()), "{kinds:?}");

    // One federated query, answered by three subgraphs.
    let query = "{ me { email payments { edges { node { id status amount user { id } } } } notifications { edges { node { id kind read } } } unreadNotificationCount } }";
    let mut me = Value::Null;
    for _ in 0..100 {
        me = client.ok(query, json!({}), Some(&token)).await;
        let kinds: Vec<&str> = me["me"]["notifications"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["kind"].as_str().unwrap())
            .collect();
        if kinds.contains(&"PAYMENT_REFUNDED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = &me["me"];
    assert_eq!(me["email"], "journey@example.com");
    let payments = me["payments"]["edges"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["node"]["status"], "REFUNDED");
    assert_eq!(payments[0]["node"]["user"]["id"], user_id.as_str());
    let notifications = me["notifications"]["edges"].as_array().unwrap();
    let kinds: Vec<&str> = notifications
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "WELCOME",
        "PAYMENT_CREATED",
        "PAYMENT_COMPLETED",
        "PAYMENT_REFUNDED",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let unread = me["unreadNotificationCount"].as_i64().unwrap();
    assert_eq!(unread as usize, notifications.len());

    // Mark one read.
    let first = notifications[0]["node"]["id"].as_str().unwrap();
    let read = client
        .ok(
            "mutation($id: ID!) { markNotificationRead(id: $id) { read } }",
            json!({ "id": first }),
            Some(&token),
        )
        .await;
    assert_eq!(read["markNotificationRead"]["read"], true);
    let count = client
        .ok(
            "{ me { unreadNotificationCount } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        count["me"]["unreadNotificationCount"].as_i64().unwrap(),
        unread - 1
    );

    // refresh → logout → delete.
    let refreshed = client
        .ok(
            "mutation($t: String!) { refresh(refreshToken: $t) { accessToken refreshToken } }",
            json!({ "t": refresh_token }),
            None,
        )
        .await;
    let token = refreshed["refresh"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let next_refresh = refreshed["refresh"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = client
        .ok(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": next_refresh }),
            None,
        )
        .await;
    assert_eq!(out["logout"], true);
    let deleted = client
        .ok(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": user_id }),
            Some(&token),
        )
        .await;
    assert_eq!(deleted["deleteUser"], true);
    let gone = client
        .gql("{ me { id } }", json!({}), Some(&token))
        .await
        .unwrap();
    assert_eq!(
        gone["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{gone}"
    );

    let _ = std::fs::remove_dir_all(dir);
}

/// The one-command run has no Redis: the login budget still holds, counted in the router.
#[tokio::test]
async fn login_brute_force_is_stopped_without_redis() {
    let (port, _dir) = start().await;
    let client = Client::new(format!("http://127.0.0.1:{port}/graphql"));
    let mut statuses = Vec::new();
    for attempt in 0..15 {
        let response = client
            .http
            .post(&client.url)
            .json(&json!({
                "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                "variables": { "i": { "email": "someone@example.com", "password": format!("guess {attempt}") } },
            }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let limited = statuses.iter().position(|s| *s == 429);
    assert_eq!(
        limited,
        Some(10),
        "10 sign-ins a minute per address, then 429: {statuses:?}"
    );
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
}
