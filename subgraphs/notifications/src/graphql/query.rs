use async_graphql::{Context, ID, Object, Result};
use service_kit::graphql::identity;

use super::{Notification, NotificationPreference, User, preference_list, service};

/// Reading notifications (most reads go through `User`).
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user's email preferences, one per notification kind.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn my_notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<NotificationPreference>> {
        let caller = identity(ctx)?;
        let preferences = service(ctx)?.preferences(caller, caller.user_id).await?;
        Ok(preference_list(&preferences))
    }

    /// One of the signed-in user's notifications by id; null when they have no such one.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The notification's id.")] id: ID,
    ) -> Result<Option<Notification>> {
        let caller = identity(ctx)?;
        Ok(service(ctx)?
            .notification(caller, &id)
            .await?
            .map(Into::into))
    }

    /// Resolves `User` references from other subgraphs; each field checks who may see it.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}
