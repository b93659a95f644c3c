use async_graphql::{ID, InputObject, SimpleObject, connection::PageInfo};
use chrono::{DateTime, TimeZone, Utc};
use service_kit::{graphql::Identity, jwt::Role};

use crate::{service::Session, storage::entities::users};

/// A person with an account on the platform. Visible to the person themselves and to ADMINs.
#[derive(SimpleObject, Clone)]
pub struct User {
    /// Stable unique identifier (UUID).
    pub id: ID,
    /// Email address, as the user typed it; unique regardless of case.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// False when the account is disabled and may not sign in.
    pub is_active: bool,
    /// What the user may do: USER sees their own data, ADMIN sees everyone's.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<users::Model> for User {
    fn from(user: users::Model) -> Self {
        let role = user.role();
        Self {
            id: ID(user.id.to_string()),
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            is_active: user.is_active,
            role,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// The tokens of a signed-in session, and its user.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived JWT to send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Opaque, single-use token that obtains the next access token through `refresh`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i32,
    /// The signed-in user.
    pub user: User,
}

impl From<Session> for AuthPayload {
    fn from(session: Session) -> Self {
        Self {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            token_type: "Bearer".into(),
            expires_in: i32::try_from(session.expires_in.as_secs()).unwrap_or(i32::MAX),
            user: session.user.into(),
        }
    }
}

/// The verified claims of the caller's access token.
#[derive(SimpleObject)]
pub struct TokenInfo {
    /// Whose token it is.
    pub user_id: ID,
    /// Email at the time the token was issued.
    pub email: String,
    /// Role at the time the token was issued.
    pub role: Role,
    /// Who issued the token (`iss`).
    pub issuer: String,
    /// Whom the token is for (`aud`).
    pub audience: String,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl From<&Identity> for TokenInfo {
    fn from(identity: &Identity) -> Self {
        let at = |secs: i64| Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
        Self {
            user_id: ID(identity.user_id.to_string()),
            email: identity.email.clone(),
            role: identity.role,
            issuer: identity.claims.iss.clone(),
            audience: identity.claims.aud.clone(),
            issued_at: at(identity.claims.iat),
            expires_at: at(identity.claims.exp),
        }
    }
}

/// What it takes to create an account.
#[derive(InputObject)]
pub struct RegisterInput {
    /// A valid email address; must not belong to another account.
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    /// Given name, 1 to 100 characters.
    pub first_name: String,
    /// Family name, 1 to 100 characters.
    pub last_name: String,
}

/// Credentials to sign in with.
#[derive(InputObject)]
pub struct LoginInput {
    /// The account's email address (any case).
    pub email: String,
    /// The account's password.
    pub password: String,
}

/// One page of users, oldest account first.
#[derive(SimpleObject)]
pub struct UserConnection {
    /// The users of this page with their cursors.
    pub edges: Vec<UserEdge>,
    /// Whether there are more pages, and the cursors to get them.
    pub page_info: PageInfo,
}

/// A user in a page, with the cursor that points at it.
#[derive(SimpleObject)]
pub struct UserEdge {
    /// Pass as `after` to get the users after this one.
    pub cursor: String,
    /// The user.
    pub node: User,
}
