use async_graphql::{Context, ID, Object, Result};
use service_kit::graphql::identity;

use super::{Payment, User, parse_id, service};

pub struct Query;

/// Reading payments.
#[Object]
impl Query {
    /// A payment by id: yours, or anyone's if you are an ADMIN. NOT_FOUND when no such
    /// payment exists, FORBIDDEN when it is someone else's.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The payment's id.")] id: ID,
    ) -> Result<Option<Payment>> {
        let caller = identity(ctx)?;
        let id = parse_id(&id, "payment")?;
        Ok(Some(Payment(service(ctx)?.payment(caller, id).await?)))
    }

    /// Resolves `Payment` references from other subgraphs (same rule as `payment`).
    #[graphql(entity)]
    async fn find_payment_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        self.payment(ctx, id).await
    }

    /// Resolves `User` references, so that `User.payments` can be added to users from
    /// auth. The payments themselves are authorized field by field.
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<User> {
        identity(ctx)?;
        Ok(User {
            id: parse_id(&id, "user")?,
        })
    }
}
