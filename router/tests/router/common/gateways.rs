//! The four subgraphs of the public GraphQL gateways benchmark
//! (graphql-hive/graphql-gateways-benchmark): accounts, inventory, products and reviews, with
//! its data, so that its `TestQuery` returns the same 87,327-byte response here. The router
//! benchmark (`cargo bench -p router`) runs every gateway against these; `benchmark.rs` checks
//! the router's answer byte for byte.
//!
//! As in the original, every review's author is user 1 with reviews 1 and 2, and every
//! user's reviews are 1 and 2: the nested query fans one entity out to a hundred places.

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, SDLExportOptions, Schema};

/// The benchmark's query, as its k6 script sends it.
pub const TEST_QUERY: &str = r#"fragment User on User {
  id
  username
  name
}

fragment Review on Review {
  id
  body
}

fragment Product on Product {
  inStock
  name
  price
  shippingEstimate
  upc
  weight
}

query TestQuery {
  users {
    ...User
    reviews {
      ...Review
      product {
        ...Product
        reviews {
          ...Review
          author {
            ...User
            reviews {
              ...Review
              product {
                ...Product
              }
            }
          }
        }
      }
    }
  }
  topProducts {
    ...Product
    reviews {
      ...Review
      author {
        ...User
        reviews {
          ...Review
          product {
            ...Product
          }
        }
      }
    }
  }
}"#;

// ---------------------------------------------------------------- accounts

const USERS: [(&str, &str, &str); 6] = [
    ("1", "urigo", "Uri Goldshtein"),
    ("2", "dotansimha", "Dotan Simha"),
    ("3", "kamilkisiela", "Kamil Kisiela"),
    ("4", "ardatan", "Arda Tanrikulu"),
    ("5", "gilgardosh", "Gil Gardosh"),
    ("6", "laurin", "Laurin Quast"),
];

/// An account.
#[derive(Clone)]
pub struct User {
    id: &'static str,
    username: &'static str,
    name: &'static str,
}

#[Object]
impl User {
    /// The account's id.
    async fn id(&self) -> ID {
        ID(self.id.to_owned())
    }
    /// The display name.
    async fn name(&self) -> Option<&str> {
        Some(self.name)
    }
    /// The login name.
    #[graphql(shareable)]
    async fn username(&self) -> Option<&str> {
        Some(self.username)
    }
    /// Seconds since the epoch.
    async fn birthday(&self) -> Option<i32> {
        Some(1_234_567_890)
    }
}

fn user(id: &str) -> Option<User> {
    USERS
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|&(id, username, name)| User { id, username, name })
}

/// Accounts' root fields.
pub struct AccountsQuery;

#[Object(name = "Query")]
impl AccountsQuery {
    /// The first user.
    async fn me(&self) -> Option<User> {
        user("1")
    }
    /// One user by id.
    async fn user(&self, id: ID) -> Option<User> {
        user(&id)
    }
    /// Every user.
    async fn users(&self) -> Option<Vec<Option<User>>> {
        Some(
            USERS
                .iter()
                .map(|&(id, username, name)| Some(User { id, username, name }))
                .collect(),
        )
    }
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<User> {
        user(&id)
    }
}

// ---------------------------------------------------------------- products

const PRODUCTS: [(&str, &str, i32, i32); 9] = [
    ("1", "Table", 899, 100),
    ("2", "Couch", 1299, 1000),
    ("3", "Glass", 15, 20),
    ("4", "Chair", 499, 100),
    ("5", "TV", 1299, 1000),
    ("6", "Lamp", 6999, 300),
    ("7", "Grill", 3999, 2000),
    ("8", "Fridge", 100_000, 6000),
    ("9", "Sofa", 9999, 800),
];

/// A product for sale.
pub struct Product {
    upc: &'static str,
    name: &'static str,
    price: i32,
    weight: i32,
}

#[Object]
impl Product {
    /// The product code.
    async fn upc(&self) -> &str {
        self.upc
    }
    /// The product's name.
    async fn name(&self) -> Option<&str> {
        Some(self.name)
    }
    /// Price in cents.
    async fn price(&self) -> Option<i32> {
        Some(self.price)
    }
    /// Weight in grams.
    async fn weight(&self) -> Option<i32> {
        Some(self.weight)
    }
}

fn product(upc: &str) -> Option<Product> {
    PRODUCTS
        .iter()
        .find(|(u, ..)| *u == upc)
        .map(|&(upc, name, price, weight)| Product {
            upc,
            name,
            price,
            weight,
        })
}

/// Products' root fields.
pub struct ProductsQuery;

#[Object(name = "Query")]
impl ProductsQuery {
    /// The first products.
    async fn top_products(
        &self,
        #[graphql(default = 5)] first: Option<i32>,
    ) -> Option<Vec<Option<Product>>> {
        Some(
            PRODUCTS
                .iter()
                .take(first.unwrap_or(5).max(0) as usize)
                .map(|(upc, ..)| product(upc))
                .collect(),
        )
    }
    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> Option<Product> {
        product(&upc)
    }
}

// ---------------------------------------------------------------- inventory

/// Inventory's view of a product.
pub struct InventoryProduct {
    upc: String,
    price: Option<i32>,
    weight: Option<i32>,
}

#[Object(name = "Product")]
impl InventoryProduct {
    /// The product code.
    async fn upc(&self) -> &str {
        &self.upc
    }
    /// Price in cents (owned by products).
    #[graphql(external)]
    async fn price(&self) -> Option<i32> {
        self.price
    }
    /// Weight in grams (owned by products).
    #[graphql(external)]
    async fn weight(&self) -> Option<i32> {
        self.weight
    }
    /// Whether it can be shipped now.
    async fn in_stock(&self) -> Option<bool> {
        Some(matches!(self.upc.as_str(), "1" | "5" | "6" | "7" | "9"))
    }
    /// Free above 1000, otherwise half the weight.
    #[graphql(requires = "price weight")]
    async fn shipping_estimate(&self) -> Option<i32> {
        let price = self.price?;
        if price > 1000 {
            return Some(0);
        }
        Some(self.weight? / 2)
    }
}

/// Inventory's root fields (entities only).
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

// ---------------------------------------------------------------- reviews

const LOREM_1: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.";
const LOREM_2: &str = "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugi";
const LOREM_3: &str = "sed quia consequuntur magni dolores eos qui ratione voluptatem sequi nesciunt. Neque porro quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, adipisci velit, sed quia non numquam eius modi tempora incidunt ut labore et dolore magnam aliquam quaerat voluptatem.";
const LOREM_4: &str = "Ut enim ad minima veniam, quis nostrum exercitationem ullam corporis suscipit laboriosam, nisi ut aliquid ex ea commodi consequatur? Quis autem";
const LOREM_5: &str = "At vero eos et accusamus et iusto odio dignissimos ducimus qui blanditiis praesentium voluptatum deleniti atque corrupti quos dolores et quas molestias excepturi sint occaecati cupiditate non provident, similique sunt in culpa qui officia deserunt mollitia animi, id est laborum et dolorum fuga. Et harum quidem rerum facilis est et expedita distinctio. Nam libero tempore, cum soluta nobis est eligendi optio cumque nihil impedit quo minus id quod maxime placeat facere possimus, omnis voluptas assumenda est, omnis dolor repellendus. Temporibus autem quibusdam et aut officiis debitis aut rerum necessitatibus saepe eveniet ut et voluptates repudiandae sint et molestiae non recusandae. Itaque earum rerum hic tenetur a sapiente delectus, ut aut reiciendis voluptatibus maiores alias consequatur aut perferendis doloribus asperiores repellat.";

/// (id, product upc, body).
const REVIEWS: [(&str, &str, &str); 11] = [
    ("1", "1", LOREM_1),
    ("2", "1", LOREM_2),
    ("3", "1", LOREM_3),
    ("4", "1", LOREM_4),
    ("5", "2", LOREM_1),
    ("6", "2", LOREM_2),
    ("7", "2", LOREM_3),
    ("8", "2", LOREM_4),
    ("9", "3", LOREM_4),
    ("10", "4", LOREM_4),
    ("11", "4", LOREM_5),
];

/// A review of a product.
#[derive(Clone, Copy)]
pub struct Review(usize);

#[Object]
impl Review {
    /// The review's id.
    async fn id(&self) -> ID {
        ID(REVIEWS[self.0].0.to_owned())
    }
    /// What the reviewer wrote.
    async fn body(&self) -> Option<&str> {
        Some(REVIEWS[self.0].2)
    }
    /// The reviewed product.
    async fn product(&self) -> Option<ReviewsProduct> {
        Some(ReviewsProduct {
            upc: REVIEWS[self.0].1.to_owned(),
        })
    }
    /// Who wrote it (always the first user, as in the original benchmark).
    #[graphql(provides = "username")]
    async fn author(&self) -> Option<ReviewsUser> {
        Some(ReviewsUser {
            id: "1".to_owned(),
            username: Some("urigo"),
        })
    }
}

/// Reviews' view of a user.
pub struct ReviewsUser {
    id: String,
    username: Option<&'static str>,
}

#[Object(name = "User")]
impl ReviewsUser {
    /// The account's id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// The login name (owned by accounts).
    #[graphql(external)]
    async fn username(&self) -> Option<&str> {
        self.username
    }
    /// The user's reviews (always the first two, as in the original benchmark).
    async fn reviews(&self) -> Option<Vec<Option<Review>>> {
        Some(vec![Some(Review(0)), Some(Review(1))])
    }
}

/// Reviews' view of a product.
pub struct ReviewsProduct {
    upc: String,
}

#[Object(name = "Product")]
impl ReviewsProduct {
    /// The product code.
    async fn upc(&self) -> &str {
        &self.upc
    }
    /// The product's reviews.
    async fn reviews(&self) -> Option<Vec<Option<Review>>> {
        Some(
            (0..REVIEWS.len())
                .filter(|i| REVIEWS[*i].1 == self.upc)
                .map(|i| Some(Review(i)))
                .collect(),
        )
    }
}

/// Reviews' root fields (entities only).
pub struct ReviewsQuery;

#[Object(name = "Query")]
impl ReviewsQuery {
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> ReviewsUser {
        ReviewsUser {
            id: id.0,
            username: None,
        }
    }
    #[graphql(entity)]
    async fn find_product_by_upc(&self, upc: String) -> ReviewsProduct {
        ReviewsProduct { upc }
    }
}

macro_rules! schema_fn {
    ($name:ident, $query:ty, $value:expr) => {
        pub fn $name() -> Schema<$query, EmptyMutation, EmptySubscription> {
            Schema::build($value, EmptyMutation, EmptySubscription)
                .enable_federation()
                .finish()
        }
    };
}

schema_fn!(accounts_schema, AccountsQuery, AccountsQuery);
schema_fn!(products_schema, ProductsQuery, ProductsQuery);
schema_fn!(inventory_schema, InventoryQuery, InventoryQuery);
schema_fn!(reviews_schema, ReviewsQuery, ReviewsQuery);

/// Every subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    let opts = || SDLExportOptions::new().federation();
    vec![
        ("accounts", accounts_schema().sdl_with_options(opts())),
        ("inventory", inventory_schema().sdl_with_options(opts())),
        ("products", products_schema().sdl_with_options(opts())),
        ("reviews", reviews_schema().sdl_with_options(opts())),
    ]
}

/// The four subgraphs, each on its own port.
pub struct Gateways {
    pub accounts: std::net::SocketAddr,
    pub inventory: std::net::SocketAddr,
    pub products: std::net::SocketAddr,
    pub reviews: std::net::SocketAddr,
}

impl Gateways {
    pub async fn start() -> Self {
        Self {
            accounts: super::serve_subgraph(accounts_schema()).await,
            inventory: super::serve_subgraph(inventory_schema()).await,
            products: super::serve_subgraph(products_schema()).await,
            reviews: super::serve_subgraph(reviews_schema()).await,
        }
    }

    pub fn urls(&self) -> [(&'static str, String); 4] {
        [
            ("accounts", super::subgraph_url(self.accounts)),
            ("inventory", super::subgraph_url(self.inventory)),
            ("products", super::subgraph_url(self.products)),
            ("reviews", super::subgraph_url(self.reviews)),
        ]
    }

    /// A router config for them: port 0, no reload.
    pub fn config(&self) -> router::RouterConfig {
        let mut config = router::RouterConfig {
            port: 0,
            ..Default::default()
        };
        config.supergraph.path = super::fixtures_dir().join("gateways/supergraph.graphql");
        config.supergraph.watch = false;
        for (name, url) in self.urls() {
            config.subgraphs.entry(name.into()).or_default().url = Some(url);
        }
        config
    }
}

// ---------------------------------------------------------------- big response

/// One subgraph whose `catalog` answers with as large a response as asked for: lists,
/// objects, strings, floats and ints, as in Grafbase's big-response scenario. Composed on
/// its own (`fixtures/big-response`).
pub struct BigQuery;

/// An entry of the big catalog.
pub struct Entry(u32);

/// Measurements of an entry.
#[derive(async_graphql::SimpleObject)]
pub struct Dimensions {
    /// Width in metres.
    width: f64,
    /// Height in metres.
    height: f64,
    /// Depth in metres.
    depth: f64,
}

#[Object]
impl Entry {
    /// The entry's id.
    async fn id(&self) -> ID {
        ID(format!("entry-{}", self.0))
    }
    /// Its title.
    async fn title(&self) -> String {
        format!("Catalog entry number {} of the big response", self.0)
    }
    /// A paragraph about it.
    async fn description(&self) -> &str {
        LOREM_1
    }
    /// Its price.
    async fn price(&self) -> f64 {
        f64::from(self.0) * 1.25 + 0.99
    }
    /// How many are in stock.
    async fn quantity(&self) -> i32 {
        (self.0 % 97) as i32
    }
    /// Labels.
    async fn tags(&self) -> Vec<String> {
        (0..5)
            .map(|i| format!("tag-{}", (self.0 + i) % 50))
            .collect()
    }
    /// Its size.
    async fn dimensions(&self) -> Dimensions {
        let x = f64::from(self.0 % 10);
        Dimensions {
            width: 0.5 + x,
            height: 1.5 + x,
            depth: 2.5 + x,
        }
    }
}

#[Object(name = "Query")]
impl BigQuery {
    /// `entries` catalog entries (about 820 bytes of JSON each).
    async fn catalog(&self, entries: u32) -> Vec<Entry> {
        (0..entries.min(100_000)).map(Entry).collect()
    }
}

schema_fn!(big_schema, BigQuery, BigQuery);

/// The big-response subgraph's SDL.
pub fn big_sdls() -> Vec<(&'static str, String)> {
    vec![(
        "big",
        big_schema().sdl_with_options(SDLExportOptions::new().federation()),
    )]
}
