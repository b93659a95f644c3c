//! The audit's `simple-requires-provides` suite: inventory's `shippingEstimate` and
//! `shippingEstimateTag` require products' `price weight`, and reviews provides the
//! `username` of a review's author. inventory keeps the representation's price and weight only
//! when it has both; without them the estimate is NaN (an `Int` error) and the tag says `NaN`.
//!
//! The audit does not publish the accounts subgraph; it is reconstructed from the composed
//! supergraph of this suite: `Query.me` (the first user) and `User { id name username }`.

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use serde_json::Value;

use super::{
    Js, RepField, federation_sdl, js, number_to_string, router_config, serialize_int, to_number,
};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-provides";

/// (id, username, name)
const USERS: [(&str, &str, &str); 2] = [
    ("u1", "u-username-1", "u-name-1"),
    ("u2", "u-username-2", "u-name-2"),
];

/// (upc, name, price, weight)
const PRODUCTS: [(&str, &str, i32, i32); 2] =
    [("p1", "p-name-1", 11, 1), ("p2", "p-name-2", 22, 2)];

/// The products in stock.
const IN_STOCK: [&str; 1] = ["p1"];

/// (id, body, author id, product upc)
const REVIEWS: [(&str, &str, &str, &str); 2] = [
    ("r1", "r-body-1", "u1", "p1"),
    ("r2", "r-body-2", "u1", "p2"),
];

// ---------------------------------------------------------------- accounts

/// A user, owned by accounts.
#[derive(SimpleObject)]
#[graphql(name = "User")]
pub struct AccountsUser {
    /// The user's key.
    pub id: ID,
    /// The user's name.
    pub name: Option<String>,
    /// The user's username.
    pub username: Option<String>,
}

fn accounts_user(id: &str) -> Option<AccountsUser> {
    let (id, username, name) = USERS.iter().find(|(u, _, _)| *u == id)?;
    Some(AccountsUser {
        id: ID((*id).into()),
        name: Some((*name).into()),
        username: Some((*username).into()),
    })
}

pub struct AccountsQuery;

/// accounts' root fields.
#[Object(name = "Query")]
impl AccountsQuery {
    /// The signed-in user: the first one.
    async fn me(&self) -> Option<AccountsUser> {
        accounts_user("u1")
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<AccountsUser> {
        accounts_user(&id)
    }
}

pub fn accounts_schema() -> Schema<AccountsQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AccountsQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- products

/// A product, owned by products.
#[derive(SimpleObject)]
#[graphql(name = "Product")]
pub struct ProductsProduct {
    /// The product's key.
    pub upc: String,
    /// The product's name.
    pub name: Option<String>,
    /// The product's price.
    pub price: Option<i32>,
    /// The product's weight.
    pub weight: Option<i32>,
}

fn products_product(upc: &str) -> Option<ProductsProduct> {
    let (upc, name, price, weight) = PRODUCTS.iter().find(|(p, _, _, _)| *p == upc)?;
    Some(ProductsProduct {
        upc: (*upc).into(),
        name: Some((*name).into()),
        price: Some(*price),
        weight: Some(*weight),
    })
}

pub struct ProductsQuery;

/// products' root fields.
#[Object(name = "Query")]
impl ProductsQuery {
    /// Every product.
    async fn products(&self) -> Option<Vec<Option<ProductsProduct>>> {
        Some(
            PRODUCTS
                .iter()
                .map(|(upc, _, _, _)| products_product(upc))
                .collect(),
        )
    }

    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> Option<ProductsProduct> {
        products_product(&upc)
    }
}

pub fn products_schema() -> Schema<ProductsQuery, EmptyMutation, EmptySubscription> {
    Schema::build(ProductsQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- inventory

/// A product as inventory sees it: the representation's price and weight, if it had both.
pub struct InventoryProduct {
    upc: String,
    price: Js,
    weight: Js,
}

impl InventoryProduct {
    /// `product.price * product.weight * 10` in JavaScript.
    fn estimate(&self) -> f64 {
        to_number(self.price.as_ref()) * to_number(self.weight.as_ref()) * 10.0
    }
}

/// A product, extended by inventory with stock and shipping.
#[Object(name = "Product")]
impl InventoryProduct {
    /// The product's key.
    async fn upc(&self) -> &str {
        &self.upc
    }

    /// The product's weight, owned by products.
    #[graphql(external)]
    async fn weight(&self) -> Option<i32> {
        self.weight
            .as_ref()
            .and_then(Value::as_i64)
            .map(|w| w as i32)
    }

    /// The product's price, owned by products.
    #[graphql(external)]
    async fn price(&self) -> Option<i32> {
        self.price
            .as_ref()
            .and_then(Value::as_i64)
            .map(|p| p as i32)
    }

    /// Whether the product is in stock.
    async fn in_stock(&self) -> Option<bool> {
        Some(IN_STOCK.contains(&self.upc.as_str()))
    }

    /// Price times weight times 10.
    #[graphql(requires = "price weight")]
    async fn shipping_estimate(&self) -> async_graphql::Result<Option<i32>> {
        serialize_int(self.estimate()).map(Some)
    }

    /// `#<upc>#<shipping estimate>#`.
    #[graphql(requires = "price weight")]
    async fn shipping_estimate_tag(&self) -> Option<String> {
        Some(format!(
            "#{}#{}#",
            self.upc,
            number_to_string(self.estimate())
        ))
    }
}

pub struct InventoryQuery;

#[Object(name = "Query")]
impl InventoryQuery {
    /// The audit's `Product.__resolveReference`: the representation's price and weight when it
    /// has both, nothing of them otherwise.
    #[graphql(entity)]
    async fn find_product_by_upc(
        &self,
        #[graphql(key)] upc: String,
        price: RepField,
        weight: RepField,
    ) -> Option<InventoryProduct> {
        let (upc, _, _, _) = PRODUCTS.iter().find(|(p, _, _, _)| *p == upc)?;
        let (price, weight) = if !price.is_undefined() && !weight.is_undefined() {
            (js(price), js(weight))
        } else {
            (None, None)
        };
        Some(InventoryProduct {
            upc: (*upc).into(),
            price,
            weight,
        })
    }
}

pub fn inventory_schema() -> Schema<InventoryQuery, EmptyMutation, EmptySubscription> {
    Schema::build(InventoryQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- reviews

fn reviews_where(keep: impl Fn(&(&str, &str, &str, &str)) -> bool) -> Vec<Option<Review>> {
    REVIEWS
        .iter()
        .filter(|r| keep(r))
        .map(|(id, _, _, _)| Review::find(id))
        .collect()
}

/// A review.
pub struct Review {
    id: &'static str,
    body: &'static str,
    author_id: &'static str,
    product_upc: &'static str,
}

impl Review {
    fn find(id: &str) -> Option<Self> {
        let (id, body, author_id, product_upc) = REVIEWS.iter().find(|(r, _, _, _)| *r == id)?;
        Some(Self {
            id,
            body,
            author_id,
            product_upc,
        })
    }
}

/// A review of a product by a user.
#[Object]
impl Review {
    /// The review's key.
    async fn id(&self) -> ID {
        ID(self.id.into())
    }

    /// The review's text.
    async fn body(&self) -> Option<&str> {
        Some(self.body)
    }

    /// The review's author, with their username.
    #[graphql(provides = "username")]
    async fn author(&self) -> Option<ReviewsUser> {
        reviews_user(self.author_id)
    }

    /// The reviewed product.
    async fn product(&self) -> Option<ReviewsProduct> {
        Some(ReviewsProduct {
            upc: self.product_upc.into(),
        })
    }
}

/// A user as reviews sees it: id and username.
pub struct ReviewsUser {
    id: &'static str,
    username: &'static str,
}

fn reviews_user(id: &str) -> Option<ReviewsUser> {
    let (id, username, _) = USERS.iter().find(|(u, _, _)| *u == id)?;
    Some(ReviewsUser { id, username })
}

/// A user, extended by reviews with their reviews.
#[Object(name = "User")]
impl ReviewsUser {
    /// The user's key.
    async fn id(&self) -> ID {
        ID(self.id.into())
    }

    /// The user's username, owned by accounts.
    #[graphql(external)]
    async fn username(&self) -> Option<&str> {
        Some(self.username)
    }

    /// The reviews the user wrote.
    async fn reviews(&self) -> Option<Vec<Option<Review>>> {
        Some(reviews_where(|(_, _, author, _)| *author == self.id))
    }
}

/// A product as reviews sees it: its key only.
pub struct ReviewsProduct {
    upc: String,
}

/// A product, extended by reviews with its reviews.
#[Object(name = "Product")]
impl ReviewsProduct {
    /// The product's key.
    async fn upc(&self) -> &str {
        &self.upc
    }

    /// The product's reviews.
    async fn reviews(&self) -> Option<Vec<Option<Review>>> {
        Some(reviews_where(|(_, _, _, upc)| *upc == self.upc))
    }
}

pub struct ReviewsQuery;

#[Object(name = "Query")]
impl ReviewsQuery {
    #[graphql(entity)]
    async fn find_review_by_id(&self, id: ID) -> Option<Review> {
        Review::find(&id)
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<ReviewsUser> {
        reviews_user(&id)
    }

    /// The audit's `Product.__resolveReference`: `{ upc }`, for any upc.
    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> ReviewsProduct {
        ReviewsProduct { upc }
    }
}

pub fn reviews_schema() -> Schema<ReviewsQuery, EmptyMutation, EmptySubscription> {
    Schema::build(ReviewsQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

/// The operations of the audit's tests of this suite: `tests/router/requires.rs` runs each with
/// the audit's expected data, `tests/router/differential.rs` runs them all through Hive Gateway
/// too.
pub mod operations {
    pub const ME: &str = "query { me { id } }";
    pub const ME_REVIEWS: &str = "query { me { id reviews { id } } }";
    pub const ME_REVIEWS_AUTHOR_AND_STOCK: &str =
        "query { me { reviews { id author { id username } product { inStock } } } }";
    pub const PRODUCT_NAMES: &str = "query { products { name } }";
    pub const PRODUCT_PRICES: &str = "query { products { price } }";
    pub const PRODUCT_SHIPPING_ESTIMATES: &str = "query { products { shippingEstimate } }";
    pub const PRODUCT_SHIPPING_ESTIMATES_WEIGHTS_AND_PRICES: &str =
        "query { products { shippingEstimate weight price } }";
    pub const PRODUCT_REVIEWS_DEEP: &str =
        "{ products { reviews { id author { username } product { name shippingEstimate } } } }";
    pub const ME_REVIEWS_PRODUCT_REVIEWS: &str =
        "{ me { reviews { product { reviews { id } } } } }";
    pub const ME_REVIEWS_PRODUCT_STOCK: &str = "query { me { reviews { product { inStock } } } }";
    pub const ME_REVIEWS_PRODUCT_SHIPPING: &str =
        "query { me { reviews { product { shippingEstimate } } } }";
    pub const ME_REVIEWS_PRODUCT_SHIPPING_AND_TAG: &str =
        "query { me { reviews { product { shippingEstimate shippingEstimateTag } } } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[
        ME,
        ME_REVIEWS,
        ME_REVIEWS_AUTHOR_AND_STOCK,
        PRODUCT_NAMES,
        PRODUCT_PRICES,
        PRODUCT_SHIPPING_ESTIMATES,
        PRODUCT_SHIPPING_ESTIMATES_WEIGHTS_AND_PRICES,
        PRODUCT_REVIEWS_DEEP,
        ME_REVIEWS_PRODUCT_REVIEWS,
        ME_REVIEWS_PRODUCT_STOCK,
        ME_REVIEWS_PRODUCT_SHIPPING,
        ME_REVIEWS_PRODUCT_SHIPPING_AND_TAG,
    ];
}

/// Every subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        ("accounts", federation_sdl(&accounts_schema())),
        ("inventory", federation_sdl(&inventory_schema())),
        ("products", federation_sdl(&products_schema())),
        ("reviews", federation_sdl(&reviews_schema())),
    ]
}

/// Serves the subgraphs; a router config pointed at them.
pub async fn config() -> router::RouterConfig {
    let accounts = serve_subgraph(accounts_schema()).await;
    let inventory = serve_subgraph(inventory_schema()).await;
    let products = serve_subgraph(products_schema()).await;
    let reviews = serve_subgraph(reviews_schema()).await;
    router_config(
        FIXTURE,
        &[
            ("accounts", accounts),
            ("inventory", inventory),
            ("products", products),
            ("reviews", reviews),
        ],
    )
}
