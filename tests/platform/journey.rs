//! A user's whole journey through the router only (`e2e::journey`, also walked by the
//! multi-process suite), with the four services of the one-command run and its mail
//! folder; and the one-command run's login budget without Redis.

use std::time::Duration;

use e2e::{Client, journey, subscribe};
use serde_json::json;
use service_kit::testing::{eventually, unique_name};

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
    let ws = format!("ws://127.0.0.1:{port}/graphql");
    journey::walk(
        &client,
        "journey@example.com",
        |token| async move {
            let live = subscribe(&ws, &token, journey::NOTIFICATION_ADDED)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            live
        },
        |signed| {
            let dir = &dir;
            async move {
                // The welcome email was written to the mail folder.
                let mails = eventually("the welcome email", || async {
                    let mails: Vec<String> = std::fs::read_dir(dir.join("mail"))
                        .ok()?
                        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                        .collect();
                    (!mails.is_empty()).then_some(mails)
                })
                .await;
                assert!(mails.iter().any(|m| m.contains(&signed.email)), "{mails:?}");
            }
        },
    )
    .await;
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
