//! The audit's `requires-requires` suite: chains of `@requires` across four subgraphs. d's
//! `canAfford` requires c's `isExpensive`, which requires a's `@inaccessible` `price`; d's
//! `canAffordWithDiscount` requires c's `isExpensiveWithDiscount`, which requires b's
//! `hasDiscount`.
//!
//! c's and d's reference resolvers look at which keys the representation has (`"price" in key`),
//! and a required field the representation lacks leaves its non-null field without a value, an
//! error. The booleans must travel as they are, `false` included.

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use serde_json::Value;

use super::{RepField, federation_sdl, js, non_null, router_config, to_number, truthy};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-requires";

/// The suite's one product: (id, price, has a discount).
const PRODUCT: (&str, f64, bool) = ("p1", 699.99, true);

// ---------------------------------------------------------------- a

/// A product as a sees it: its price, hidden from clients.
#[derive(SimpleObject)]
#[graphql(name = "Product")]
pub struct AProduct {
    /// The product's key.
    pub id: ID,
    /// The product's price; only other subgraphs use it.
    #[graphql(inaccessible)]
    pub price: f64,
}

pub struct AQuery;

#[Object(name = "Query")]
impl AQuery {
    #[graphql(entity)]
    async fn find_product_by_id(&self, id: ID) -> Option<AProduct> {
        (id.as_str() == PRODUCT.0).then_some(AProduct {
            id,
            price: PRODUCT.1,
        })
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A product as b sees it: whether it has a discount.
#[derive(SimpleObject)]
#[graphql(name = "Product")]
pub struct BProduct {
    /// The product's key.
    pub id: ID,
    /// Whether the product has a discount.
    pub has_discount: bool,
}

fn b_product(id: &str) -> Option<BProduct> {
    (id == PRODUCT.0).then(|| BProduct {
        id: ID(id.into()),
        has_discount: PRODUCT.2,
    })
}

pub struct BQuery;

/// b's root fields.
#[Object(name = "Query")]
impl BQuery {
    /// The suite's product.
    async fn product(&self) -> Option<BProduct> {
        b_product(PRODUCT.0)
    }

    #[graphql(entity)]
    async fn find_product_by_id(&self, id: ID) -> Option<BProduct> {
        b_product(&id)
    }
}

pub fn b_schema() -> Schema<BQuery, EmptyMutation, EmptySubscription> {
    Schema::build(BQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- c

/// A product as c sees it: the fields its reference resolver computed from the representation
/// (`None` where the representation lacked what they need).
pub struct CProduct {
    id: String,
    price: Option<Value>,
    is_expensive: Option<bool>,
    has_discount: Option<Value>,
    is_expensive_with_discount: Option<bool>,
}

/// A product, extended by c with whether it is expensive.
#[Object(name = "Product")]
impl CProduct {
    /// The product's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The product's price, owned by a.
    #[graphql(external)]
    async fn price(&self) -> async_graphql::Result<f64> {
        non_null(self.price.as_ref().and_then(Value::as_f64), "Product.price")
    }

    /// Whether the price is above 500.
    #[graphql(requires = "price")]
    async fn is_expensive(&self) -> async_graphql::Result<bool> {
        non_null(self.is_expensive, "Product.isExpensive")
    }

    /// Whether the product has a discount, owned by b.
    #[graphql(external)]
    async fn has_discount(&self) -> async_graphql::Result<bool> {
        non_null(
            self.has_discount.as_ref().and_then(Value::as_bool),
            "Product.hasDiscount",
        )
    }

    /// Whether the product is expensive even with its discount: when it has none.
    #[graphql(requires = "hasDiscount")]
    async fn is_expensive_with_discount(&self) -> async_graphql::Result<bool> {
        non_null(
            self.is_expensive_with_discount,
            "Product.isExpensiveWithDiscount",
        )
    }
}

pub struct CQuery;

#[Object(name = "Query")]
impl CQuery {
    /// The audit's `Product.__resolveReference`: `isExpensive` (`key.price > 500`) when the
    /// representation has `price`, `isExpensiveWithDiscount` (`!key.hasDiscount`) when it has
    /// `hasDiscount`.
    #[graphql(entity)]
    async fn find_product_by_id(
        &self,
        #[graphql(key)] id: ID,
        price: RepField,
        has_discount: RepField,
    ) -> Option<CProduct> {
        (id.as_str() == PRODUCT.0).then(|| {
            let price = js(price);
            let has_discount = js(has_discount);
            CProduct {
                id: id.0,
                is_expensive: price.as_ref().map(|p| to_number(Some(p)) > 500.0),
                is_expensive_with_discount: has_discount.as_ref().map(|d| !truthy(Some(d))),
                price,
                has_discount,
            }
        })
    }
}

pub fn c_schema() -> Schema<CQuery, EmptyMutation, EmptySubscription> {
    Schema::build(CQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- d

/// A product as d sees it: the fields its reference resolver computed from the representation
/// (`None` where the representation lacked what they need).
pub struct DProduct {
    id: String,
    is_expensive: Option<Value>,
    can_afford: Option<bool>,
    is_expensive_with_discount: Option<Value>,
    can_afford_with_discount: Option<bool>,
}

/// A product, extended by d with whether one can afford it.
#[Object(name = "Product")]
impl DProduct {
    /// The product's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// Whether the product is expensive, from c.
    #[graphql(external)]
    async fn is_expensive(&self) -> async_graphql::Result<bool> {
        non_null(
            self.is_expensive.as_ref().and_then(Value::as_bool),
            "Product.isExpensive",
        )
    }

    /// Whether one can afford the product: when it is not expensive.
    #[graphql(requires = "isExpensive")]
    async fn can_afford(&self) -> async_graphql::Result<bool> {
        non_null(self.can_afford, "Product.canAfford")
    }

    /// Whether the product is expensive even with its discount, from c.
    #[graphql(external)]
    async fn is_expensive_with_discount(&self) -> async_graphql::Result<bool> {
        non_null(
            self.is_expensive_with_discount
                .as_ref()
                .and_then(Value::as_bool),
            "Product.isExpensiveWithDiscount",
        )
    }

    /// Whether one can afford the product with its discount.
    #[graphql(requires = "isExpensiveWithDiscount")]
    async fn can_afford_with_discount(&self) -> async_graphql::Result<bool> {
        non_null(
            self.can_afford_with_discount,
            "Product.canAffordWithDiscount",
        )
    }
}

pub struct DQuery;

#[Object(name = "Query")]
impl DQuery {
    /// The audit's `Product.__resolveReference`: `canAfford` (`!key.isExpensive`) when the
    /// representation has `isExpensive`, `canAffordWithDiscount` when it has
    /// `isExpensiveWithDiscount`.
    #[graphql(entity)]
    async fn find_product_by_id(
        &self,
        #[graphql(key)] id: ID,
        is_expensive: RepField,
        is_expensive_with_discount: RepField,
    ) -> Option<DProduct> {
        (id.as_str() == PRODUCT.0).then(|| {
            let is_expensive = js(is_expensive);
            let is_expensive_with_discount = js(is_expensive_with_discount);
            DProduct {
                id: id.0,
                can_afford: is_expensive.as_ref().map(|e| !truthy(Some(e))),
                can_afford_with_discount: is_expensive_with_discount
                    .as_ref()
                    .map(|e| !truthy(Some(e))),
                is_expensive,
                is_expensive_with_discount,
            }
        })
    }
}

pub fn d_schema() -> Schema<DQuery, EmptyMutation, EmptySubscription> {
    Schema::build(DQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

/// The operations of the audit's tests of this suite: `tests/router/requires.rs` runs each with
/// the audit's expected data, `tests/router/differential.rs` runs them all through Hive Gateway
/// too.
pub mod operations {
    pub const CAN_AFFORD: &str = "query { product { canAfford } }";
    pub const IS_EXPENSIVE: &str = "query { product { isExpensive } }";
    pub const IS_EXPENSIVE_AND_CAN_AFFORD: &str = "query { product { isExpensive canAfford } }";
    pub const CAN_AFFORD_WITH_DISCOUNT: &str = "query { product { canAffordWithDiscount } }";
    pub const CAN_AFFORD_BOTH_WAYS: &str = "query { product { canAfford canAffordWithDiscount } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[
        CAN_AFFORD,
        IS_EXPENSIVE,
        IS_EXPENSIVE_AND_CAN_AFFORD,
        CAN_AFFORD_WITH_DISCOUNT,
        CAN_AFFORD_BOTH_WAYS,
    ];
}

/// Every subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        ("a", federation_sdl(&a_schema())),
        ("b", federation_sdl(&b_schema())),
        ("c", federation_sdl(&c_schema())),
        ("d", federation_sdl(&d_schema())),
    ]
}

/// Serves the subgraphs; a router config pointed at them.
pub async fn config() -> router::RouterConfig {
    let a = serve_subgraph(a_schema()).await;
    let b = serve_subgraph(b_schema()).await;
    let c = serve_subgraph(c_schema()).await;
    let d = serve_subgraph(d_schema()).await;
    router_config(FIXTURE, &[("a", a), ("b", b), ("c", c), ("d", d)])
}
