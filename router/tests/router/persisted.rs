//! Persisted operations through the real router: APQ (POST and GET, shared through Redis
//! between two routers) and the persisted documents manifest (enforce and log, reloaded).

use crate::common;

use common::{TestRouter, error_codes, shop_config, start_shop};
use serde_json::{Value, json};
use service_kit::digest::sha256_hex;
use service_kit::testing::eventually;

const QUERY: &str = "{ topProducts { upc name } }";

async fn post(router: &TestRouter, body: Value) -> (u16, Value) {
    let response = router
        .http
        .post(router.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

fn has_products(body: &Value) -> bool {
    body["data"]["topProducts"][0]["upc"].is_string()
}

#[tokio::test]
async fn apq_registers_on_a_miss_and_serves_the_hash_alone_over_post_and_get() {
    let shop = start_shop().await;
    let router = TestRouter::start(shop_config(&shop)).await;
    let hash = sha256_hex(QUERY);

    let (status, body) = post(&router, json!({ "extensions": apq(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");
    assert!(body.get("data").is_none(), "{body}");

    let wrong = sha256_hex("{ other }");
    let (status, body) = post(
        &router,
        json!({ "query": QUERY, "extensions": apq(&wrong) }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_HASH_MISMATCH"]);
    // A mismatched registration registered nothing under either hash.
    let (_, body) = post(&router, json!({ "extensions": apq(&wrong) })).await;
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);

    let (status, body) = post(&router, json!({ "query": QUERY, "extensions": apq(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert!(has_products(&body), "{body}");

    let (status, body) = post(&router, json!({ "extensions": apq(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert!(has_products(&body), "{body}");

    // GET: a cacheable URL holding only the hash.
    let extensions = apq(&hash).to_string();
    let response = router
        .http
        .get(router.url("/graphql"))
        .query(&[("extensions", extensions.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(has_products(&body), "{body}");
}

#[tokio::test]
async fn apq_off_says_not_supported() {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    config.apq.enabled = false;
    let router = TestRouter::start(config).await;
    let (_, body) = post(&router, json!({ "extensions": apq(&sha256_hex(QUERY)) })).await;
    assert_eq!(
        error_codes(&body),
        ["PERSISTED_QUERY_NOT_SUPPORTED"],
        "{body}"
    );
}

#[tokio::test]
async fn a_document_registered_through_one_router_is_known_to_another_through_redis() {
    let shop = start_shop().await;
    let prefix = format!("test:apq:{}", uuid::Uuid::new_v4());
    let config = || {
        let mut config = shop_config(&shop);
        config.apq.redis_url = Some(service_kit::testing::servers::redis_url());
        config.apq.key_prefix = prefix.clone();
        config
    };
    let first = TestRouter::start(config()).await;
    let second = TestRouter::start(config()).await;
    // A query no test registers elsewhere, so that a hit can only come from `first`.
    let query = format!("{{ topProducts {{ upc }} __typename }} # {prefix}");
    let hash = sha256_hex(&query);
    let (_, body) = post(&second, json!({ "extensions": apq(&hash) })).await;
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");
    let (_, body) = post(&first, json!({ "query": query, "extensions": apq(&hash) })).await;
    assert!(body["data"]["topProducts"].is_array(), "{body}");
    let (status, body) = post(&second, json!({ "extensions": apq(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["topProducts"].is_array(), "{body}");
}

fn write_manifest(path: &std::path::Path, documents: &[(&str, &str)]) {
    let operations: Vec<Value> = documents
        .iter()
        .map(|(id, body)| json!({ "id": id, "name": "Op", "type": "query", "body": body }))
        .collect();
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": operations,
    });
    std::fs::write(path, manifest.to_string()).unwrap();
}

async fn router_with_manifest(
    shop: &common::Shop,
    mode: router::config::PersistedDocumentsMode,
) -> (std::path::PathBuf, TestRouter) {
    let dir = std::env::temp_dir().join(format!("router-manifest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("manifest.json");
    write_manifest(
        &path,
        &[
            (&sha256_hex(QUERY), QUERY),
            ("named-id", "{ topProducts { upc } }"),
        ],
    );
    let mut config = shop_config(shop);
    config.persisted_documents.path = Some(path);
    config.persisted_documents.mode = mode;
    config.persisted_documents.poll_interval_ms = 20;
    (dir, TestRouter::start(config).await)
}

#[tokio::test]
async fn enforce_mode_serves_the_manifest_only_and_reloads_it() {
    use router::config::PersistedDocumentsMode::Enforce;
    let shop = start_shop().await;
    let (dir, router) = router_with_manifest(&shop, Enforce).await;

    for body in [
        json!({ "documentId": "named-id" }),
        json!({ "documentId": format!("sha256:{}", sha256_hex(QUERY)) }),
        json!({ "extensions": apq(&sha256_hex(QUERY)) }),
        json!({ "query": QUERY }),
    ] {
        let (status, answer) = post(&router, body.clone()).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert!(
            answer["data"]["topProducts"][0]["upc"].is_string(),
            "{body}: {answer}"
        );
    }

    let other = "{ topProducts { name } }";
    for body in [
        json!({ "query": other }),
        // Registering through APQ does not get a document past the list.
        json!({ "query": other, "extensions": apq(&sha256_hex(other)) }),
        json!({ "query": "{ __schema { types { name } } }" }),
    ] {
        let (status, answer) = post(&router, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(
            error_codes(&answer),
            ["PERSISTED_QUERY_NOT_IN_LIST"],
            "{body}"
        );
        assert!(answer.get("data").is_none(), "{answer}");
    }
    let (_, answer) = post(&router, json!({ "documentId": "unknown" })).await;
    assert_eq!(error_codes(&answer), ["PERSISTED_QUERY_NOT_FOUND"]);
    let (status, answer) = post(&router, json!({ "documentId": "named-id", "query": QUERY })).await;
    assert_eq!(
        (status, error_codes(&answer)),
        (400, vec!["BAD_REQUEST".to_owned()])
    );

    // A changed manifest is picked up; a broken one leaves the current one standing.
    std::fs::write(dir.join("manifest.json"), "not json").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _) = post(&router, json!({ "documentId": "named-id" })).await;
    assert_eq!(status, 200);
    write_manifest(&dir.join("manifest.json"), &[("new-id", other)]);
    let mut served = false;
    for _ in 0..100 {
        let (_, answer) = post(&router, json!({ "documentId": "new-id" })).await;
        if answer["data"]["topProducts"][0]["name"].is_string() {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(served, "the reloaded manifest was never served");
    let (_, answer) = post(&router, json!({ "documentId": "named-id" })).await;
    assert_eq!(error_codes(&answer), ["PERSISTED_QUERY_NOT_FOUND"]);
}

#[tokio::test]
async fn log_mode_serves_other_documents_and_counts_them() {
    use router::config::PersistedDocumentsMode::Log;
    let shop = start_shop().await;
    let (_dir, router) = router_with_manifest(&shop, Log).await;
    let before = common::counter(
        "router_persisted_documents_total",
        &["result=\"not_in_list\""],
    );
    let (status, answer) = post(&router, json!({ "query": "{ topProducts { name } }" })).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["data"]["topProducts"][0]["name"].is_string(),
        "{answer}"
    );
    eventually("the unlisted operation is counted", || async {
        (common::counter(
            "router_persisted_documents_total",
            &["result=\"not_in_list\""],
        ) > before)
            .then_some(())
    })
    .await;
    let (_, answer) = post(&router, json!({ "documentId": "named-id" })).await;
    assert!(
        answer["data"]["topProducts"][0]["upc"].is_string(),
        "{answer}"
    );
}
