//! Federation features on the catalog fixture: entity interfaces with `@interfaceObject`,
//! unions and interfaces across subgraphs, `@override`, `@inaccessible`, nested keys,
//! `resolvable: false` references and null keys.

use crate::common;

use common::{TestRouter, catalog_config, error_codes};
use serde_json::{Value, json};

async fn router() -> TestRouter {
    TestRouter::start(catalog_config().await).await
}

async fn ok(router: &TestRouter, query: &str) -> Value {
    let (status, body) = router.query(query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn an_interface_gets_fields_from_an_interface_object_subgraph() {
    let router = router().await;
    let data = ok(
        &router,
        "{ media { __typename id title rating ... on Book { pages } ... on Movie { minutes } } }",
    )
    .await;
    assert_eq!(
        data["media"],
        json!([
            { "__typename": "Book", "id": "b1", "title": "Dune", "rating": 4, "pages": 412 },
            { "__typename": "Book", "id": "b2", "title": "Notes", "rating": 1, "pages": 12 },
            { "__typename": "Movie", "id": "m1", "title": "Alien", "rating": 5, "minutes": 117 }
        ])
    );
}

#[tokio::test]
async fn an_interface_object_root_learns_concrete_types_from_the_owner() {
    let router = router().await;
    let data = ok(
        &router,
        "{ topRated { __typename id title rating ... on Movie { minutes } } }",
    )
    .await;
    assert_eq!(
        data["topRated"],
        json!([{ "__typename": "Movie", "id": "m1", "title": "Alien", "rating": 5, "minutes": 117 }])
    );
}

#[tokio::test]
async fn union_members_get_fields_from_other_subgraphs() {
    let router = router().await;
    let data = ok(
        &router,
        r#"{ search(term: "x") {
            __typename
            ... on Book { title author { name country } }
            ... on Movie { title rating }
            ... on Author { name country }
        } }"#,
    )
    .await;
    assert_eq!(
        data["search"],
        json!([
            { "__typename": "Movie", "title": "Alien", "rating": 5 },
            { "__typename": "Author", "name": "Frank Herbert", "country": "US" },
            { "__typename": "Book", "title": "Dune", "author": { "name": "Frank Herbert", "country": "US" } }
        ])
    );
}

#[tokio::test]
async fn an_overridden_field_is_served_by_the_new_owner() {
    let router = router().await;
    let data = ok(&router, "{ books { author { id name } } }").await;
    assert_eq!(
        data["books"],
        json!([{ "author": { "id": "a1", "name": "Frank Herbert" } }, { "author": null }])
    );
}

#[tokio::test]
async fn inaccessible_fields_and_enum_values_stay_hidden() {
    let router = router().await;
    let (status, body) = router.query("{ secret }", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["GRAPHQL_VALIDATION_FAILED"]);

    // A value the API does not have is null in the response, not leaked.
    let data = ok(&router, "{ books { id format } }").await;
    assert_eq!(
        data["books"],
        json!([{ "id": "b1", "format": "HARDCOVER" }, { "id": "b2", "format": null }])
    );

    let data = ok(
        &router,
        r#"{ format: __type(name: "Format") { enumValues(includeDeprecated: true) { name } }
             query: __type(name: "Query") { fields { name } } }"#,
    )
    .await;
    assert_eq!(
        data["format"]["enumValues"],
        json!([{ "name": "HARDCOVER" }, { "name": "PAPERBACK" }])
    );
    let fields: Vec<&str> = data["query"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!fields.contains(&"secret"), "{fields:?}");
    assert!(fields.contains(&"books"), "{fields:?}");
}

#[tokio::test]
async fn nested_compound_keys_resolve_unresolvable_references() {
    let router = router().await;
    let data = ok(
        &router,
        "{ books { id editions { number publisher book { id } } } }",
    )
    .await;
    assert_eq!(
        data["books"][0],
        json!({ "id": "b1", "editions": [
            { "number": 1, "publisher": "b1 press #1", "book": { "id": "b1" } },
            { "number": 2, "publisher": "b1 press #2", "book": { "id": "b1" } }
        ] })
    );
}

#[tokio::test]
async fn an_entity_with_a_null_key_is_not_fetched() {
    let router = router().await;
    let data = ok(&router, "{ books { id isbn reviewCount } }").await;
    assert_eq!(
        data["books"],
        json!([
            { "id": "b1", "isbn": "isbn-1", "reviewCount": 6 },
            { "id": "b2", "isbn": null, "reviewCount": null }
        ])
    );
}

#[tokio::test]
async fn a_progressive_override_splits_traffic_between_the_subgraphs() {
    // The same subgraphs, composed with `@override(from: "media", label: "percent(50)")`.
    let mut config = catalog_config().await;
    config.supergraph.path = common::fixtures_dir().join("progressive/supergraph.graphql");
    let router = TestRouter::start(config).await;
    let mut from_people = 0;
    let mut from_media = 0;
    for _ in 0..100 {
        let data = ok(&router, "{ books { author { name } } }").await;
        match data["books"][0]["author"]["name"].as_str() {
            Some("Frank Herbert") => from_people += 1,
            Some("media's author a1") => from_media += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Both sides serve some of the traffic (all 100 on one side: odds of 2^-99).
    assert!(
        from_people > 0 && from_media > 0,
        "{from_people} / {from_media}"
    );
}

#[tokio::test]
async fn interface_object_fields_on_a_concrete_type_keep_its_typename() {
    let router = router().await;
    let data = ok(
        &router,
        "{ books { __typename id rating ... on Book { pages } } search(term: \"x\") { ... on Book { __typename rating pages } } }",
    )
    .await;
    assert_eq!(
        data["books"],
        json!([
            { "__typename": "Book", "id": "b1", "rating": 4, "pages": 412 },
            { "__typename": "Book", "id": "b2", "rating": 1, "pages": 12 }
        ])
    );
    assert_eq!(
        data["search"][2],
        json!({ "__typename": "Book", "rating": 4, "pages": 412 })
    );
}
