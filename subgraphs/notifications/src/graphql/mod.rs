//! The notifications subgraph's GraphQL schema (Federation v2): it extends auth's
//! `User @key(fields: "id")` with the user's notifications, and adds the mutations and
//! the `notificationAdded` subscription.

mod mutation;
mod query;
mod subscription;
mod types;

use std::sync::Arc;

use async_graphql::{Schema, SchemaBuilder};
use service_kit::graphql::{ApiError, ApiResult, Observability};

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;
pub use types::*;

use crate::service::NotificationService;

pub type NotificationsSchema = Schema<Query, Mutation, Subscription>;

/// The schema without its runtime data, so the SDL can be printed without Redis.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    service_kit::graphql::traced(
        Schema::build(Query, Mutation, Subscription)
            .enable_federation()
            .enable_subscription_in_federation()
            .extension(Observability::new("notifications")),
    )
}

/// The federation SDL, as `_service { sdl }` serves it.
pub fn sdl() -> String {
    service_kit::federation::sdl(&schema_builder().finish())
}

fn parse_user_id(id: &async_graphql::ID) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id.as_str())
        .map_err(|_| ApiError::BadUserInput("id is not a valid user id".into()))
}

fn service<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a NotificationService> {
    Ok(ctx.data::<Arc<NotificationService>>()?.as_ref())
}
