use std::sync::Arc;

use async_graphql::{Context, Result, Subscription as SubscriptionObject};
use futures::{Stream, StreamExt};
use service_kit::graphql::identity;

use super::Notification;
use crate::live::LiveHub;

/// Live updates over a websocket (`graphql-transport-ws`, authenticated by the
/// `connection_init` payload `{"Authorization": "Bearer <token>"}`).
pub struct Subscription;

#[SubscriptionObject]
impl Subscription {
    /// The signed-in user's new notifications, as they are created.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Notification> + use<>> {
        let caller = identity(ctx)?;
        let hub = ctx.data::<Arc<LiveHub>>()?;
        Ok(hub.subscribe(caller.user_id).map(Notification::from))
    }
}
