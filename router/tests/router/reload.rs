//! The supergraph file is watched: a changed file is loaded without dropping requests, and
//! a broken one is refused while the current supergraph keeps serving. The platform's own
//! supergraph (`schema/supergraph.graphql`) loads and plans.

use crate::common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{TestRouter, shop_config, start_shop};
use serde_json::json;
use service_kit::testing::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_supergraph_is_reloaded_without_dropping_requests() {
    let shop = start_shop().await;
    let full =
        std::fs::read_to_string(common::fixtures_dir().join("shop/supergraph.graphql")).unwrap();
    // The old version lacks `Query.users`.
    let old = full.replace("  users: [User!]! @join__field(graph: ACCOUNTS)\n", "");
    assert_ne!(old, full, "the fixture changed: update this test");
    let path = std::env::temp_dir().join(format!("supergraph-{}.graphql", uuid::Uuid::new_v4()));
    std::fs::write(&path, &old).unwrap();
    let mut config = shop_config(&shop);
    config.supergraph.path = path.clone();
    config.supergraph.watch = true;
    config.supergraph.poll_interval_ms = 20;
    let router = Arc::new(TestRouter::start(config).await);
    let new_field = "{ users { id } }";
    let (status, _) = router.query(new_field, json!({})).await;
    assert_eq!(status, 400);
    let reloads = |outcome: &str| {
        common::counter(
            "router_supergraph_reloads_total",
            &[&format!("outcome=\"{outcome}\"")],
        )
    };

    // Four clients query without pause from before the change until well after it; each
    // answer records whether the new field already existed when it was sent.
    let reloaded = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (router, reloaded, stop) = (router.clone(), reloaded.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let after = reloaded.load(Ordering::SeqCst);
                    let (status, body) = router
                        .query("{ topProducts { name inStock } }", json!({}))
                        .await;
                    answers.push((after, status, body));
                }
                answers
            })
        })
        .collect();
    // Make sure the modification time moves even on coarse clocks.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, &full).unwrap();
    eventually("the new supergraph to serve", || async {
        (router.query(new_field, json!({})).await.0 == 200).then_some(())
    })
    .await;
    reloaded.store(true, Ordering::SeqCst);
    assert_eq!(reloads("ok"), 1.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.unwrap());
    }
    let before = answers.iter().filter(|(after, _, _)| !after).count();
    assert!(
        before > 0 && before < answers.len(),
        "traffic spanned the swap: {before} of {}",
        answers.len()
    );
    for (_, status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }

    // A broken file: the watcher reads it and refuses it (counted), and the current
    // supergraph keeps serving.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, "this is not a supergraph").unwrap();
    eventually("the broken supergraph to be refused", || async {
        (reloads("error") == 1.0).then_some(())
    })
    .await;
    assert_eq!(reloads("ok"), 1.0);
    let (status, body) = router.query(new_field, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_platform_supergraph_loads_and_plans() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/supergraph.graphql");
    let sdl = std::fs::read_to_string(path).unwrap();
    let supergraph = std::sync::Arc::new(
        router::Supergraph::from_sdl(&sdl, Default::default(), 16, &|_| None).unwrap(),
    );
    assert!(supergraph.subgraphs.contains_key("auth"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let prepared = runtime
        .block_on(supergraph.prepare("{ me { id email } }", None))
        .unwrap();
    assert!(prepared.plan.is_some());
}

#[test]
fn the_deployment_config_is_a_valid_router_config() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/router.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = router::RouterConfig::from_yaml(&text).unwrap();
    assert!(config.jwt.is_some());
    assert!(config.rate_limit.per_user.is_some());
}

#[tokio::test]
async fn the_binary_takes_a_config_file_and_a_supergraph_flag() {
    let shop = start_shop().await;
    let dir = std::env::temp_dir().join(format!("router-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("router.yaml");
    let yaml = format!(
        "supergraph:\n  path: /nonexistent/overridden-by-the-flag.graphql\nsubgraphs:\n{}limits:\n  max_depth: 3\n",
        [
            ("accounts", shop.accounts),
            ("products", shop.products),
            ("inventory", shop.inventory),
            ("reviews", shop.reviews),
        ]
        .iter()
        .map(|(name, addr)| format!("  {name}:\n    url: {}\n", common::subgraph_url(*addr)))
        .collect::<String>()
    );
    std::fs::write(&config, yaml).unwrap();
    let supergraph = common::fixtures_dir().join("shop/supergraph.graphql");
    let router = common::RouterProcess::spawn_with_args(
        &[],
        &[
            "--config",
            config.to_str().unwrap(),
            "--supergraph",
            supergraph.to_str().unwrap(),
        ],
    )
    .await;
    let (status, body) = router
        .query_with("{ topProducts(first: 1) { name inStock } }", json!({}), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["topProducts"],
        json!([{ "name": "Table", "inStock": true }])
    );
    // The file's limits apply.
    let (_, body) = router
        .query_with(
            "{ topProducts { reviews { author { name } } } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(common::error_codes(&body), ["LIMIT_EXCEEDED"]);
    let _ = std::fs::remove_dir_all(&dir);
}
