//! The router's policy features on the whole platform: its own persisted documents
//! (`schema/persisted-documents.json`) enforced, and the cost of its operations, as a team
//! would run them in production.

use e2e::{Options, Service, Stack};
use serde_json::{Value, json};

fn manifest() -> (String, Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/persisted-documents.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    (path.to_owned(), serde_json::from_str(&text).unwrap())
}

/// The id of the operation `name` whose body has `marker` (the tour and the auth
/// operations both have a `Me` and a `Register`).
fn id_of(manifest: &Value, name: &str, marker: &str) -> String {
    manifest["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name && o["body"].as_str().is_some_and(|b| b.contains(marker)))
        .and_then(|o| o["id"].as_str())
        .unwrap_or_else(|| panic!("{name} is not in the manifest"))
        .to_owned()
}

async fn post(url: &str, body: Value, headers: &[(&str, &str)]) -> Value {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json")
        .json(&body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_runs_with_its_own_persisted_documents_enforced() {
    let (path, manifest) = manifest();
    let stack = Stack::start(
        Options::default()
            .with(Service::Router, "ROUTER_PERSISTED_DOCUMENTS", path)
            .with(
                Service::Router,
                "ROUTER_PERSISTED_DOCUMENTS_MODE",
                "enforce",
            ),
    )
    .await
    .unwrap();
    let url = stack.url();

    let registered = post(
        &url,
        json!({
            "documentId": id_of(&manifest, "Register", "$input"),
            "variables": { "input": {
                "email": "listed@example.com", "password": "correct horse battery",
                "firstName": "Ada", "lastName": "Lovelace",
            } },
        }),
        &[],
    )
    .await;
    let token = registered["data"]["register"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_owned();
    let bearer = format!("Bearer {token}");

    let me = post(
        &url,
        json!({ "documentId": format!("sha256:{}", id_of(&manifest, "Me", "firstName")) }),
        &[("authorization", &bearer), ("x-include-cost", "true")],
    )
    .await;
    assert_eq!(me["data"]["me"]["email"], "listed@example.com", "{me}");
    // `me` is one object; its fields are scalars.
    assert_eq!(me["extensions"]["cost"]["estimated"], 1, "{me}");

    // Anything else is refused, however it comes.
    let other = post(
        &url,
        json!({ "query": "{ me { id role } }" }),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(
        other["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_IN_LIST",
        "{other}"
    );
    assert!(other["data"].is_null(), "{other}");
}
