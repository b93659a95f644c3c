//! The router's streaming transports, driven by the client libraries people use: Apollo
//! Client over HTTP (`@defer` as multipart incremental delivery, subscriptions as multipart
//! subscriptions), graphql-sse, and GraphiQL in headless Chromium running `@defer`.

use std::time::Duration;

use e2e::{Client, Options, Session, Stack};
use serde_json::{Value, json};

use crate::{NodeClient, artifacts_dir, run_graphiql};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_stream_deferred_results_and_subscriptions_over_http() {
    let stack = Stack::start(Options::default()).await.unwrap();
    let client = stack.client();
    let user = client
        .register("streams@example.com", "correct horse battery")
        .await
        .unwrap();
    client.create_payment(&user, 1234, "streams-1").await;
    let url = stack.url();

    // Apollo Client: the email first, the deferred payments in a later part.
    let mut apollo = NodeClient::start(
        "transports.mjs",
        &[&url, &user.access_token, "apollo-defer"],
    )
    .await;
    let mut results = Vec::new();
    while let Some(line) = apollo.try_next(Duration::from_secs(30)).await {
        assert!(line["error"].is_null(), "Apollo Client failed: {line}");
        // Apollo Client reports the loading state first.
        if line["dataState"] != "empty" {
            results.push(line);
        }
    }
    let (first, last) = (&results[0], &results[results.len() - 1]);
    assert_eq!(first["dataState"], "streaming", "{results:?}");
    assert_eq!(first["data"]["me"]["email"], user.email);
    assert!(first["data"]["me"]["payments"].is_null(), "{first}");
    assert_eq!(last["dataState"], "complete", "{results:?}");
    assert_eq!(
        last["data"]["me"]["payments"]["edges"][0]["node"]["amount"],
        1234
    );

    // Subscriptions over multipart (Apollo Client) and over SSE (graphql-sse).
    for (n, mode) in ["apollo-subscription", "sse-subscription"]
        .into_iter()
        .enumerate()
    {
        let mut subscriber =
            NodeClient::start("transports.mjs", &[&url, &user.access_token, mode]).await;
        assert_eq!(
            subscriber.next().await,
            json!({ "subscribed": true }),
            "{mode}"
        );
        let event = first_event(&client, &user, &mut subscriber, n).await;
        assert_eq!(
            event["data"]["notificationAdded"]["kind"], "PAYMENT_CREATED",
            "{mode}: {event}"
        );
        subscriber.close().await;
    }

    // Apollo Client's persisted-queries link: the hash alone by GET, told to send the
    // query once, then the hash alone is enough. (Registered documents outlive a run in
    // Redis, as they should: the query is new to each run.)
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut persisted = NodeClient::start(
        "transports.mjs",
        &[&url, &user.access_token, "apollo-persisted", &nonce],
    )
    .await;
    let line = persisted.next().await;
    assert!(line["error"].is_null(), "Apollo Client failed: {line}");
    let sent = line["sent"].as_array().cloned().unwrap_or_default();
    let requests: Vec<(&str, bool, bool)> = sent
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default(),
                r["query"] == true,
                r["hash"] == true,
            )
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("GET", false, true),
            ("POST", true, true),
            ("GET", false, true)
        ],
        "{line}"
    );
    assert_eq!(line["first"]["me"]["email"], user.email, "{line}");
    assert_eq!(line["second"]["me"]["email"], user.email, "{line}");

    // GraphiQL shows a deferred result once its deferred part has arrived.
    let screenshot = artifacts_dir().join("graphiql-defer.png");
    let shown = run_graphiql(&stack, &user.access_token, &screenshot, Some("defer")).await;
    let result = shown["result"].as_str().unwrap();
    assert!(result.contains(&user.email), "GraphiQL showed {result}");
    assert!(result.contains("1234"), "GraphiQL showed {result}");
}

/// The subscriber's first event. A client reports its request as sent before the router
/// has subscribed upstream, so payments are created until one event arrives.
async fn first_event(
    client: &Client,
    user: &Session,
    subscriber: &mut NodeClient,
    n: usize,
) -> Value {
    for attempt in 0..20 {
        client
            .create_payment(user, 100, &format!("streams-sub-{n}-{attempt}"))
            .await;
        if let Some(event) = subscriber.try_next(Duration::from_secs(1)).await {
            assert!(event["error"].is_null(), "the subscription failed: {event}");
            return event;
        }
    }
    panic!("no event reached the subscriber in 20 payments")
}
