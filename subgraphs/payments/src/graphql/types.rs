use async_graphql::{
    ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject, connection::PageInfo,
};
use chrono::{DateTime, Utc};
use service_kit::graphql::identity;
use uuid::Uuid;

use super::service;
use crate::{
    domain::{self, PaymentStatus},
    storage::Cursor,
};

pub struct Payment(pub domain::Payment);

/// A payment from a user: an amount in a currency that moves through PENDING, PROCESSING
/// and then COMPLETED or FAILED (or is CANCELLED while PENDING, or REFUNDED once
/// COMPLETED). Visible to its owner and to ADMINs.
#[Object]
impl Payment {
    /// Stable unique identifier (UUID).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Who pays.
    async fn user(&self) -> User {
        User { id: self.0.user_id }
    }

    /// The amount in minor units of `currency` (cents for USD, yen for JPY): never a float.
    async fn amount(&self) -> i64 {
        self.0.money.amount.minor_units()
    }

    /// ISO 4217 currency code, e.g. `USD`.
    async fn currency(&self) -> &str {
        self.0.money.currency.code()
    }

    /// Where the payment is in its life.
    async fn status(&self) -> PaymentStatus {
        self.0.status
    }

    /// What the payment is for, as the payer described it.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_ref().map(|d| d.as_str())
    }

    /// The key the payment was created with; creating again with it returns this payment.
    async fn idempotency_key(&self) -> &str {
        self.0.idempotency_key.as_str()
    }

    /// Why the processor declined the payment (FAILED payments only).
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// Every status the payment has had, oldest first, starting with its creation.
    async fn history(&self) -> Vec<PaymentHistoryEntry> {
        self.0
            .history
            .iter()
            .map(PaymentHistoryEntry::from)
            .collect()
    }

    /// When the payment was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the payment last changed status.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One step of a payment's history.
#[derive(SimpleObject)]
pub struct PaymentHistoryEntry {
    /// The status the payment entered.
    pub status: PaymentStatus,
    /// The status it left; null for the creation.
    pub previous_status: Option<PaymentStatus>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it: `user:<id>` (the owner or an ADMIN) or `system:<name>` (the payment
    /// processor, or `system:user-deleted` when the account was deleted).
    pub actor: String,
    /// Why, when there is more to say (e.g. the decline reason).
    pub note: Option<String>,
}

impl From<&domain::HistoryEntry> for PaymentHistoryEntry {
    fn from(h: &domain::HistoryEntry) -> Self {
        Self {
            status: h.to,
            previous_status: h.from,
            at: h.at,
            actor: h.actor.to_string(),
            note: h.note.clone(),
        }
    }
}

pub struct User {
    pub id: Uuid,
}

/// A person with an account on the platform (owned by the auth subgraph); the payments
/// subgraph adds their payments.
#[Object]
impl User {
    /// Stable unique identifier (UUID).
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The user's payments, newest first; pages stay stable while new payments arrive.
    /// Only the user themselves and ADMINs may see them. Null (with an error) only when
    /// payments cannot answer, so that the rest of the user still arrives.
    #[graphql(directive = service_kit::federation::list_size::apply(Some(20), Some(vec!["first".into()]), Some(vec!["edges".into(), "nodes".into()]), Some(false)))]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return payments after this cursor (an `endCursor` of a previous page).")]
        after: Option<String>,
        #[graphql(desc = "Only payments in this status.")] status: Option<PaymentStatus>,
    ) -> Result<Option<PaymentConnection>> {
        let caller = identity(ctx)?;
        let page = service(ctx)?
            .payments_of(caller, self.id, first, after.as_deref(), status)
            .await?;
        let edges: Vec<PaymentEdge> = page
            .payments
            .into_iter()
            .map(|payment| PaymentEdge {
                cursor: Cursor::of(&payment).encode(),
                node: Payment(payment),
            })
            .collect();
        Ok(Some(PaymentConnection {
            page_info: PageInfo {
                has_previous_page: after.is_some(),
                has_next_page: page.has_next_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        }))
    }
}

/// One page of a user's payments, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PaymentConnection {
    /// The payments of this page with their cursors.
    pub edges: Vec<PaymentEdge>,
    /// Whether there are more pages, and the cursors to get them.
    pub page_info: PageInfo,
}

#[ComplexObject]
impl PaymentConnection {
    /// The payments of this page, without cursors.
    async fn nodes(&self) -> Vec<&Payment> {
        self.edges.iter().map(|e| &e.node).collect()
    }
}

/// A payment in a page, with the cursor that points at it.
#[derive(SimpleObject)]
pub struct PaymentEdge {
    /// Pass as `after` to get the payments after (older than) this one.
    pub cursor: String,
    /// The payment.
    pub node: Payment,
}

/// What it takes to create a payment.
#[derive(InputObject)]
pub struct CreatePaymentInput {
    /// The amount in minor units of the currency (cents for USD): 1 to 1,000,000,000.
    pub amount: i32,
    /// ISO 4217 currency code, e.g. `USD`.
    pub currency: String,
    /// What the payment is for, up to 500 characters.
    pub description: Option<String>,
    /// A key unique to this payment among yours (1 to 255 characters), so that retrying
    /// a request cannot pay twice: the same key with the same input returns the payment
    /// created first; with a different input it is a CONFLICT.
    pub idempotency_key: String,
}
