//! A user's whole journey through the router, written once: register → login → me → a
//! live subscription → create, process and refund a payment → one federated `me` with
//! payments and notifications → mark read → refresh → logout → delete. The end-to-end
//! suite walks it on the multi-process stack with the `graphql-ws` npm client; the
//! platform's tests walk it on the one-command run with a Rust websocket client.

use std::{future::Future, pin::Pin, time::Duration};

use serde_json::{Value, json};
use service_kit::testing::{error_code, eventually};
use tokio::sync::mpsc;

use crate::Client;

/// A live `notificationAdded` subscription, as a journey's client holds it.
pub trait LiveFeed: Send {
    /// The next message the subscription received (panics when there is none in time).
    fn next(&mut self) -> Pin<Box<dyn Future<Output = Value> + Send + '_>>;
}

impl LiveFeed for mpsc::UnboundedReceiver<Value> {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = Value> + Send + '_>> {
        Box::pin(async move {
            tokio::time::timeout(Duration::from_secs(30), self.recv())
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("no live notification within 30 s"))
        })
    }
}

/// The subscription every journey opens.
pub const NOTIFICATION_ADDED: &str = "subscription { notificationAdded { id kind title } }";

/// Where the journey stands when it hands over to its runner's own checks.
pub struct Signed {
    pub user_id: String,
    pub email: String,
    pub token: String,
}

/// Walks the journey for `email` through `client`. `subscribe` opens the live
/// subscription with the user's token (the feed is returned, for the runner to close);
/// `middle` runs the runner's own checks (GraphiQL, the mailbox) once the user has
/// payments and notifications, before the session ends.
pub async fn walk<F, S, SFut, M, MFut>(client: &Client, email: &str, subscribe: S, middle: M) -> F
where
    F: LiveFeed,
    S: FnOnce(String) -> SFut,
    SFut: Future<Output = F>,
    M: FnOnce(Signed) -> MFut,
    MFut: Future<Output = ()>,
{
    // register → login → me
    let password = "correct horse battery";
    let registered = client
        .register(email, password)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let login = client
        .ok(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken user { id email } } }",
            json!({ "i": { "email": email, "password": password } }),
            None,
        )
        .await;
    let token = login["login"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh_token = login["login"]["refreshToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(login["login"]["user"]["id"], registered.id.as_str());
    let me = client
        .ok("{ me { id email role } }", json!({}), Some(&token))
        .await;
    assert_eq!(
        me["me"],
        json!({ "id": registered.id, "email": email, "role": "USER" })
    );

    // Anonymous and forged callers are turned away by the router.
    let anonymous = client
        .gql("{ me { id } }", json!({}), None)
        .await
        .unwrap_or_default();
    assert_eq!(
        error_code(&anonymous),
        "UNAUTHORIZED_FIELD_OR_TYPE",
        "{anonymous}"
    );
    let forged = client
        .http
        .post(&client.url)
        .bearer_auth(format!("{token}x"))
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(forged.ok(), Some(401));

    // The subscription opens before the payment exists.
    let mut live = subscribe(token.clone()).await;

    // create → process → refund
    let created = client
        .ok(
            "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { id status amount currency } }",
            json!({ "i": { "amount": 4250, "currency": "EUR", "description": "Annual plan", "idempotencyKey": "journey-1" } }),
            Some(&token),
        )
        .await;
    assert_eq!(created["createPayment"]["status"], "PENDING");
    let payment = created["createPayment"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
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

    // The subscriber receives each payment notification, once.
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = live.next().await;
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
    assert_eq!(
        me["payments"]["edges"],
        json!([{ "node": { "id": payment, "status": "REFUNDED", "amount": 4250, "currency": "EUR", "user": { "id": registered.id, "email": email } } }])
    );
    let notifications = me["notifications"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut kinds: Vec<&str> = notifications
        .iter()
        .filter_map(|e| e["node"]["kind"].as_str())
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
    let read = client
        .ok(
            "mutation($id: ID!) { markNotificationRead(id: $id) { id read } }",
            json!({ "id": notifications[0]["node"]["id"] }),
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

    middle(Signed {
        user_id: registered.id.clone(),
        email: email.to_owned(),
        token: token.clone(),
    })
    .await;

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
        .unwrap_or_default()
        .to_owned();
    let next_refresh = refreshed["refresh"]["refreshToken"]
        .as_str()
        .unwrap_or_default();
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
        .unwrap_or_default();
    assert_eq!(error_code(&after_logout), "UNAUTHENTICATED");
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
        .unwrap_or_default();
    assert_eq!(error_code(&gone), "UNAUTHENTICATED", "{gone}");
    live
}
