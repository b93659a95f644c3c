//! The "shop" fixture: four small federation subgraphs (accounts, products, inventory,
//! reviews) that together exercise keys (compound, multiple), `@shareable`, `@external` +
//! `@requires` (with a chain across three subgraphs), `@provides`, mutations in several
//! subgraphs, and a subgraph field that fails, for partial results.

use std::sync::{Arc, Mutex};

use async_graphql::{
    Context, EmptySubscription, ErrorExtensions, ID, Object, SDLExportOptions, Schema,
    SimpleObject, Subscription,
};
use axum::http::HeaderMap;
use futures::{Stream, StreamExt};

/// Request headers a resolver may look at (forwarding tests echo them back).
#[derive(Clone, Default)]
pub struct Headers(pub HeaderMap);

fn header(ctx: &Context<'_>, name: &str) -> Option<String> {
    ctx.data_opt::<Headers>()
        .and_then(|h| h.0.get(name))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

// ---------------------------------------------------------------- accounts

#[derive(Clone, SimpleObject)]
pub struct User {
    pub id: ID,
    pub name: String,
    #[graphql(shareable)]
    pub username: String,
}

/// In-memory users plus a log of mutation calls, so tests can check their order.
#[derive(Clone)]
pub struct AccountsState {
    pub users: Arc<Mutex<Vec<User>>>,
    pub calls: Arc<Mutex<Vec<String>>>,
}

impl Default for AccountsState {
    fn default() -> Self {
        let users = (1..=3)
            .map(|i| User {
                id: ID(i.to_string()),
                name: format!("User {i}"),
                username: format!("user{i}"),
            })
            .collect();
        Self {
            users: Arc::new(Mutex::new(users)),
            calls: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

pub struct AccountsQuery;

#[Object(name = "Query")]
impl AccountsQuery {
    /// The user named by the `x-user-id` header (set by tests), or user 1 when a bearer token is sent.
    async fn me(&self, ctx: &Context<'_>) -> Option<User> {
        let state = ctx.data_unchecked::<AccountsState>();
        let id = header(ctx, "x-user-id")
            .or_else(|| header(ctx, "authorization").map(|_| "1".into()))?;
        state
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id.0 == id)
            .cloned()
    }

    async fn user(&self, ctx: &Context<'_>, id: ID) -> Option<User> {
        let state = ctx.data_unchecked::<AccountsState>();
        state
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id == id)
            .cloned()
    }

    async fn users(&self, ctx: &Context<'_>) -> Vec<User> {
        ctx.data_unchecked::<AccountsState>()
            .users
            .lock()
            .unwrap()
            .clone()
    }

    /// Echoes a request header, so tests can see what the router forwards.
    async fn echo_header(&self, ctx: &Context<'_>, name: String) -> Option<String> {
        header(ctx, &name)
    }

    /// Always fails with a coded error, to test error re-pathing.
    async fn broken_field(&self) -> async_graphql::Result<Option<String>> {
        Err(async_graphql::Error::new("accounts says no")
            .extend_with(|_, e| e.set("code", "FORBIDDEN")))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Option<User> {
        let state = ctx.data_unchecked::<AccountsState>();
        state
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id == id)
            .cloned()
    }
}

pub struct AccountsMutation;

#[Object(name = "Mutation")]
impl AccountsMutation {
    async fn create_user(&self, ctx: &Context<'_>, name: String) -> User {
        let state = ctx.data_unchecked::<AccountsState>();
        state
            .calls
            .lock()
            .unwrap()
            .push(format!("createUser:{name}"));
        let mut users = state.users.lock().unwrap();
        let user = User {
            id: ID((users.len() + 1).to_string()),
            username: name.to_lowercase(),
            name,
        };
        users.push(user.clone());
        user
    }
}

pub type AccountsSchema = Schema<AccountsQuery, AccountsMutation, EmptySubscription>;

pub fn accounts_schema(state: AccountsState) -> AccountsSchema {
    Schema::build(AccountsQuery, AccountsMutation, EmptySubscription)
        .enable_federation()
        .data(state)
        .finish()
}

// ---------------------------------------------------------------- products

#[derive(Clone, SimpleObject)]
pub struct Product {
    pub upc: String,
    pub sku: String,
    pub package: String,
    pub name: String,
    pub price: i32,
    pub weight: i32,
}

pub fn all_products() -> Vec<Product> {
    vec![
        Product {
            upc: "1".into(),
            sku: "sku-1".into(),
            package: "box".into(),
            name: "Table".into(),
            price: 899,
            weight: 100,
        },
        Product {
            upc: "2".into(),
            sku: "sku-2".into(),
            package: "bag".into(),
            name: "Couch".into(),
            price: 1299,
            weight: 1000,
        },
        Product {
            upc: "3".into(),
            sku: "sku-3".into(),
            package: "box".into(),
            name: "Chair".into(),
            price: 54,
            weight: 50,
        },
    ]
}

pub struct ProductsQuery;

#[Object(name = "Query")]
impl ProductsQuery {
    async fn top_products(&self, #[graphql(default = 5)] first: i32) -> Vec<Product> {
        all_products()
            .into_iter()
            .take(first.max(0) as usize)
            .collect()
    }

    async fn product(&self, upc: String) -> Option<Product> {
        all_products().into_iter().find(|p| p.upc == upc)
    }

    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> Option<Product> {
        all_products().into_iter().find(|p| p.upc == upc)
    }

    #[graphql(entity)]
    async fn find_product_by_sku_package(&self, sku: String, package: String) -> Option<Product> {
        all_products()
            .into_iter()
            .find(|p| p.sku == sku && p.package == package)
    }
}

pub type ProductsSchema = Schema<ProductsQuery, async_graphql::EmptyMutation, EmptySubscription>;

pub fn products_schema() -> ProductsSchema {
    Schema::build(
        ProductsQuery,
        async_graphql::EmptyMutation,
        EmptySubscription,
    )
    .enable_federation()
    .finish()
}

// ---------------------------------------------------------------- inventory

/// Inventory's view of a product: stock, and a shipping estimate computed from the price and
/// weight that products owns (`@requires`).
pub struct InventoryProduct {
    upc: String,
    price: Option<i32>,
    weight: Option<i32>,
}

#[Object(name = "Product")]
impl InventoryProduct {
    async fn upc(&self) -> &str {
        &self.upc
    }

    #[graphql(external)]
    async fn price(&self) -> i32 {
        self.price.unwrap_or_default()
    }

    #[graphql(external)]
    async fn weight(&self) -> i32 {
        self.weight.unwrap_or_default()
    }

    async fn in_stock(&self) -> bool {
        self.upc != "2"
    }

    /// Free for expensive items, otherwise half the weight.
    #[graphql(requires = "price weight")]
    async fn shipping_estimate(&self) -> async_graphql::Result<i32> {
        let (Some(price), Some(weight)) = (self.price, self.weight) else {
            return Err("price and weight are required".into());
        };
        Ok(if price > 1000 { 0 } else { weight / 2 })
    }

    /// Fails for every product, to test partial results.
    async fn warehouse(&self) -> async_graphql::Result<Option<String>> {
        Err(async_graphql::Error::new("warehouse offline")
            .extend_with(|_, e| e.set("code", "WAREHOUSE_DOWN")))
    }
}

pub struct InventoryQuery;

#[Object(name = "Query")]
impl InventoryQuery {
    #[graphql(entity)]
    async fn find_product_by_upc(
        &self,
        #[graphql(key)] upc: String,
        price: Option<i32>,
        weight: Option<i32>,
    ) -> InventoryProduct {
        InventoryProduct { upc, price, weight }
    }
}

pub type InventorySchema = Schema<InventoryQuery, async_graphql::EmptyMutation, EmptySubscription>;

pub fn inventory_schema() -> InventorySchema {
    Schema::build(
        InventoryQuery,
        async_graphql::EmptyMutation,
        EmptySubscription,
    )
    .enable_federation()
    .finish()
}

// ---------------------------------------------------------------- reviews

#[derive(Clone)]
pub struct ReviewData {
    id: String,
    body: String,
    author_id: String,
    author_username: String,
    upc: String,
}

fn all_reviews() -> Vec<ReviewData> {
    let r = |id: &str, body: &str, author: &str, upc: &str| ReviewData {
        id: id.into(),
        body: body.into(),
        author_id: author.into(),
        author_username: format!("user{author}"),
        upc: upc.into(),
    };
    vec![
        r("1", "Love it!", "1", "1"),
        r("2", "Too expensive.", "1", "2"),
        r("3", "Could be better.", "2", "3"),
        r("4", "Prefer something else.", "2", "1"),
    ]
}

pub struct Review(ReviewData);

#[Object]
impl Review {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    #[graphql(provides = "username")]
    async fn author(&self) -> ReviewsUser {
        ReviewsUser {
            id: ID(self.0.author_id.clone()),
            username: Some(self.0.author_username.clone()),
        }
    }
    async fn product(&self) -> ReviewsProduct {
        ReviewsProduct {
            upc: self.0.upc.clone(),
            shipping_estimate: None,
        }
    }
}

pub struct ReviewsUser {
    id: ID,
    username: Option<String>,
}

#[Object(name = "User")]
impl ReviewsUser {
    async fn id(&self) -> &ID {
        &self.id
    }
    #[graphql(external)]
    async fn username(&self) -> &str {
        self.username.as_deref().unwrap_or_default()
    }
    async fn reviews(&self) -> Vec<Review> {
        all_reviews()
            .into_iter()
            .filter(|r| r.author_id == self.id.0)
            .map(Review)
            .collect()
    }
}

pub struct ReviewsProduct {
    upc: String,
    shipping_estimate: Option<i32>,
}

#[Object(name = "Product")]
impl ReviewsProduct {
    async fn upc(&self) -> &str {
        &self.upc
    }
    async fn reviews(&self) -> Vec<Review> {
        all_reviews()
            .into_iter()
            .filter(|r| r.upc == self.upc)
            .map(Review)
            .collect()
    }
    #[graphql(external)]
    async fn shipping_estimate(&self) -> i32 {
        self.shipping_estimate.unwrap_or_default()
    }
    /// Needs inventory's estimate, which itself needs products' price and weight:
    /// a `@requires` chain across three subgraphs.
    #[graphql(requires = "shippingEstimate")]
    async fn shipping_note(&self) -> String {
        match self.shipping_estimate {
            Some(0) => "free shipping".into(),
            Some(n) => format!("shipping costs {n}"),
            None => "unknown".into(),
        }
    }
}

pub struct ReviewsQuery;

#[Object(name = "Query")]
impl ReviewsQuery {
    async fn review(&self, id: ID) -> Option<Review> {
        all_reviews().into_iter().find(|r| r.id == id.0).map(Review)
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> ReviewsUser {
        ReviewsUser { id, username: None }
    }

    #[graphql(entity)]
    async fn find_product_by_upc(
        &self,
        #[graphql(key)] upc: String,
        shipping_estimate: Option<i32>,
    ) -> ReviewsProduct {
        ReviewsProduct {
            upc,
            shipping_estimate,
        }
    }
}

/// Counts mutation calls in order with the accounts subgraph's log.
pub struct ReviewsMutation;

#[Object(name = "Mutation")]
impl ReviewsMutation {
    async fn add_review(&self, ctx: &Context<'_>, upc: String, body: String) -> Review {
        if let Some(calls) = ctx.data_opt::<Arc<Mutex<Vec<String>>>>() {
            calls.lock().unwrap().push(format!("addReview:{body}"));
        }
        Review(ReviewData {
            id: "new".into(),
            body,
            author_id: "1".into(),
            author_username: "user1".into(),
            upc,
        })
    }
}

pub struct ReviewsSubscription;

#[Subscription(name = "Subscription")]
impl ReviewsSubscription {
    /// The reviews of a product, one every `everyMs` milliseconds, then the stream ends
    /// (or never ends when `forever` is set, repeating the reviews).
    async fn review_added(
        &self,
        upc: String,
        #[graphql(default = 10)] every_ms: u64,
        #[graphql(default = false)] forever: bool,
    ) -> impl Stream<Item = Review> {
        let reviews: Vec<ReviewData> = all_reviews().into_iter().filter(|r| r.upc == upc).collect();
        let reviews: Vec<ReviewData> = if forever {
            reviews.iter().cycle().take(100_000).cloned().collect()
        } else {
            reviews
        };
        futures::stream::iter(reviews).then(move |r| async move {
            tokio::time::sleep(std::time::Duration::from_millis(every_ms)).await;
            Review(r)
        })
    }

    /// The `Authorization` this operation carried (in `extensions.headers`, as the router
    /// sends it over a shared connection), `count` times: whom the subgraph thinks it serves.
    async fn who_am_i(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] count: usize,
    ) -> impl Stream<Item = String> + use<> {
        let caller = ctx
            .data_opt::<OperationAuthorization>()
            .map_or_else(|| "anonymous".to_owned(), |a| a.0.clone());
        futures::stream::iter(std::iter::repeat_n(caller, count)).then(|c| async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            c
        })
    }
}

/// The operation's own `Authorization` header, from `extensions.headers`.
#[derive(Clone)]
pub struct OperationAuthorization(pub String);

/// Puts each operation's own `Authorization` into its data, as a subgraph that shares one
/// websocket among users reads identity.
pub struct ReadOperationAuthorization;

impl async_graphql::extensions::ExtensionFactory for ReadOperationAuthorization {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(ReadOperationAuthorization)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ReadOperationAuthorization {
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        mut request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        if let Some(v) = service_kit::graphql::operation_header(&request, "authorization") {
            let v = v.to_owned();
            request.data.insert(OperationAuthorization(v));
        }
        next.run(ctx, request).await
    }
}

pub type ReviewsSchema = Schema<ReviewsQuery, ReviewsMutation, ReviewsSubscription>;

pub fn reviews_schema(calls: Arc<Mutex<Vec<String>>>) -> ReviewsSchema {
    Schema::build(ReviewsQuery, ReviewsMutation, ReviewsSubscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .extension(ReadOperationAuthorization)
        .data(calls)
        .finish()
}

/// Every shop subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    let opts = || SDLExportOptions::new().federation();
    vec![
        (
            "accounts",
            accounts_schema(AccountsState::default()).sdl_with_options(opts()),
        ),
        ("products", products_schema().sdl_with_options(opts())),
        ("inventory", inventory_schema().sdl_with_options(opts())),
        (
            "reviews",
            reviews_schema(Default::default()).sdl_with_options(opts()),
        ),
    ]
}
