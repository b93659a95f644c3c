//! Auth's use cases, independent of GraphQL: each validates its input through the domain
//! types, does its writes in one transaction (with the events it causes, via the outbox),
//! and returns errors that are safe to show.

use std::{net::IpAddr, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, Func},
};
use service_kit::{
    accounts::{self, AccountDirectory, CurrentAccounts, Standing},
    events::{
        AccountData, UserDeactivated, UserDeleted, UserLogin, UserReactivated, UserRegistered,
        UserRoleChanged,
    },
    graphql::{ApiError, ApiResult, Identity},
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    domain::{Email, Password, PersonName, Role},
    passwords::PasswordHasher,
    storage::{
        self, enqueue,
        entities::{refresh_tokens, users},
        is_unique_violation,
    },
    throttle::LoginThrottle,
    tokens::{RefreshToken, TokenIssuer, hash_refresh_token},
};

/// The same message for an unknown email and a wrong password, so neither is revealed.
const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";
/// Longer passwords cannot be valid; refusing them early keeps huge inputs off the hasher.
const MAX_PASSWORD_BYTES: usize = 4 * Password::MAX_CHARS;

/// What a successful register, login or refresh returns.
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
    pub user: users::Model,
}

/// Fields of a new account, as the client sent them.
pub struct NewAccount {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// One page of users in creation order.
pub struct UserPage {
    pub users: Vec<users::Model>,
    pub has_next_page: bool,
}

pub struct AuthService {
    db: DatabaseConnection,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    refresh_ttl: Duration,
    outbox: Arc<Notify>,
    throttle: LoginThrottle,
    accounts: Arc<CurrentAccounts>,
}

/// A change an ADMIN makes to another account's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandingChange {
    Deactivate,
    Reactivate,
    Role(Role),
}

impl StandingChange {
    fn label(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Reactivate => "reactivate",
            Self::Role(_) => "role",
        }
    }
}

/// Auth's own record of every account's standing: its `users` table.
struct UserTable(DatabaseConnection);

#[async_trait::async_trait]
impl AccountDirectory for UserTable {
    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>> {
        let row = users::Entity::find_by_id(user).one(&self.0).await?;
        Ok(Some(match row {
            None => Standing::Deleted,
            Some(user) if !user.is_active => Standing::Deactivated,
            Some(user) => Standing::Active { role: user.role() },
        }))
    }
}

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(e)
}

impl AuthService {
    pub fn new(
        db: DatabaseConnection,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        refresh_ttl: Duration,
        outbox: Arc<Notify>,
        throttle: LoginThrottle,
    ) -> Self {
        let accounts = Arc::new(CurrentAccounts::new(
            Arc::new(UserTable(db.clone())),
            accounts::CACHE_TTL,
        ));
        Self {
            db,
            hasher,
            tokens,
            refresh_ttl,
            outbox,
            throttle,
            accounts,
        }
    }

    /// The standing every request's caller is checked against.
    pub fn accounts(&self) -> Arc<CurrentAccounts> {
        self.accounts.clone()
    }

    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    #[tracing::instrument(
        target = "storage",
        name = "postgres.register",
        level = "debug",
        skip_all
    )]
    pub async fn register(&self, input: NewAccount) -> ApiResult<Session> {
        let user = self.create_user(input, Role::User).await?;
        metrics::counter!("users_registered_total").increment(1);
        Ok(user)
    }

    /// Creates an account with `role`, its first refresh-token family and `user.registered`,
    /// all in one transaction.
    pub async fn create_user(&self, input: NewAccount, role: Role) -> ApiResult<Session> {
        let email = Email::parse(&input.email).map_err(ApiError::BadUserInput)?;
        let password = Password::parse(&input.password).map_err(ApiError::BadUserInput)?;
        let first_name =
            PersonName::parse("firstName", &input.first_name).map_err(ApiError::BadUserInput)?;
        let last_name =
            PersonName::parse("lastName", &input.last_name).map_err(ApiError::BadUserInput)?;
        let password_hash = self.hasher.hash(&password).await.map_err(internal)?;
        let now = storage::now();
        let user = users::Model {
            id: Uuid::now_v7(),
            email: email.as_str().to_owned(),
            password_hash,
            first_name: first_name.as_str().to_owned(),
            last_name: last_name.as_str().to_owned(),
            is_active: true,
            role: role.as_str().to_owned(),
            created_at: now,
            updated_at: now,
        };
        let txn = self.db.begin().await.map_err(internal)?;
        let inserted = users::Entity::insert(users::ActiveModel::from(user.clone()))
            .exec_without_returning(&txn)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::Conflict(
                    "an account with this email already exists".into(),
                ));
            }
            Err(e) => return Err(internal(e)),
        }
        enqueue(
            &txn,
            &UserRegistered {
                user_id: user.id,
                email: user.email.clone(),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                timestamp: now,
            },
        )
        .await
        .map_err(internal)?;
        let refresh = self
            .new_refresh_token(&txn, user.id, Uuid::now_v7())
            .await?;
        txn.commit().await.map_err(internal)?;
        self.outbox.notify_one();
        self.session(user, refresh)
    }

    /// Signs in `email` from `address` (the client's, when known), unless that pair or the
    /// account is throttled after failures ([`LoginThrottle`]): then `RATE_LIMITED`
    /// before the password is looked at, so a throttled attacker learns nothing more.
    #[tracing::instrument(target = "storage", name = "postgres.login", level = "debug", skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> ApiResult<Session> {
        if let Err(wait) = self.throttle.check(email, address) {
            metrics::counter!("logins_total", "result" => "throttled").increment(1);
            return Err(ApiError::RateLimited(format!(
                "too many failed sign-ins: try again in {} s",
                wait.as_secs().max(1)
            )));
        }
        let signed_in = self.verify_and_sign_in(email, password).await;
        match &signed_in {
            Err(ApiError::Unauthenticated(_)) => self.throttle.failed(email, address),
            Ok(_) => self.throttle.succeeded(email, address),
            Err(_) => {}
        }
        signed_in
    }

    async fn verify_and_sign_in(&self, email: &str, password: &str) -> ApiResult<Session> {
        if password.len() > MAX_PASSWORD_BYTES {
            metrics::counter!("logins_total", "result" => "failure").increment(1);
            return Err(ApiError::Unauthenticated(BAD_CREDENTIALS.into()));
        }
        let user = self.find_by_email(email.trim()).await?;
        let verified = self
            .hasher
            .verify(user.as_ref().map(|u| u.password_hash.as_str()), password)
            .await
            .map_err(internal)?;
        let user = match user {
            Some(user) if verified && user.is_active => user,
            _ => {
                metrics::counter!("logins_total", "result" => "failure").increment(1);
                return Err(ApiError::Unauthenticated(BAD_CREDENTIALS.into()));
            }
        };
        let txn = self.db.begin().await.map_err(internal)?;
        let refresh = self
            .new_refresh_token(&txn, user.id, Uuid::now_v7())
            .await?;
        enqueue(
            &txn,
            &UserLogin {
                user_id: user.id,
                email: user.email.clone(),
                timestamp: storage::now(),
            },
        )
        .await
        .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        self.outbox.notify_one();
        metrics::counter!("logins_total", "result" => "success").increment(1);
        self.session(user, refresh)
    }

    /// Uses `token` once and issues the next of its family. A token that was already used
    /// (or revoked) revokes the whole family: whoever holds it may have stolen it.
    #[tracing::instrument(
        target = "storage",
        name = "postgres.refresh",
        level = "debug",
        skip_all
    )]
    pub async fn refresh(&self, token: &str) -> ApiResult<Session> {
        let hash = hash_refresh_token(token);
        let now = storage::now();
        let txn = self.db.begin().await.map_err(internal)?;
        let Some(row) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .one(&txn)
            .await
            .map_err(internal)?
        else {
            return Err(ApiError::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        };
        if row.used_at.is_some() || row.revoked_at.is_some() {
            return self.revoke_reused_family(txn, &row).await;
        }
        if row.expires_at <= now {
            return Err(ApiError::Unauthenticated(BAD_REFRESH_TOKEN.into()));
        }
        // Conditional on "still unused", so two concurrent refreshes cannot both win.
        let used = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
            .filter(refresh_tokens::Column::Id.eq(row.id))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(internal)?;
        if used.rows_affected != 1 {
            return self.revoke_reused_family(txn, &row).await;
        }
        let user = users::Entity::find_by_id(row.user_id)
            .one(&txn)
            .await
            .map_err(internal)?
            .filter(|u| u.is_active)
            .ok_or_else(|| ApiError::Unauthenticated(BAD_REFRESH_TOKEN.into()))?;
        let next = self.new_refresh_token(&txn, user.id, row.family_id).await?;
        txn.commit().await.map_err(internal)?;
        metrics::counter!("token_refreshes_total", "result" => "success").increment(1);
        self.session(user, next)
    }

    async fn revoke_reused_family<T>(
        &self,
        txn: sea_orm::DatabaseTransaction,
        row: &refresh_tokens::Model,
    ) -> ApiResult<T> {
        revoke_family(&txn, row.family_id).await?;
        txn.commit().await.map_err(internal)?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, "refresh token reused; its family is revoked");
        metrics::counter!("token_refreshes_total", "result" => "reuse").increment(1);
        Err(ApiError::Unauthenticated(BAD_REFRESH_TOKEN.into()))
    }

    /// Ends the session `token` belongs to. `false` when the token is unknown.
    #[tracing::instrument(
        target = "storage",
        name = "postgres.logout",
        level = "debug",
        skip_all
    )]
    pub async fn logout(&self, token: &str) -> ApiResult<bool> {
        let row = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash_refresh_token(token)))
            .one(&self.db)
            .await
            .map_err(internal)?;
        match row {
            Some(row) => {
                revoke_family(&self.db, row.family_id).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Deletes an account (self or ADMIN): its tokens go with it, and `user.deleted` tells
    /// the other services.
    #[tracing::instrument(
        target = "storage",
        name = "postgres.delete_user",
        level = "debug",
        skip_all
    )]
    pub async fn delete_user(&self, caller: &Identity, id: Uuid) -> ApiResult<bool> {
        caller.ensure_may_access(id)?;
        let txn = self.db.begin().await.map_err(internal)?;
        let user = users::Entity::find_by_id(id)
            .one(&txn)
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
        refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::UserId.eq(id))
            .exec(&txn)
            .await
            .map_err(internal)?;
        users::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(internal)?;
        enqueue(
            &txn,
            &UserDeleted {
                user_id: id,
                email: user.email,
                timestamp: storage::now(),
            },
        )
        .await
        .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        self.accounts.forget(id);
        self.outbox.notify_one();
        metrics::counter!("users_deleted_total").increment(1);
        Ok(true)
    }

    /// The caller's own account. A token whose account is gone is no longer good.
    #[tracing::instrument(target = "storage", name = "postgres.me", level = "debug", skip_all)]
    pub async fn me(&self, caller: &Identity) -> ApiResult<users::Model> {
        self.find_by_id(caller.user_id)
            .await?
            .ok_or_else(|| ApiError::Unauthenticated("account no longer exists".into()))
    }

    /// A user by id, for themselves or an ADMIN.
    #[tracing::instrument(target = "storage", name = "postgres.user", level = "debug", skip_all)]
    pub async fn user(&self, caller: &Identity, id: Uuid) -> ApiResult<Option<users::Model>> {
        caller.ensure_may_access(id)?;
        self.find_by_id(id).await
    }

    /// Users in creation order after `after` (ADMIN only).
    #[tracing::instrument(target = "storage", name = "postgres.users", level = "debug", skip_all)]
    pub async fn users(
        &self,
        caller: &Identity,
        first: u64,
        after: Option<&str>,
    ) -> ApiResult<UserPage> {
        if !caller.is_admin() {
            return Err(ApiError::forbidden());
        }
        let mut query = users::Entity::find()
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .limit(first + 1);
        if let Some(cursor) = after {
            let (created_at, id) = decode_cursor(cursor)?;
            query = query.filter(
                Condition::any()
                    .add(users::Column::CreatedAt.gt(created_at))
                    .add(
                        Condition::all()
                            .add(users::Column::CreatedAt.eq(created_at))
                            .add(users::Column::Id.gt(id)),
                    ),
            );
        }
        let mut users = query.all(&self.db).await.map_err(internal)?;
        let has_next_page = users.len() as u64 > first;
        users.truncate(first as usize);
        Ok(UserPage {
            users,
            has_next_page,
        })
    }

    #[tracing::instrument(
        target = "storage",
        name = "postgres.find_by_id",
        level = "debug",
        skip_all
    )]
    pub async fn find_by_id(&self, id: Uuid) -> ApiResult<Option<users::Model>> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(internal)
    }

    async fn find_by_email(&self, email: &str) -> ApiResult<Option<users::Model>> {
        users::Entity::find()
            .filter(
                Expr::expr(Func::lower(Expr::col(users::Column::Email)))
                    .eq(Func::lower(Expr::val(email))),
            )
            .one(&self.db)
            .await
            .map_err(internal)
    }

    /// Makes an existing account ADMIN, or creates one. For the `create-admin` command.
    pub async fn create_admin(&self, input: NewAccount) -> ApiResult<(users::Model, bool)> {
        if let Some(existing) = self.find_by_email(input.email.trim()).await? {
            let user = self
                .apply_standing(existing.id, StandingChange::Role(Role::Admin))
                .await?;
            return Ok((user, false));
        }
        let session = self.create_user(input, Role::Admin).await?;
        Ok((session.user, true))
    }

    /// Deactivates, reactivates or changes the role of another account (ADMIN only), and
    /// announces it, so that every service judges the account's unexpired tokens by its
    /// new standing. Deactivation also ends the account's sessions. An ADMIN cannot
    /// change their own account, so the last ADMIN cannot lock everyone out. Changing an
    /// account to the standing it has already changes and announces nothing.
    #[tracing::instrument(
        target = "storage",
        name = "postgres.change_standing",
        level = "debug",
        skip_all
    )]
    pub async fn change_standing(
        &self,
        caller: &Identity,
        id: Uuid,
        change: StandingChange,
    ) -> ApiResult<users::Model> {
        if !caller.is_admin() {
            return Err(ApiError::forbidden());
        }
        if caller.user_id == id {
            return Err(ApiError::BadUserInput(
                "an ADMIN cannot change their own account's standing".into(),
            ));
        }
        self.apply_standing(id, change).await
    }

    async fn apply_standing(&self, id: Uuid, change: StandingChange) -> ApiResult<users::Model> {
        let txn = self.db.begin().await.map_err(internal)?;
        let mut user = users::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(internal)?
            .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
        let (active, role) = match change {
            StandingChange::Deactivate => (false, user.role()),
            StandingChange::Reactivate => (true, user.role()),
            StandingChange::Role(role) => (user.is_active, role),
        };
        if active == user.is_active && role == user.role() {
            return Ok(user);
        }
        let now = storage::now();
        users::Entity::update_many()
            .col_expr(users::Column::IsActive, Expr::value(active))
            .col_expr(users::Column::Role, Expr::value(role.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(internal)?;
        if !active {
            refresh_tokens::Entity::update_many()
                .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
                .filter(refresh_tokens::Column::UserId.eq(id))
                .filter(refresh_tokens::Column::RevokedAt.is_null())
                .exec(&txn)
                .await
                .map_err(internal)?;
        }
        user.is_active = active;
        user.role = role.as_str().to_owned();
        user.updated_at = now;
        let data = AccountData {
            user_id: id,
            email: user.email.clone(),
            role: role.as_str().to_owned(),
            active,
            timestamp: now,
        };
        match change {
            StandingChange::Deactivate => enqueue(&txn, &UserDeactivated(data)).await,
            StandingChange::Reactivate => enqueue(&txn, &UserReactivated(data)).await,
            StandingChange::Role(_) => enqueue(&txn, &UserRoleChanged(data)).await,
        }
        .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        self.accounts.forget(id);
        self.outbox.notify_one();
        metrics::counter!("account_standing_changes_total", "change" => change.label())
            .increment(1);
        Ok(user)
    }

    async fn new_refresh_token<C: ConnectionTrait>(
        &self,
        db: &C,
        user_id: Uuid,
        family_id: Uuid,
    ) -> ApiResult<String> {
        let token = RefreshToken::generate();
        let now = storage::now();
        let ttl = chrono::Duration::from_std(self.refresh_ttl).map_err(internal)?;
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            family_id: Set(family_id),
            token_hash: Set(token.hash),
            expires_at: Set(now + ttl),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(db)
        .await
        .map_err(internal)?;
        Ok(token.token)
    }

    fn session(&self, user: users::Model, refresh_token: String) -> ApiResult<Session> {
        Ok(Session {
            access_token: self.tokens.issue(&user).map_err(internal)?,
            refresh_token,
            expires_in: self.tokens.ttl(),
            user,
        })
    }
}

async fn revoke_family<C: ConnectionTrait>(db: &C, family_id: Uuid) -> ApiResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(
            refresh_tokens::Column::RevokedAt,
            Expr::value(storage::now()),
        )
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Cursors are opaque to clients: base64 of `<created_at micros>:<id>`.
pub fn encode_cursor(user: &users::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        user.created_at.timestamp_micros(),
        user.id
    ))
}

fn decode_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let bad = || ApiError::BadUserInput("invalid cursor".into());
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = raw.split_once(':').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((created_at, id))
}
