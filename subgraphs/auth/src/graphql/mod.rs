//! The auth subgraph's GraphQL schema (Federation v2; owns `User @key(fields: "id")`).

mod mutation;
mod query;
mod types;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use service_kit::graphql::Observability;

pub use mutation::Mutation;
pub use query::Query;
pub use types::*;

pub type AuthSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema without its runtime data, so the SDL can be printed without a database.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    service_kit::graphql::traced(
        Schema::build(Query, Mutation, EmptySubscription)
            .enable_federation()
            .extension(Observability::new("auth")),
    )
}

/// The federation SDL, as `_service { sdl }` serves it.
pub fn sdl() -> String {
    service_kit::federation::sdl(&schema_builder().finish())
}

fn parse_id(id: &async_graphql::ID) -> service_kit::graphql::ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| {
        service_kit::graphql::ApiError::BadUserInput("id is not a valid user id".into())
    })
}

fn service<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<&'a crate::service::AuthService> {
    Ok(ctx
        .data::<std::sync::Arc<crate::service::AuthService>>()?
        .as_ref())
}
