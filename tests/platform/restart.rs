//! The one-command run stops gracefully and comes back with the same data.

use std::time::Duration;

use serde_json::{Value, json};
use service_kit::testing::unique_name;
use tokio::sync::oneshot;

fn env(dir: &std::path::Path) -> service_kit::config::Env {
    crate::common::platform_env(dir, &[])
}

async fn gql(port: u16, query: &str, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(response["errors"].is_null(), "{query}: {response}");
    response["data"].clone()
}

const ME: &str = "{ me { email payments { edges { node { id status } } } notifications { edges { node { id kind read } } } } }";

#[tokio::test]
async fn the_platform_comes_back_with_the_same_data() {
    let dir = std::env::temp_dir().join(unique_name("platform_restart"));

    let platform = platform::Platform::build(&env(&dir)).await.unwrap();
    let port = platform.router_port;
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(platform.run_until_stopped(Box::pin(async {
        let _ = stopped.await;
    })));
    let token = gql(
        port,
        r#"mutation { register(input: { email: "again@example.com", password: "correct horse", firstName: "A", lastName: "G" }) { accessToken } }"#,
        None,
    )
    .await["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    gql(
        port,
        r#"mutation { createPayment(input: { amount: 500, currency: "EUR", idempotencyKey: "restart-1" }) { id } }"#,
        Some(&token),
    )
    .await;
    // Wait until the events have become notifications.
    let mut before = Value::Null;
    for _ in 0..100 {
        before = gql(port, ME, Some(&token)).await;
        if before["me"]["notifications"]["edges"]
            .as_array()
            .unwrap()
            .len()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        before["me"]["notifications"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let _ = stop.send(());
    running.await.unwrap().unwrap();

    // Same data directory, fresh process state: the same account, payment and notifications.
    let platform = platform::Platform::build(&env(&dir)).await.unwrap();
    let port = platform.router_port;
    tokio::spawn(platform.run_until_stopped(Box::pin(std::future::pending())));
    let token = gql(
        port,
        r#"mutation { login(input: { email: "again@example.com", password: "correct horse" }) { accessToken } }"#,
        None,
    )
    .await["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let after = gql(port, ME, Some(&token)).await;
    assert_eq!(after["me"]["payments"], before["me"]["payments"]);
    // The login after the restart adds its own notification; the earlier ones are all there.
    let ids = |v: &Value| -> Vec<String> {
        v["me"]["notifications"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let after_ids = ids(&after);
    for id in ids(&before) {
        assert!(after_ids.contains(&id), "{id} lost in the restart: {after}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
