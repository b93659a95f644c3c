use async_graphql::{
    ComplexObject, Context, ID, InputObject, Result, SimpleObject, connection::PageInfo,
};
use chrono::{DateTime, Utc};
use service_kit::graphql::{ApiError, identity};

use super::{parse_user_id, service};
use crate::domain::{self, NotificationKind, PageCursor, Preferences};

const DEFAULT_PAGE: i32 = 20;

/// Something that happened to the user, shown in the app (and, for most kinds, emailed).
#[derive(SimpleObject, Clone)]
pub struct Notification {
    /// Stable unique identifier.
    pub id: ID,
    /// What the notification is about.
    pub kind: NotificationKind,
    /// A short headline.
    pub title: String,
    /// One paragraph of plain text.
    pub body: String,
    /// True once the user marked it read.
    pub read: bool,
    /// When the notification was created.
    pub created_at: DateTime<Utc>,
}

impl From<domain::Notification> for Notification {
    fn from(n: domain::Notification) -> Self {
        Self {
            id: ID(n.id.to_string()),
            kind: n.kind,
            title: n.title,
            body: n.body,
            read: n.read,
            created_at: n.created_at,
        }
    }
}

/// A page of notifications, newest first (Relay cursor connection).
#[derive(SimpleObject)]
pub struct NotificationConnection {
    /// The notifications of this page, each with its cursor.
    pub edges: Vec<NotificationEdge>,
    /// The notifications of this page.
    pub nodes: Vec<Notification>,
    /// Whether more pages follow, and the cursors to get them.
    pub page_info: PageInfo,
}

/// A notification and its position in the list.
#[derive(SimpleObject)]
pub struct NotificationEdge {
    /// The notification.
    pub node: Notification,
    /// Pass as `after` to get the notifications older than this one.
    pub cursor: String,
}

/// Whether the user gets emails of one kind.
#[derive(SimpleObject, Clone)]
pub struct NotificationPreference {
    /// The kind this preference is about.
    pub kind: NotificationKind,
    /// True when notifications of this kind are also emailed (the default).
    pub email: bool,
}

/// Every kind's preference, in a fixed order.
pub fn preference_list(preferences: &Preferences) -> Vec<NotificationPreference> {
    NotificationKind::ALL
        .into_iter()
        .map(|kind| NotificationPreference {
            kind,
            email: preferences.email_enabled(kind),
        })
        .collect()
}

/// A change to one kind's email preference.
#[derive(InputObject)]
pub struct NotificationPreferenceInput {
    /// The kind to change.
    pub kind: NotificationKind,
    /// True to receive emails of this kind, false to stop them.
    pub email: bool,
}

/// A platform user (owned by the auth subgraph), with their notifications.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    /// The user's id (UUID).
    pub id: ID,
}

#[ComplexObject]
impl User {
    /// The user's notifications, newest first (the user themselves or an ADMIN).
    /// Relay cursor pagination. Null (with an error) only when notifications cannot answer,
    /// so that the rest of the user still arrives.
    #[graphql(directive = service_kit::federation::list_size::apply(Some(DEFAULT_PAGE), Some(vec!["first".into()]), Some(vec!["edges".into(), "nodes".into()]), Some(false)))]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(
            desc = "Return notifications older than this cursor (an `endCursor` of a previous page)."
        )]
        after: Option<String>,
        #[graphql(desc = "Only notifications not yet read (default false).")] unread_only: Option<
            bool,
        >,
    ) -> Result<Option<NotificationConnection>> {
        let caller = identity(ctx)?;
        let user = parse_user_id(&self.id)?;
        if caller.user_id == user {
            service(ctx)?.learn_contact(caller).await;
        }
        let first = usize::try_from(first.unwrap_or(DEFAULT_PAGE))
            .map_err(|_| ApiError::BadUserInput("first must be between 1 and 100".into()))?;
        let page = service(ctx)?
            .notifications(
                caller,
                user,
                first,
                after.as_deref(),
                unread_only.unwrap_or(false),
            )
            .await?;
        let edges: Vec<NotificationEdge> = page
            .items
            .into_iter()
            .map(|n| NotificationEdge {
                cursor: PageCursor(n.id).encode(),
                node: n.into(),
            })
            .collect();
        let connection = NotificationConnection {
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            page_info: PageInfo {
                has_previous_page: after.is_some(),
                has_next_page: page.has_next_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        };
        Ok(Some(connection))
    }

    /// How many of the user's notifications are unread. Null (with an error) only when
    /// notifications cannot answer.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        let caller = identity(ctx)?;
        let user = parse_user_id(&self.id)?;
        let n = service(ctx)?.unread_count(caller, user).await?;
        Ok(Some(i32::try_from(n).unwrap_or(i32::MAX)))
    }

    /// Which kinds the user also gets by email. Null (with an error) only when
    /// notifications cannot answer.
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<NotificationPreference>>> {
        let caller = identity(ctx)?;
        let user = parse_user_id(&self.id)?;
        let preferences = service(ctx)?.preferences(caller, user).await?;
        Ok(Some(preference_list(&preferences)))
    }
}
