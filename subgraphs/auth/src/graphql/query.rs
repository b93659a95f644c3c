use async_graphql::{Context, ID, Object, Result, connection::PageInfo};
use service_kit::{
    federation::{authenticated, list_size},
    graphql::{ApiError, identity},
};

use super::{TokenInfo, User, UserConnection, UserEdge, parse_id, service};
use crate::service::encode_cursor;

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

pub struct Query;

/// Reading accounts.
#[Object]
impl Query {
    /// The signed-in user.
    #[graphql(directive = authenticated::apply())]
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let caller = identity(ctx)?;
        Ok(service(ctx)?.me(caller).await?.into())
    }

    /// A user by id: yourself, or anyone if you are an ADMIN. Null when no such user exists.
    #[graphql(directive = authenticated::apply())]
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
    ) -> Result<Option<User>> {
        let caller = identity(ctx)?;
        let id = parse_id(&id)?;
        Ok(service(ctx)?.user(caller, id).await?.map(Into::into))
    }

    /// Every user, oldest account first (ADMIN only). Relay cursor pagination.
    #[graphql(
        requires_scopes = "admin",
        directive = list_size::apply(Some(DEFAULT_PAGE), Some(vec!["first".into()]), Some(vec!["edges".into()]), Some(false))
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return users after this cursor (an `endCursor` of a previous page).")]
        after: Option<String>,
    ) -> Result<UserConnection> {
        let caller = identity(ctx)?;
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(
                ApiError::BadUserInput(format!("first must be between 1 and {MAX_PAGE}")).into(),
            );
        }
        let page = service(ctx)?
            .users(caller, first as u64, after.as_deref())
            .await?;
        let edges: Vec<UserEdge> = page
            .users
            .into_iter()
            .map(|user| UserEdge {
                cursor: encode_cursor(&user),
                node: user.into(),
            })
            .collect();
        Ok(UserConnection {
            page_info: PageInfo {
                has_previous_page: after.is_some(),
                has_next_page: page.has_next_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// The verified claims of the caller's access token.
    #[graphql(directive = authenticated::apply())]
    async fn validate_token(&self, ctx: &Context<'_>) -> Result<TokenInfo> {
        Ok(identity(ctx)?.into())
    }

    /// Resolves `User` references from other subgraphs (same rule as `user`).
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        self.user(ctx, id).await
    }
}
