//! The audit's `requires-circular` suite: the planner goes back and forth between the two
//! subgraphs. a's `Post.byExpert` requires b's `byNovice`, which requires a's
//! `author { yearsOfExperience }`, through b's `Post.author`.
//!
//! The required values are booleans and numbers, and `false` must travel as `false`: a answers
//! `byExpert` only when the representation's `byNovice` is neither missing nor null (else the
//! non-null field fails), and b's `byNovice` is `yearsOfExperience < 10` in JavaScript, which is
//! `false` when the representation lacks it.

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use serde_json::Value;

use super::{Js, RepField, federation_sdl, js, non_null, router_config, to_number, truthy};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-circular";

/// (id, name, years of experience)
const AUTHORS: [(&str, &str, i32); 2] = [("a1", "John", 5), ("a2", "Jane", 20)];

/// (id, author id)
const POSTS: [(&str, &str); 2] = [("p1", "a1"), ("p2", "a2")];

// ---------------------------------------------------------------- a

/// A post as a sees it: `byNovice` comes from the representation.
pub struct APost {
    id: String,
    by_novice: Js,
}

/// A post, extended by a with whether an expert wrote it.
#[Object(name = "Post")]
impl APost {
    /// The post's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// Whether a novice wrote the post, owned by b.
    #[graphql(external)]
    async fn by_novice(&self) -> async_graphql::Result<bool> {
        non_null(
            self.by_novice.as_ref().and_then(Value::as_bool),
            "Post.byNovice",
        )
    }

    /// Whether an expert wrote the post: not a novice. Null (so an error) when the
    /// representation had no `byNovice`, "ensuring requires is not skipped".
    #[graphql(requires = "byNovice")]
    async fn by_expert(&self) -> async_graphql::Result<bool> {
        let by_novice = self.by_novice.as_ref().filter(|v| !v.is_null());
        non_null(by_novice.map(|v| !truthy(Some(v))), "Post.byExpert")
    }
}

/// A post's author.
#[derive(SimpleObject)]
#[graphql(name = "Author")]
pub struct AAuthor {
    /// The author's key.
    pub id: ID,
    /// The author's name.
    pub name: String,
    /// How many years the author has been writing.
    pub years_of_experience: i32,
}

pub struct AQuery;

/// a's root fields.
#[Object(name = "Query")]
impl AQuery {
    /// Every post.
    async fn feed(&self) -> Option<Vec<Option<APost>>> {
        Some(
            POSTS
                .iter()
                .map(|(id, _)| {
                    Some(APost {
                        id: (*id).into(),
                        by_novice: None,
                    })
                })
                .collect(),
        )
    }

    /// The audit's `Post.__resolveReference`: `byNovice` from the representation, unless it is
    /// missing or null.
    #[graphql(entity)]
    async fn find_post_by_id(&self, #[graphql(key)] id: ID, by_novice: RepField) -> Option<APost> {
        let (id, _) = POSTS.iter().find(|(p, _)| *p == id.as_str())?;
        let by_novice = js(by_novice).filter(|v| !v.is_null());
        Some(APost {
            id: (*id).into(),
            by_novice,
        })
    }

    #[graphql(entity)]
    async fn find_author_by_id(&self, id: ID) -> Option<AAuthor> {
        let (id, name, years) = AUTHORS.iter().find(|(a, _, _)| *a == id.as_str())?;
        Some(AAuthor {
            id: ID((*id).into()),
            name: (*name).into(),
            years_of_experience: *years,
        })
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A post as b sees it: its author, with what the representation said about them.
pub struct BPost {
    id: String,
    author: BAuthor,
}

/// A post, extended by b with its author and whether a novice wrote it.
#[Object(name = "Post")]
impl BPost {
    /// The post's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The post's author.
    async fn author(&self) -> &BAuthor {
        &self.author
    }

    /// Whether the author has less than ten years of experience (`false`, as in JavaScript,
    /// when the representation did not say).
    #[graphql(requires = "author { yearsOfExperience }")]
    async fn by_novice(&self) -> bool {
        to_number(self.author.years_of_experience.as_ref()) < 10.0
    }
}

/// A post's author as b sees it: the representation's fields over the author's id.
pub struct BAuthor {
    id: Js,
    years_of_experience: Js,
}

/// A post's author.
#[Object(name = "Author")]
impl BAuthor {
    /// The author's key.
    async fn id(&self) -> async_graphql::Result<ID> {
        non_null(
            self.id
                .as_ref()
                .and_then(Value::as_str)
                .map(|id| ID(id.into())),
            "Author.id",
        )
    }

    /// How many years the author has been writing, owned by a.
    #[graphql(external)]
    async fn years_of_experience(&self) -> async_graphql::Result<i32> {
        non_null(
            self.years_of_experience
                .as_ref()
                .and_then(Value::as_i64)
                .map(|y| y as i32),
            "Author.yearsOfExperience",
        )
    }
}

pub struct BQuery;

#[Object(name = "Query")]
impl BQuery {
    /// The audit's `Post.__resolveReference`:
    /// `{ id, author: { id: post.author.id, ...ref.author } }`.
    #[graphql(entity)]
    async fn find_post_by_id(&self, #[graphql(key)] id: ID, author: RepField) -> Option<BPost> {
        let (id, author_id) = POSTS.iter().find(|(p, _)| *p == id.as_str())?;
        let mut spread = BAuthor {
            id: Some(Value::String((*author_id).into())),
            years_of_experience: None,
        };
        if let Some(Value::Object(fields)) = js(author) {
            if let Some(id) = fields.get("id") {
                spread.id = Some(id.clone());
            }
            spread.years_of_experience = fields.get("yearsOfExperience").cloned();
        }
        Some(BPost {
            id: (*id).into(),
            author: spread,
        })
    }

    /// The audit has no `Author.__resolveReference` in b: Apollo's default returns the
    /// representation itself.
    #[graphql(entity)]
    async fn find_author_by_id(
        &self,
        #[graphql(key)] id: ID,
        years_of_experience: RepField,
    ) -> BAuthor {
        BAuthor {
            id: Some(Value::String(id.0)),
            years_of_experience: js(years_of_experience),
        }
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
    pub const FEED_BY_NOVICE: &str = "{ feed { byNovice } }";
    pub const FEED_BY_EXPERT: &str = "{ feed { byExpert } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[FEED_BY_NOVICE, FEED_BY_EXPERT];
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
