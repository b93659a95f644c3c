//! The Redis adapter. Keys, under a configurable prefix `P`:
//!
//! | key | type | what |
//! |---|---|---|
//! | `P:u:{user}:items` | hash | notification id → JSON (kind, title, body) |
//! | `P:u:{user}:all` | sorted set | every notification id (all scores 0, so ordered by id = by time) |
//! | `P:u:{user}:unread` | sorted set | the unread ids |
//! | `P:u:{user}:prefs` | set | kinds with email turned off |
//! | `P:u:{user}:contact` | string | JSON `{email, firstName}` |
//! | `P:u:{user}:rate` | string | emails sent in the current rate-limit window |
//! | `P:u:{user}:standing` | string | `<deleted 0/1>\|<as-of µs>\|<standing JSON>`: the account's last standing change |
//! | `P:event:{id}` | string | the notification id an event created (TTL: idempotency) |
//! | `P:email:{id}` | string | `sending` (TTL: the lease) or `done` (TTL: idempotency) |
//! | `P:template:{name}` | hash | `fingerprint`, `source` |
//!
//! A user's keys share the hash tag `{user}`, so the multi-key scripts also work on a cluster.
//! Notification keys expire `retention` after the last write, and each write trims entries
//! older than the retention or beyond the cap.

use std::{sync::LazyLock, time::Duration};

/// How long an account's standing is kept: far longer than an access token lives.
const STANDING_SECS: u64 = 30 * 24 * 3600;

use anyhow::Context as _;
use redis::{AsyncCommands, Script, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use service_kit::accounts::{Standing, StandingChange};
use uuid::Uuid;

use super::{
    CachedTemplate, EmailClaim, NotificationStore, Page, PageQuery, Recorded, StoreSettings,
    retention_bound,
};
use crate::domain::{
    Contact, NewNotification, Notification, NotificationId, NotificationKind, Preferences,
};

/// What the items hash holds per notification (user, read flag and time are in the keys).
#[derive(Serialize, Deserialize)]
struct Item {
    kind: NotificationKind,
    title: String,
    body: String,
}

static RECORD_STANDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: standing; ARGV: deleted (1/0), as-of micros, standing JSON, ttl secs
local kept = redis.call('GET', KEYS[1])
if kept then
  local kept_deleted, kept_at = string.match(kept, '^(%d)|(%-?%d+)|')
  if kept_deleted == '1' then return 0 end
  if ARGV[1] ~= '1' and tonumber(kept_at) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
return 1
",
    )
});

static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: event, items, all, unread; ARGV: id, json, idempotency ms, retention ms, cap, bound
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
local function drop(ids)
  for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
  end
end
drop(redis.call('ZRANGE', KEYS[3], '-', '(' .. ARGV[6], 'BYLEX'))
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if over > 0 then drop(redis.call('ZRANGE', KEYS[3], 0, over - 1)) end
for i = 2, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return {1, ARGV[1]}
",
    )
});

static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: items, source set, unread; ARGV: max, min, limit
local ids = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYLEX', 'REV', 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[1], id)
  if json then
    local unread = redis.call('ZSCORE', KEYS[3], id) and 1 or 0
    table.insert(out, id)
    table.insert(out, json)
    table.insert(out, unread)
  end
end
return out
",
    )
});

static MARK_READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: items, unread; ARGV: id, bound
if ARGV[1] < ARGV[2] then return false end
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
return json
",
    )
});

static GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: items, unread; ARGV: id, bound
if ARGV[1] < ARGV[2] then return false end
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return false end
return {json, redis.call('ZSCORE', KEYS[2], ARGV[1]) and 1 or 0}
",
    )
});

static MARK_ALL_READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: unread; ARGV: bound
local n = redis.call('ZLEXCOUNT', KEYS[1], '[' .. ARGV[1], '+')
redis.call('DEL', KEYS[1])
return n
",
    )
});

static CLAIM_EMAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: email; ARGV: lease ms
local state = redis.call('GET', KEYS[1])
if state == 'done' then return 'done' end
if state then return 'busy' end
redis.call('SET', KEYS[1], 'sending', 'PX', ARGV[1])
return 'claimed'
",
    )
});

static TAKE_QUOTA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS: counter; ARGV: window ms
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
",
    )
});

static RETURN_QUOTA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
",
    )
});

/// Notifications in Redis. Cheap to clone (the connection manager multiplexes).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    settings: StoreSettings,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Connects (failing if Redis cannot be reached now); later outages are retried by the
    /// connection manager.
    pub async fn connect(url: &str, prefix: &str, settings: StoreSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("invalid REDIS_URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .context("cannot connect to Redis")?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            settings,
        })
    }

    fn user_key(&self, user: Uuid, what: &str) -> String {
        format!("{}:u:{{{user}}}:{what}", self.prefix)
    }

    fn event_key(&self, event_id: Uuid) -> String {
        format!("{}:event:{event_id}", self.prefix)
    }

    fn email_key(&self, event_id: Uuid) -> String {
        format!("{}:email:{event_id}", self.prefix)
    }

    fn template_key(&self, name: &str) -> String {
        format!("{}:template:{name}", self.prefix)
    }

    /// Every key under this store's prefix (tests clean up with it).
    pub async fn delete_everything(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.prefix);
        let mut keys: Vec<String> = Vec::new();
        {
            let mut iter: redis::AsyncIter<String> = conn.scan_match(&pattern).await?;
            while let Some(key) = futures::StreamExt::next(&mut iter).await {
                keys.push(key?);
            }
        }
        let mut deleted = 0;
        for chunk in keys.chunks(500) {
            let n: u64 = conn.del(chunk).await?;
            deleted += n;
        }
        Ok(deleted)
    }
}

fn notification(user: Uuid, id: &str, json: &str, unread: bool) -> anyhow::Result<Notification> {
    let id: NotificationId = id.parse().map_err(anyhow::Error::msg)?;
    let item: Item = serde_json::from_str(json).context("corrupt notification in Redis")?;
    Ok(Notification {
        id,
        user_id: user,
        kind: item.kind,
        title: item.title,
        body: item.body,
        read: !unread,
        created_at: id.created_at(),
    })
}

#[async_trait::async_trait]
impl NotificationStore for RedisStore {
    #[tracing::instrument(target = "storage", name = "redis.record", level = "debug", skip_all)]
    async fn record(&self, event_id: Uuid, new: NewNotification) -> anyhow::Result<Recorded> {
        let user = new.user_id();
        let notification = new.into_notification();
        let item = serde_json::to_string(&Item {
            kind: notification.kind,
            title: notification.title.clone(),
            body: notification.body.clone(),
        })?;
        let (created, id): (i64, String) = RECORD
            .key(self.event_key(event_id))
            .key(self.user_key(user, "items"))
            .key(self.user_key(user, "all"))
            .key(self.user_key(user, "unread"))
            .arg(notification.id.to_string())
            .arg(item)
            .arg(millis(self.settings.idempotency_ttl))
            .arg(millis(self.settings.retention))
            .arg(self.settings.max_per_user)
            .arg(retention_bound(self.settings.retention))
            .invoke_async(&mut self.conn.clone())
            .await?;
        if created == 1 {
            Ok(Recorded::Created(notification))
        } else {
            Ok(Recorded::Duplicate(id.parse().map_err(anyhow::Error::msg)?))
        }
    }

    #[tracing::instrument(target = "storage", name = "redis.page", level = "debug", skip_all)]
    async fn page(&self, user: Uuid, query: PageQuery) -> anyhow::Result<Page> {
        let source = if query.unread_only { "unread" } else { "all" };
        let max = query
            .after
            .map_or_else(|| "+".to_owned(), |after| format!("({after}"));
        let min = format!("[{}", retention_bound(self.settings.retention));
        let raw: Vec<(String, String, i64)> = PAGE
            .key(self.user_key(user, "items"))
            .key(self.user_key(user, source))
            .key(self.user_key(user, "unread"))
            .arg(max)
            .arg(min)
            .arg(query.first + 1)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let has_next_page = raw.len() > query.first;
        let items = raw
            .iter()
            .take(query.first)
            .map(|(id, json, unread)| notification(user, id, json, *unread == 1))
            .collect::<anyhow::Result<_>>()?;
        Ok(Page {
            items,
            has_next_page,
        })
    }

    #[tracing::instrument(
        target = "storage",
        name = "redis.unread_count",
        level = "debug",
        skip_all
    )]
    async fn unread_count(&self, user: Uuid) -> anyhow::Result<u64> {
        let min = format!("[{}", retention_bound(self.settings.retention));
        let n: u64 = self
            .conn
            .clone()
            .zlexcount(self.user_key(user, "unread"), min, "+")
            .await?;
        Ok(n)
    }

    #[tracing::instrument(target = "storage", name = "redis.get", level = "debug", skip_all)]
    async fn get(&self, user: Uuid, id: NotificationId) -> anyhow::Result<Option<Notification>> {
        let found: Option<(String, i64)> = GET
            .key(self.user_key(user, "items"))
            .key(self.user_key(user, "unread"))
            .arg(id.to_string())
            .arg(retention_bound(self.settings.retention))
            .invoke_async(&mut self.conn.clone())
            .await?;
        found
            .map(|(json, unread)| notification(user, &id.to_string(), &json, unread == 1))
            .transpose()
    }

    #[tracing::instrument(
        target = "storage",
        name = "redis.mark_read",
        level = "debug",
        skip_all
    )]
    async fn mark_read(
        &self,
        user: Uuid,
        id: NotificationId,
    ) -> anyhow::Result<Option<Notification>> {
        let json: Option<String> = MARK_READ
            .key(self.user_key(user, "items"))
            .key(self.user_key(user, "unread"))
            .arg(id.to_string())
            .arg(retention_bound(self.settings.retention))
            .invoke_async(&mut self.conn.clone())
            .await?;
        json.map(|json| notification(user, &id.to_string(), &json, false))
            .transpose()
    }

    #[tracing::instrument(
        target = "storage",
        name = "redis.mark_all_read",
        level = "debug",
        skip_all
    )]
    async fn mark_all_read(&self, user: Uuid) -> anyhow::Result<u64> {
        let n: u64 = MARK_ALL_READ
            .key(self.user_key(user, "unread"))
            .arg(retention_bound(self.settings.retention))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(n)
    }

    #[tracing::instrument(
        target = "storage",
        name = "redis.preferences",
        level = "debug",
        skip_all
    )]
    async fn preferences(&self, user: Uuid) -> anyhow::Result<Preferences> {
        let off: Vec<String> = self
            .conn
            .clone()
            .smembers(self.user_key(user, "prefs"))
            .await?;
        Ok(Preferences::from_disabled(
            off.iter().filter_map(|k| k.parse().ok()),
        ))
    }

    #[tracing::instrument(
        target = "storage",
        name = "redis.update_preferences",
        level = "debug",
        skip_all
    )]
    async fn update_preferences(
        &self,
        user: Uuid,
        changes: &[(NotificationKind, bool)],
    ) -> anyhow::Result<Preferences> {
        let key = self.user_key(user, "prefs");
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (kind, enabled) in changes {
            if *enabled {
                pipe.srem(&key, kind.as_str()).ignore();
            } else {
                pipe.sadd(&key, kind.as_str()).ignore();
            }
        }
        pipe.smembers(&key);
        let (off,): (Vec<String>,) = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(Preferences::from_disabled(
            off.iter().filter_map(|k| k.parse().ok()),
        ))
    }

    async fn remember_contact(&self, user: Uuid, contact: &Contact) -> anyhow::Result<()> {
        let json = serde_json::to_string(contact)?;
        let () = self
            .conn
            .clone()
            .set(self.user_key(user, "contact"), json)
            .await?;
        Ok(())
    }

    async fn contact(&self, user: Uuid) -> anyhow::Result<Option<Contact>> {
        let json: Option<String> = self
            .conn
            .clone()
            .get(self.user_key(user, "contact"))
            .await?;
        json.map(|j| serde_json::from_str(&j).context("corrupt contact in Redis"))
            .transpose()
    }

    async fn forget_user(&self, user: Uuid) -> anyhow::Result<()> {
        let keys: Vec<String> = ["items", "all", "unread", "prefs", "contact", "rate"]
            .into_iter()
            .map(|what| self.user_key(user, what))
            .collect();
        let _: u64 = self.conn.clone().del(keys).await?;
        Ok(())
    }

    async fn record_standing(&self, change: &StandingChange) -> anyhow::Result<()> {
        let deleted = if change.standing == Standing::Deleted {
            "1"
        } else {
            "0"
        };
        let _: i64 = RECORD_STANDING
            .key(self.user_key(change.user_id, "standing"))
            .arg(deleted)
            .arg(change.as_of.timestamp_micros())
            .arg(serde_json::to_string(&change.standing)?)
            .arg(STANDING_SECS)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn standing(&self, user: Uuid) -> anyhow::Result<Option<Standing>> {
        let kept: Option<String> = self
            .conn
            .clone()
            .get(self.user_key(user, "standing"))
            .await?;
        kept.map(|kept| {
            let json = kept.splitn(3, '|').nth(2).unwrap_or_default();
            serde_json::from_str(json).context("corrupt account standing in Redis")
        })
        .transpose()
    }

    async fn claim_email(&self, event_id: Uuid, lease: Duration) -> anyhow::Result<EmailClaim> {
        let state: String = CLAIM_EMAIL
            .key(self.email_key(event_id))
            .arg(millis(lease))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match state.as_str() {
            "claimed" => EmailClaim::Claimed,
            "done" => EmailClaim::Done,
            _ => EmailClaim::InProgress,
        })
    }

    async fn settle_email(&self, event_id: Uuid) -> anyhow::Result<()> {
        let () = self
            .conn
            .clone()
            .pset_ex(
                self.email_key(event_id),
                "done",
                millis(self.settings.idempotency_ttl),
            )
            .await?;
        Ok(())
    }

    async fn release_email(&self, event_id: Uuid) -> anyhow::Result<()> {
        let _: u64 = self.conn.clone().del(self.email_key(event_id)).await?;
        Ok(())
    }

    async fn take_email_quota(
        &self,
        user: Uuid,
        limit: u32,
        window: Duration,
    ) -> anyhow::Result<bool> {
        let n: u64 = TAKE_QUOTA
            .key(self.user_key(user, "rate"))
            .arg(millis(window))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(n <= u64::from(limit))
    }

    async fn return_email_quota(&self, user: Uuid) -> anyhow::Result<()> {
        let _: i64 = RETURN_QUOTA
            .key(self.user_key(user, "rate"))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn cached_template(&self, name: &str) -> anyhow::Result<Option<CachedTemplate>> {
        let (fingerprint, source): (Option<String>, Option<String>) = self
            .conn
            .clone()
            .hmget(self.template_key(name), &["fingerprint", "source"])
            .await?;
        Ok(fingerprint
            .zip(source)
            .map(|(fingerprint, source)| CachedTemplate {
                fingerprint,
                source,
            }))
    }

    async fn cache_template(&self, name: &str, template: &CachedTemplate) -> anyhow::Result<()> {
        let () = self
            .conn
            .clone()
            .hset_multiple(
                self.template_key(name),
                &[
                    ("fingerprint", template.fingerprint.as_str()),
                    ("source", template.source.as_str()),
                ],
            )
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), String> {
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut self.conn.clone()).await;
        pong.map(|_| ()).map_err(|_| "unreachable".to_owned())
    }
}
