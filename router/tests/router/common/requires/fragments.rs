//! The audit's `requires-with-fragments` suite: b's `Entity.requirer` requires a's abstract
//! `data: Foo` with inline fragments on its implementations (see below), and `requirer2`
//! requires `data { ... on Foo { foo } }`. `Baz` is `@inaccessible`
//! in b, so it is not in the API schema and a `data` that is a `Baz` reaches clients as null.
//!
//! b's reference resolver spreads the representation over its own entity (whose `data` is the
//! id of a `Baz` or `Qux`, a string), so a representation without `data` answers
//! `undefined_requirer`, and one whose `data` lacks `foo` answers that too.
//!
//! The suite's data file is not published with the audit; it is reconstructed from the
//! resolvers and the expected results (e1 has the Baz b1, e2 the Qux q1).
//!
//! Not quite the audit's SDL: the audit's `requirer` requires
//! `data { foo ... on Bar { bar ... on Baz { baz } ... on Qux { qux } } }`, which
//! `@theguild/federation-composition` 0.27.0 (the newest) refuses to compose, the audit's own SDL
//! included: its satisfiability check cannot satisfy a `@requires` with a fragment on an
//! interface that implements another interface (`... on Bar`). So `requirer` requires the same
//! thing with the fragment expanded into `Bar`'s implementations,
//! `data { foo ... on Baz { bar baz } ... on Qux { bar qux } }`, which is also what Hive's
//! planner turns the audit's selection into; the representations are the same.
//! async-graphql prints `interface Bar implements Foo` only when `Bar` is listed as one of
//! `Foo`'s members, so `Foo` lists it (no `Foo` value is ever a `Bar` itself).

use async_graphql::{
    EmptyMutation, EmptySubscription, ID, Interface, Object, Schema, SimpleObject,
};
use serde_json::Value;

use super::{Js, RepField, federation_sdl, get, js, router_config, to_js_string};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-fragments";

/// (entity id, the id of its `data`)
const ENTITIES: [(&str, &str); 2] = [("e1", "b1"), ("e2", "q1")];

/// The `data` of an entity, by the entity's id: a's and b's `Entity.data` resolver.
fn data_of<Baz, Qux, Foo>(
    entity_id: &str,
    make_baz: impl Fn(&'static str, &'static str, &'static str) -> Baz,
    make_qux: impl Fn(&'static str, &'static str, &'static str) -> Qux,
) -> async_graphql::Result<Option<Foo>>
where
    Foo: From<Baz> + From<Qux>,
{
    let Some((_, data)) = ENTITIES.iter().find(|(id, _)| *id == entity_id) else {
        return Ok(None);
    };
    match *data {
        "b1" => Ok(Some(make_baz("b1-foo", "b1-bar", "b1-baz").into())),
        "q1" => Ok(Some(make_qux("q1-foo", "q1-bar", "q1-qux").into())),
        _ => Err("Invalid data".into()),
    }
}

// ---------------------------------------------------------------- a

/// A `Bar` with a `baz`.
#[derive(Clone, SimpleObject)]
#[graphql(name = "Baz", shareable)]
pub struct ABaz {
    /// Its foo.
    pub foo: String,
    /// Its bar.
    pub bar: String,
    /// Its baz.
    pub baz: String,
}

/// A `Bar` with a `qux`.
#[derive(Clone, SimpleObject)]
#[graphql(name = "Qux", shareable)]
pub struct AQux {
    /// Its foo.
    pub foo: String,
    /// Its bar.
    pub bar: String,
    /// Its qux.
    pub qux: String,
}

/// Anything with a foo.
#[derive(Interface)]
#[graphql(name = "Foo", field(name = "foo", ty = "&String", desc = "Its foo."))]
pub enum AFoo {
    Baz(ABaz),
    Qux(AQux),
    Bar(ABar),
}

/// A foo with a bar.
// Both fields are `&String`, which clippy takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    name = "Bar",
    field(name = "foo", ty = "&String", desc = "Its foo."),
    field(name = "bar", ty = "&String", desc = "Its bar.")
)]
pub enum ABar {
    Baz(ABaz),
    Qux(AQux),
}

/// The audit's field names.
#[allow(clippy::disallowed_names)]
fn a_baz(foo: &str, bar: &str, baz: &str) -> ABaz {
    ABaz {
        foo: foo.into(),
        bar: bar.into(),
        baz: baz.into(),
    }
}

/// The audit's field names.
#[allow(clippy::disallowed_names)]
fn a_qux(foo: &str, bar: &str, qux: &str) -> AQux {
    AQux {
        foo: foo.into(),
        bar: bar.into(),
        qux: qux.into(),
    }
}

/// An entity as a, the owner of its data, sees it.
pub struct AEntity {
    id: String,
}

/// An entity with some data.
#[Object(name = "Entity")]
impl AEntity {
    /// The entity's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The entity's data: a `Baz` or a `Qux`.
    async fn data(&self) -> async_graphql::Result<Option<AFoo>> {
        data_of(&self.id, a_baz, a_qux)
    }
}

pub struct AQuery;

/// a's root fields.
#[Object(name = "Query", shareable)]
impl AQuery {
    /// The entity e2.
    async fn a(&self) -> Option<AEntity> {
        Some(AEntity { id: "e2".into() })
    }

    #[graphql(entity)]
    async fn find_entity_by_id(&self, id: ID) -> Option<AEntity> {
        ENTITIES
            .iter()
            .find(|(e, _)| *e == id.as_str())
            .map(|(e, _)| AEntity { id: (*e).into() })
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A `Bar` with a `baz`; hidden from clients.
#[derive(Clone, SimpleObject)]
#[graphql(name = "Baz", shareable, inaccessible)]
pub struct BBaz {
    /// Its foo.
    pub foo: String,
    /// Its bar.
    pub bar: String,
    /// Its baz.
    pub baz: String,
}

/// A `Bar` with a `qux`.
#[derive(Clone, SimpleObject)]
#[graphql(name = "Qux", shareable)]
pub struct BQux {
    /// Its foo.
    pub foo: String,
    /// Its bar.
    pub bar: String,
    /// Its qux.
    pub qux: String,
}

/// Anything with a foo.
#[derive(Interface)]
#[graphql(name = "Foo", field(name = "foo", ty = "&String", desc = "Its foo."))]
pub enum BFoo {
    Baz(BBaz),
    Qux(BQux),
    Bar(BBar),
}

/// A foo with a bar.
// Both fields are `&String`, which clippy takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    name = "Bar",
    field(name = "foo", ty = "&String", desc = "Its foo."),
    field(name = "bar", ty = "&String", desc = "Its bar.")
)]
pub enum BBar {
    Baz(BBaz),
    Qux(BQux),
}

/// The audit's field names.
#[allow(clippy::disallowed_names)]
fn b_baz(foo: &str, bar: &str, baz: &str) -> BBaz {
    BBaz {
        foo: foo.into(),
        bar: bar.into(),
        baz: baz.into(),
    }
}

/// The audit's field names.
#[allow(clippy::disallowed_names)]
fn b_qux(foo: &str, bar: &str, qux: &str) -> BQux {
    BQux {
        foo: foo.into(),
        bar: bar.into(),
        qux: qux.into(),
    }
}

/// An entity as b sees it: its own record (whose `data` is the id of a `Baz` or `Qux`) with the
/// representation spread over it, as the audit's `{ ...entity, ...key }`.
pub struct BEntity {
    id: String,
    data: Js,
}

impl BEntity {
    fn stored(id: &str) -> Option<Self> {
        let (id, data) = ENTITIES.iter().find(|(e, _)| *e == id)?;
        Some(Self {
            id: (*id).into(),
            data: Some(Value::String((*data).into())),
        })
    }

    /// `entity.data.foo + suffix`, after the audit's check that the entity has a `data` field.
    fn data_foo(&self, suffix: &str) -> async_graphql::Result<String> {
        let Some(data) = &self.data else {
            return Err("Expected entity to have a data field".into());
        };
        Ok(format!("{}{suffix}", to_js_string(get(Some(data), "foo")?)))
    }
}

/// An entity with some data, extended by b with fields computed from it.
#[Object(name = "Entity")]
impl BEntity {
    /// The entity's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The entity's data, owned by a.
    #[graphql(external)]
    async fn data(&self) -> async_graphql::Result<Option<BFoo>> {
        data_of(&self.id, b_baz, b_qux)
    }

    /// The data's foo, suffixed with `_requirer`.
    #[graphql(requires = "data { foo ... on Baz { bar baz } ... on Qux { bar qux } }")]
    async fn requirer(&self) -> async_graphql::Result<String> {
        self.data_foo("_requirer")
    }

    /// The data's foo, suffixed with `_requirer2`.
    #[graphql(requires = "data { ... on Foo { foo } }")]
    async fn requirer2(&self) -> async_graphql::Result<String> {
        self.data_foo("_requirer2")
    }
}

pub struct BQuery;

/// b's root fields.
#[Object(name = "Query", shareable)]
impl BQuery {
    /// The entity e1, whose data is a `Baz`.
    async fn b(&self) -> Option<BEntity> {
        BEntity::stored("e1")
    }

    /// The entity e2, whose data is a `Qux`.
    async fn bb(&self) -> Option<BEntity> {
        BEntity::stored("e2")
    }

    /// The audit's `Entity.__resolveReference`: `{ ...entity, ...key }`.
    #[graphql(entity)]
    async fn find_entity_by_id(&self, #[graphql(key)] id: ID, data: RepField) -> Option<BEntity> {
        let mut entity = BEntity::stored(&id)?;
        if !data.is_undefined() {
            entity.data = js(data);
        }
        Some(entity)
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
    pub const B_AND_BB_DATA_TYPENAME: &str =
        "query { b { id data { __typename } } bb { id data { __typename } } }";
    pub const A_REQUIRER: &str = "query { a { requirer } }";
    pub const A_DATA_AND_REQUIRER: &str = "query { a { data { __typename } requirer } }";
    pub const BB_DATA_AND_REQUIRER: &str = "query { bb { data { __typename } requirer } }";
    pub const B_DATA_AND_REQUIRER: &str = "query { b { data { __typename } requirer } }";
    pub const BB_DATA_AND_REQUIRER2: &str = "query { bb { data { __typename } requirer2 } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[
        B_AND_BB_DATA_TYPENAME,
        A_REQUIRER,
        A_DATA_AND_REQUIRER,
        BB_DATA_AND_REQUIRER,
        B_DATA_AND_REQUIRER,
        BB_DATA_AND_REQUIRER2,
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
