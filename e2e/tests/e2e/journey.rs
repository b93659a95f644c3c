//! A user's whole journey through the router (`e2e::journey`, also walked by the
//! one-command run's tests), here with three kinds of client: plain GraphQL over HTTP, the
//! `graphql-ws` npm client subscribed to `notificationAdded`, and GraphiQL in headless
//! Chromium; the welcome email goes through the real SMTP server.

use std::{future::Future, pin::Pin, time::Duration};

use e2e::{Options, Service, Stack, journey};
use serde_json::{Value, json};

use crate::{NodeClient, artifacts_dir, run_graphiql};
use service_kit::testing::eventually;

impl journey::LiveFeed for NodeClient {
    fn next(&mut self) -> Pin<Box<dyn Future<Output = Value> + Send + '_>> {
        Box::pin(NodeClient::next(self))
    }
}

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
    let ws = format!("ws://127.0.0.1:{}/graphql", stack.port(Service::Router));
    let subscriber = journey::walk(
        &client,
        "journey@example.com",
        |token| async move {
            let mut subscriber = NodeClient::start("subscribe.mjs", &[&ws, &token]).await;
            assert_eq!(subscriber.next().await, json!({ "connected": true }));
            tokio::time::sleep(Duration::from_millis(300)).await;
            subscriber
        },
        |signed| {
            let stack = &stack;
            async move {
                // The welcome email went through the real SMTP server.
                let mails = eventually("the welcome email", || async {
                    let mails = stack.mails();
                    (!mails.is_empty()).then_some(mails)
                })
                .await;
                assert!(mails.iter().any(|m| m.contains(&signed.email)), "{mails:?}");

                // GraphiQL in headless Chromium runs an operation and shows its result.
                let screenshot = artifacts_dir().join("graphiql.png");
                let shown = run_graphiql(stack, &signed.token, &screenshot, None).await;
                let result = shown["result"].as_str().unwrap();
                assert!(result.contains(&signed.email), "GraphiQL showed {result}");
                assert!(result.contains("REFUNDED"), "GraphiQL showed {result}");
                assert_eq!(shown["failedRequests"], json!([]), "every asset loaded");
                assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
            }
        },
    )
    .await;
    subscriber.close().await;
}
