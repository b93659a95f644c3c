//! The audit's `requires-with-argument` suite: `@requires` of fields that take arguments.
//! a's `shippingEstimate` requires b's `price(currency: "USD")`; d's `Post.author` requires
//! `comments(limit: 3) { authorId }`, its own field with c's `authorId`, which clashes with a
//! client's `comments(limit: 1)` (so the planner aliases one of them); c's
//! `Comment.isCommentSpam` requires d's `sameCommentOnOtherPosts { comments(limit: 50) { id } }`.
//!
//! d's reference resolver throws `Expected 3 comments` when the representation's `comments` is
//! not the three-comment list, and leaves `author` null when `comments` is missing.
//!
//! Not quite the audit's SDL: a declares `type Category @external`, which async-graphql cannot
//! print; its one field is marked `@external` instead, which means the same.

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use serde_json::Value;

use super::{
    Js, RepField, federation_sdl, get, js, router_config, serialize_int, to_number, truthy,
};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-argument";

#[derive(Clone)]
struct ProductData {
    upc: &'static str,
    name: &'static str,
    price: i32,
    weight: i32,
}

fn products() -> Vec<ProductData> {
    vec![
        ProductData {
            upc: "p1",
            name: "p-name-1",
            price: 11,
            weight: 1,
        },
        ProductData {
            upc: "p2",
            name: "p-name-2",
            price: 22,
            weight: 2,
        },
    ]
}

const POSTS: [&str; 2] = ["p1", "p2"];

struct CommentData {
    id: &'static str,
    post_id: &'static str,
    author_id: &'static str,
    body: &'static str,
}

fn comments() -> Vec<CommentData> {
    let c = |id, post_id, author_id, body| CommentData {
        id,
        post_id,
        author_id,
        body,
    };
    vec![
        c("c1", "p1", "a2", "c1-body"),
        c("c2", "p1", "a2", "c2-body"),
        c("c3", "p1", "a2", "c3-body"),
        c("c4", "p2", "a1", "c4-body"),
        c("c5", "p2", "a1", "c5-body"),
        c("c6", "p2", "a1", "c6-body"),
        c("c7", "p2", "a1", "c3-body"),
    ]
}

const AUTHORS: [(&str, &str); 2] = [("a1", "a1-name"), ("a2", "a2-name")];

/// The first `limit` comments of a post (JavaScript's `slice(0, limit)`).
fn comments_of(post_id: &str, limit: i32) -> Vec<CommentData> {
    comments()
        .into_iter()
        .filter(|c| c.post_id == post_id)
        .take(limit.max(0) as usize)
        .collect()
}

// ---------------------------------------------------------------- a

/// A product as a sees it: a shipping estimate computed from b's price and weight.
pub struct AProduct {
    upc: String,
    /// The representation's `price` and `weight`, kept only when it has both (as in the audit).
    price: Js,
    weight: Js,
}

/// A product, extended by a with a shipping estimate.
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
        serialize_int(to_number(self.price.as_ref()) * to_number(self.weight.as_ref()) * 10.0)
            .map(Some)
    }

    /// The product's category, owned by b (no product of the suite has one).
    #[graphql(external)]
    async fn category(&self) -> Option<ACategory> {
        None
    }

    /// Whether the category's average price is above 11; fails like the audit's resolver, as no
    /// product of the suite has a category.
    #[graphql(requires = r#"category { averagePrice(currency: \"USD\") }"#)]
    async fn is_expensive_category(&self) -> async_graphql::Result<Option<bool>> {
        get(None, "averagePrice").map(|_| None)
    }
}

/// A product category (all of it `@external` in a).
pub struct ACategory;

/// A product category, owned by b.
#[Object(name = "Category")]
impl ACategory {
    /// The average price of the category's products.
    #[graphql(external)]
    async fn average_price(&self, #[graphql(name = "currency")] _currency: String) -> Option<i32> {
        None
    }
}

pub struct AQuery;

#[Object(name = "Query")]
impl AQuery {
    /// The audit's `Product.__resolveReference`: the representation's price and weight when it
    /// has both, nothing of them otherwise.
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

    /// The product's price; the audit's default resolver ignores the currency.
    async fn price(&self, #[graphql(name = "currency")] _currency: String) -> Option<i32> {
        Some(self.0.price)
    }

    /// The product's weight.
    async fn weight(&self) -> Option<i32> {
        Some(self.0.weight)
    }

    /// The product's category (no product of the suite has one).
    async fn category(&self) -> Option<BCategory> {
        None
    }
}

/// A product category as b sees it.
pub struct BCategory;

/// A product category.
#[Object(name = "Category")]
impl BCategory {
    /// The average price of the category's products.
    async fn average_price(&self, #[graphql(name = "currency")] _currency: String) -> Option<i32> {
        None
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

// ---------------------------------------------------------------- c

/// A post as c sees it: its id only.
pub struct CPost {
    id: String,
}

/// A post.
#[Object(name = "Post")]
impl CPost {
    /// The post's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The post's first `limit` comments, owned by d.
    #[graphql(external)]
    async fn comments(&self, limit: i32) -> Option<Vec<Option<CComment>>> {
        Some(
            comments_of(&self.id, limit)
                .into_iter()
                .map(|c| {
                    Some(CComment {
                        id: c.id.into(),
                        author_id: c.author_id.into(),
                        body: c.body.into(),
                        is_comment_spam: None,
                    })
                })
                .collect(),
        )
    }
}

/// A comment as c, its owner, sees it.
pub struct CComment {
    id: String,
    author_id: String,
    body: String,
    /// Computed by the reference resolver from the representation.
    is_comment_spam: Option<bool>,
}

/// A comment on a post.
#[Object(name = "Comment")]
impl CComment {
    /// The comment's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The id of the comment's author.
    async fn author_id(&self) -> Option<ID> {
        Some(ID(self.author_id.clone()))
    }

    /// The comment's text.
    async fn body(&self) -> &str {
        &self.body
    }

    /// The other posts with a comment of the same text, owned by d.
    #[graphql(external)]
    async fn same_comment_on_other_posts(&self) -> Option<Vec<Option<CPost>>> {
        None
    }

    /// Whether the same text is on other posts (every one of whose comments has an id).
    #[graphql(requires = "sameCommentOnOtherPosts { comments(limit: 50) { id } }")]
    async fn is_comment_spam(&self) -> Option<bool> {
        self.is_comment_spam
    }
}

/// The audit's computation of `isCommentSpam` from the representation:
/// `ref.sameCommentOnOtherPosts?.length ? ref.sameCommentOnOtherPosts?.every((p) =>
/// p.comments.every((c) => c.id)) : false`.
fn is_comment_spam(same_comment_on_other_posts: Option<&Value>) -> async_graphql::Result<bool> {
    let Some(posts) = same_comment_on_other_posts
        .and_then(Value::as_array)
        .filter(|posts| !posts.is_empty())
    else {
        return Ok(false);
    };
    for post in posts {
        let comments = match get(Some(post), "comments")? {
            Some(Value::Array(comments)) => comments,
            None => return Err("Cannot read properties of undefined (reading 'every')".into()),
            Some(Value::Null) => {
                return Err("Cannot read properties of null (reading 'every')".into());
            }
            Some(_) => return Err("p.comments.every is not a function".into()),
        };
        for comment in comments {
            if !truthy(get(Some(comment), "id")?) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

pub struct CQuery;

/// c's root fields.
#[Object(name = "Query")]
impl CQuery {
    /// Every post.
    async fn feed(&self) -> Option<Vec<Option<CPost>>> {
        Some(
            POSTS
                .iter()
                .map(|id| Some(CPost { id: (*id).into() }))
                .collect(),
        )
    }

    #[graphql(entity)]
    async fn find_post_by_id(&self, id: ID) -> Option<CPost> {
        POSTS
            .iter()
            .find(|p| **p == id.as_str())
            .map(|id| CPost { id: (*id).into() })
    }

    /// The audit's `Comment.__resolveReference`, which computes `isCommentSpam` from the
    /// representation's `sameCommentOnOtherPosts`.
    #[graphql(entity)]
    async fn find_comment_by_id(
        &self,
        #[graphql(key)] id: ID,
        same_comment_on_other_posts: RepField,
    ) -> async_graphql::Result<Option<CComment>> {
        let Some(comment) = comments().into_iter().find(|c| c.id == id.as_str()) else {
            return Ok(None);
        };
        let is_comment_spam = is_comment_spam(js(same_comment_on_other_posts).as_ref())?;
        Ok(Some(CComment {
            id: comment.id.into(),
            author_id: comment.author_id.into(),
            body: comment.body.into(),
            is_comment_spam: Some(is_comment_spam),
        }))
    }
}

pub fn c_schema() -> Schema<CQuery, EmptyMutation, EmptySubscription> {
    Schema::build(CQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- d

/// A post as d sees it: its comments, and an author taken from the representation.
pub struct DPost {
    id: String,
    /// The third required comment's `authorId`, from the representation.
    author_id: Js,
}

/// A post.
#[Object(name = "Post")]
impl DPost {
    /// The post's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The author of the post's third comment.
    #[graphql(requires = "comments(limit: 3) { authorId }")]
    async fn author(&self) -> Option<Author> {
        if !truthy(self.author_id.as_ref()) {
            return None;
        }
        let author_id = self.author_id.as_ref()?.as_str()?;
        AUTHORS
            .iter()
            .find(|(id, _)| *id == author_id)
            .map(|(id, name)| Author {
                id: ID((*id).into()),
                name: Some((*name).into()),
            })
    }

    /// The post's first `limit` comments.
    async fn comments(&self, limit: i32) -> Option<Vec<Option<DComment>>> {
        Some(
            comments_of(&self.id, limit)
                .into_iter()
                .map(|c| Some(DComment { id: c.id.into() }))
                .collect(),
        )
    }
}

/// A comment as d sees it: its id only.
pub struct DComment {
    id: String,
}

/// A comment on a post.
#[Object(name = "Comment")]
impl DComment {
    /// The comment's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// When the comment was written (no comment of the suite has a date).
    async fn date(&self) -> Option<String> {
        None
    }

    /// The id of the comment's author, owned by c.
    #[graphql(external)]
    async fn author_id(&self) -> Option<ID> {
        None
    }

    /// The other posts with a comment of the same text.
    async fn same_comment_on_other_posts(&self) -> Option<Vec<Option<DPost>>> {
        let all = comments();
        let Some(comment) = all.iter().find(|c| c.id == self.id) else {
            return Some(Vec::new());
        };
        Some(
            all.iter()
                .filter(|c| c.body == comment.body && c.post_id != comment.post_id)
                .map(|c| {
                    Some(DPost {
                        id: c.post_id.into(),
                        author_id: None,
                    })
                })
                .collect(),
        )
    }
}

/// The author of a comment.
#[derive(SimpleObject)]
pub struct Author {
    /// The author's id.
    pub id: ID,
    /// The author's name.
    pub name: Option<String>,
}

pub struct DQuery;

#[Object(name = "Query")]
impl DQuery {
    /// The audit's `Post.__resolveReference`: when the representation has (truthy) `comments`,
    /// they must be three, else it throws `Expected 3 comments`; the third one's `authorId`
    /// becomes the post's author.
    #[graphql(entity)]
    async fn find_post_by_id(
        &self,
        #[graphql(key)] id: ID,
        comments: RepField,
    ) -> async_graphql::Result<Option<DPost>> {
        let Some(post) = POSTS.iter().find(|p| **p == id.as_str()) else {
            return Ok(None);
        };
        let comments = js(comments);
        let author_id = if truthy(comments.as_ref()) {
            match comments.as_ref().and_then(Value::as_array) {
                Some(list) if list.len() == 3 => get(Some(&list[2]), "authorId")?.cloned(),
                _ => return Err("Expected 3 comments".into()),
            }
        } else {
            None
        };
        Ok(Some(DPost {
            id: (*post).into(),
            author_id,
        }))
    }

    #[graphql(entity)]
    async fn find_comment_by_id(&self, id: ID) -> Option<DComment> {
        comments()
            .into_iter()
            .find(|c| c.id == id.as_str())
            .map(|c| DComment { id: c.id.into() })
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
    pub const PRODUCTS_SHIPPING_ESTIMATE: &str = "query { products { upc name shippingEstimate } }";
    pub const FEED_AUTHOR: &str = "{ feed { author { id } } }";
    pub const FEED_AUTHOR_AND_ONE_COMMENT: &str =
        "query { feed { author { id } comments(limit: 1) { id } } }";
    pub const FEED_COMMENT_SPAM: &str = "query { feed { comments(limit: 3) { isCommentSpam } } }";
    pub const FEED_AUTHOR_AND_COMMENTS_BY_VARIABLE: &str =
        "query ($limit: Int = 1) { feed { author { id } comments(limit: $limit) { id } } }";
    pub const FEED_AUTHOR_AND_COMMENTS_IN_FRAGMENTS: &str =
        "query ($limit: Int = 1) { feed { author { id } ...Foo ...Bar } }
        fragment Foo on Post { comments(limit: $limit) { id } }
        fragment Bar on Post { comments(limit: $limit) { id } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[
        PRODUCTS_SHIPPING_ESTIMATE,
        FEED_AUTHOR,
        FEED_AUTHOR_AND_ONE_COMMENT,
        FEED_COMMENT_SPAM,
        FEED_AUTHOR_AND_COMMENTS_BY_VARIABLE,
        FEED_AUTHOR_AND_COMMENTS_IN_FRAGMENTS,
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
