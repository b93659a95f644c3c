//! Building and running the notifications service: `Application::build` connects the store
//! and the mailer and binds the port (0 picks a free one, which is how tests spawn the real
//! app); `run_until_stopped` serves GraphQL (HTTP and websocket) and runs both consumers.

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::get};
use lettre::message::Mailbox;
use service_kit::{
    app::Host,
    events::{BrokerCheck, EventBus, EventSource, WorkQueue, topology::DurableQueue},
    graphql::OperationAuth,
    http::{GraphqlState, graphql_handler},
    jwt::JwtVerifier,
    telemetry::{ReadinessCheck, Shutdown},
};

use crate::{
    config::NotificationsConfig,
    email::{FolderMailer, Mailer, SmtpMailer, Templates},
    events::{LIVE_BINDING, LiveHandler, WorkHandler},
    graphql::{NotificationsSchema, schema_builder},
    live::LiveHub,
    service::{Dependencies, NotificationService},
    storage::{MemoryStore, NotificationStore, RedisStore},
    websocket,
};

/// How often the embedded store's snapshot is written when something changed.
const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

pub struct Application {
    host: Host,
    service: Arc<NotificationService>,
    hub: Arc<LiveHub>,
    /// The embedded store, flushed to its snapshot file while running and at shutdown.
    embedded: Option<MemoryStore>,
}

impl Application {
    /// Connects the store (Redis or in-process) and the mailer (SMTP or a folder), checks
    /// the templates and binds the listener. Events come from `source`; live announcements
    /// go to `bus`. Tokens are verified against auth's JWKS (`JWKS_URL`).
    pub async fn build(
        config: NotificationsConfig,
        bus: Arc<dyn EventBus>,
        source: EventSource,
    ) -> anyhow::Result<Self> {
        let verifier = config.jwks.verifier();
        Self::build_with_verifier(config, bus, source, verifier).await
    }

    /// [`Application::build`] with a given token verifier (tests use a static key set).
    pub async fn build_with_verifier(
        config: NotificationsConfig,
        bus: Arc<dyn EventBus>,
        source: EventSource,
        verifier: JwtVerifier,
    ) -> anyhow::Result<Self> {
        let mut embedded = None;
        let store: Arc<dyn NotificationStore> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisStore::connect(url, &config.redis_prefix, config.store.clone()).await?,
            ),
            None => {
                let store = MemoryStore::persistent(
                    config.store.clone(),
                    config.common.data_dir.join("notifications.json"),
                )?;
                embedded = Some(store.clone());
                Arc::new(store)
            }
        };
        let mailer: Arc<dyn Mailer> = match &config.smtp_url {
            Some(url) => Arc::new(SmtpMailer::new(url, config.smtp_timeout)?),
            None => Arc::new(FolderMailer::new(config.mail_dir())?),
        };
        let templates = Templates::new(config.templates_dir.clone(), store.clone());
        templates.check_all().await?;
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("MAIL_FROM: {e}"))?;
        let service = Arc::new(NotificationService::new(Dependencies {
            store: store.clone(),
            mailer: mailer.clone(),
            templates,
            bus: bus.clone(),
            from,
            rate_limit: config.rate_limit,
            email_lease: config.smtp_timeout * 3 + Duration::from_secs(10),
        }));
        let hub = LiveHub::new();
        let accounts = service.accounts();
        let schema: NotificationsSchema = config
            .common
            .limits
            .apply(schema_builder())
            // The router multiplexes subscriptions of many users over one websocket: each
            // operation brings its own caller's token.
            .extension(OperationAuth::new(verifier.clone(), Some(accounts.clone())))
            .data(service.clone())
            .data(hub.clone())
            .finish();
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(StoreCheck(store.clone())),
            Arc::new(BrokerCheck(bus)),
            Arc::new(MailCheck(mailer)),
        ];
        let state = GraphqlState {
            schema,
            verifier,
            accounts: Some(accounts),
            trusted_proxies: config.common.trusted_proxies.clone(),
        };
        let routes = Router::new()
            .route("/graphql", get(websocket::upgrade).post(graphql_handler))
            .with_state(state);
        let queue = WorkQueue {
            name: config.queue.name.clone(),
            bindings: DurableQueue::notifications(config.queue.name.as_str()).bindings,
            prefetch: config.queue.prefetch,
            max_attempts: config.queue.max_attempts,
            retry_delays: config.queue.retry_delays.clone(),
        };
        let work = (source.clone(), Arc::new(WorkHandler::new(service.clone())));
        let live = (source, Arc::new(LiveHandler::new(hub.clone())));
        let mut host = Host::bind(&config.common.host, config.port, routes, checks)
            .await?
            .task("work queue", move |stop| async move {
                work.0.run_work_queue(queue, work.1, stop).await
            })
            .task("live queue", move |stop| async move {
                live.0
                    .run_live(vec![LIVE_BINDING.to_owned()], live.1, stop)
                    .await
            });
        if let Some(store) = embedded.clone() {
            host = host.until_stopped("snapshot", async move {
                let mut tick = tokio::time::interval(SNAPSHOT_INTERVAL);
                loop {
                    tick.tick().await;
                    if let Err(e) = store.flush() {
                        tracing::warn!(error = %e, "could not write the notifications snapshot");
                    }
                }
            });
        }
        Ok(Self {
            host,
            service,
            hub,
            embedded,
        })
    }

    pub fn port(&self) -> u16 {
        self.host.port()
    }

    pub fn service(&self) -> Arc<NotificationService> {
        self.service.clone()
    }

    pub fn hub(&self) -> Arc<LiveHub> {
        self.hub.clone()
    }

    /// Serves until `shutdown`, consuming the work queue and this instance's live queue
    /// meanwhile; then lets in-flight requests and handlers finish.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let served = self.host.run_until_stopped(shutdown).await;
        // What the last moments changed is kept too.
        if let Some(store) = &self.embedded {
            store.flush()?;
        }
        served.map_err(Into::into)
    }
}

struct StoreCheck(Arc<dyn NotificationStore>);

#[async_trait::async_trait]
impl ReadinessCheck for StoreCheck {
    fn name(&self) -> &'static str {
        "store"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await
    }
}

struct MailCheck(Arc<dyn Mailer>);

#[async_trait::async_trait]
impl ReadinessCheck for MailCheck {
    fn name(&self) -> &'static str {
        "mail"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.check().await
    }
}
