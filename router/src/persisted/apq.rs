//! The APQ cache: documents by hash in an in-process LRU, and in Redis when `REDIS_URL` is
//! set so a document registered through one replica is known to all. Redis trouble only
//! costs a miss (the client then sends the document again): it is logged, never an error.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use hashlink::LruCache;
use redis::AsyncCommands;

use crate::{
    config::ApqConfig,
    shared_redis::{SharedRedis, bounded},
};

pub(super) struct ApqCache {
    local: Mutex<LruCache<Box<str>, Arc<str>>>,
    redis: Option<SharedRedis>,
    prefix: String,
    ttl: Duration,
}

impl ApqCache {
    pub(super) fn new(config: &ApqConfig) -> anyhow::Result<Self> {
        Ok(Self {
            local: Mutex::new(LruCache::new(config.cache_capacity.max(1))),
            redis: config
                .redis_url
                .as_deref()
                .map(|url| SharedRedis::open(url, "REDIS_URL"))
                .transpose()?,
            prefix: config.key_prefix.clone(),
            ttl: Duration::from_secs(config.ttl_secs),
        })
    }

    fn key(&self, hash: &str) -> String {
        format!("{}:{}", self.prefix, hash.to_ascii_lowercase())
    }

    pub(super) async fn get(&self, hash: &str) -> Option<Arc<str>> {
        let hash = hash.to_ascii_lowercase();
        if let Some(hit) = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash.as_str())
        {
            return Some(Arc::clone(hit));
        }
        let redis = self.redis.as_ref()?;
        let found = async {
            let mut connection = redis.connection().await?;
            bounded(connection.get::<_, Option<String>>(self.key(&hash))).await
        }
        .await;
        match found {
            Ok(Some(text)) => {
                // Documents in Redis were checked against their hash when registered; check
                // again, since anyone with access to Redis could have written the key.
                if super::sha256_hex(&text) != hash {
                    tracing::warn!("an APQ entry in Redis does not match its hash; ignored");
                    return None;
                }
                let text: Arc<str> = text.into();
                self.local
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(hash.into(), Arc::clone(&text));
                Some(text)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "APQ store unreachable: answering from this process");
                None
            }
        }
    }

    /// Keeps a document whose hash was checked.
    pub(super) async fn register(&self, hash: &str, query: &str) {
        let hash = hash.to_ascii_lowercase();
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash.as_str().into(), query.into());
        let Some(redis) = &self.redis else {
            return;
        };
        let stored = async {
            let mut connection = redis.connection().await?;
            bounded(connection.set_ex::<_, _, ()>(self.key(&hash), query, self.ttl.as_secs())).await
        }
        .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "APQ store unreachable: the document is kept in this process only");
        }
    }
}
