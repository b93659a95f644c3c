//! Request limits, introspection switch and rate limits, through the real router.

use crate::common;

use common::{TestRouter, closed_port, error_codes, shop_config, start_shop};
use serde_json::{Value, json};

async fn router_with(
    configure: impl FnOnce(&mut router::RouterConfig),
) -> (common::Shop, TestRouter) {
    let shop = start_shop().await;
    let mut config = shop_config(&shop);
    configure(&mut config);
    let router = TestRouter::start(config).await;
    (shop, router)
}

#[tokio::test]
async fn depth_aliases_root_fields_and_tokens_are_limited() {
    let (_shop, router) = router_with(|c| {
        c.limits.max_depth = 3;
        c.limits.max_aliases = 2;
        c.limits.max_root_fields = 2;
        c.limits.max_tokens = 40;
    })
    .await;
    let cases = [
        ("depth", "{ topProducts { reviews { author { name } } } }"),
        (
            "aliases",
            "{ a: users { id } b: users { id } c: users { id } }",
        ),
        (
            "root fields",
            "{ users { id } topProducts { upc } me { id } }",
        ),
        ("tokens", &format!("{{ users {{ {} }} }}", "id ".repeat(50))),
    ];
    for (what, query) in cases {
        let (status, body) = router.query(query, json!({})).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(error_codes(&body), ["LIMIT_EXCEEDED"], "{what}: {body}");
    }
    let (status, body) = router
        .query("{ topProducts { reviews { id } } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_oversized_body_is_a_graphql_error() {
    let (_shop, router) = router_with(|c| c.limits.max_body_bytes = 200).await;
    let (status, body) = router
        .query(
            &format!("{{ users {{ id }} }} #{}", "x".repeat(500)),
            json!({}),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(error_codes(&body), ["LIMIT_EXCEEDED"]);
}

#[tokio::test]
async fn the_operation_timeout_answers_instead_of_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (_shop, router) = router_with(|c| {
        c.limits.operation_timeout_ms = 300;
        common::set_subgraph_url(c, "accounts", silent);
    })
    .await;
    let (status, body) = router.query("{ users { id } }", json!({})).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(error_codes(&body), ["OPERATION_TIMEOUT"]);
}

#[tokio::test]
async fn introspection_describes_the_supergraph_and_can_be_turned_off() {
    let (_shop, router) = router_with(|_| {}).await;
    let (_, body) = router
        .query(
            r#"{
                __schema { queryType { name } mutationType { name } types { name } }
                product: __type(name: "Product") {
                    kind
                    fields { name type { kind name ofType { kind name } } }
                }
            }"#,
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    assert_eq!(body["data"]["__schema"]["mutationType"]["name"], "Mutation");
    let types: Vec<&str> = body["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in ["Product", "User", "Review", "String", "__Schema"] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    assert!(
        !types
            .iter()
            .any(|t| t.starts_with("join__") || t.starts_with("link__")),
        "{types:?}"
    );
    let fields = body["data"]["product"]["fields"].as_array().unwrap();
    let in_stock = fields.iter().find(|f| f["name"] == "inStock").unwrap();
    assert_eq!(
        in_stock["type"],
        json!({ "kind": "NON_NULL", "name": null, "ofType": { "kind": "SCALAR", "name": "Boolean" } })
    );

    let (_shop, router) = router_with(|c| c.limits.introspection = false).await;
    let (status, body) = router
        .query("{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["INTROSPECTION_DISABLED"]);
    // `__typename` is not introspection of the schema and stays available.
    let (_, body) = router.query("{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn the_per_ip_limit_answers_429_with_retry_after() {
    let (_shop, router) = router_with(|c| {
        c.rate_limit.per_ip = Some(router::config::PerIpLimit {
            per_second: 1,
            burst: 2,
            trust_forwarded_headers: false,
        });
    })
    .await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let response = router
            .http
            .post(router.url("/graphql"))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(&statuses[..2], &[200, 200]);
    assert_eq!(statuses[3], 429);
    let last = last.unwrap();
    let retry_after: u64 = last.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = last.json().await.unwrap();
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
}

fn user_limit(prefix: &str, redis_url: String) -> router::config::PerUserLimit {
    router::config::PerUserLimit {
        redis_url: Some(redis_url),
        requests: 3,
        sensitive_requests: 1,
        sensitive_fields: vec!["createUser".into()],
        window_secs: 60,
        fail_open: true,
        key_prefix: prefix.into(),
    }
}

/// A token for user `sub`, and a router config that verifies it.
fn jwt_setup(keys: &common::tokens::TestKeys, config: &mut router::RouterConfig) {
    config.jwt = Some(router::config::JwtConfig {
        jwks_file: Some(common::tokens::jwks_file(keys)),
        ..Default::default()
    });
}

#[tokio::test]
async fn the_redis_user_limit_holds_across_two_router_processes() {
    let shop = start_shop().await;
    let keys = common::tokens::TestKeys::generate("k1");
    let prefix = service_kit::testing::unique_name("router_rl");
    let redis = service_kit::testing::servers::redis_url();

    // Router A in this process.
    let mut config = shop_config(&shop);
    jwt_setup(&keys, &mut config);
    config.rate_limit.per_user = Some(user_limit(&prefix, redis.clone()));
    let a = TestRouter::start(config.clone()).await;

    // Router B: the real binary in its own process, configured through the environment.
    let jwks = common::tokens::jwks_file(&keys);
    let b = common::RouterProcess::spawn(&[
        (
            "ROUTER_SUPERGRAPH",
            config.supergraph.path.to_str().unwrap(),
        ),
        ("ROUTER_JWKS_FILE", jwks.to_str().unwrap()),
        ("REDIS_URL", &redis),
        ("ROUTER_RATE_LIMIT_PREFIX", &prefix),
        ("ROUTER_RATE_LIMIT_USER_REQUESTS", "3"),
        (
            "ROUTER_SUBGRAPH_ACCOUNTS_URL",
            &common::subgraph_url(shop.accounts),
        ),
        (
            "ROUTER_SUBGRAPH_PRODUCTS_URL",
            &common::subgraph_url(shop.products),
        ),
        (
            "ROUTER_SUBGRAPH_INVENTORY_URL",
            &common::subgraph_url(shop.inventory),
        ),
        (
            "ROUTER_SUBGRAPH_REVIEWS_URL",
            &common::subgraph_url(shop.reviews),
        ),
    ])
    .await;

    let token = keys.sign(&common::tokens::claims(300, 0));
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    let mut statuses = Vec::new();
    for i in 0..4 {
        let (status, _) = if i % 2 == 0 {
            a.query_with("{ me { id } }", json!({}), &headers).await
        } else {
            b.query_with("{ me { id } }", json!({}), &headers).await
        };
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let (status, body) = a.query_with("{ me { id } }", json!({}), &headers).await;
    assert_eq!(status, 429);
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);

    // Another user has a budget of their own.
    let mut other = common::tokens::claims(300, 0);
    other["sub"] = json!("2");
    let auth2 = format!("Bearer {}", keys.sign(&other));
    let (status, _) = b
        .query_with("{ me { id } }", json!({}), &[("authorization", &auth2)])
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sensitive_operations_have_a_stricter_budget_even_anonymously() {
    let shop = start_shop().await;
    let prefix = service_kit::testing::unique_name("router_rl");
    let mut config = shop_config(&shop);
    config.rate_limit.per_user = Some(user_limit(
        &prefix,
        service_kit::testing::servers::redis_url(),
    ));
    let router = TestRouter::start(config).await;
    let mutation = r#"mutation { createUser(name: "Eve") { id } }"#;
    let (status, _) = router.query(mutation, json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = router.query(mutation, json!({})).await;
    assert_eq!(status, 429, "{body}");
    // Everyday anonymous traffic is not counted per user.
    for _ in 0..5 {
        let (status, _) = router.query("{ users { id } }", json!({})).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn redis_down_fails_open_or_closed_as_configured() {
    let shop = start_shop().await;
    let down = format!("redis://{}", closed_port().await);
    let mutation = r#"mutation { createUser(name: "Eve") { id } }"#;

    let mut config = shop_config(&shop);
    config.rate_limit.per_user = Some(user_limit("router_rl_open", down.clone()));
    let router = TestRouter::start(config).await;
    let (status, body) = router.query(mutation, json!({})).await;
    assert_eq!(status, 200, "{body}");

    let mut config = shop_config(&shop);
    let mut limit = user_limit("router_rl_closed", down);
    limit.fail_open = false;
    config.rate_limit.per_user = Some(limit);
    let router = TestRouter::start(config).await;
    let (status, body) = router.query(mutation, json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
}

#[tokio::test]
async fn graphiql_is_served_with_its_own_assets() {
    let (_shop, router) = router_with(|_| {}).await;
    for path in ["/", "/graphql"] {
        let response = router
            .http
            .get(router.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains("/graphiql/graphiql.min.js"), "{path}");
        // Nothing is loaded from elsewhere.
        assert!(!html.contains("https://"), "{path}");
    }
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let response = router
            .http
            .get(router.url(&format!("/graphiql/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["content-encoding"], "gzip");
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() > 1000 && bytes[..2] == [0x1f, 0x8b], "{asset}");
    }
    let missing = router
        .http
        .get(router.url("/graphiql/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn graphiql_opens_with_the_configured_example_operation() {
    let example = "# Try this first\nquery Top { topProducts { name } }\n# </script> stays inert";
    let (_shop, router) = router_with(|c| c.graphiql_example = Some(example.into())).await;
    let html = router
        .http
        .get(router.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r##""defaultQuery":"# Try this first\nquery Top"##),
        "{html}"
    );
    // The example cannot close the page's script element.
    assert_eq!(html.matches("</script>").count(), 4, "{html}");
    assert!(html.contains(r"<\/script>"));
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let (_shop, router) = router_with(|_| {}).await;
    let health: Value = router
        .http
        .get(router.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = router.http.get(router.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["subgraphs"]["accounts"]["status"], "up");

    router
        .query("{ topProducts { name inStock } }", json!({}))
        .await;
    router
        .query("{ topProducts { name inStock } }", json!({}))
        .await;
    // An invalid operation is counted by its error code.
    router.query("{ noSuchField }", json!({})).await;
    let metrics = router
        .http
        .get(router.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "router_requests_total",
        "router_request_duration_seconds",
        "router_subgraph_request_duration_seconds",
        "router_plan_cache_total",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
    assert!(
        metrics.contains(r#"result="hit""#),
        "plan cache hits are counted"
    );
    assert!(
        metrics.contains(r#"router_errors_total{code="GRAPHQL_VALIDATION_FAILED"}"#),
        "errors are counted by code: {metrics}"
    );

    // A subgraph that is down makes the router not ready.
    let (_shop, router) = router_with(|c| {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        common::set_subgraph_url(c, "inventory", addr);
    })
    .await;
    let ready = router.http.get(router.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["subgraphs"]["inventory"]["status"], "down");
}

#[tokio::test]
async fn cors_follows_the_allow_list() {
    let (_shop, router) =
        router_with(|c| c.cors.allow_origins = vec!["https://app.example".into()]).await;
    let preflight = |origin: &'static str| {
        router
            .http
            .request(reqwest::Method::OPTIONS, router.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let denied = preflight("https://evil.example").await.unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn hostile_documents_get_errors_not_crashes_or_hangs() {
    let (_shop, router) = router_with(|_| {}).await;
    // Nesting far beyond any schema: the parser's recursion limit answers.
    let deep = format!("{}{}", "{ users { id ".repeat(200), "} ".repeat(201));
    let (status, body) = router.query(&deep, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body).len(), 1);

    // A fragment that doubles at every level: 2^30 fields if expanded.
    let mut doc = String::from("query { ...F0 }\n");
    for i in 0..30 {
        doc.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    doc.push_str("fragment F30 on Query { users { id } }\n");
    let (status, body) = router.query(&doc, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["LIMIT_EXCEEDED"]);

    // Deeply nested variables.
    let mut nested = json!(1);
    for _ in 0..1000 {
        nested = json!([nested]);
    }
    let (status, _) = router
        .query("query($v: Int) { users { id } }", json!({ "v": nested }))
        .await;
    assert_eq!(status, 400);
    // The router is still serving.
    let (status, _) = router.query("{ users { id } }", json!({})).await;
    assert_eq!(status, 200);
}
