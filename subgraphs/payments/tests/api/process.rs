//! The `payments` binary as a process: its commands, its start-up errors, and the embedded
//! store surviving a restart.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};
use service_kit::{
    jwt::Role,
    testing::{serve_jwks, unique_name},
};
use uuid::Uuid;

use crate::helpers::{CREATE, PAYMENT, generate_keys, token};

const BIN: &str = env!("CARGO_BIN_EXE_payments");

#[test]
fn print_schema_prints_the_federation_sdl() {
    let output = Command::new(BIN).arg("print-schema").output().unwrap();
    assert!(output.status.success());
    let sdl = String::from_utf8(output.stdout).unwrap();
    assert!(sdl.contains("type Payment @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    // Nullable: a payments outage nulls only this field, not the whole user.
    assert!(sdl.contains("): PaymentConnection @listSize("), "{sdl}");
    assert!(sdl.contains("createPayment("), "{sdl}");
    assert!(
        sdl.contains("url: \"https://specs.apollo.dev/federation/v2"),
        "{sdl}"
    );
}

#[test]
fn a_bad_variable_stops_start_up_and_is_named() {
    let output = Command::new(BIN)
        .env("PAYMENTS_PROCESSOR_LATENCY_MS", "slow")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PAYMENTS_PROCESSOR_LATENCY_MS"), "{stderr}");
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(data_dir: &std::path::Path, jwks_url: &str) -> Server {
    let port = service_kit::testing::free_port();
    let child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PAYMENTS_PORT", port.to_string())
        .env("DATA_DIR", data_dir)
        .env("JWKS_URL", jwks_url)
        .env("PAYMENTS_PROCESSOR_LATENCY_MS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payments did not start");
}

async fn gql(port: u16, query: &str, variables: Value, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// With no MONGODB_URL the binary runs on the embedded store, and what it stored is still
/// there after the process is killed and started again.
#[tokio::test]
async fn the_embedded_store_survives_a_restart() {
    let keys = generate_keys();
    let jwks_url = serve_jwks(keys.jwks()).await;
    let dir = std::env::temp_dir().join(unique_name("payments_proc"));
    let token = token(&keys, Uuid::now_v7(), Role::User);
    let id = {
        let server = start(&dir, &jwks_url).await;
        let created = gql(
            server.port,
            CREATE,
            json!({ "input": { "amount": 4_321, "currency": "EUR", "idempotencyKey": "persist" } }),
            &token,
        )
        .await;
        let id = created["data"]["createPayment"]["id"].clone();
        let processed = gql(
            server.port,
            "mutation($id: ID!) { processPayment(id: $id) { status } }",
            json!({ "id": id }),
            &token,
        )
        .await;
        assert_eq!(
            processed["data"]["processPayment"]["status"], "COMPLETED",
            "{processed}"
        );
        id
    };
    let server = start(&dir, &jwks_url).await;
    let read = gql(server.port, PAYMENT, json!({ "id": id }), &token).await;
    assert_eq!(read["data"]["payment"]["status"], "COMPLETED", "{read}");
    assert_eq!(read["data"]["payment"]["amount"], 4_321);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
