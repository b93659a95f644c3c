//! Subscriptions through the router with a real websocket client: graphql-transport-ws and
//! the legacy graphql-ws, entity fields from other subgraphs on every event,
//! authentication from `connection_init`, limits, keep-alive, and clean closes.

use crate::common;

use std::time::Duration;

use common::{TestRouter, shop_config, start_shop, tokens};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(router: &TestRouter, protocol: &str) -> Socket {
    let mut request = format!("ws://127.0.0.1:{}/graphql", router.port)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message, skipping keep-alives; `None` when the socket closed (with the
/// close code in `Err`).
async fn recv(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10s");
        match message {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ping" || v["type"] == "ka" {
                    continue;
                }
                return Ok(v);
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            _ => return Err(None),
        }
    }
}

async fn init(socket: &mut Socket, payload: Value) {
    send(
        socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    assert_eq!(recv(socket).await.unwrap()["type"], "connection_ack");
}

const SUBSCRIPTION: &str = r#"subscription($upc: String!) {
    reviewAdded(upc: $upc) { body author { name } product { name price inStock } }
}"#;

#[tokio::test]
async fn events_flow_through_the_router_with_entity_fields_from_other_subgraphs() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let mut socket = connect(&router, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    send(
        &mut socket,
        json!({ "id": "s1", "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "upc": "1" } } }),
    )
    .await;
    let first = recv(&mut socket).await.unwrap();
    assert_eq!(first["type"], "next", "{first}");
    assert_eq!(first["id"], "s1");
    assert_eq!(
        first["payload"],
        json!({ "data": { "reviewAdded": {
            "body": "Love it!",
            "author": { "name": "User 1" },
            "product": { "name": "Table", "price": 899, "inStock": true }
        } } })
    );
    let second = recv(&mut socket).await.unwrap();
    assert_eq!(
        second["payload"]["data"]["reviewAdded"]["author"]["name"],
        "User 2"
    );
    let done = recv(&mut socket).await.unwrap();
    assert_eq!(done, json!({ "id": "s1", "type": "complete" }));
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let mut socket = connect(&router, "graphql-ws").await;
    init(&mut socket, json!({})).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "start", "payload": { "query": SUBSCRIPTION, "variables": { "upc": "2" } } }),
    )
    .await;
    let data = recv(&mut socket).await.unwrap();
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(
        data["payload"]["data"]["reviewAdded"]["body"],
        "Too expensive."
    );
    assert_eq!(recv(&mut socket).await.unwrap()["type"], "complete");
}

#[tokio::test]
async fn queries_over_the_socket_answer_once() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let mut socket = connect(&router, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    send(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ product(upc: \"3\") { name inStock } }" } }),
    )
    .await;
    let next = recv(&mut socket).await.unwrap();
    assert_eq!(
        next["payload"]["data"]["product"],
        json!({ "name": "Chair", "inStock": true })
    );
    assert_eq!(recv(&mut socket).await.unwrap()["type"], "complete");
    // An invalid operation is an `error` message for that id; the socket stays open.
    send(
        &mut socket,
        json!({ "id": "bad", "type": "subscribe", "payload": { "query": "subscription { nope }" } }),
    )
    .await;
    let error = recv(&mut socket).await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

#[tokio::test]
async fn connection_init_authenticates_when_jwt_is_required() {
    let shop = start_shop().await;
    let keys = tokens::TestKeys::generate("k1");
    let mut config = shop_config(&shop);
    config.jwt = Some(router::config::JwtConfig {
        jwks_file: Some(tokens::jwks_file(&keys)),
        require_authentication: true,
        ..Default::default()
    });
    let router = TestRouter::start(config).await;

    let mut socket = connect(&router, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(recv(&mut socket).await, Err(Some(4403)));

    let mut socket = connect(&router, "graphql-transport-ws").await;
    let bad = keys.sign(&tokens::claims(-3600, -7200));
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {bad}") } }),
    )
    .await;
    assert_eq!(recv(&mut socket).await, Err(Some(4403)));

    let mut socket = connect(&router, "graphql-transport-ws").await;
    let token = keys.sign(&tokens::claims(300, 0));
    init(
        &mut socket,
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await;
    send(
        &mut socket,
        json!({ "id": "me", "type": "subscribe", "payload": { "query": "{ me { id } auth: echoHeader(name: \"authorization\") }" } }),
    )
    .await;
    let next = recv(&mut socket).await.unwrap();
    assert_eq!(next["payload"]["data"]["me"]["id"], "1", "{next}");
    assert_eq!(next["payload"]["data"]["auth"], format!("Bearer {token}"));
}

#[tokio::test]
async fn a_subgraph_that_goes_away_ends_the_subscription_with_an_error() {
    let shop = start_shop().await;
    let proxy = service_kit::testing::TcpProxy::start(shop.reviews)
        .await
        .unwrap();
    let mut config = shop_config(&shop);
    config.subscriptions.upstream_reconnect_secs = 1;
    config.subgraphs.get_mut("reviews").unwrap().websocket_url =
        Some(format!("ws://{}/graphql", proxy.addr()));
    let router = TestRouter::start(config).await;
    let mut socket = connect(&router, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    send(
        &mut socket,
        json!({ "id": "f", "type": "subscribe", "payload": {
            "query": "subscription { reviewAdded(upc: \"1\", forever: true, everyMs: 20) { body } }"
        } }),
    )
    .await;
    assert_eq!(recv(&mut socket).await.unwrap()["type"], "next");
    proxy.disable();
    loop {
        let message = recv(&mut socket).await.unwrap();
        if message["type"] == "next" {
            continue;
        }
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"],
            "SUBGRAPH_UNAVAILABLE"
        );
        break;
    }
}

#[tokio::test]
async fn limits_keepalive_and_shutdown() {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    config.subscriptions.max_per_connection = 1;
    config.subscriptions.keepalive_secs = 1;
    let router = TestRouter::start(config).await;
    let mut socket = connect(&router, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    let forever = json!({ "query": "subscription { reviewAdded(upc: \"1\", forever: true, everyMs: 200) { body } }" });
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": forever }),
    )
    .await;
    send(
        &mut socket,
        json!({ "id": "b", "type": "subscribe", "payload": forever }),
    )
    .await;
    let mut saw_limit = false;
    let mut saw_ping = false;
    for _ in 0..30 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(t) = message else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "ping" {
            saw_ping = true;
            send(&mut socket, json!({ "type": "pong" })).await;
        }
        if v["type"] == "error" && v["id"] == "b" {
            assert_eq!(v["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
            saw_limit = true;
        }
        if saw_ping && saw_limit {
            break;
        }
    }
    assert!(saw_limit && saw_ping);
    // Shutting the router down closes the socket with "going away".
    drop(router);
    loop {
        match recv(&mut socket).await {
            Ok(_) => continue,
            Err(code) => {
                assert_eq!(code, Some(1001));
                break;
            }
        }
    }
}

#[tokio::test]
async fn one_user_has_a_subscription_budget_across_connections() {
    let shop = start_shop().await;
    let keys = tokens::TestKeys::generate("k1");
    let mut config = shop_config(&shop);
    config.jwt = Some(router::config::JwtConfig {
        jwks_file: Some(tokens::jwks_file(&keys)),
        ..Default::default()
    });
    config.subscriptions.max_per_user = 1;
    let router = TestRouter::start(config).await;
    let token = keys.sign(&tokens::claims(300, 0));
    let payload = json!({ "Authorization": format!("Bearer {token}") });
    let forever = json!({ "query": "subscription { reviewAdded(upc: \"1\", forever: true, everyMs: 50) { body } }" });

    let mut first = connect(&router, "graphql-transport-ws").await;
    init(&mut first, payload.clone()).await;
    send(
        &mut first,
        json!({ "id": "1", "type": "subscribe", "payload": forever }),
    )
    .await;
    assert_eq!(recv(&mut first).await.unwrap()["type"], "next");

    let mut second = connect(&router, "graphql-transport-ws").await;
    init(&mut second, payload.clone()).await;
    send(
        &mut second,
        json!({ "id": "1", "type": "subscribe", "payload": forever }),
    )
    .await;
    let refused = recv(&mut second).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "LIMIT_EXCEEDED"
    );

    // Completing the first frees the budget.
    send(&mut first, json!({ "id": "1", "type": "complete" })).await;
    let mut accepted = false;
    for attempt in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let id = format!("again-{attempt}");
        send(
            &mut second,
            json!({ "id": id, "type": "subscribe", "payload": forever }),
        )
        .await;
        let answer = recv(&mut second).await.unwrap();
        if answer["type"] == "next" {
            accepted = true;
            break;
        }
    }
    assert!(accepted, "the budget was not released");
}

#[tokio::test]
async fn an_open_router_forwards_the_init_payload_authorization() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let mut socket = connect(&router, "graphql-transport-ws").await;
    init(&mut socket, json!({ "Authorization": "Bearer opaque" })).await;
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": { "query": "{ auth: echoHeader(name: \"authorization\") }" } }),
    )
    .await;
    let next = recv(&mut socket).await.unwrap();
    assert_eq!(next["payload"]["data"]["auth"], "Bearer opaque", "{next}");
}

/// A router whose reviews websocket goes through a proxy the test can count and cut.
async fn router_with_proxied_reviews(
    configure: impl FnOnce(&mut router::RouterConfig),
) -> (common::Shop, service_kit::testing::TcpProxy, TestRouter) {
    let shop = start_shop().await;
    let proxy = service_kit::testing::TcpProxy::start(shop.reviews)
        .await
        .unwrap();
    let mut config = shop_config(&shop);
    config.subgraphs.get_mut("reviews").unwrap().websocket_url =
        Some(format!("ws://{}/graphql", proxy.addr()));
    configure(&mut config);
    (shop, proxy, TestRouter::start(config).await)
}

/// Every `next` payload of operation `id` until it completes.
async fn payloads_until_complete(socket: &mut Socket, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let message = recv(socket).await.unwrap();
        assert_eq!(message["id"], id, "{message}");
        match message["type"].as_str() {
            Some("next") => out.push(message["payload"].clone()),
            Some("complete") => return out,
            _ => panic!("unexpected {message}"),
        }
    }
}

#[tokio::test]
async fn clients_share_one_upstream_connection_and_each_operation_keeps_its_caller() {
    let (_shop, proxy, router) = router_with_proxied_reviews(|_| {}).await;
    let who = json!({ "query": "subscription { whoAmI(count: 3) }" });
    let mut sockets = Vec::new();
    for user in ["alice", "bob"] {
        let mut socket = connect(&router, "graphql-transport-ws").await;
        // Without JWT configuration the router passes the caller's Authorization on.
        init(
            &mut socket,
            json!({ "Authorization": format!("Bearer {user}") }),
        )
        .await;
        send(
            &mut socket,
            json!({ "id": "w", "type": "subscribe", "payload": who }),
        )
        .await;
        sockets.push((user, socket));
    }
    for (user, socket) in &mut sockets {
        let payloads = payloads_until_complete(socket, "w").await;
        let seen: Vec<&Value> = payloads.iter().map(|p| &p["data"]["whoAmI"]).collect();
        let expected = json!(format!("Bearer {user}"));
        assert_eq!(seen, [&expected, &expected, &expected], "{user}");
    }
    assert_eq!(
        proxy.connections(),
        1,
        "two clients' subscriptions went over one connection to reviews"
    );
}

#[tokio::test]
async fn a_subgraph_restart_is_survived_by_subscribing_again() {
    let (_shop, proxy, router) =
        router_with_proxied_reviews(|c| c.subscriptions.upstream_reconnect_secs = 30).await;
    let mut socket = connect(&router, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": {
            "query": "subscription { reviewAdded(upc: \"1\", forever: true, everyMs: 20) { body } }"
        } }),
    )
    .await;
    assert_eq!(recv(&mut socket).await.unwrap()["type"], "next");
    // The subgraph goes away, and comes back while the router is still retrying.
    proxy.disable();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.enable();
    service_kit::testing::eventually("the router reconnected", || async {
        (proxy.connections() >= 2).then_some(())
    })
    .await;
    // Events flow again on the same client subscription, with no error in between.
    for _ in 0..3 {
        let message = recv(&mut socket).await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
    }
}
