//! The audit's `interface-object-with-requires` suite: b's `@interfaceObject` `NodeWithName`
//! adds `username`, which requires `name` from a, where `NodeWithName` is an entity interface
//! implemented by `User`. Representations sent to b must say `__typename: "NodeWithName"` (the
//! planner's input rewrite), whatever concrete type a answered, and carry `name`: b's `username`
//! throws `Requires field 'name' not provided` without it.

use async_graphql::{
    EmptyMutation, EmptySubscription, ID, Interface, Object, Schema, SimpleObject,
};
use serde_json::Value;

use super::{Js, RepField, federation_sdl, js, router_config, truthy};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-interface-object";

/// (id, name, username, age)
const USERS: [(&str, &str, &str, i32); 2] = [
    ("u1", "u1-name", "u1-username", 11),
    ("u2", "u2-name", "u2-username", 22),
];

// ---------------------------------------------------------------- a

/// A user.
#[derive(Clone, SimpleObject)]
pub struct User {
    /// The user's key.
    pub id: ID,
    /// The user's name.
    pub name: Option<String>,
    /// The user's age.
    pub age: Option<i32>,
}

/// Anything with an id and a name.
#[derive(Interface)]
#[graphql(
    field(name = "id", ty = "&ID", desc = "The node's key."),
    field(name = "name", ty = "&Option<String>", desc = "The node's name.")
)]
pub enum NodeWithName {
    User(User),
}

fn user(id: &str) -> Option<User> {
    let (id, name, _, age) = USERS.iter().find(|(u, _, _, _)| *u == id)?;
    Some(User {
        id: ID((*id).into()),
        name: Some((*name).into()),
        age: Some(*age),
    })
}

pub struct AQuery;

/// a's root fields.
#[Object(name = "Query")]
impl AQuery {
    /// Every user.
    async fn users(&self) -> Vec<NodeWithName> {
        USERS
            .iter()
            .filter_map(|(id, _, _, _)| user(id))
            .map(NodeWithName::User)
            .collect()
    }

    #[graphql(entity)]
    async fn find_node_with_name_by_id(&self, id: ID) -> Option<NodeWithName> {
        user(&id).map(NodeWithName::User)
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<User> {
        user(&id)
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A node as b sees it: `name` comes from the representation, if it had one.
pub struct BNode {
    id: String,
    name: Js,
}

/// Anything with an id and a name, extended by b with a username (`@interfaceObject`).
#[Object(name = "NodeWithName", interface_object)]
impl BNode {
    /// The node's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The node's name, owned by a.
    #[graphql(external)]
    async fn name(&self) -> Option<&str> {
        self.name.as_ref().and_then(Value::as_str)
    }

    /// The node's username; needs the name, and throws without it.
    #[graphql(requires = "name")]
    async fn username(&self) -> async_graphql::Result<Option<String>> {
        let Some((_, _, username, _)) = USERS.iter().find(|(u, _, _, _)| *u == self.id) else {
            return Ok(None);
        };
        if !truthy(self.name.as_ref()) {
            return Err("Requires field 'name' not provided".into());
        }
        Ok(Some((*username).into()))
    }
}

pub struct BQuery;

/// b's root fields.
#[Object(name = "Query")]
impl BQuery {
    /// Every user, as nodes.
    async fn another_users(&self) -> Option<Vec<Option<BNode>>> {
        Some(
            USERS
                .iter()
                .map(|(id, _, _, _)| {
                    Some(BNode {
                        id: (*id).into(),
                        name: None,
                    })
                })
                .collect(),
        )
    }

    /// The audit's `NodeWithName.__resolveReference`: `name` from the representation when it
    /// has one.
    #[graphql(entity)]
    async fn find_node_with_name_by_id(
        &self,
        #[graphql(key)] id: ID,
        name: RepField,
    ) -> Option<BNode> {
        let (id, _, _, _) = USERS.iter().find(|(u, _, _, _)| *u == id.as_str())?;
        Some(BNode {
            id: (*id).into(),
            name: js(name),
        })
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
    pub const ANOTHER_USERS: &str = "query { anotherUsers { id name username } }";
    pub const USERS: &str = "query { users { id name username } }";
    pub const ANOTHER_USERS_AGE: &str = "query { anotherUsers { ... on User { age } } }";
    pub const USERS_AGE: &str = "query { users { ... on User { age } } }";
    pub const ANOTHER_USERS_IN_AND_OUT_OF_A_FRAGMENT: &str =
        "query { anotherUsers { ... on User { age id name username } id name } }";
    pub const USERS_IN_AND_OUT_OF_A_FRAGMENT: &str =
        "query { users { ... on User { age id name username } id name } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[
        ANOTHER_USERS,
        USERS,
        ANOTHER_USERS_AGE,
        USERS_AGE,
        ANOTHER_USERS_IN_AND_OUT_OF_A_FRAGMENT,
        USERS_IN_AND_OUT_OF_A_FRAGMENT,
    ];
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
