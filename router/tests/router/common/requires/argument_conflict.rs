//! The audit's `requires-with-argument-conflict` suite: a's `shippingEstimate` and
//! `shippingEstimateEUR` require b's `price` with different arguments (`currency: "USD"` and
//! `"EUR"`), so the planner fetches the second one under an internal alias and the executor must
//! send each value back to a under the field's own name, `price`.
//!
//! The audit has two versions of this suite; this is the one whose b converts the price
//! (EUR doubles it) and whose a computes `shippingEstimateEUR` like `shippingEstimate`, so the
//! expected estimates are 110/220 and 440/880.
//!
//! Not quite the audit's SDL: a declares `type Category @external`, which async-graphql cannot
//! print; its one field is marked `@external` instead, which means the same.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use serde_json::Value;

use super::{Js, RepField, federation_sdl, js, router_config, serialize_int, to_number};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-argument-conflict";

/// One product of the suite's data.
#[derive(Clone)]
struct ProductData {
    upc: &'static str,
    name: &'static str,
    price: i32,
    weight: i32,
    average_price: i32,
}

fn products() -> Vec<ProductData> {
    vec![
        ProductData {
            upc: "p1",
            name: "p-name-1",
            price: 11,
            weight: 1,
            average_price: 11,
        },
        ProductData {
            upc: "p2",
            name: "p-name-2",
            price: 22,
            weight: 2,
            average_price: 22,
        },
    ]
}

// ---------------------------------------------------------------- a

/// A product as a sees it: shipping estimates computed from b's price and weight.
pub struct AProduct {
    upc: String,
    /// The representation's `price` and `weight`, kept only when it has both (as in the audit).
    price: Js,
    weight: Js,
    /// The category from a's own data, whatever the representation says.
    average_price: i32,
}

impl AProduct {
    /// `product.price * product.weight * 10` in JavaScript, serialised as an `Int`.
    fn estimate(&self) -> async_graphql::Result<i32> {
        serialize_int(to_number(self.price.as_ref()) * to_number(self.weight.as_ref()) * 10.0)
    }
}

/// A product, extended by a with shipping estimates.
#[Object(name = "Product")]
impl AProduct {
    /// The product's key.
    async fn upc(&self) -> &str {
        &self.upc
    }

    /// The product's weight, owned by b.
    #[graphql(external)]
    async fn weight(&self) -> Option<i32> {
        self.weight
            .as_ref()
            .and_then(Value::as_i64)
            .map(|w| w as i32)
    }

    /// The product's price in `currency`, owned by b.
    #[graphql(external)]
    async fn price(&self, #[graphql(name = "currency")] _currency: String) -> Option<i32> {
        self.price
            .as_ref()
            .and_then(Value::as_i64)
            .map(|p| p as i32)
    }

    /// Price (USD) times weight times 10.
    #[graphql(requires = r#"price(currency: \"USD\") weight"#)]
    async fn shipping_estimate(&self) -> async_graphql::Result<Option<i32>> {
        self.estimate().map(Some)
    }

    /// Price (EUR) times weight times 10.
    #[graphql(
        name = "shippingEstimateEUR",
        requires = r#"price(currency: \"EUR\") weight"#
    )]
    async fn shipping_estimate_eur(&self) -> async_graphql::Result<Option<i32>> {
        self.estimate().map(Some)
    }

    /// The product's category, owned by b.
    #[graphql(external)]
    async fn category(&self) -> Option<ACategory> {
        Some(ACategory {
            average_price: self.average_price,
        })
    }

    /// Whether the category's average price is above 11.
    #[graphql(requires = r#"category { averagePrice(currency: \"USD\") }"#)]
    async fn is_expensive_category(&self) -> Option<bool> {
        Some(self.average_price > 11)
    }
}

/// A product category, owned by b.
pub struct ACategory {
    average_price: i32,
}

/// A product category (all of it `@external` in a).
#[Object(name = "Category")]
impl ACategory {
    /// The average price of the category's products.
    #[graphql(external)]
    async fn average_price(&self, #[graphql(name = "currency")] _currency: String) -> Option<i32> {
        Some(self.average_price)
    }
}

pub struct AQuery;

#[Object(name = "Query")]
impl AQuery {
    /// The audit's `Product.__resolveReference`: the representation's price and weight when it
    /// has both, nothing of them otherwise; the category always from a's data.
    #[graphql(entity)]
    async fn find_product_by_upc(
        &self,
        #[graphql(key)] upc: String,
        price: RepField,
        weight: RepField,
    ) -> Option<AProduct> {
        let product = products().into_iter().find(|p| p.upc == upc)?;
        let (price, weight) = if !price.is_undefined() && !weight.is_undefined() {
            (js(price), js(weight))
        } else {
            (None, None)
        };
        Some(AProduct {
            upc: product.upc.into(),
            price,
            weight,
            average_price: product.average_price,
        })
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A product as b, its owner, sees it.
pub struct BProduct(ProductData);

/// A product.
#[Object(name = "Product")]
impl BProduct {
    /// The product's key.
    async fn upc(&self) -> &str {
        self.0.upc
    }

    /// The product's name.
    async fn name(&self) -> Option<&str> {
        Some(self.0.name)
    }

    /// The price in `currency`: USD as stored, EUR doubled, any other currency an error.
    async fn price(&self, currency: String) -> async_graphql::Result<Option<i32>> {
        match currency.as_str() {
            "EUR" => Ok(Some(self.0.price * 2)),
            "USD" => Ok(Some(self.0.price)),
            other => Err(format!("Unsupported currency {other}").into()),
        }
    }

    /// The product's weight.
    async fn weight(&self) -> Option<i32> {
        Some(self.0.weight)
    }

    /// The product's category.
    async fn category(&self) -> Option<BCategory> {
        Some(BCategory {
            average_price: self.0.average_price,
        })
    }
}

/// A product category as b sees it.
pub struct BCategory {
    average_price: i32,
}

/// A product category.
#[Object(name = "Category")]
impl BCategory {
    /// The average price of the category's products; the audit's default resolver ignores the
    /// currency.
    async fn average_price(&self, #[graphql(name = "currency")] _currency: String) -> Option<i32> {
        Some(self.average_price)
    }
}

pub struct BQuery;

/// b's root fields.
#[Object(name = "Query")]
impl BQuery {
    /// Every product.
    async fn products(&self) -> Option<Vec<Option<BProduct>>> {
        Some(products().into_iter().map(|p| Some(BProduct(p))).collect())
    }

    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> Option<BProduct> {
        products().into_iter().find(|p| p.upc == upc).map(BProduct)
    }
}

pub fn b_schema() -> Schema<BQuery, EmptyMutation, EmptySubscription> {
    Schema::build(BQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

/// The operations of the audit's tests of this suite: `tests/router/requires.rs` runs each with
/// the audit's expected data, `tests/router/differential.rs` runs them all through Hive Gateway
/// too.
pub mod operations {
    pub const PRODUCTS_WITH_BOTH_ESTIMATES: &str =
        "query { products { upc name shippingEstimate shippingEstimateEUR isExpensiveCategory } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[PRODUCTS_WITH_BOTH_ESTIMATES];
}

/// Every subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        ("a", federation_sdl(&a_schema())),
        ("b", federation_sdl(&b_schema())),
    ]
}

/// Serves the subgraphs; a router config pointed at them.
pub async fn config() -> router::RouterConfig {
    let a = serve_subgraph(a_schema()).await;
    let b = serve_subgraph(b_schema()).await;
    router_config(FIXTURE, &[("a", a), ("b", b)])
}
