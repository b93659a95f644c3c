//! `Subscription.notificationAdded` over a real websocket (`graphql-transport-ws`).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use service_kit::{events::PaymentCreated, jwt::Role, testing::eventually};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};
use uuid::Uuid;

use crate::{
    contract,
    helpers::{Backend, Options, payment, spawn_app, spawn_instance},
    tokens,
};

contract!(
    subscribers_get_their_own_notifications_and_nobody_elses,
    a_connection_with_a_bad_token_is_closed_with_4403,
    one_anonymous_connection_carries_each_operations_own_caller,
    subscribing_before_connection_init_is_closed_with_4401,
    the_subscription_completes_when_the_token_expires,
    a_subscriber_no_account_event_introduced_is_emailed_at_the_tokens_address,
);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(20);

async fn open(url: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message (JSON), or the close frame's code.
async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// An authenticated connection with a running `notificationAdded` subscription.
async fn subscribe(url: &str, token: &str) -> Socket {
    let mut socket = open(url).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notificationAdded { id kind title read } }" } }),
    )
    .await;
    socket
}

async fn next_notification(socket: &mut Socket) -> Value {
    let message = next(socket).await.unwrap();
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], "1");
    message["payload"]["data"]["notificationAdded"].clone()
}

async fn subscribers_get_their_own_notifications_and_nobody_elses(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut alice_ws = subscribe(&app.ws_url, &tokens::token_for(&app.keys, alice)).await;
    let mut bob_ws = subscribe(&app.ws_url, &tokens::token_for(&app.keys, bob)).await;
    // The subscriptions are registered once the hub knows both users.
    eventually("both subscriptions", || async {
        (app.hub.subscriptions(alice) == 1 && app.hub.subscriptions(bob) == 1).then_some(())
    })
    .await;

    app.fixture
        .publish(&PaymentCreated(payment(alice, 1000, "PENDING")))
        .await;
    let stored = app.wait_for_notifications(alice, 1).await;
    assert_eq!(stored, ["PAYMENT_CREATED"]);
    app.fixture
        .publish(&PaymentCreated(payment(bob, 2000, "PENDING")))
        .await;

    let for_alice = next_notification(&mut alice_ws).await;
    assert_eq!(for_alice["kind"], "PAYMENT_CREATED");
    assert_eq!(for_alice["read"], false);
    // Bob's first notification is his own, not Alice's (sent before it).
    let for_bob = next_notification(&mut bob_ws).await;
    assert_ne!(for_bob["id"], for_alice["id"]);
    let token = tokens::token_for(&app.keys, bob);
    let bobs = app.notifications_of(bob, &token, "").await;
    assert_eq!(
        bobs["notifications"]["edges"][0]["node"]["id"],
        for_bob["id"]
    );
    let token = tokens::token_for(&app.keys, alice);
    let alices = app.notifications_of(alice, &token, "").await;
    assert_eq!(
        alices["notifications"]["edges"][0]["node"]["id"],
        for_alice["id"]
    );

    // Completing the subscription ends it cleanly.
    send(&mut alice_ws, json!({ "id": "1", "type": "complete" })).await;
    let _ = alice_ws.close(None).await;
}

async fn a_connection_with_a_bad_token_is_closed_with_4403(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = Uuid::new_v4();
    let expired = app.keys.sign(&tokens::claims(user, Role::User, -3600));
    let foreign = tokens::token_for(&tokens::generate(), user);
    for payload in [
        json!({ "Authorization": "Bearer not.a.token" }),
        json!({ "Authorization": format!("Bearer {expired}") }),
        json!({ "Authorization": format!("Bearer {foreign}") }),
        json!({ "Authorization": tokens::token_for(&app.keys, user) }), // no "Bearer "
    ] {
        let mut socket = open(&app.ws_url).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(next(&mut socket).await, Err(Some(4403)), "{payload}");
    }
    // The same connection with a valid token is acknowledged.
    let mut socket = open(&app.ws_url).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", tokens::token_for(&app.keys, user)) } }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
}

/// How the router shares one websocket among its clients: the connection is anonymous and
/// every operation brings its caller's token in `extensions.headers`. Each operation gets
/// its own caller's notifications and nobody else's; one without a token, or with a bad
/// one, is refused on its own while the others go on.
async fn one_anonymous_connection_carries_each_operations_own_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut socket = open(&app.ws_url).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = |id: &str, authorization: Option<String>| {
        let mut payload = json!({ "query": "subscription { notificationAdded { id kind } }" });
        if let Some(authorization) = authorization {
            payload["extensions"] = json!({ "headers": { "authorization": authorization } });
        }
        json!({ "id": id, "type": "subscribe", "payload": payload })
    };
    // A refused operation answers one error, then completes.
    for (id, authorization) in [
        ("anonymous", None),
        ("forged", Some("Bearer not.a.token".into())),
    ] {
        send(&mut socket, subscribe(id, authorization)).await;
        let refused = next(&mut socket).await.unwrap();
        assert_eq!(refused["id"], id, "{refused}");
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{refused}"
        );
        let done = next(&mut socket).await.unwrap();
        assert_eq!(
            (&done["id"], &done["type"]),
            (&json!(id), &json!("complete"))
        );
    }
    let bearer = |user| Some(format!("Bearer {}", tokens::token_for(&app.keys, user)));
    send(&mut socket, subscribe("a", bearer(alice))).await;
    send(&mut socket, subscribe("b", bearer(bob))).await;
    eventually("both subscriptions", || async {
        (app.hub.subscriptions(alice) == 1 && app.hub.subscriptions(bob) == 1).then_some(())
    })
    .await;
    app.fixture
        .publish(&PaymentCreated(payment(alice, 1000, "PENDING")))
        .await;
    app.wait_for_notifications(alice, 1).await;
    app.fixture
        .publish(&PaymentCreated(payment(bob, 2000, "PENDING")))
        .await;
    app.wait_for_notifications(bob, 1).await;
    let mut seen = std::collections::HashMap::new();
    for _ in 0..2 {
        let message = next(&mut socket).await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        let id = message["id"].as_str().unwrap().to_owned();
        let notification = message["payload"]["data"]["notificationAdded"]["id"].clone();
        assert!(
            seen.insert(id, notification).is_none(),
            "one event per operation"
        );
    }
    let token = tokens::token_for(&app.keys, alice);
    let alices = app.notifications_of(alice, &token, "").await;
    assert_eq!(seen["a"], alices["notifications"]["edges"][0]["node"]["id"]);
    let token = tokens::token_for(&app.keys, bob);
    let bobs = app.notifications_of(bob, &token, "").await;
    assert_eq!(seen["b"], bobs["notifications"]["edges"][0]["node"]["id"]);
}

async fn subscribing_before_connection_init_is_closed_with_4401(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut socket = open(&app.ws_url).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "pong");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notificationAdded { id } }" } }),
    )
    .await;
    assert_eq!(next(&mut socket).await, Err(Some(4401)));
}

/// Two instances on one work queue: whichever stores the notification, the instance that
/// holds the user's websocket pushes it (live fan-out through RabbitMQ).
#[tokio::test]
async fn the_instance_holding_the_websocket_delivers_whichever_instance_consumed() {
    let first = spawn_app(Backend::Real).await;
    let options = Options::new(Backend::Real);
    let second = spawn_instance(first.fixture.clone(), &options, first.keys.clone()).await;
    let user = Uuid::new_v4();
    let mut socket = subscribe(&second.ws_url, &tokens::token_for(&second.keys, user)).await;
    eventually("the subscription", || async {
        (second.hub.subscriptions(user) == 1).then_some(())
    })
    .await;
    let mut seen = Vec::new();
    for amount in 1..=6 {
        first
            .fixture
            .publish(&PaymentCreated(payment(user, amount, "PENDING")))
            .await;
        seen.push(next_notification(&mut socket).await["id"].clone());
    }
    let token = tokens::token_for(&first.keys, user);
    let stored = first.notifications_of(user, &token, "").await;
    assert_eq!(stored["unreadNotificationCount"], 6);
    assert_eq!(seen.len(), 6);
}

async fn the_subscription_completes_when_the_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = Uuid::new_v4();
    let short_lived = app.keys.sign(&tokens::claims(user, Role::User, 1));
    let mut socket = subscribe(&app.ws_url, &short_lived).await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message, json!({ "type": "complete", "id": "1" }));
    // A token valid for longer keeps its subscription running meanwhile.
    let mut lasting = subscribe(&app.ws_url, &tokens::token_for(&app.keys, user)).await;
    // Only notifications created after the subscription is registered reach it.
    eventually("the lasting subscription", || async {
        (app.hub.subscriptions(user) == 1).then_some(())
    })
    .await;
    app.fixture
        .publish(&PaymentCreated(payment(user, 5, "PENDING")))
        .await;
    assert_eq!(
        next_notification(&mut lasting).await["kind"],
        "PAYMENT_CREATED"
    );
}

async fn a_subscriber_no_account_event_introduced_is_emailed_at_the_tokens_address(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let user = Uuid::new_v4();
    // `tokens::token_for` puts `<user>@example.com` in the token's email claim.
    let address = format!("{user}@example.com");
    let mut socket = subscribe(&app.ws_url, &tokens::token_for(&app.keys, user)).await;
    eventually("the subscription", || async {
        (app.hub.subscriptions(user) == 1).then_some(())
    })
    .await;
    app.fixture
        .publish(&PaymentCreated(payment(user, 4200, "PENDING")))
        .await;
    assert_eq!(
        next_notification(&mut socket).await["kind"],
        "PAYMENT_CREATED"
    );
    let mails = app.fixture.mails_to(&address, 1).await;
    assert_eq!(mails[0]["subject"], "Payment of 42.00 USD created");
    assert!(
        mails[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello there,")
    );
}
