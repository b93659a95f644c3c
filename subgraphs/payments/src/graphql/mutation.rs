use async_graphql::{Context, ID, Object, Result};
use service_kit::graphql::identity;

use super::{CreatePaymentInput, Payment, parse_id, service};
use crate::service::CreatePayment;

pub struct Mutation;

/// Creating payments and moving them through their life.
#[Object]
impl Mutation {
    /// Creates a PENDING payment of yours. Safe to retry with the same idempotency key.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn create_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The payment to create.")] input: CreatePaymentInput,
    ) -> Result<Payment> {
        let caller = identity(ctx)?;
        let payment = service(ctx)?
            .create(
                caller,
                CreatePayment {
                    amount: i64::from(input.amount),
                    currency: input.currency,
                    description: input.description,
                    idempotency_key: input.idempotency_key,
                },
            )
            .await?;
        Ok(Payment(payment))
    }

    /// Processes a PENDING payment and returns it in its final state, COMPLETED or FAILED.
    /// When several requests race for one payment, exactly one processes it and the
    /// others get a CONFLICT.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn process_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the payment to process.")] id: ID,
    ) -> Result<Payment> {
        let caller = identity(ctx)?;
        let id = parse_id(&id, "payment")?;
        Ok(Payment(service(ctx)?.process(caller, id).await?))
    }

    /// Cancels a PENDING payment.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn cancel_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the payment to cancel.")] id: ID,
    ) -> Result<Payment> {
        let caller = identity(ctx)?;
        let id = parse_id(&id, "payment")?;
        Ok(Payment(service(ctx)?.cancel(caller, id).await?))
    }

    /// Refunds a COMPLETED payment.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the payment to refund.")] id: ID,
    ) -> Result<Payment> {
        let caller = identity(ctx)?;
        let id = parse_id(&id, "payment")?;
        Ok(Payment(service(ctx)?.refund(caller, id).await?))
    }
}
