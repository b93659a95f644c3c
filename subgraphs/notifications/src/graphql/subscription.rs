use std::{sync::Arc, time::Duration};

use async_graphql::{Context, Result, Subscription as SubscriptionObject};
use futures::{Stream, StreamExt};
use service_kit::graphql::identity;

use super::Notification;
use crate::live::LiveHub;

pub struct Subscription;

/// Live updates over a websocket (`graphql-transport-ws`), authenticated by the
/// `connection_init` payload `{"Authorization": "Bearer <token>"}` or, per operation, by
/// `extensions.headers.authorization` (how the router shares one connection among users).
#[SubscriptionObject]
impl Subscription {
    /// The signed-in user's new notifications, as they are created. The subscription
    /// completes when the connection's access token expires; subscribe again on a new
    /// connection with a fresh token.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Notification> + use<>> {
        let caller = identity(ctx)?;
        let hub = ctx.data::<Arc<LiveHub>>()?;
        super::service(ctx)?.learn_contact(caller).await;
        let remaining = caller.claims.exp - chrono::Utc::now().timestamp();
        let expiry = tokio::time::sleep(Duration::from_secs(u64::try_from(remaining).unwrap_or(0)));
        Ok(hub
            .subscribe(caller.user_id)
            .map(Notification::from)
            .take_until(expiry))
    }
}
