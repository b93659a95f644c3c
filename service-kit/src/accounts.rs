//! Identity that is current. An access token says who its caller was when it was issued;
//! for up to its lifetime the account may since have been deactivated, demoted or
//! deleted. Every service therefore checks the caller's standing, as auth last announced it
//! (`user.deleted`, `user.deactivated`, `user.reactivated`, `user.role_changed`), before a
//! request runs: a deactivated or deleted account is refused, a demoted ADMIN acts as a
//! USER. Lookups are cached for [`CACHE_TTL`], and forgotten when the service itself learns
//! of a change, so a change reaches the replica that handled its event at once and every
//! other replica within the TTL.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    events::{
        DecodeError, Envelope, Event, UserDeactivated, UserDeleted, UserReactivated,
        UserRoleChanged,
    },
    graphql::Identity,
    jwt::Role,
};

/// How long a looked-up standing is trusted without asking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Lookups kept at most; beyond this the cache drops what has expired, then everything.
const MAX_CACHED: usize = 100_000;

/// An account's standing, as auth last announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Standing {
    /// The account may act, with this role.
    Active { role: Role },
    /// An ADMIN deactivated the account.
    Deactivated,
    /// The account is gone; nothing brings it back.
    Deleted,
}

/// A change of standing learned from an event, stamped with when auth made it, so that a
/// store keeps the newest whatever order deliveries arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandingChange {
    pub user_id: Uuid,
    pub standing: Standing,
    pub as_of: DateTime<Utc>,
}

impl StandingChange {
    /// The change a `user.deleted`, `user.deactivated`, `user.reactivated` or
    /// `user.role_changed` event announces; `None` for any other event type.
    pub fn from_envelope(event: &Envelope) -> Result<Option<Self>, DecodeError> {
        let data = match event.event_type.as_str() {
            UserDeleted::TYPE => {
                let deleted: UserDeleted = event.decode()?;
                return Ok(Some(Self {
                    user_id: deleted.user_id,
                    standing: Standing::Deleted,
                    as_of: deleted.timestamp,
                }));
            }
            UserDeactivated::TYPE => event.decode::<UserDeactivated>()?.0,
            UserReactivated::TYPE => event.decode::<UserReactivated>()?.0,
            UserRoleChanged::TYPE => event.decode::<UserRoleChanged>()?.0,
            _ => return Ok(None),
        };
        let standing = if data.active {
            let role = data
                .role
                .parse()
                .map_err(|reason: String| DecodeError::Data {
                    event_type: event.event_type.clone(),
                    source: serde::de::Error::custom(reason),
                })?;
            Standing::Active { role }
        } else {
            Standing::Deactivated
        };
        Ok(Some(Self {
            user_id: data.user_id,
            standing,
            as_of: data.timestamp,
        }))
    }

    /// Whether this change should replace `stored` (the last one a store kept): a
    /// deletion always does and nothing replaces it; otherwise the newer one wins.
    pub fn supersedes(&self, stored: &Self) -> bool {
        match (stored.standing, self.standing) {
            (Standing::Deleted, _) => false,
            (_, Standing::Deleted) => true,
            _ => self.as_of > stored.as_of,
        }
    }
}

/// Whether `change` supersedes what `kept` (the last change per account, as an
/// in-memory store holds them) has for its account.
pub fn would_keep(kept: &HashMap<Uuid, StandingChange>, change: &StandingChange) -> bool {
    kept.get(&change.user_id)
        .is_none_or(|stored| change.supersedes(stored))
}

/// Keeps `change` in `kept` if it supersedes the one there ([`would_keep`]).
pub fn keep(kept: &mut HashMap<Uuid, StandingChange>, change: StandingChange) {
    if would_keep(kept, &change) {
        kept.insert(change.user_id, change);
    }
}

/// Where a service keeps the standings it has learned.
#[async_trait::async_trait]
pub trait AccountDirectory: Send + Sync {
    /// `None` when nothing changed about the account since the service started keeping
    /// track: its token's claims stand.
    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>>;
}

/// Why a genuine token no longer admits its caller (safe to show).
pub const DEACTIVATED: &str = "the account is deactivated";
pub const DELETED: &str = "the account no longer exists";

/// The cached lookup every request goes through.
pub struct CurrentAccounts {
    directory: Arc<dyn AccountDirectory>,
    ttl: Duration,
    cache: Mutex<HashMap<Uuid, (Option<Standing>, Instant)>>,
}

impl CurrentAccounts {
    pub fn new(directory: Arc<dyn AccountDirectory>, ttl: Duration) -> Self {
        Self {
            directory,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Drops the cached standing of `user`: the service has just learned of a change.
    pub fn forget(&self, user: Uuid) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&user);
        }
    }

    /// The standing of `user`, from the cache while it is fresh.
    pub async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>> {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((standing, at)) = cache.get(&user)
            && now.duration_since(*at) < self.ttl
        {
            return Ok(*standing);
        }
        let standing = self.directory.standing(user).await?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(user, (standing, now));
        }
        Ok(standing)
    }

    /// Brings `identity` to how its account stands now: refused (with the reason to show)
    /// when the account is deactivated or deleted, a USER when an ADMIN token's account
    /// was demoted. A promotion waits for the next token, which carries the new scopes.
    /// When the lookup fails, `identity` is left as it was.
    pub async fn check(&self, identity: &mut Identity) -> anyhow::Result<Result<(), &'static str>> {
        Ok(match self.standing(identity.user_id).await? {
            None => Ok(()),
            Some(Standing::Deleted) => Err(DELETED),
            Some(Standing::Deactivated) => Err(DEACTIVATED),
            Some(Standing::Active { role }) => {
                if role == Role::User {
                    identity.role = Role::User;
                }
                Ok(())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(standing: Standing, secs: i64) -> StandingChange {
        StandingChange {
            user_id: Uuid::nil(),
            standing,
            as_of: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn the_newest_change_wins_and_a_deletion_is_final() {
        let admin = Standing::Active { role: Role::Admin };
        assert!(change(Standing::Deactivated, 2).supersedes(&change(admin, 1)));
        assert!(!change(admin, 1).supersedes(&change(Standing::Deactivated, 2)));
        assert!(change(Standing::Deleted, 1).supersedes(&change(admin, 2)));
        assert!(!change(admin, 3).supersedes(&change(Standing::Deleted, 2)));
    }

    struct Counting(std::sync::atomic::AtomicUsize, Option<Standing>);

    #[async_trait::async_trait]
    impl AccountDirectory for Counting {
        async fn standing(&self, _: Uuid) -> anyhow::Result<Option<Standing>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.1)
        }
    }

    #[tokio::test]
    async fn lookups_are_cached_until_forgotten() {
        let directory = Arc::new(Counting(0.into(), Some(Standing::Deactivated)));
        let accounts = CurrentAccounts::new(directory.clone(), Duration::from_secs(60));
        let user = Uuid::now_v7();
        for _ in 0..3 {
            assert_eq!(
                accounts.standing(user).await.ok().flatten(),
                Some(Standing::Deactivated)
            );
        }
        assert_eq!(directory.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        accounts.forget(user);
        accounts.standing(user).await.ok();
        assert_eq!(directory.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
