//! Every `@requires` suite of The Guild's federation gateway audit, one test per audit test
//! case, against the ports of the suites' subgraphs in `common::requires`. The expected
//! responses are the audit's (what the Federation spec makes of the suites' subgraphs), not
//! what this router happens to answer.

use crate::common;

use common::TestRouter;
use serde_json::{Value, json};

/// Sends `query` (no variables) and checks that the response's `data` is `expected` and that it
/// has no errors.
async fn assert_data(router: &TestRouter, query: &str, expected: Value) {
    let (status, body) = router.query(query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], expected, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

/// `requires-with-argument-conflict`: one entity fetch needs b's `price` in USD and in EUR.
mod argument_conflict {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::argument_conflict::config().await).await
    }

    #[tokio::test]
    async fn the_same_field_required_with_two_arguments_reaches_each_requirer_under_its_name() {
        let router = router().await;
        assert_data(
            &router,
            "query { products { upc name shippingEstimate shippingEstimateEUR isExpensiveCategory } }",
            json!({ "products": [
                { "upc": "p1", "name": "p-name-1", "shippingEstimate": 110,
                  "shippingEstimateEUR": 220, "isExpensiveCategory": false },
                { "upc": "p2", "name": "p-name-2", "shippingEstimate": 440,
                  "shippingEstimateEUR": 880, "isExpensiveCategory": true }
            ] }),
        )
        .await;
    }
}

/// `requires-with-argument`: required fields that take arguments, one of them clashing with the
/// client's selection of the same field.
mod argument {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::argument::config().await).await
    }

    /// `comments: [{ id: "c1" }]` and `[{ id: "c4" }]` next to the authors: what the three
    /// conflict tests expect.
    fn authors_and_first_comments() -> Value {
        json!({ "feed": [
            { "author": { "id": "a2" }, "comments": [{ "id": "c1" }] },
            { "author": { "id": "a1" }, "comments": [{ "id": "c4" }] }
        ] })
    }

    #[tokio::test]
    async fn a_field_requiring_a_field_with_an_argument_gets_its_value() {
        let router = router().await;
        assert_data(
            &router,
            "query { products { upc name shippingEstimate } }",
            json!({ "products": [
                { "upc": "p1", "name": "p-name-1", "shippingEstimate": 110 },
                { "upc": "p2", "name": "p-name-2", "shippingEstimate": 440 }
            ] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_a_nested_list_with_an_argument_gets_the_whole_list() {
        let router = router().await;
        assert_data(
            &router,
            "{ feed { author { id } } }",
            json!({ "feed": [{ "author": { "id": "a2" } }, { "author": { "id": "a1" } }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_required_field_and_the_same_field_with_another_argument_both_resolve() {
        let router = router().await;
        assert_data(
            &router,
            "query { feed { author { id } comments(limit: 1) { id } } }",
            authors_and_first_comments(),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_reaching_through_a_list_of_entities_with_arguments_is_sent_whole() {
        let router = router().await;
        assert_data(
            &router,
            "query { feed { comments(limit: 3) { isCommentSpam } } }",
            json!({ "feed": [
                { "comments": [
                    { "isCommentSpam": false }, { "isCommentSpam": false }, { "isCommentSpam": true }
                ] },
                { "comments": [
                    { "isCommentSpam": false }, { "isCommentSpam": false }, { "isCommentSpam": false }
                ] }
            ] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_conflicting_argument_given_by_a_variable_default_does_not_clobber_the_requirement() {
        let router = router().await;
        assert_data(
            &router,
            "query ($limit: Int = 1) { feed { author { id } comments(limit: $limit) { id } } }",
            authors_and_first_comments(),
        )
        .await;
    }

    #[tokio::test]
    async fn a_conflicting_argument_in_fragments_does_not_clobber_the_requirement() {
        let router = router().await;
        assert_data(
            &router,
            "query ($limit: Int = 1) {
                feed { author { id } ...Foo ...Bar }
            }
            fragment Foo on Post { comments(limit: $limit) { id } }
            fragment Bar on Post { comments(limit: $limit) { id } }",
            authors_and_first_comments(),
        )
        .await;
    }
}

/// `requires-with-fragments`: requirements with inline fragments on an abstract field, one of
/// whose types is inaccessible.
mod fragments {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::fragments::config().await).await
    }

    #[tokio::test]
    async fn an_abstract_field_of_an_inaccessible_type_is_null() {
        let router = router().await;
        assert_data(
            &router,
            "query { b { id data { __typename } } bb { id data { __typename } } }",
            json!({
                "b": { "id": "e1", "data": null },
                "bb": { "id": "e2", "data": { "__typename": "Qux" } }
            }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_nested_fragments_is_projected_by_runtime_type() {
        let router = router().await;
        assert_data(
            &router,
            "query { a { requirer } }",
            json!({ "a": { "requirer": "q1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_fragments_next_to_the_client_selection_of_the_same_field() {
        let router = router().await;
        assert_data(
            &router,
            "query { a { data { __typename } requirer } }",
            json!({ "a": { "data": { "__typename": "Qux" }, "requirer": "q1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_fragments_fetched_from_another_subgraph_first() {
        let router = router().await;
        assert_data(
            &router,
            "query { bb { data { __typename } requirer } }",
            json!({ "bb": { "data": { "__typename": "Qux" }, "requirer": "q1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_an_inaccessible_type_is_still_sent_to_the_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "query { b { data { __typename } requirer } }",
            json!({ "b": { "data": null, "requirer": "b1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_a_fragment_on_the_field_type_itself() {
        let router = router().await;
        assert_data(
            &router,
            "query { bb { data { __typename } requirer2 } }",
            json!({ "bb": { "data": { "__typename": "Qux" }, "requirer2": "q1-foo_requirer2" } }),
        )
        .await;
    }
}

/// `requires-interface`: requirements through an interface-typed field.
mod interface {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::interface::config().await).await
    }

    #[tokio::test]
    async fn a_requirement_on_an_interface_field_fetched_from_another_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "query { a { city } }",
            json!({ "a": { "city": "a1-city" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_on_an_interface_field_fetched_with_the_root() {
        let router = router().await;
        assert_data(
            &router,
            "query { b { city } }",
            json!({ "b": { "city": "a2-city" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_behind_a_type_condition_the_value_does_not_meet_is_not_sent() {
        let router = router().await;
        assert_data(
            &router,
            "query { a { country } }",
            json!({ "a": { "country": null } }),
        )
        .await;
    }

    #[tokio::test]
    async fn an_interface_field_is_fetched_from_its_owner() {
        let router = router().await;
        assert_data(
            &router,
            "query { a { address { __typename id } } }",
            json!({ "a": { "address": { "__typename": "HomeAddress", "id": "a1" } } }),
        )
        .await;
    }

    #[tokio::test]
    async fn an_interface_field_of_the_root_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "query { b { address { __typename id } } }",
            json!({ "b": { "address": { "__typename": "WorkAddress", "id": "a2" } } }),
        )
        .await;
    }
}

/// `requires-circular`: requirements going back and forth between two subgraphs.
mod circular {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::circular::config().await).await
    }

    #[tokio::test]
    async fn a_requirement_fetched_from_the_subgraph_that_requires_it_back() {
        let router = router().await;
        assert_data(
            &router,
            "{ feed { byNovice } }",
            json!({ "feed": [{ "byNovice": true }, { "byNovice": false }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_a_requirement_across_two_subgraphs_keeps_false_values() {
        let router = router().await;
        assert_data(
            &router,
            "{ feed { byExpert } }",
            json!({ "feed": [{ "byExpert": false }, { "byExpert": true }] }),
        )
        .await;
    }
}

/// `requires-requires`: chains of requirements across four subgraphs.
mod requires_requires {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::requires_requires::config().await).await
    }

    #[tokio::test]
    async fn a_requirement_of_a_requirement_of_an_inaccessible_field() {
        let router = router().await;
        assert_data(
            &router,
            "query { product { canAfford } }",
            json!({ "product": { "canAfford": false } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_an_inaccessible_field() {
        let router = router().await;
        assert_data(
            &router,
            "query { product { isExpensive } }",
            json!({ "product": { "isExpensive": true } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_required_field_also_selected_by_the_client() {
        let router = router().await;
        assert_data(
            &router,
            "query { product { isExpensive canAfford } }",
            json!({ "product": { "isExpensive": true, "canAfford": false } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_a_requirement_of_a_root_field() {
        let router = router().await;
        assert_data(
            &router,
            "query { product { canAffordWithDiscount } }",
            json!({ "product": { "canAffordWithDiscount": true } }),
        )
        .await;
    }

    #[tokio::test]
    async fn two_requirement_chains_end_in_the_same_fetch() {
        let router = router().await;
        assert_data(
            &router,
            "query { product { canAfford canAffordWithDiscount } }",
            json!({ "product": { "canAfford": false, "canAffordWithDiscount": true } }),
        )
        .await;
    }
}

/// `interface-object-with-requires`: an `@interfaceObject` field requiring a field of the
/// entity interface's owner.
mod interface_object {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::interface_object::config().await).await
    }

    fn users() -> Value {
        json!([
            { "id": "u1", "name": "u1-name", "username": "u1-username" },
            { "id": "u2", "name": "u2-name", "username": "u2-username" }
        ])
    }

    fn users_with_ages() -> Value {
        json!([
            { "age": 11, "id": "u1", "name": "u1-name", "username": "u1-username" },
            { "age": 22, "id": "u2", "name": "u2-name", "username": "u2-username" }
        ])
    }

    #[tokio::test]
    async fn an_interface_object_field_requiring_a_field_of_the_interface_owner() {
        let router = router().await;
        assert_data(
            &router,
            "query { anotherUsers { id name username } }",
            json!({ "anotherUsers": users() }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_sent_to_an_interface_object_from_concrete_types() {
        let router = router().await;
        assert_data(
            &router,
            "query { users { id name username } }",
            json!({ "users": users() }),
        )
        .await;
    }

    #[tokio::test]
    async fn an_interface_object_root_learns_the_concrete_type() {
        let router = router().await;
        assert_data(
            &router,
            "query { anotherUsers { ... on User { age } } }",
            json!({ "anotherUsers": [{ "age": 11 }, { "age": 22 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_fragment_on_the_concrete_type_of_the_owner() {
        let router = router().await;
        assert_data(
            &router,
            "query { users { ... on User { age } } }",
            json!({ "users": [{ "age": 11 }, { "age": 22 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_an_interface_object_root_inside_a_concrete_fragment() {
        let router = router().await;
        assert_data(
            &router,
            "query { anotherUsers { ... on User { age id name username } id name } }",
            json!({ "anotherUsers": users_with_ages() }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_from_concrete_types_inside_a_concrete_fragment() {
        let router = router().await;
        assert_data(
            &router,
            "query { users { ... on User { age id name username } id name } }",
            json!({ "users": users_with_ages() }),
        )
        .await;
    }

    /// The audit runs the previous case twice ("duplicate complex field selection"); so does this.
    #[tokio::test]
    async fn a_requirement_from_concrete_types_inside_a_concrete_fragment_again() {
        let router = router().await;
        let query = "query { users { ... on User { age id name username } id name } }";
        assert_data(&router, query, json!({ "users": users_with_ages() })).await;
        assert_data(&router, query, json!({ "users": users_with_ages() })).await;
    }
}

/// `override-with-requires`: requirements of a field another subgraph took over.
mod overrides {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::overrides::config().await).await
    }

    #[tokio::test]
    async fn requirements_of_an_overridden_field_come_from_its_new_owner() {
        let router = router().await;
        let selection = "{ id name aName cName }";
        assert_data(
            &router,
            &format!("{{ userInA {selection} userInB {selection} userInC {selection} }}"),
            json!({
                "userInA": { "id": "u1", "name": "u1-name", "aName": "a__u1-name", "cName": "c__u1-name" },
                "userInB": { "id": "u2", "name": "u2-name", "aName": "a__u2-name", "cName": "c__u2-name" },
                "userInC": { "id": "u3", "name": "u3-name", "aName": "a__u3-name", "cName": "c__u3-name" }
            }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_the_subgraph_the_field_was_overridden_from() {
        let router = router().await;
        assert_data(
            &router,
            "query { userInC { cName } }",
            json!({ "userInC": { "cName": "c__u3-name" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_another_subgraph_than_the_root() {
        let router = router().await;
        assert_data(
            &router,
            "query { userInA { cName } }",
            json!({ "userInA": { "cName": "c__u1-name" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_the_root_subgraph_itself() {
        let router = router().await;
        assert_data(
            &router,
            "query { userInA { aName } }",
            json!({ "userInA": { "aName": "a__u1-name" } }),
        )
        .await;
    }
}

/// `simple-requires-provides`: requirements next to `@provides`.
mod provides {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::provides::config().await).await
    }

    #[tokio::test]
    async fn a_root_field() {
        let router = router().await;
        assert_data(
            &router,
            "query { me { id } }",
            json!({ "me": { "id": "u1" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn an_entity_field_of_another_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "query { me { id reviews { id } } }",
            json!({ "me": { "id": "u1", "reviews": [{ "id": "r1" }, { "id": "r2" }] } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_provided_field_and_a_field_of_a_third_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "query { me { reviews { id author { id username } product { inStock } } } }",
            json!({ "me": { "reviews": [
                { "id": "r1", "author": { "id": "u1", "username": "u-username-1" },
                  "product": { "inStock": true } },
                { "id": "r2", "author": { "id": "u1", "username": "u-username-1" },
                  "product": { "inStock": false } }
            ] } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_list_root_field() {
        let router = router().await;
        assert_data(
            &router,
            "query { products { name } }",
            json!({ "products": [{ "name": "p-name-1" }, { "name": "p-name-2" }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_that_is_external_elsewhere() {
        let router = router().await;
        assert_data(
            &router,
            "query { products { price } }",
            json!({ "products": [{ "price": 11 }, { "price": 22 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_two_fields() {
        let router = router().await;
        assert_data(
            &router,
            "query { products { shippingEstimate } }",
            json!({ "products": [{ "shippingEstimate": 110 }, { "shippingEstimate": 440 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_two_fields_the_client_also_selects() {
        let router = router().await;
        assert_data(
            &router,
            "query { products { shippingEstimate weight price } }",
            json!({ "products": [
                { "shippingEstimate": 110, "weight": 1, "price": 11 },
                { "shippingEstimate": 440, "weight": 2, "price": 22 }
            ] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_deep_in_lists_next_to_a_provided_field() {
        let router = router().await;
        assert_data(
            &router,
            "{ products { reviews { id author { username } product { name shippingEstimate } } } }",
            json!({ "products": [
                { "reviews": [{ "id": "r1", "author": { "username": "u-username-1" },
                                "product": { "name": "p-name-1", "shippingEstimate": 110 } }] },
                { "reviews": [{ "id": "r2", "author": { "username": "u-username-1" },
                                "product": { "name": "p-name-2", "shippingEstimate": 440 } }] }
            ] }),
        )
        .await;
    }

    #[tokio::test]
    async fn an_entity_reentering_its_own_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "{ me { reviews { product { reviews { id } } } } }",
            json!({ "me": { "reviews": [
                { "product": { "reviews": [{ "id": "r1" }] } },
                { "product": { "reviews": [{ "id": "r2" }] } }
            ] } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_of_a_third_subgraph_in_a_list() {
        let router = router().await;
        assert_data(
            &router,
            "query { me { reviews { product { inStock } } } }",
            json!({ "me": { "reviews": [
                { "product": { "inStock": true } }, { "product": { "inStock": false } }
            ] } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_entities_in_a_list_of_another_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            "query { me { reviews { product { shippingEstimate } } } }",
            json!({ "me": { "reviews": [
                { "product": { "shippingEstimate": 110 } },
                { "product": { "shippingEstimate": 440 } }
            ] } }),
        )
        .await;
    }

    #[tokio::test]
    async fn two_fields_with_the_same_requirement() {
        let router = router().await;
        assert_data(
            &router,
            "query { me { reviews { product { shippingEstimate shippingEstimateTag } } } }",
            json!({ "me": { "reviews": [
                { "product": { "shippingEstimate": 110, "shippingEstimateTag": "#p1#110#" } },
                { "product": { "shippingEstimate": 440, "shippingEstimateTag": "#p2#440#" } }
            ] } }),
        )
        .await;
    }
}

/// `nested-requires` (in older versions of the audit): a requirement computed from a
/// requirement.
mod nested {
    use super::*;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::nested::config().await).await
    }

    #[tokio::test]
    async fn a_required_list_computed_by_another_requirement_is_sent_as_a_list() {
        let router = router().await;
        assert_data(
            &router,
            "query { user { aggregatedOrdersByStatus totalOrdersPrices } }",
            json!({ "user": { "aggregatedOrdersByStatus": 1, "totalOrdersPrices": 0 } }),
        )
        .await;
    }
}
