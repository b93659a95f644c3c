//! Building and running the payments service: `Application::build` connects the store
//! (creating its indexes) and binds the port (0 picks a free one, which is how tests spawn
//! the real app); `run_until_stopped` serves GraphQL, relays the outbox and consumes
//! the `user.*` standing events until shutdown.

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::post};
use service_kit::{
    CancellationToken,
    client_address::TrustedProxies,
    events::{BrokerCheck, EventBus, EventHandler, EventSource, InProcessBus, WorkQueue},
    http::{GraphqlState, graphql_handler, serve, with_standard_layers},
    jwt::JwtVerifier,
    outbox::{OutboxRelay, OutboxStore},
    telemetry::{ReadinessCheck, Shutdown, ops_routes},
};
use tokio::net::TcpListener;

use crate::{
    config::{PaymentsConfig, StoreConfig},
    events::{AccountsHandler, work_queue},
    graphql::{PaymentsSchema, schema_builder},
    processor::SimulatedProcessor,
    service::PaymentService,
    storage::{EmbeddedStore, MongoStore, PaymentStore},
};

pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
    relay: OutboxRelay,
    consumer: Consumer,
    service: Arc<PaymentService>,
    processing_timeout: Duration,
}

/// The `user.*` work-queue consumer, started by `run_until_stopped`.
struct Consumer {
    source: EventSource,
    queue: WorkQueue,
    handler: Arc<dyn EventHandler>,
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
        let router = routes(
            schema,
            verifier,
            &service,
            store,
            bus,
            config.common.trusted_proxies.clone(),
        );
        let listener = TcpListener::bind((config.common.host.as_str(), config.port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            router,
            relay,
            consumer: Consumer {
                source: events,
                queue: work_queue(&config.work_queue),
                handler: Arc::new(AccountsHandler::new(service.clone())),
            },
            service,
            processing_timeout: config.processing_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn service(&self) -> Arc<PaymentService> {
        self.service.clone()
    }

    /// Serves until `shutdown`, then finishes in-flight requests and stops the relay, the
    /// consumer and the sweep of interrupted processing. Events not yet published stay in the outbox for the next start.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let relay = tokio::spawn(self.relay.run(stop.clone()));
        let Consumer {
            source,
            queue,
            handler,
        } = self.consumer;
        let consumer_stop = stop.clone();
        let consumer = tokio::spawn(async move {
            source.run_work_queue(queue, handler, consumer_stop).await;
        });
        let sweeper = tokio::spawn(sweep_stale_processing(
            self.service.clone(),
            self.processing_timeout,
            stop.clone(),
        ));
        let served = serve(self.listener, self.router, shutdown).await;
        stop.cancel();
        let _ = relay.await;
        let _ = consumer.await;
        let _ = sweeper.await;
        served.map_err(Into::into)
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

fn routes(
    schema: PaymentsSchema,
    verifier: JwtVerifier,
    service: &PaymentService,
    store: Arc<dyn PaymentStore>,
    bus: Arc<dyn EventBus>,
    trusted_proxies: TrustedProxies,
) -> Router {
    let state = GraphqlState {
        schema,
        verifier,
        accounts: Some(service.accounts()),
        trusted_proxies,
    };
    let checks: Vec<Arc<dyn ReadinessCheck>> =
        vec![Arc::new(DatabaseCheck(store)), Arc::new(BrokerCheck(bus))];
    let app = Router::new()
        .route("/graphql", post(graphql_handler))
        .with_state(state)
        .merge(ops_routes(checks));
    with_standard_layers(app, 1024 * 1024, Duration::from_secs(30))
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
