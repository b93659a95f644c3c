use async_graphql::{Context, ID, Object, Result};
use service_kit::graphql::identity;

use super::{AuthPayload, LoginInput, RegisterInput, User, parse_id, service};
use crate::{
    domain::Role,
    service::{NewAccount, StandingChange},
};

pub struct Mutation;

/// Creating accounts and sessions.
#[Object]
impl Mutation {
    /// Creates an account and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let service = service(ctx)?;
        let session = service
            .register(NewAccount {
                email: input.email,
                password: input.password,
                first_name: input.first_name,
                last_name: input.last_name,
            })
            .await?;
        Ok(session.into())
    }

    /// Signs in with email and password. After repeated failures from one address (and
    /// after many more from anywhere) the account waits before it may be tried again, a
    /// little longer after each further failure (`RATE_LIMITED`).
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let service = service(ctx)?;
        let address = ctx
            .data_opt::<service_kit::client_address::ClientAddress>()
            .map(|a| a.0);
        Ok(service
            .login(&input.email, &input.password, address)
            .await?
            .into())
    }

    /// Trades a refresh token for a new access token and the next refresh token. Each
    /// refresh token works once; presenting a used one ends the whole session.
    async fn refresh(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the last AuthPayload.")] refresh_token: String,
    ) -> Result<AuthPayload> {
        let service = service(ctx)?;
        Ok(service.refresh(&refresh_token).await?.into())
    }

    /// Ends the session the refresh token belongs to. False when the token is unknown.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A refresh token of the session to end.")] refresh_token: String,
    ) -> Result<bool> {
        Ok(service(ctx)?.logout(&refresh_token).await?)
    }

    /// Deletes an account: your own, or anyone's if you are an ADMIN.
    #[graphql(directive = service_kit::federation::authenticated::apply())]
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the user to delete.")] id: ID,
    ) -> Result<bool> {
        let caller = identity(ctx)?;
        let id = parse_id(&id)?;
        Ok(service(ctx)?.delete_user(caller, id).await?)
    }

    /// Deactivates another account (ADMIN only): it can no longer sign in, its sessions
    /// end, and its unexpired access tokens are refused by every service.
    #[graphql(requires_scopes = "admin")]
    async fn deactivate_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the user to deactivate.")] id: ID,
    ) -> Result<User> {
        change_standing(ctx, &id, StandingChange::Deactivate).await
    }

    /// Reactivates a deactivated account (ADMIN only); it signs in again as before.
    #[graphql(requires_scopes = "admin")]
    async fn reactivate_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the user to reactivate.")] id: ID,
    ) -> Result<User> {
        change_standing(ctx, &id, StandingChange::Reactivate).await
    }

    /// Changes another account's role (ADMIN only). A demoted ADMIN's unexpired tokens act
    /// as a USER's at once; a promotion takes effect with the account's next token.
    #[graphql(requires_scopes = "admin")]
    async fn change_user_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the user whose role changes.")] id: ID,
        #[graphql(desc = "The new role.")] role: Role,
    ) -> Result<User> {
        change_standing(ctx, &id, StandingChange::Role(role)).await
    }
}

async fn change_standing(ctx: &Context<'_>, id: &ID, change: StandingChange) -> Result<User> {
    let caller = identity(ctx)?;
    let id = parse_id(id)?;
    Ok(service(ctx)?
        .change_standing(caller, id, change)
        .await?
        .into())
}
