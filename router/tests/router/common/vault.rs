//! The "vault" fixture, for the router's authorization directives: `@authenticated`,
//! `@requiresScopes` and `@policy` on root fields, object fields, an interface
//! implementation's field, an enum type and a mutation and subscription; "ledger" adds an
//! entity field that needs a scope, so a test can tell that a denied field never reached
//! its subgraph. Each subgraph counts the requests it served.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use async_graphql::{Context, Enum, ID, Interface, Object, Schema, SimpleObject, Subscription};
use futures::Stream;
use service_kit::federation::{authenticated, policy};

/// Requests a fixture subgraph served.
#[derive(Clone, Default)]
pub struct Hits(pub Arc<AtomicUsize>);

impl Hits {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn hit(ctx: &Context<'_>) {
    if let Ok(hits) = ctx.data::<Hits>() {
        hits.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Clearance of an account; only signed-in callers may see it.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(directive = authenticated::apply())]
pub enum Level {
    Public,
    Secret,
}

/// An account.
#[derive(SimpleObject, Clone)]
pub struct Account {
    pub id: ID,
    pub name: String,
    /// Support staff only.
    #[graphql(directive = policy::apply(vec![vec!["support".into()]]))]
    pub email: Option<String>,
    pub level: Level,
    /// Present everywhere: what `label` is on the interface.
    pub label: Option<String>,
}

/// A document.
#[derive(SimpleObject, Clone)]
pub struct Document {
    pub id: ID,
    pub title: String,
    /// Needs the `classified` scope.
    #[graphql(requires_scopes = "classified")]
    pub classified: Option<String>,
    /// On documents, the label is classified too: so is `Node.label`.
    #[graphql(requires_scopes = "classified")]
    pub label: Option<String>,
}

/// Anything with an id.
#[derive(Interface, Clone)]
#[graphql(
    field(name = "id", ty = "&ID"),
    field(name = "label", ty = "&Option<String>")
)]
pub enum Node {
    Account(Account),
    Document(Document),
}

fn account(id: &str) -> Account {
    Account {
        id: ID(id.into()),
        name: format!("account {id}"),
        email: Some(format!("{id}@example.com")),
        level: Level::Secret,
        label: Some(format!("label {id}")),
    }
}

pub struct VaultQuery;

#[Object(name = "Query")]
impl VaultQuery {
    /// Anyone may read this.
    async fn public(&self, ctx: &Context<'_>) -> &'static str {
        hit(ctx);
        "open"
    }

    /// The signed-in account.
    #[graphql(directive = authenticated::apply())]
    async fn me(&self) -> Option<Account> {
        Some(account("1"))
    }

    /// Every account (the `admin` scope).
    #[graphql(requires_scopes = "admin")]
    async fn accounts(&self) -> Vec<Account> {
        vec![account("1"), account("2")]
    }

    /// Some nodes.
    async fn nodes(&self) -> Vec<Node> {
        vec![
            Node::Account(account("1")),
            Node::Document(Document {
                id: ID("d1".into()),
                title: "plans".into(),
                classified: Some("the plans".into()),
                label: Some("top secret".into()),
            }),
        ]
    }

    #[graphql(entity)]
    async fn find_account_by_id(&self, id: ID) -> Account {
        account(&id)
    }
}

pub struct VaultMutation;

#[Object(name = "Mutation")]
impl VaultMutation {
    /// Signed-in callers only; counts the calls that reached the subgraph.
    #[graphql(directive = authenticated::apply())]
    async fn set_motto(&self, ctx: &Context<'_>, motto: String) -> String {
        hit(ctx);
        motto
    }
}

pub struct VaultSubscription;

#[Subscription(name = "Subscription")]
impl VaultSubscription {
    /// Signed-in callers only.
    #[graphql(directive = authenticated::apply())]
    async fn ticks(&self) -> impl Stream<Item = i32> {
        futures::stream::iter([1, 2, 3])
    }
}

pub type VaultSchema = Schema<VaultQuery, VaultMutation, VaultSubscription>;

pub fn vault_schema(hits: Hits) -> VaultSchema {
    Schema::build(VaultQuery, VaultMutation, VaultSubscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .data(hits)
        .finish()
}

/// An account's money, from the ledger.
#[derive(SimpleObject)]
#[graphql(name = "Account")]
pub struct LedgerAccount {
    pub id: ID,
    /// Needs the `finance` scope.
    #[graphql(requires_scopes = "finance")]
    pub balance: Option<i32>,
}

pub struct LedgerQuery;

#[Object(name = "Query")]
impl LedgerQuery {
    #[graphql(entity)]
    async fn find_account_by_id(&self, ctx: &Context<'_>, id: ID) -> LedgerAccount {
        hit(ctx);
        LedgerAccount {
            id,
            balance: Some(42),
        }
    }
}

pub type LedgerSchema =
    Schema<LedgerQuery, async_graphql::EmptyMutation, async_graphql::EmptySubscription>;

pub fn ledger_schema(hits: Hits) -> LedgerSchema {
    Schema::build(
        LedgerQuery,
        async_graphql::EmptyMutation,
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .data(hits)
    .finish()
}

/// Both subgraphs' SDLs, with the access directives imported as the platform's are.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        (
            "vault",
            service_kit::federation::sdl(&vault_schema(Hits::default())),
        ),
        (
            "ledger",
            service_kit::federation::sdl(&ledger_schema(Hits::default())),
        ),
    ]
}
