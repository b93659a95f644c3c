//! The audit's `requires-interface` suite: a's `User.city` requires b's interface-typed
//! `address { id }`, and `User.country` requires `address { ... on WorkAddress { id } }`, which
//! the executor must apply to the address's runtime type: u1 lives at a `HomeAddress`, so the
//! representation for `country` carries no address id and a answers null.
//!
//! a's reference resolver keeps the user's own address whenever the representation has any
//! (truthy) `address.id`, so `country` is non-null exactly when the router sent an id.
//!
//! The audit publishes only subgraph a; b and the data are reconstructed (from other ports of the
//! audit and the expected results): b owns `User.address` and adds a `SecondAddress` type, u1
//! lives at the HomeAddress a1 and u2 at the WorkAddress a2.

use async_graphql::{
    EmptyMutation, EmptySubscription, ID, Interface, Object, Schema, SimpleObject,
};

use super::{RepField, federation_sdl, get, js, router_config, truthy};
use crate::common::serve_subgraph;

/// The fixture folder under `tests/fixtures`.
pub const FIXTURE: &str = "requires-interface";

/// (id, name, address id)
const USERS: [(&str, &str, &str); 2] = [("u1", "u1-name", "a1"), ("u2", "u2-name", "a2")];

struct AddressData {
    work: bool,
    id: &'static str,
    city: &'static str,
    country: &'static str,
}

const ADDRESSES: [AddressData; 2] = [
    AddressData {
        work: false,
        id: "a1",
        city: "a1-city",
        country: "a1-country",
    },
    AddressData {
        work: true,
        id: "a2",
        city: "a2-city",
        country: "a2-country",
    },
];

fn address(id: &str) -> Option<&'static AddressData> {
    ADDRESSES.iter().find(|a| a.id == id)
}

// ---------------------------------------------------------------- a

/// A home address.
#[derive(SimpleObject)]
#[graphql(name = "HomeAddress")]
pub struct AHomeAddress {
    /// The address's key.
    pub id: ID,
    /// The address's city.
    #[graphql(shareable)]
    pub city: Option<String>,
}

/// A work address.
#[derive(SimpleObject)]
#[graphql(name = "WorkAddress")]
pub struct AWorkAddress {
    /// The address's key.
    pub id: ID,
    /// The address's city.
    #[graphql(shareable)]
    pub city: Option<String>,
}

/// Where a user lives or works.
#[derive(Interface)]
#[graphql(
    name = "Address",
    field(name = "id", ty = "&ID", desc = "The address's key.")
)]
pub enum AAddress {
    HomeAddress(AHomeAddress),
    WorkAddress(AWorkAddress),
}

/// A user as a sees it: the address (an id) only when the representation had an address id.
pub struct AUser {
    id: String,
    name: String,
    address_id: Option<String>,
}

/// A user, extended by a with fields computed from the user's address.
#[Object(name = "User")]
impl AUser {
    /// The user's key.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The user's name.
    #[graphql(shareable)]
    async fn name(&self) -> &str {
        &self.name
    }

    /// The user's address, owned by b.
    #[graphql(external)]
    async fn address(&self) -> Option<AAddress> {
        let address = address(self.address_id.as_deref()?)?;
        let (id, city) = (ID(address.id.into()), Some(address.city.into()));
        Some(if address.work {
            AAddress::WorkAddress(AWorkAddress { id, city })
        } else {
            AAddress::HomeAddress(AHomeAddress { id, city })
        })
    }

    /// The city of the user's address; fails, like the audit's resolver, without an address.
    #[graphql(requires = "address { id }")]
    async fn city(&self) -> async_graphql::Result<Option<String>> {
        let Some(address_id) = &self.address_id else {
            return Err("Cannot read properties of undefined (reading 'id')".into());
        };
        Ok(address(address_id).map(|a| a.city.into()))
    }

    /// The country of the user's address, if it is a work address.
    #[graphql(requires = "address { ... on WorkAddress { id } }")]
    async fn country(&self) -> Option<String> {
        address(self.address_id.as_deref()?).map(|a| a.country.into())
    }
}

pub struct AQuery;

/// a's root fields.
#[Object(name = "Query")]
impl AQuery {
    /// The user u1, who lives at a home address.
    async fn a(&self) -> Option<AUser> {
        Some(AUser {
            id: "u1".into(),
            name: "u1-name".into(),
            address_id: None,
        })
    }

    /// The audit's `User.__resolveReference`: the user's own address when the representation
    /// has a truthy `address.id` (whatever it is), none otherwise.
    #[graphql(entity)]
    async fn find_user_by_id(&self, #[graphql(key)] id: ID, address: RepField) -> Option<AUser> {
        let (id, name, address_id) = USERS.iter().find(|(u, _, _)| *u == id.as_str())?;
        let address = js(address);
        let has_id = get(address.as_ref(), "id").is_ok_and(truthy);
        Some(AUser {
            id: (*id).into(),
            name: (*name).into(),
            address_id: has_id.then(|| (*address_id).into()),
        })
    }

    /// The audit's `HomeAddress.__resolveReference`: whatever address has the id.
    #[graphql(entity)]
    async fn find_home_address_by_id(&self, id: ID) -> Option<AHomeAddress> {
        address(&id).map(|a| AHomeAddress {
            id: ID(a.id.into()),
            city: Some(a.city.into()),
        })
    }

    /// The audit's `WorkAddress.__resolveReference`: whatever address has the id.
    #[graphql(entity)]
    async fn find_work_address_by_id(&self, id: ID) -> Option<AWorkAddress> {
        address(&id).map(|a| AWorkAddress {
            id: ID(a.id.into()),
            city: Some(a.city.into()),
        })
    }
}

pub fn a_schema() -> Schema<AQuery, EmptyMutation, EmptySubscription> {
    Schema::build(AQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- b

/// A home address.
#[derive(SimpleObject)]
#[graphql(name = "HomeAddress")]
pub struct BHomeAddress {
    /// The address's key.
    pub id: ID,
    /// The address's city.
    #[graphql(shareable)]
    pub city: Option<String>,
}

/// A work address.
#[derive(SimpleObject)]
#[graphql(name = "WorkAddress")]
pub struct BWorkAddress {
    /// The address's key.
    pub id: ID,
    /// The address's city.
    #[graphql(shareable)]
    pub city: Option<String>,
}

/// A second address (no user of the suite has one).
#[derive(SimpleObject)]
#[graphql(name = "SecondAddress")]
pub struct BSecondAddress {
    /// The address's key.
    pub id: ID,
    /// The address's city.
    #[graphql(shareable)]
    pub city: Option<String>,
}

/// Where a user lives or works.
#[derive(Interface)]
#[graphql(
    name = "Address",
    field(name = "id", ty = "&ID", desc = "The address's key.")
)]
#[allow(clippy::enum_variant_names)]
pub enum BAddress {
    HomeAddress(BHomeAddress),
    WorkAddress(BWorkAddress),
    SecondAddress(BSecondAddress),
}

/// A user as b, the owner of addresses, sees it.
#[derive(SimpleObject)]
#[graphql(name = "User", complex)]
pub struct BUser {
    /// The user's key.
    pub id: ID,
    /// The user's name.
    #[graphql(shareable)]
    pub name: String,
    #[graphql(skip)]
    pub address_id: &'static str,
}

#[async_graphql::ComplexObject]
impl BUser {
    /// The user's address.
    #[graphql(shareable)]
    async fn address(&self) -> Option<BAddress> {
        let address = address(self.address_id)?;
        let (id, city) = (ID(address.id.into()), Some(address.city.into()));
        Some(if address.work {
            BAddress::WorkAddress(BWorkAddress { id, city })
        } else {
            BAddress::HomeAddress(BHomeAddress { id, city })
        })
    }
}

fn b_user(id: &str) -> Option<BUser> {
    let (id, name, address_id) = USERS.iter().find(|(u, _, _)| *u == id)?;
    Some(BUser {
        id: ID((*id).into()),
        name: (*name).into(),
        address_id,
    })
}

pub struct BQuery;

/// b's root fields.
#[Object(name = "Query")]
impl BQuery {
    /// The user u2, who works at a work address.
    async fn b(&self) -> Option<BUser> {
        b_user("u2")
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> Option<BUser> {
        b_user(&id)
    }

    #[graphql(entity)]
    async fn find_home_address_by_id(&self, id: ID) -> Option<BHomeAddress> {
        address(&id).map(|a| BHomeAddress {
            id: ID(a.id.into()),
            city: Some(a.city.into()),
        })
    }

    #[graphql(entity)]
    async fn find_work_address_by_id(&self, id: ID) -> Option<BWorkAddress> {
        address(&id).map(|a| BWorkAddress {
            id: ID(a.id.into()),
            city: Some(a.city.into()),
        })
    }

    #[graphql(entity)]
    async fn find_second_address_by_id(&self, id: ID) -> BSecondAddress {
        BSecondAddress { id, city: None }
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
    pub const A_CITY: &str = "query { a { city } }";
    pub const B_CITY: &str = "query { b { city } }";
    pub const A_COUNTRY: &str = "query { a { country } }";
    pub const A_ADDRESS: &str = "query { a { address { __typename id } } }";
    pub const B_ADDRESS: &str = "query { b { address { __typename id } } }";

    /// Every operation above.
    pub const ALL: &[&str] = &[A_CITY, B_CITY, A_COUNTRY, A_ADDRESS, B_ADDRESS];
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
