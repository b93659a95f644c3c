//! The supergraph's authorization directives at the router (the vault fixture): what a
//! caller may not see is removed before any subgraph call, null with an
//! `UNAUTHORIZED_FIELD_OR_TYPE` error, and the rest answered; `reject` refuses the whole
//! operation.

use crate::common;

use common::{TestRouter, error_codes, serve_subgraph, subgraph_url, tokens, vault};
use serde_json::{Value, json};

struct Vault {
    router: TestRouter,
    keys: tokens::TestKeys,
    vault_hits: vault::Hits,
    ledger_hits: vault::Hits,
}

async fn start(configure: impl FnOnce(&mut router::RouterConfig)) -> Vault {
    let (vault_hits, ledger_hits) = (vault::Hits::default(), vault::Hits::default());
    let vault_addr = serve_subgraph(vault::vault_schema(vault_hits.clone())).await;
    let ledger_addr = serve_subgraph(vault::ledger_schema(ledger_hits.clone())).await;
    let keys = tokens::TestKeys::generate("k1");
    let mut config = router::RouterConfig {
        port: 0,
        ..Default::default()
    };
    config.supergraph.path = common::fixtures_dir().join("vault/supergraph.graphql");
    config.supergraph.watch = false;
    for (name, addr) in [("vault", vault_addr), ("ledger", ledger_addr)] {
        config.subgraphs.insert(
            name.into(),
            router::config::SubgraphConfig {
                url: Some(subgraph_url(addr)),
                ..Default::default()
            },
        );
    }
    config.jwt = Some(router::config::JwtConfig {
        jwks_file: Some(tokens::jwks_file(&keys)),
        ..Default::default()
    });
    config.authorization.policies.insert(
        "support".into(),
        router::config::PolicyRule {
            claim: "role".into(),
            one_of: vec!["SUPPORT".into()],
        },
    );
    configure(&mut config);
    Vault {
        router: TestRouter::start(config).await,
        keys,
        vault_hits,
        ledger_hits,
    }
}

impl Vault {
    fn token(&self, scope: &str, role: &str) -> String {
        let mut claims = tokens::claims(300, 0);
        claims["scope"] = json!(scope);
        claims["role"] = json!(role);
        self.keys.sign(&claims)
    }

    async fn query(&self, token: Option<&str>, query: &str) -> (u16, Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("authorization", b)])
            .unwrap_or_default();
        self.router.query_with(query, json!({}), &headers).await
    }
}

fn paths(body: &Value) -> Vec<Value> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["path"].clone())
        .collect()
}

#[tokio::test]
async fn an_anonymous_caller_gets_the_public_part_and_an_error_for_each_guarded_one() {
    let vault = start(|_| {}).await;
    let (status, body) = vault.query(None, "{ public me { name } }").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({ "public": "open", "me": null }),
        "{body}"
    );
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(paths(&body), [json!(["me"])]);

    // `accounts` is a non-null list: its null takes the data with it, as GraphQL says,
    // and its own error explains it (no second, non-null error).
    let (_, body) = vault.query(None, "{ public accounts { id } }").await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(paths(&body), [json!(["accounts"])]);
}

#[tokio::test]
async fn scopes_policies_aliases_fragments_and_interfaces_are_judged_per_caller() {
    let vault = start(|_| {}).await;
    let query = r#"
        query Q($withLevel: Boolean!) {
          mine: me { name ...Private level @include(if: $withLevel) }
          nodes {
            id
            label
            ... on Document { title classified }
          }
        }
        fragment Private on Account { email balance }
    "#;
    let run = |token: Option<String>| {
        let vault = &vault;
        async move {
            let bearer = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = bearer
                .as_deref()
                .map(|b| vec![("authorization", b)])
                .unwrap_or_default();
            vault
                .router
                .query_with(query, json!({ "withLevel": true }), &headers)
                .await
        }
    };

    // Signed in, no scopes, not support: name and level only; the other places are null.
    let (_, body) = run(Some(vault.token("", "USER"))).await;
    assert_eq!(body["data"]["mine"]["name"], "account 1", "{body}");
    assert_eq!(body["data"]["mine"]["level"], "SECRET", "{body}");
    assert_eq!(body["data"]["mine"]["email"], Value::Null, "{body}");
    assert_eq!(body["data"]["nodes"][1]["title"], "plans", "{body}");
    assert_eq!(
        body["data"]["nodes"][1]["classified"],
        Value::Null,
        "{body}"
    );
    let mut got = paths(&body);
    got.sort_by_key(Value::to_string);
    assert_eq!(
        got,
        [
            json!(["mine", "balance"]),
            json!(["mine", "email"]),
            json!(["nodes", "@", "classified"]),
            json!(["nodes", "@", "label"]),
        ],
        "{body}"
    );
    // The ledger was never asked for the balance.
    assert_eq!(vault.ledger_hits.get(), 0);

    // Every scope and the support role: everything, and no error.
    let (_, body) = run(Some(vault.token("classified finance", "SUPPORT"))).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["mine"]["email"], "1@example.com");
    assert_eq!(body["data"]["mine"]["balance"], 42);
    assert_eq!(body["data"]["nodes"][1]["classified"], "the plans");
    assert_eq!(body["data"]["nodes"][0]["label"], "label 1");
    assert_eq!(vault.ledger_hits.get(), 1);

    // Anonymous: `me` is gone as a whole (the enum and fields below it add no errors).
    let (_, body) = run(None).await;
    assert_eq!(body["data"]["mine"], Value::Null, "{body}");
    assert!(paths(&body).contains(&json!(["mine"])), "{body}");
    assert!(!paths(&body).contains(&json!(["mine", "email"])), "{body}");
}

#[tokio::test]
async fn a_denied_mutation_never_reaches_its_subgraph() {
    let vault = start(|_| {}).await;
    let (_, body) = vault
        .query(None, r#"mutation { setMotto(motto: "hi") }"#)
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(vault.vault_hits.get(), 0);
    let token = vault.token("", "USER");
    let (_, body) = vault
        .query(Some(&token), r#"mutation { setMotto(motto: "hi") }"#)
        .await;
    assert_eq!(body["data"]["setMotto"], "hi", "{body}");
    assert_eq!(vault.vault_hits.get(), 1);
}

#[tokio::test]
async fn reject_mode_refuses_the_whole_operation() {
    let vault = start(|c| c.authorization.mode = router::config::AuthorizationMode::Reject).await;
    let token = vault.token("", "USER");
    let (status, body) = vault
        .query(
            Some(&token),
            "{ public nodes { ... on Document { classified } } }",
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert_eq!(status, 403);
    assert_eq!(vault.vault_hits.get(), 0);
    let (_, body) = vault.query(Some(&token), "{ public me { name } }").await;
    assert_eq!(body["data"]["me"]["name"], "account 1", "{body}");
}

#[tokio::test]
async fn introspection_is_untouched_and_a_guarded_subscription_needs_a_token() {
    let vault = start(|_| {}).await;
    let (_, body) = vault
        .query(None, "{ __type(name: \"Account\") { fields { name } } }")
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body.to_string().contains("\"email\""), "{body}");

    let response = vault
        .router
        .http
        .post(vault.router.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": "subscription { ticks }" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("UNAUTHENTICATED"), "{text}");

    let token = vault.token("", "USER");
    let response = vault
        .router
        .http
        .post(vault.router.url("/graphql"))
        .header("accept", "text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({ "query": "subscription { ticks }" }))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains("\"ticks\":3"), "{text}");
}
