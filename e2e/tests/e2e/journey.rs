//! A user's whole journey through the router, with three kinds of client: plain GraphQL
//! over HTTP, the `graphql-ws` npm client subscribed to `notificationAdded`, and GraphiQL
//! in headless Chromium.

use std::time::Duration;

use e2e::{Options, Service, Stack};
use serde_json::json;

use crate::{NodeClient, artifacts_dir, run_graphiql};
use service_kit::testing::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_journey_through_the_router_with_real_clients() {
    let stack = Stack::start(Options::default().with(
        Service::Payments,
        "PAYMENTS_PROCESSOR_LATENCY_MS",
        "20",
    ))
    .await
    .unwrap();
    let client = stack.client();

    // register → login → me
    let email = "journey@example.com";
    let registered = client
        .register(email, "correct horse battery")
        .await
        .unwrap();
    let login = client
        .ok(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken user { id email } } }",
            json!({ "i": { "email": email, "password": "correct horse battery" } }),
            None,
        )
        .await;
    let token = login["login"]["accessToken"].as_str().unwrap().to_owned();
    let refresh_token = login["login"]["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(login["login"]["user"]["id"], registered.id.as_str());
    let me = client
        .ok("{ me { id email role } }", json!({}), Some(&token))
        .await;
    assert_eq!(
        me["me"],
        json!({ "id": registered.id, "email": email, "role": "USER" })
    );

    // The graphql-ws client subscribes before the payment exists.
    let ws = format!("ws://127.0.0.1:{}/graphql", stack.port(Service::Router));
    let mut subscriber = NodeClient::start("subscribe.mjs", &[&ws, &token]).await;
    assert_eq!(subscriber.next().await, json!({ "connected": true }));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // create → process → refund
    let created = client
        .ok(
            "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { id status amount currency } }",
            json!({ "i": { "amount": 4250, "currency": "EUR", "description": "Annual plan", "idempotencyKey": "journey-1" } }),
            Some(&token),
        )
        .await;
    assert_eq!(created["createPayment"]["status"], "PENDING");
    let payment = created["createPayment"]["id"].as_str().unwrap().to_owned();
    for (mutation, status) in [
        ("processPayment", "COMPLETED"),
        ("refundPayment", "REFUNDED"),
    ] {
        let data = client
            .ok(
                &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ status }} }}"),
                json!({ "id": payment }),
                Some(&token),
            )
            .await;
        assert_eq!(data[mutation]["status"], status);
    }

    // The Node client receives each payment notification, once.
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = subscriber.next().await;
        let kind = event["data"]["notificationAdded"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("a notification: {event}"))
            .to_owned();
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["PAYMENT_COMPLETED", "PAYMENT_CREATED", "PAYMENT_REFUNDED"]
    );

    // One federated query answered by the three subgraphs.
    let query = "{ me { email payments { edges { node { id status amount currency user { id email } } } } notifications(first: 20) { edges { node { id kind read } } } unreadNotificationCount } }";
    // WELCOME, NEW_LOGIN and the three payment notifications.
    let me = eventually("five notifications", || async {
        let data = client.ok(query, json!({}), Some(&token)).await;
        (data["me"]["notifications"]["edges"].as_array()?.len() == 5).then_some(data)
    })
    .await;
    let me = &me["me"];
    let payments = me["payments"]["edges"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(
        payments[0]["node"],
        json!({ "id": payment, "status": "REFUNDED", "amount": 4250, "currency": "EUR", "user": { "id": registered.id, "email": email } })
    );
    let notifications = me["notifications"]["edges"].as_array().unwrap();
    let mut kinds: Vec<&str> = notifications
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "NEW_LOGIN",
            "PAYMENT_COMPLETED",
            "PAYMENT_CREATED",
            "PAYMENT_REFUNDED",
            "WELCOME"
        ]
    );
    assert_eq!(me["unreadNotificationCount"], 5);

    // mark read
    let first = notifications[0]["node"]["id"].as_str().unwrap();
    let read = client
        .ok(
            "mutation($id: ID!) { markNotificationRead(id: $id) { id read } }",
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
    assert_eq!(count["me"]["unreadNotificationCount"], 4);

    // The welcome email went through the real SMTP server.
    let mails = eventually("the welcome email", || async {
        let mails = stack.mails();
        (!mails.is_empty()).then_some(mails)
    })
    .await;
    assert!(mails.iter().any(|m| m.contains(email)), "{mails:?}");

    // GraphiQL in headless Chromium runs an operation and shows its result.
    let screenshot = artifacts_dir().join("graphiql.png");
    let shown = run_graphiql(&stack, &token, &screenshot, None).await;
    let result = shown["result"].as_str().unwrap();
    assert!(result.contains(email), "GraphiQL showed {result}");
    assert!(result.contains("REFUNDED"), "GraphiQL showed {result}");
    assert_eq!(shown["failedRequests"], json!([]), "every asset loaded");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);

    // refresh → logout → delete
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
    let next_refresh = refreshed["refresh"]["refreshToken"].as_str().unwrap();
    let out = client
        .ok(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": next_refresh }),
            None,
        )
        .await;
    assert_eq!(out["logout"], true);
    let after_logout = client
        .gql(
            "mutation($t: String!) { refresh(refreshToken: $t) { accessToken } }",
            json!({ "t": next_refresh }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        service_kit::testing::error_code(&after_logout),
        "UNAUTHENTICATED"
    );
    let deleted = client
        .ok(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": registered.id }),
            Some(&token),
        )
        .await;
    assert_eq!(deleted["deleteUser"], true);
    let gone = client
        .gql("{ me { id } }", json!({}), Some(&token))
        .await
        .unwrap();
    assert_eq!(
        service_kit::testing::error_code(&gone),
        "UNAUTHENTICATED",
        "{gone}"
    );

    subscriber.close().await;
}
