//! `spawn_app`: the real payments application on port 0, on a database, exchange and work
//! queue of its own, trusting a JWKS the test serves (so tests can sign their own tokens).

use std::{sync::Arc, time::Duration};

use payments::{Application, PaymentsConfig, service::PaymentService};
use serde_json::{Value, json};
use service_kit::{
    config::Env,
    events::{Envelope, EventBus, InProcessBus, rabbitmq::RabbitBus},
    jwt::{Claims, Role},
    testing::{
        self, TcpProxy, TestKeys, amqp_proxy, cleanup_on_own_thread, delete_exchange,
        in_process_listener, rabbit_listener, serve_jwks, servers, unique_name,
    },
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Which adapters an app runs on: MongoDB (the MongoDB-wire test server) and RabbitMQ (`Real`), or the embedded store and the in-process bus (`Embedded`).
pub use service_kit::testing::Backend;

pub struct Options {
    pub backend: Backend,
    /// Put a cuttable proxy between the app's publisher and RabbitMQ.
    pub broker_proxy: bool,
    /// How long the simulated processor takes.
    pub processor_latency_ms: u64,
}

impl Options {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            broker_proxy: false,
            processor_latency_ms: 20,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub service: Arc<PaymentService>,
    pub keys: TestKeys,
    /// Publishes events to the app as another service would (never through the proxy).
    pub publisher: Arc<dyn EventBus>,
    pub proxy: Option<TcpProxy>,
    events: mpsc::UnboundedReceiver<Envelope>,
    stop: Option<oneshot::Sender<()>>,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    Real {
        database: String,
        exchange: String,
        queue: String,
    },
    Embedded {
        dir: std::path::PathBuf,
    },
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(Options::new(backend)).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let keys = generate_keys();
    let jwks_url = serve_jwks(keys.jwks()).await;
    let exchange = unique_name("test_events");
    let queue = unique_name("payments_work");
    let mut vars: Vec<(String, String)> = vec![
        ("PAYMENTS_PORT".into(), "0".into()),
        ("JWKS_URL".into(), jwks_url),
        ("AMQP_EXCHANGE".into(), exchange.clone()),
        ("PAYMENTS_WORK_QUEUE".into(), queue.clone()),
        (
            "PAYMENTS_PROCESSOR_LATENCY_MS".into(),
            options.processor_latency_ms.to_string(),
        ),
        ("OUTBOX_MAX_BACKOFF_MS".into(), "500".into()),
        ("OUTBOX_POLL_INTERVAL_MS".into(), "100".into()),
    ];
    let (cleanup, events, bus, publisher, proxy): (
        Cleanup,
        _,
        Arc<dyn EventBus>,
        Arc<dyn EventBus>,
        _,
    ) = match options.backend {
        Backend::Real => {
            let database = unique_name("payments_test");
            vars.push(("MONGODB_URL".into(), servers::mongodb_url()));
            vars.push(("MONGODB_DATABASE".into(), database.clone()));
            // The consumer reads from the real broker directly; only publishing may be cut.
            vars.push(("AMQP_URL".into(), servers::amqp_url()));
            let events = rabbit_listener(&exchange, "payment.#").await;
            declare_work_queue(&exchange, &queue).await;
            let (amqp, proxy) = if options.broker_proxy {
                let (proxy, url) = amqp_proxy().await;
                (url, Some(proxy))
            } else {
                (servers::amqp_url(), None)
            };
            let bus: Arc<dyn EventBus> = Arc::new(RabbitBus::new(amqp, exchange.clone()));
            let publisher: Arc<dyn EventBus> =
                Arc::new(RabbitBus::new(servers::amqp_url(), exchange.clone()));
            (
                Cleanup::Real {
                    database,
                    exchange,
                    queue,
                },
                events,
                bus,
                publisher,
                proxy,
            )
        }
        Backend::Embedded => {
            let dir = std::env::temp_dir().join(unique_name("payments_test"));
            vars.push(("DATA_DIR".into(), dir.display().to_string()));
            let bus = InProcessBus::default();
            let events = in_process_listener(&bus);
            let bus: Arc<dyn EventBus> = Arc::new(bus);
            (Cleanup::Embedded { dir }, events, bus.clone(), bus, None)
        }
    };
    let config = PaymentsConfig::from_env(&Env::from_map(vars)).unwrap();
    let app = Application::build(config, bus).await.unwrap();
    let port = app.port();
    let service = app.service();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(Box::pin(async {
        let _ = stopped.await;
    })));
    let test_app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        service,
        keys,
        publisher,
        proxy,
        events,
        stop: Some(stop),
        cleanup: Some(cleanup),
    };
    // Once the app answers, its relay and consumer tasks have started (they are spawned
    // before the server), so an event published from now on is consumed.
    let health = test_app
        .client
        .get(format!("{}/health", test_app.address))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    test_app
}

/// A signing key like auth's, under a key id of its own.
pub fn generate_keys() -> TestKeys {
    TestKeys::generate(unique_name("kid"))
}

/// Claims for `user_id` (email `<id>@example.com`), expiring `exp_offset` seconds from now.
pub fn claims(user_id: Uuid, role: Role, exp_offset: i64) -> Claims {
    testing::claims(
        user_id,
        format!("{}@example.com", user_id.simple()),
        role,
        exp_offset,
    )
}

/// A valid access token for `user_id`.
pub fn token(keys: &TestKeys, user_id: Uuid, role: Role) -> String {
    keys.sign(&claims(user_id, role, 600))
}

/// A signed-in user of a test.
pub struct Caller {
    pub id: Uuid,
    pub token: String,
}

impl TestApp {
    pub fn user(&self) -> Caller {
        let id = Uuid::now_v7();
        Caller {
            id,
            token: token(&self.keys, id, Role::User),
        }
    }

    pub fn admin(&self) -> Caller {
        let id = Uuid::now_v7();
        Caller {
            id,
            token: token(&self.keys, id, Role::Admin),
        }
    }

    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// `createPayment`, which must succeed; returns the payment.
    pub async fn create(&self, caller: &Caller, amount: i64, key: &str) -> Value {
        let response = self
            .graphql(
                CREATE,
                json!({ "input": { "amount": amount, "currency": "USD", "description": "test", "idempotencyKey": key } }),
                Some(&caller.token),
            )
            .await;
        assert!(
            response["errors"].is_null(),
            "createPayment failed: {response}"
        );
        response["data"]["createPayment"].clone()
    }

    /// A mutation on a payment by id (`processPayment`, `cancelPayment`, `refundPayment`).
    pub async fn act(&self, mutation: &str, id: &Value, caller: &Caller) -> Value {
        let query = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ {PAYMENT_FIELDS} }} }}");
        self.graphql(&query, json!({ "id": id }), Some(&caller.token))
            .await
    }

    /// Every payment of `user`, newest first, read through the API as an ADMIN.
    pub async fn all_payments(&self, user: Uuid) -> Vec<Value> {
        let admin = self.admin();
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .graphql(
                    USER_PAYMENTS,
                    json!({ "r": [{ "__typename": "User", "id": user }], "first": 100, "after": after }),
                    Some(&admin.token),
                )
                .await;
            let connection = &page["data"]["_entities"][0]["payments"];
            assert!(page["errors"].is_null(), "{page}");
            all.extend(
                connection["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["node"].clone()),
            );
            if connection["pageInfo"]["hasNextPage"] != true {
                return all;
            }
            after = connection["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
        }
    }

    /// The next event of `event_type` the app published, waiting up to `within`.
    pub async fn next_event(&mut self, event_type: &str, within: Duration) -> Option<Envelope> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            if event.event_type == event_type {
                return Some(event);
            }
        }
    }

    /// The next event the app published, whatever its type, waiting up to `within`.
    pub async fn next_any(&mut self, within: Duration) -> Option<Envelope> {
        tokio::time::timeout(within, self.events.recv())
            .await
            .ok()?
    }

    /// Every event that arrives within `within`.
    pub async fn events_within(&mut self, within: Duration) -> Vec<Envelope> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            events.push(event);
        }
        events
    }
}

/// Declares the app's work queue before the app starts, so events published by the test
/// right away are already routed to it.
async fn declare_work_queue(exchange: &str, queue: &str) {
    let conn = service_kit::events::rabbitmq::connect(&servers::amqp_url())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    service_kit::events::consumer::declare_work_queue(
        &channel,
        exchange,
        &payments::events::work_queue(queue),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(cleanup) = self.cleanup.take() else {
            return;
        };
        // Async cleanup on a thread of its own: Drop cannot await.
        cleanup_on_own_thread(async move {
            match cleanup {
                Cleanup::Real {
                    database,
                    exchange,
                    queue,
                } => {
                    if let Ok(client) = mongodb::Client::with_uri_str(servers::mongodb_url()).await
                    {
                        let _ = client.database(&database).drop().await;
                    }
                    let work = payments::events::work_queue(&queue);
                    let mut queues = vec![work.name.clone(), work.dead_letter_queue()];
                    queues.extend(
                        work.retry_delays
                            .iter()
                            .map(|d| format!("{}.retry.{}ms", work.name, d.as_millis())),
                    );
                    delete_exchange(&exchange, &queues).await;
                }
                Cleanup::Embedded { dir } => {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        });
    }
}

pub const PAYMENT_FIELDS: &str = "id user { id } amount currency status description idempotencyKey failureReason history { status previousStatus at actor note } createdAt updatedAt";
pub const CREATE: &str = "mutation Create($input: CreatePaymentInput!) { createPayment(input: $input) { id user { id } amount currency status description idempotencyKey failureReason history { status previousStatus at actor note } createdAt updatedAt } }";
pub const PAYMENT: &str = "query($id: ID!) { payment(id: $id) { id status amount } }";
/// `User.payments` the way the router asks for it: through `_entities`.
pub const USER_PAYMENTS: &str = "query($r: [_Any!]!, $first: Int, $after: String, $status: PaymentStatus) { _entities(representations: $r) { ... on User { id payments(first: $first, after: $after, status: $status) { edges { cursor node { id amount status createdAt } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }";

pub use service_kit::testing::error_code;
