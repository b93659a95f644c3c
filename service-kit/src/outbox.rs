//! The transactional outbox relay.
//!
//! A service writes each event into an outbox table (or collection) in the same database
//! transaction as the change it describes. The relay then publishes pending events in
//! order, waiting for the broker's confirm before marking each one sent, and backs off
//! while the broker is unreachable. Nothing is lost; an event may be published twice if a
//! process dies between the confirm and the mark, which consumers absorb by event id.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::{Envelope, EventBus};

/// Where a service keeps its unsent events.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// Up to `limit` unsent events, oldest first.
    async fn pending(&self, limit: u64) -> anyhow::Result<Vec<Envelope>>;
    /// Marks events as published.
    async fn mark_published(&self, ids: &[Uuid]) -> anyhow::Result<()>;
}

/// Tuning of the relay.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub batch_size: u64,
    /// How often to look for events when nobody rang the bell (other instances, restarts).
    pub poll_interval: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl RelaySettings {
    /// `OUTBOX_POLL_INTERVAL_MS` (default 1000) and `OUTBOX_MAX_BACKOFF_MS` (default 30000).
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::config::ConfigError> {
        let defaults = Self::default();
        let ms = |key: &str, default: Duration| -> Result<Duration, crate::config::ConfigError> {
            let value: u64 = env.ranged_or(key, default.as_millis() as u64, 10..=3_600_000)?;
            Ok(Duration::from_millis(value))
        };
        Ok(Self {
            poll_interval: ms("OUTBOX_POLL_INTERVAL_MS", defaults.poll_interval)?,
            max_backoff: ms("OUTBOX_MAX_BACKOFF_MS", defaults.max_backoff)?,
            ..defaults
        })
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_secs(1),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Publishes what an [`OutboxStore`] holds.
pub struct OutboxRelay {
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn EventBus>,
    settings: RelaySettings,
    wake: Arc<Notify>,
    service: &'static str,
}

impl OutboxRelay {
    pub fn new(
        service: &'static str,
        store: Arc<dyn OutboxStore>,
        bus: Arc<dyn EventBus>,
        settings: RelaySettings,
    ) -> Self {
        Self {
            store,
            bus,
            settings,
            wake: Arc::new(Notify::new()),
            service,
        }
    }

    /// Ring after committing a transaction that wrote events, so they go out at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes one batch; returns how many events went out.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        let pending = self.store.pending(self.settings.batch_size).await?;
        let mut published = Vec::with_capacity(pending.len());
        let mut failure = None;
        for envelope in &pending {
            match self.bus.publish(envelope).await {
                Ok(()) => published.push(envelope.id),
                Err(e) => {
                    // Stop at the first failure so events keep their order.
                    failure = Some(e);
                    break;
                }
            }
        }
        if !published.is_empty() {
            self.store.mark_published(&published).await?;
            metrics::counter!("outbox_events_published_total", "service" => self.service)
                .increment(published.len() as u64);
        }
        // Outbox lag: how long the oldest event still waiting has waited (0 when none).
        let lag = pending.get(published.len()).map_or(0.0, |oldest| {
            (chrono::Utc::now() - oldest.time).num_milliseconds().max(0) as f64 / 1000.0
        });
        metrics::gauge!("outbox_lag_seconds", "service" => self.service).set(lag);
        match failure {
            Some(e) => {
                metrics::counter!("outbox_publish_failures_total", "service" => self.service)
                    .increment(1);
                Err(e.into())
            }
            None => Ok(published.len()),
        }
    }

    /// Runs until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = self.settings.min_backoff;
        loop {
            let wait = match self.publish_batch().await {
                Ok(n) if n as u64 >= self.settings.batch_size => {
                    backoff = self.settings.min_backoff;
                    continue;
                }
                Ok(_) => {
                    backoff = self.settings.min_backoff;
                    self.settings.poll_interval
                }
                Err(e) => {
                    tracing::warn!(service = self.service, error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay could not publish");
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                    wait
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified(), if backoff == self.settings.min_backoff => {},
                () = tokio::time::sleep(wait) => {},
            }
        }
    }
}
