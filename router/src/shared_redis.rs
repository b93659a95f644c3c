//! One lazily opened Redis connection per feature that shares state across router replicas
//! (the per-user rate limit, the APQ cache): opened on first use, reopened after a failure
//! by the connection manager, with short timeouts so that Redis trouble costs a request
//! milliseconds, not seconds.

use std::time::Duration;

use tokio::sync::Mutex;

pub(crate) struct SharedRedis {
    client: redis::Client,
    connection: Mutex<Option<redis::aio::ConnectionManager>>,
}

impl SharedRedis {
    /// `what` names the setting in the error, e.g. "REDIS_URL".
    pub(crate) fn open(url: &str, what: &str) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid {what}: {e}"))?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
        })
    }

    /// The connection, opened now if it is not yet.
    pub(crate) async fn connection(&self) -> Result<redis::aio::ConnectionManager, String> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let c = self
            .client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| e.to_string())?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// A Redis call bounded to one second, its error as text.
pub(crate) async fn bounded<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    tokio::time::timeout(Duration::from_secs(1), call)
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())
}
