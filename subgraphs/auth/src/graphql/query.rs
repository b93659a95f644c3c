use async_graphql::{
    Context, ID, Object, Result,
    connection::{Connection, Edge},
};
use service_kit::graphql::{ApiError, identity};

use super::{TokenInfo, User, parse_id, service};
use crate::service::encode_cursor;

const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

/// Reading accounts.
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let caller = identity(ctx)?;
        Ok(service(ctx)?.me(caller).await?.into())
    }

    /// A user by id: yourself, or anyone if you are an ADMIN. Null when no such user exists.
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
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return users after this cursor (an `endCursor` of a previous page).")]
        after: Option<String>,
    ) -> Result<Connection<String, User>> {
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
        let mut connection = Connection::new(after.is_some(), page.has_next_page);
        connection.edges.extend(
            page.users
                .into_iter()
                .map(|user| Edge::new(encode_cursor(&user), User::from(user))),
        );
        Ok(connection)
    }

    /// The verified claims of the caller's access token.
    async fn validate_token(&self, ctx: &Context<'_>) -> Result<TokenInfo> {
        Ok(identity(ctx)?.into())
    }

    /// Resolves `User` references from other subgraphs (same rule as `user`).
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        self.user(ctx, id).await
    }
}
