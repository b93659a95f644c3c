//! The payments subgraph's GraphQL schema (Federation v2): owns `Payment @key(fields: "id")`
//! and contributes `User.payments` to the `User @key(fields: "id")` entity auth owns.

mod mutation;
mod query;
mod types;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use service_kit::graphql::Observability;

pub use mutation::Mutation;
pub use query::Query;
pub use types::*;

pub type PaymentsSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema without its runtime data, so the SDL can be printed without a database.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    service_kit::graphql::traced(
        Schema::build(Query, Mutation, EmptySubscription)
            .enable_federation()
            .extension(Observability::new("payments")),
    )
}

/// The federation SDL, as `_service { sdl }` serves it.
pub fn sdl() -> String {
    service_kit::federation::sdl(&schema_builder().finish())
}

fn parse_id(id: &async_graphql::ID, what: &str) -> service_kit::graphql::ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| {
        service_kit::graphql::ApiError::BadUserInput(format!("id is not a valid {what} id"))
    })
}

fn service<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<&'a std::sync::Arc<crate::service::PaymentService>> {
    ctx.data::<std::sync::Arc<crate::service::PaymentService>>()
}
