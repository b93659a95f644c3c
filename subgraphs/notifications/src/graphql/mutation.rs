use async_graphql::{Context, ID, Object, Result};
use service_kit::graphql::identity;

use super::{
    Notification, NotificationPreference, NotificationPreferenceInput, preference_list, service,
};

/// Changing notifications and preferences.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Marks one of your notifications read. `NOT_FOUND` when you have no such notification.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn mark_notification_read(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The notification's id.")] id: ID,
    ) -> Result<Notification> {
        let caller = identity(ctx)?;
        Ok(service(ctx)?.mark_read(caller, &id).await?.into())
    }

    /// Marks all your notifications read; returns how many were unread.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> Result<i32> {
        let caller = identity(ctx)?;
        let n = service(ctx)?.mark_all_read(caller).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Turns emails of some kinds on or off (in-app notifications are always kept).
    /// Returns every kind's preference after the change.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The kinds to change; kinds not listed keep their setting.")] input: Vec<
            NotificationPreferenceInput,
        >,
    ) -> Result<Vec<NotificationPreference>> {
        let caller = identity(ctx)?;
        let changes: Vec<_> = input.iter().map(|c| (c.kind, c.email)).collect();
        let preferences = service(ctx)?.update_preferences(caller, &changes).await?;
        Ok(preference_list(&preferences))
    }
}
