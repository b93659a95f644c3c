//! The audit's `override-with-requires` suite: `User.name` is `@external` in a and c, whose
//! `aName` and `cName` require it, and b owns it with `@override(from: "c")`. a's and c's own
//! `name` resolvers answer `NEVER`, so every `name` must come from b, and their reference
//! resolvers keep the user's name only when the representation has a `name` (else `aName` is
//! `a__undefined`).

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};

use super::{RepField, federation_sdl, router_config, to_js_string};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-override";

/// (id, name)
const USERS: [(&str, &str); 3] = [("u1", "u1-name"), ("u2", "u2-name"), ("u3", "u3-name")];

/// A user as a or c sees it: the user's own name, kept only when the representation had one.
pub struct RequiringUser {
    id: String,
    name: Option<String>,
}

impl RequiringUser {
    fn stored(index: usize) -> Self {
        let (id, name) = USERS[index];
        Self {
            id: id.into(),
            name: Some(name.into()),
        }
    }

    /// The audit's `User.__resolveReference` of a and c: `{ id, name: user.name }` when
    /// `"name" in key`, `{ id }` otherwise.
    fn resolve(id: &str, name: &RepField) -> Option<Self> {
        let (id, stored_name) = USERS.iter().find(|(u, _)| *u == id)?;
        Some(Self {
            id: (*id).into(),
            name: (!name.is_undefined()).then(|| (*stored_name).into()),
        })
    }

    /// `` `${prefix}__${user.name}` ``
    fn prefixed(&self, prefix: &str) -> String {
        let name = self.name.clone().map(serde_json::Value::String);
        format!("{prefix}__{}", to_js_string(name.as_ref()))
    }
}

// ---------------------------------------------------------------- a

/// A user, extended by a with `aName`.
pub struct AUser(RequiringUser);

/// A user, extended by a with a name of its own making.
#[Object(name = "User")]
impl AUser {
    /// The user's key.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The user's name, owned by b; a's own resolver must never be used.
    #[graphql(external)]
    async fn name(&self) -> &str {
        "NEVER"
    }

    /// The name, prefixed with `a__`.
    #[graphql(requires = "name")]
    async fn a_name(&self) -> String {
        self.0.prefixed("a")
    }
}

pub struct AQuery;

/// a's root fields.
#[Object(name = "Query")]
impl AQuery {
    /// The user u1.
    async fn user_in_a(&self) -> Option<AUser> {
        Some(AUser(RequiringUser::stored(0)))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, #[graphql(key)] id: ID, name: RepField) -> Option<AUser> {
        RequiringUser::resolve(&id, &name).map(AUser)
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A user as b, the owner of names, sees it.
#[derive(SimpleObject)]
#[graphql(name = "User")]
pub struct BUser {
    /// The user's key.
    pub id: ID,
    /// The user's name, taken over from c.
    #[graphql(override_from = "c")]
    pub name: String,
}

fn b_user(id: &str) -> Option<BUser> {
    let (id, name) = USERS.iter().find(|(u, _)| *u == id)?;
    Some(BUser {
        id: ID((*id).into()),
        name: (*name).into(),
    })
}

pub struct BQuery;

/// b's root fields.
#[Object(name = "Query")]
impl BQuery {
    /// The user u2.
    async fn user_in_b(&self) -> Option<BUser> {
        b_user("u2")
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<BUser> {
        b_user(&id)
    }
}

pub fn b_schema() -> Schema<BQuery, EmptyMutation, EmptySubscription> {
    Schema::build(BQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- c

/// A user, extended by c with `cName`.
pub struct CUser(RequiringUser);

/// A user, extended by c with a name of its own making.
#[Object(name = "User")]
impl CUser {
    /// The user's key.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The user's name, owned by b; c's own resolver must never be used.
    #[graphql(external)]
    async fn name(&self) -> &str {
        "NEVER"
    }

    /// The name, prefixed with `c__`.
    #[graphql(requires = "name")]
    async fn c_name(&self) -> String {
        self.0.prefixed("c")
    }
}

pub struct CQuery;

/// c's root fields.
#[Object(name = "Query")]
impl CQuery {
    /// The user u3.
    async fn user_in_c(&self) -> Option<CUser> {
        Some(CUser(RequiringUser::stored(2)))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, #[graphql(key)] id: ID, name: RepField) -> Option<CUser> {
        RequiringUser::resolve(&id, &name).map(CUser)
    }
}

pub fn c_schema() -> Schema<CQuery, EmptyMutation, EmptySubscription> {
    Schema::build(CQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

/// The operations of the audit's tests of this suite: `tests/router/requires.rs` runs each with
/// the audit's expected data, `tests/router/differential.rs` runs them all through Hive Gateway
/// too.
pub mod operations {
    pub const EVERY_USER_EVERY_NAME: &str = "{ userInA { id name aName cName } userInB { id name aName cName } userInC { id name aName cName } }";
    pub const USER_IN_C_C_NAME: &str = "query { userInC { cName } }";
    pub const USER_IN_A_C_NAME: &str = "query { userInA { cName } }";
    pub const USER_IN_A_A_NAME: &str = "query { userInA { aName } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[
        EVERY_USER_EVERY_NAME,
        USER_IN_C_C_NAME,
        USER_IN_A_C_NAME,
        USER_IN_A_A_NAME,
    ];
}

/// Every subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        ("a", federation_sdl(&a_schema())),
        ("b", federation_sdl(&b_schema())),
        ("c", federation_sdl(&c_schema())),
    ]
}

/// Serves the subgraphs; a router config pointed at them.
pub async fn config() -> router::RouterConfig {
    let a = serve_subgraph(a_schema()).await;
    let b = serve_subgraph(b_schema()).await;
    let c = serve_subgraph(c_schema()).await;
    router_config(FIXTURE, &[("a", a), ("b", b), ("c", c)])
}
