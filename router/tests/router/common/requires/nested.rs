//! The audit's `nested-requires` suite (in older versions of the audit only): service2's
//! `totalOrdersPrices` and `aggregatedOrdersByStatus` require `userOrders { id }`, a list that
//! service3 computes from a field it requires itself, service1's `lastName`. service3 throws
//! `LastName is required` without it, and service2 answers an error unless the representation's
//! `userOrders` is an array.
//!
//! None of the three subgraphs has a reference resolver for `User`, so Apollo's default returns
//! the representation itself: the entity resolvers here build the user from the representation
//! alone.

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use serde_json::Value;

use super::{Js, RepField, federation_sdl, js, non_null, router_config, to_js_string, truthy};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-nested";

// ---------------------------------------------------------------- service1

/// A user as service1, the owner of names, sees it.
pub struct Service1User {
    id: ID,
    first_name: Option<String>,
    last_name: Option<String>,
    address: Option<String>,
}

/// A user.
#[Object(name = "User")]
impl Service1User {
    /// The user's key.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The user's first name.
    async fn first_name(&self) -> async_graphql::Result<&str> {
        non_null(self.first_name.as_deref(), "User.firstName")
    }

    /// The user's last name.
    async fn last_name(&self) -> async_graphql::Result<&str> {
        non_null(self.last_name.as_deref(), "User.lastName")
    }

    /// Where the user lives.
    async fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
}

pub struct Service1Query;

/// service1's root fields.
#[Object(name = "Query")]
impl Service1Query {
    /// The one user.
    async fn user(&self) -> Option<Service1User> {
        Some(Service1User {
            id: ID("1".into()),
            first_name: Some("Jake".into()),
            last_name: Some("Dawkins".into()),
            address: Some("everywhere".into()),
        })
    }

    /// Apollo's default reference resolver: the representation itself.
    #[graphql(entity)]
    async fn find_user_by_id(
        &self,
        #[graphql(key)] id: ID,
        first_name: Option<String>,
        last_name: Option<String>,
        address: Option<String>,
    ) -> Service1User {
        Service1User {
            id,
            first_name,
            last_name,
            address,
        }
    }
}

pub fn service1_schema() -> Schema<Service1Query, EmptyMutation, EmptySubscription> {
    Schema::build(Service1Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- service2

/// A reference to an order; service3 resolves it.
#[derive(SimpleObject)]
#[graphql(name = "UserOrder", unresolvable = "id")]
pub struct Service2UserOrder {
    /// The order's key.
    pub id: ID,
}

/// A user as service2 sees it: the representation's `userOrders`.
pub struct Service2User {
    id: ID,
    user_orders: Js,
}

impl Service2User {
    /// The audit's check before answering: the representation's `userOrders` is an array.
    fn with_orders(&self, answer: i32) -> async_graphql::Result<Option<i32>> {
        match &self.user_orders {
            Some(Value::Array(_)) => Ok(Some(answer)),
            _ => Err("UserOrders is required to be an array".into()),
        }
    }
}

/// A user, extended by service2 with figures about their orders.
#[Object(name = "User")]
impl Service2User {
    /// The user's key.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The user's orders, owned by service3.
    #[graphql(external)]
    async fn user_orders(&self) -> Option<Vec<Service2UserOrder>> {
        let orders = self.user_orders.as_ref()?.as_array()?;
        Some(
            orders
                .iter()
                .filter_map(|o| o.get("id")?.as_str())
                .map(|id| Service2UserOrder { id: ID(id.into()) })
                .collect(),
        )
    }

    /// The total price of the user's orders (always 0).
    #[graphql(requires = "userOrders { id }")]
    async fn total_orders_prices(&self) -> async_graphql::Result<Option<i32>> {
        self.with_orders(0)
    }

    /// The user's orders counted by status (always 1).
    #[graphql(requires = "userOrders { id }")]
    async fn aggregated_orders_by_status(&self) -> async_graphql::Result<Option<i32>> {
        self.with_orders(1)
    }
}

pub struct Service2Query;

#[Object(name = "Query")]
impl Service2Query {
    /// Apollo's default reference resolver: the representation itself.
    #[graphql(entity)]
    async fn find_user_by_id(&self, #[graphql(key)] id: ID, user_orders: RepField) -> Service2User {
        Service2User {
            id,
            user_orders: js(user_orders),
        }
    }
}

pub fn service2_schema() -> Schema<Service2Query, EmptyMutation, EmptySubscription> {
    Schema::build(Service2Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- service3

/// An order, owned by service3.
#[derive(SimpleObject)]
#[graphql(name = "UserOrder")]
pub struct Service3UserOrder {
    /// The order's key.
    pub id: ID,
}

/// A user as service3 sees it: the representation's `lastName`.
pub struct Service3User {
    id: ID,
    last_name: Js,
}

/// A user, extended by service3 with their orders.
#[Object(name = "User")]
impl Service3User {
    /// The user's key.
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The user's last name, owned by service1.
    #[graphql(external)]
    async fn last_name(&self) -> async_graphql::Result<String> {
        non_null(
            self.last_name
                .as_ref()
                .and_then(Value::as_str)
                .map(str::to_owned),
            "User.lastName",
        )
    }

    /// The user's orders: one, whose id is the last name followed by 1.
    #[graphql(requires = "lastName")]
    async fn user_orders(&self) -> async_graphql::Result<Option<Vec<Service3UserOrder>>> {
        if !truthy(self.last_name.as_ref()) {
            return Err("LastName is required".into());
        }
        Ok(Some(vec![Service3UserOrder {
            id: ID(format!("{}1", to_js_string(self.last_name.as_ref()))),
        }]))
    }
}

pub struct Service3Query;

#[Object(name = "Query")]
impl Service3Query {
    /// Apollo's default reference resolver: the representation itself.
    #[graphql(entity)]
    async fn find_user_by_id(&self, #[graphql(key)] id: ID, last_name: RepField) -> Service3User {
        Service3User {
            id,
            last_name: js(last_name),
        }
    }

    /// Apollo's default reference resolver: the representation itself.
    #[graphql(entity)]
    async fn find_user_order_by_id(&self, id: ID) -> Service3UserOrder {
        Service3UserOrder { id }
    }
}

pub fn service3_schema() -> Schema<Service3Query, EmptyMutation, EmptySubscription> {
    Schema::build(Service3Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

/// The operations of the audit's tests of this suite: `tests/router/requires.rs` runs each with
/// the audit's expected data, `tests/router/differential.rs` runs them all through Hive Gateway
/// too.
pub mod operations {
    pub const USER_ORDERS_AGGREGATES: &str =
        "query { user { aggregatedOrdersByStatus totalOrdersPrices } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[USER_ORDERS_AGGREGATES];
}

/// Every subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        ("service1", federation_sdl(&service1_schema())),
        ("service2", federation_sdl(&service2_schema())),
        ("service3", federation_sdl(&service3_schema())),
    ]
}

/// Serves the subgraphs; a router config pointed at them.
pub async fn config() -> router::RouterConfig {
    let service1 = serve_subgraph(service1_schema()).await;
    let service2 = serve_subgraph(service2_schema()).await;
    let service3 = serve_subgraph(service3_schema()).await;
    router_config(
        FIXTURE,
        &[
            ("service1", service1),
            ("service2", service2),
            ("service3", service3),
        ],
    )
}
