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
    use common::requires::argument_conflict::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::argument_conflict::config().await).await
    }

    #[tokio::test]
    async fn the_same_field_required_with_two_arguments_reaches_each_requirer_under_its_name() {
        let router = router().await;
        assert_data(
            &router,
            ops::PRODUCTS_WITH_BOTH_ESTIMATES,
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
    use common::requires::argument::operations as ops;

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
            ops::PRODUCTS_SHIPPING_ESTIMATE,
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
            ops::FEED_AUTHOR,
            json!({ "feed": [{ "author": { "id": "a2" } }, { "author": { "id": "a1" } }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_required_field_and_the_same_field_with_another_argument_both_resolve() {
        let router = router().await;
        assert_data(
            &router,
            ops::FEED_AUTHOR_AND_ONE_COMMENT,
            authors_and_first_comments(),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_reaching_through_a_list_of_entities_with_arguments_is_sent_whole() {
        let router = router().await;
        assert_data(
            &router,
            ops::FEED_COMMENT_SPAM,
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
            ops::FEED_AUTHOR_AND_COMMENTS_BY_VARIABLE,
            authors_and_first_comments(),
        )
        .await;
    }

    #[tokio::test]
    async fn a_conflicting_argument_in_fragments_does_not_clobber_the_requirement() {
        let router = router().await;
        assert_data(
            &router,
            ops::FEED_AUTHOR_AND_COMMENTS_IN_FRAGMENTS,
            authors_and_first_comments(),
        )
        .await;
    }
}

/// `requires-with-fragments`: requirements with inline fragments on an abstract field, one of
/// whose types is inaccessible.
mod fragments {
    use super::*;
    use common::requires::fragments::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::fragments::config().await).await
    }

    #[tokio::test]
    async fn an_abstract_field_of_an_inaccessible_type_is_null() {
        let router = router().await;
        assert_data(
            &router,
            ops::B_AND_BB_DATA_TYPENAME,
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
            ops::A_REQUIRER,
            json!({ "a": { "requirer": "q1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_fragments_next_to_the_client_selection_of_the_same_field() {
        let router = router().await;
        assert_data(
            &router,
            ops::A_DATA_AND_REQUIRER,
            json!({ "a": { "data": { "__typename": "Qux" }, "requirer": "q1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_fragments_fetched_from_another_subgraph_first() {
        let router = router().await;
        assert_data(
            &router,
            ops::BB_DATA_AND_REQUIRER,
            json!({ "bb": { "data": { "__typename": "Qux" }, "requirer": "q1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_an_inaccessible_type_is_still_sent_to_the_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            ops::B_DATA_AND_REQUIRER,
            json!({ "b": { "data": null, "requirer": "b1-foo_requirer" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_with_a_fragment_on_the_field_type_itself() {
        let router = router().await;
        assert_data(
            &router,
            ops::BB_DATA_AND_REQUIRER2,
            json!({ "bb": { "data": { "__typename": "Qux" }, "requirer2": "q1-foo_requirer2" } }),
        )
        .await;
    }
}

/// `requires-interface`: requirements through an interface-typed field.
mod interface {
    use super::*;
    use common::requires::interface::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::interface::config().await).await
    }

    #[tokio::test]
    async fn a_requirement_on_an_interface_field_fetched_from_another_subgraph() {
        let router = router().await;
        assert_data(&router, ops::A_CITY, json!({ "a": { "city": "a1-city" } })).await;
    }

    #[tokio::test]
    async fn a_requirement_on_an_interface_field_fetched_with_the_root() {
        let router = router().await;
        assert_data(&router, ops::B_CITY, json!({ "b": { "city": "a2-city" } })).await;
    }

    #[tokio::test]
    async fn a_requirement_behind_a_type_condition_the_value_does_not_meet_is_not_sent() {
        let router = router().await;
        assert_data(&router, ops::A_COUNTRY, json!({ "a": { "country": null } })).await;
    }

    #[tokio::test]
    async fn an_interface_field_is_fetched_from_its_owner() {
        let router = router().await;
        assert_data(
            &router,
            ops::A_ADDRESS,
            json!({ "a": { "address": { "__typename": "HomeAddress", "id": "a1" } } }),
        )
        .await;
    }

    #[tokio::test]
    async fn an_interface_field_of_the_root_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            ops::B_ADDRESS,
            json!({ "b": { "address": { "__typename": "WorkAddress", "id": "a2" } } }),
        )
        .await;
    }
}

/// `requires-circular`: requirements going back and forth between two subgraphs.
mod circular {
    use super::*;
    use common::requires::circular::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::circular::config().await).await
    }

    #[tokio::test]
    async fn a_requirement_fetched_from_the_subgraph_that_requires_it_back() {
        let router = router().await;
        assert_data(
            &router,
            ops::FEED_BY_NOVICE,
            json!({ "feed": [{ "byNovice": true }, { "byNovice": false }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_a_requirement_across_two_subgraphs_keeps_false_values() {
        let router = router().await;
        assert_data(
            &router,
            ops::FEED_BY_EXPERT,
            json!({ "feed": [{ "byExpert": false }, { "byExpert": true }] }),
        )
        .await;
    }
}

/// `requires-requires`: chains of requirements across four subgraphs.
mod requires_requires {
    use super::*;
    use common::requires::requires_requires::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::requires_requires::config().await).await
    }

    #[tokio::test]
    async fn a_requirement_of_a_requirement_of_an_inaccessible_field() {
        let router = router().await;
        assert_data(
            &router,
            ops::CAN_AFFORD,
            json!({ "product": { "canAfford": false } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_an_inaccessible_field() {
        let router = router().await;
        assert_data(
            &router,
            ops::IS_EXPENSIVE,
            json!({ "product": { "isExpensive": true } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_required_field_also_selected_by_the_client() {
        let router = router().await;
        assert_data(
            &router,
            ops::IS_EXPENSIVE_AND_CAN_AFFORD,
            json!({ "product": { "isExpensive": true, "canAfford": false } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_a_requirement_of_a_root_field() {
        let router = router().await;
        assert_data(
            &router,
            ops::CAN_AFFORD_WITH_DISCOUNT,
            json!({ "product": { "canAffordWithDiscount": true } }),
        )
        .await;
    }

    #[tokio::test]
    async fn two_requirement_chains_end_in_the_same_fetch() {
        let router = router().await;
        assert_data(
            &router,
            ops::CAN_AFFORD_BOTH_WAYS,
            json!({ "product": { "canAfford": false, "canAffordWithDiscount": true } }),
        )
        .await;
    }
}

/// `interface-object-with-requires`: an `@interfaceObject` field requiring a field of the
/// entity interface's owner.
mod interface_object {
    use super::*;
    use common::requires::interface_object::operations as ops;

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
            ops::ANOTHER_USERS,
            json!({ "anotherUsers": users() }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_sent_to_an_interface_object_from_concrete_types() {
        let router = router().await;
        assert_data(&router, ops::USERS, json!({ "users": users() })).await;
    }

    #[tokio::test]
    async fn an_interface_object_root_learns_the_concrete_type() {
        let router = router().await;
        assert_data(
            &router,
            ops::ANOTHER_USERS_AGE,
            json!({ "anotherUsers": [{ "age": 11 }, { "age": 22 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_fragment_on_the_concrete_type_of_the_owner() {
        let router = router().await;
        assert_data(
            &router,
            ops::USERS_AGE,
            json!({ "users": [{ "age": 11 }, { "age": 22 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_an_interface_object_root_inside_a_concrete_fragment() {
        let router = router().await;
        assert_data(
            &router,
            ops::ANOTHER_USERS_IN_AND_OUT_OF_A_FRAGMENT,
            json!({ "anotherUsers": users_with_ages() }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_from_concrete_types_inside_a_concrete_fragment() {
        let router = router().await;
        assert_data(
            &router,
            ops::USERS_IN_AND_OUT_OF_A_FRAGMENT,
            json!({ "users": users_with_ages() }),
        )
        .await;
    }

    /// The audit runs the previous case twice ("duplicate complex field selection"); so does this.
    #[tokio::test]
    async fn a_requirement_from_concrete_types_inside_a_concrete_fragment_again() {
        let router = router().await;
        let query = ops::USERS_IN_AND_OUT_OF_A_FRAGMENT;
        assert_data(&router, query, json!({ "users": users_with_ages() })).await;
        assert_data(&router, query, json!({ "users": users_with_ages() })).await;
    }
}

/// `override-with-requires`: requirements of a field another subgraph took over.
mod overrides {
    use super::*;
    use common::requires::overrides::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::overrides::config().await).await
    }

    #[tokio::test]
    async fn requirements_of_an_overridden_field_come_from_its_new_owner() {
        let router = router().await;
        assert_data(
            &router,
            ops::EVERY_USER_EVERY_NAME,
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
            ops::USER_IN_C_C_NAME,
            json!({ "userInC": { "cName": "c__u3-name" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_another_subgraph_than_the_root() {
        let router = router().await;
        assert_data(
            &router,
            ops::USER_IN_A_C_NAME,
            json!({ "userInA": { "cName": "c__u1-name" } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_requirement_of_the_root_subgraph_itself() {
        let router = router().await;
        assert_data(
            &router,
            ops::USER_IN_A_A_NAME,
            json!({ "userInA": { "aName": "a__u1-name" } }),
        )
        .await;
    }
}

/// `simple-requires-provides`: requirements next to `@provides`.
mod provides {
    use super::*;
    use common::requires::provides::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::provides::config().await).await
    }

    #[tokio::test]
    async fn a_root_field() {
        let router = router().await;
        assert_data(&router, ops::ME, json!({ "me": { "id": "u1" } })).await;
    }

    #[tokio::test]
    async fn an_entity_field_of_another_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            ops::ME_REVIEWS,
            json!({ "me": { "id": "u1", "reviews": [{ "id": "r1" }, { "id": "r2" }] } }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_provided_field_and_a_field_of_a_third_subgraph() {
        let router = router().await;
        assert_data(
            &router,
            ops::ME_REVIEWS_AUTHOR_AND_STOCK,
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
            ops::PRODUCT_NAMES,
            json!({ "products": [{ "name": "p-name-1" }, { "name": "p-name-2" }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_that_is_external_elsewhere() {
        let router = router().await;
        assert_data(
            &router,
            ops::PRODUCT_PRICES,
            json!({ "products": [{ "price": 11 }, { "price": 22 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_two_fields() {
        let router = router().await;
        assert_data(
            &router,
            ops::PRODUCT_SHIPPING_ESTIMATES,
            json!({ "products": [{ "shippingEstimate": 110 }, { "shippingEstimate": 440 }] }),
        )
        .await;
    }

    #[tokio::test]
    async fn a_field_requiring_two_fields_the_client_also_selects() {
        let router = router().await;
        assert_data(
            &router,
            ops::PRODUCT_SHIPPING_ESTIMATES_WEIGHTS_AND_PRICES,
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
            ops::PRODUCT_REVIEWS_DEEP,
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
            ops::ME_REVIEWS_PRODUCT_REVIEWS,
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
            ops::ME_REVIEWS_PRODUCT_STOCK,
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
            ops::ME_REVIEWS_PRODUCT_SHIPPING,
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
            ops::ME_REVIEWS_PRODUCT_SHIPPING_AND_TAG,
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
    use common::requires::nested::operations as ops;

    async fn router() -> TestRouter {
        TestRouter::start(common::requires::nested::config().await).await
    }

    #[tokio::test]
    async fn a_required_list_computed_by_another_requirement_is_sent_as_a_list() {
        let router = router().await;
        assert_data(
            &router,
            ops::USER_ORDERS_AGGREGATES,
            json!({ "user": { "aggregatedOrdersByStatus": 1, "totalOrdersPrices": 0 } }),
        )
        .await;
    }
}
