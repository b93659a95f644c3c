//! Building and running the payments service: `Application::build` connects the store
//! (creating its indexes) and binds the port (0 picks a free one, which is how tests spawn
//! the real app); `run_until_stopped` serves GraphQL, relays the outbox and consumes
//! the `user.*` standing events until shutdown.

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::post};
use service_kit::{
    CancellationToken,
    app::Host,
    events::{BrokerCheck, EventBus, EventHandler, EventSource, InProcessBus},
    http::{GraphqlState, graphql_handler},
    outbox::{OutboxRelay, OutboxStore},
    telemetry::{ReadinessCheck, Shutdown},
};

use crate::{
    config::{PaymentsConfig, StoreConfig},
    events::{AccountsHandler, work_queue},
    graphql::{PaymentsSchema, schema_builder},
    processor::SimulatedProcessor,
    service::PaymentService,
    storage::{EmbeddedStore, MongoStore, PaymentStore},
};

pub struct Application {
    host: Host,
    service: Arc<PaymentService>,
}

impl Application {
    /// Opens the store (MongoDB with its indexes, or the embedded one) and binds the
    /// listener. Events go to `bus` through the outbox; `user.*` events come from RabbitMQ
    /// when `AMQP_URL` is set, otherwise from `bus` itself if it is the in-process bus.
    pub async fn build(config: PaymentsConfig, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let Components {
            store,
            relay,
            service,
            events,
        } = Components::build(&config, bus.clone()).await?;
        let verifier = config.jwks.verifier();
        let schema: PaymentsSchema = config
            .common
            .limits
            .apply(schema_builder())
            .data(service.clone())
            .finish();
        let state = GraphqlState {
            schema,
            verifier,
            accounts: Some(service.accounts()),
            trusted_proxies: config.common.trusted_proxies.clone(),
        };
        let routes = Router::new()
            .route("/graphql", post(graphql_handler))
            .with_state(state);
        let checks: Vec<Arc<dyn ReadinessCheck>> =
            vec![Arc::new(DatabaseCheck(store)), Arc::new(BrokerCheck(bus))];
        let queue = work_queue(&config.work_queue);
        let handler: Arc<dyn EventHandler> = Arc::new(AccountsHandler::new(service.clone()));
        let (sweeping, timeout) = (service.clone(), config.processing_timeout);
        let host = Host::bind(&config.common.host, config.port, routes, checks)
            .await?
            // Events not yet published stay in the outbox for the next start.
            .task("outbox relay", move |stop| relay.run(stop))
            .task("user events", move |stop| async move {
                events.run_work_queue(queue, handler, stop).await
            })
            .task("interrupted processing", move |stop| {
                sweep_stale_processing(sweeping, timeout, stop)
            });
        Ok(Self { host, service })
    }

    pub fn port(&self) -> u16 {
        self.host.port()
    }

    pub fn service(&self) -> Arc<PaymentService> {
        self.service.clone()
    }

    /// Serves until `shutdown`, then finishes in-flight requests and stops the relay, the
    /// consumer and the sweep of interrupted processing.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        self.host
            .run_until_stopped(shutdown)
            .await
            .map_err(Into::into)
    }
}

/// Every minute (or every `timeout` if shorter), finishes payments PROCESSING for longer
/// than `timeout`: a crash between asking the processor and recording its answer must not
/// leave a payment PROCESSING forever.
async fn sweep_stale_processing(
    service: Arc<PaymentService>,
    timeout: Duration,
    stop: CancellationToken,
) {
    let every = timeout.min(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {},
        }
        if let Err(e) = service.resume_stale_processing(timeout).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "could not finish interrupted payments"
            );
        }
    }
}

/// The store, the service and its outbox relay, without a listener (also for tools and
/// benchmarks).
pub struct Components {
    pub store: Arc<dyn PaymentStore>,
    pub relay: OutboxRelay,
    pub service: Arc<PaymentService>,
    /// Where the `user.*` events come from.
    pub events: EventSource,
}

impl Components {
    pub async fn build(config: &PaymentsConfig, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let store: Arc<dyn PaymentStore> = match &config.store {
            StoreConfig::Mongo { url, database } => {
                Arc::new(MongoStore::connect(url, database).await?)
            }
            StoreConfig::Embedded { file } => Arc::new(EmbeddedStore::open(file)?),
        };
        let relay = OutboxRelay::new(
            "payments",
            store.clone() as Arc<dyn OutboxStore>,
            bus.clone(),
            config.relay.clone(),
        );
        let service = Arc::new(PaymentService::new(
            store.clone(),
            Arc::new(SimulatedProcessor::new(config.processor_latency)),
            relay.waker(),
        ));
        Ok(Self {
            store,
            relay,
            service,
            events: event_source(config, bus.as_ref()),
        })
    }
}

fn event_source(config: &PaymentsConfig, bus: &dyn EventBus) -> EventSource {
    match (&config.common.amqp_url, bus.in_process()) {
        (Some(url), _) => EventSource::Rabbit {
            url: url.clone(),
            exchange: config.common.amqp_exchange.clone(),
        },
        (None, Some(bus)) => EventSource::InProcess(bus.clone()),
        (None, None) => {
            tracing::warn!(
                "events are published to a broker, but AMQP_URL is not set: user.* events will not be consumed"
            );
            EventSource::InProcess(InProcessBus::default())
        }
    }
}

struct DatabaseCheck(Arc<dyn PaymentStore>);

#[async_trait::async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await
    }
}
