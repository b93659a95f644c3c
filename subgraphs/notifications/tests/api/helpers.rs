//! `spawn_app`: the real notifications application on port 0, with its own Redis key
//! prefix, RabbitMQ exchange and queues, and SMTP server (or the embedded store, bus and
//! mail folder), plus clients for GraphQL, events, the mailbox and tokens.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use notifications::{
    Application, NotificationsConfig,
    live::LiveHub,
    service::NotificationService,
    storage::{RedisStore, StoreSettings},
};
use serde_json::{Value, json};
use service_kit::{
    config::Env,
    events::{
        Envelope, Event, EventBus, EventSource, InProcessBus, PaymentCreated, PaymentData,
        UserRegistered, rabbitmq::RabbitBus, topology::DurableQueue,
    },
    testing::{TcpProxy, TestKeys, cleanup_on_own_thread, delete_exchange, servers, unique_name},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};
use uuid::Uuid;

use crate::tokens;

/// Which adapters an app runs on: Redis, RabbitMQ and a real SMTP server (`Real`), or the in-process store and bus and `.eml` files (`Embedded`).
pub use service_kit::testing::Backend;

/// Knobs a test may turn.
#[derive(Clone, Debug)]
pub struct Options {
    pub backend: Backend,
    pub email_rate_limit: u32,
    /// Serve templates from a copy of the crate's, which the test may edit.
    pub own_templates: bool,
    /// Reach Redis through a proxy the test can cut (`Fixture::redis_proxy`).
    pub redis_proxy: bool,
    /// Attempts before an event is dead-lettered.
    pub max_attempts: u32,
}

impl Options {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            email_rate_limit: 100,
            own_templates: false,
            redis_proxy: false,
            max_attempts: 4,
        }
    }
}

/// What every test app shares with its test: names of its broker objects and folders.
pub struct Fixture {
    pub backend: Backend,
    pub exchange: String,
    pub queue: String,
    pub redis_prefix: String,
    pub mail_dir: PathBuf,
    pub data_dir: PathBuf,
    pub bus: Arc<dyn EventBus>,
    pub in_process: InProcessBus,
    pub redis_proxy: Option<TcpProxy>,
    smtp: Option<SmtpServer>,
}

pub struct TestApp {
    pub address: String,
    pub ws_url: String,
    pub client: reqwest::Client,
    pub keys: TestKeys,
    pub fixture: Arc<Fixture>,
    pub hub: Arc<LiveHub>,
    pub service: Arc<NotificationService>,
    stop: Option<oneshot::Sender<()>>,
}

/// A real SMTP server (aiosmtpd) writing what it receives into a folder.
struct SmtpServer {
    port: u16,
    _child: Child,
}

impl SmtpServer {
    async fn start(out_dir: &Path) -> Self {
        let port = service_kit::testing::free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
        let mut child = Command::new(servers::python())
            .arg(script)
            .arg(port.to_string())
            .arg(out_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP server (is aiosmtpd installed? see scripts/services.sh)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("SMTP server ready in time")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("READY"));
        Self {
            port,
            _child: child,
        }
    }
}

impl Fixture {
    pub async fn new(options: &Options) -> Arc<Self> {
        let data_dir = std::env::temp_dir().join(unique_name("notifications_test"));
        let mail_dir = match options.backend {
            Backend::Real => data_dir.join("smtp"),
            Backend::Embedded => data_dir.join("mail"),
        };
        std::fs::create_dir_all(&mail_dir).unwrap();
        let exchange = unique_name("test_events");
        let queue = unique_name("test_notifications");
        let in_process = InProcessBus::default();
        let (bus, smtp): (Arc<dyn EventBus>, _) = match options.backend {
            // As every publisher of the platform does, the test's bus declares the work
            // queue: what it publishes waits there even before the service first runs.
            Backend::Real => (
                Arc::new(
                    RabbitBus::new(servers::amqp_url(), exchange.clone())
                        .declaring(vec![DurableQueue::notifications(queue.as_str())]),
                ),
                Some(SmtpServer::start(&mail_dir).await),
            ),
            Backend::Embedded => (Arc::new(in_process.clone()), None),
        };
        let redis_proxy = if options.redis_proxy {
            let url = servers::redis_url();
            let host = url
                .trim_start_matches("redis://")
                .split('/')
                .next()
                .unwrap()
                .to_owned();
            let upstream = tokio::net::lookup_host(host).await.unwrap().next().unwrap();
            Some(TcpProxy::start(upstream).await.unwrap())
        } else {
            None
        };
        Arc::new(Self {
            redis_proxy,
            backend: options.backend,
            exchange,
            queue,
            redis_prefix: unique_name("test_notifications"),
            mail_dir,
            data_dir,
            bus,
            in_process,
            smtp,
        })
    }

    fn config(&self, options: &Options) -> NotificationsConfig {
        let mut vars: Vec<(String, String)> = vec![
            ("NOTIFICATIONS_PORT".into(), "0".into()),
            ("DATA_DIR".into(), self.data_dir.display().to_string()),
            ("AMQP_EXCHANGE".into(), self.exchange.clone()),
            ("NOTIFICATIONS_QUEUE".into(), self.queue.clone()),
            ("NOTIFICATIONS_RETRY_DELAYS_MS".into(), "100,300".into()),
            (
                "NOTIFICATIONS_MAX_ATTEMPTS".into(),
                options.max_attempts.to_string(),
            ),
            (
                "NOTIFICATIONS_EMAIL_RATE_LIMIT".into(),
                options.email_rate_limit.to_string(),
            ),
            ("SMTP_TIMEOUT_SECS".into(), "5".into()),
        ];
        if options.own_templates {
            let dir = self.templates_dir();
            std::fs::create_dir_all(&dir).unwrap();
            let crate_templates = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
            for entry in std::fs::read_dir(crate_templates).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
            }
            vars.push((
                "NOTIFICATIONS_TEMPLATES_DIR".into(),
                dir.display().to_string(),
            ));
        }
        if self.backend == Backend::Real {
            let redis_url = match &self.redis_proxy {
                Some(proxy) => format!("redis://{}", proxy.addr()),
                None => servers::redis_url(),
            };
            vars.push(("REDIS_URL".into(), redis_url));
            vars.push(("REDIS_KEY_PREFIX".into(), self.redis_prefix.clone()));
            vars.push(("AMQP_URL".into(), servers::amqp_url()));
            let port = self.smtp.as_ref().map(|s| s.port).unwrap_or_default();
            vars.push(("SMTP_URL".into(), format!("smtp://127.0.0.1:{port}")));
        }
        NotificationsConfig::from_env(&Env::from_map(vars)).unwrap()
    }

    /// The test's own templates folder (with `own_templates`).
    pub fn templates_dir(&self) -> PathBuf {
        self.data_dir.join("templates")
    }

    fn source(&self) -> EventSource {
        match self.backend {
            Backend::Real => EventSource::Rabbit {
                url: servers::amqp_url(),
                exchange: self.exchange.clone(),
            },
            Backend::Embedded => EventSource::InProcess(self.in_process.clone()),
        }
    }

    /// Publishes an event as its producer would.
    pub async fn publish<E: Event>(&self, event: &E) -> Envelope {
        let envelope = Envelope::new("/test", event).unwrap();
        self.publish_envelope(&envelope).await;
        envelope
    }

    pub async fn publish_envelope(&self, envelope: &Envelope) {
        self.bus.publish(envelope).await.unwrap();
    }

    /// Every email received so far, decoded.
    pub async fn mails(&self) -> Vec<Value> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/read_mail.py");
        let output = Command::new(servers::python())
            .arg(script)
            .arg(&self.mail_dir)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The emails to `address`, waiting until there are at least `n`.
    pub async fn mails_to(&self, address: &str, n: usize) -> Vec<Value> {
        eventually(&format!("{n} emails to {address}"), || async {
            let mails: Vec<Value> = self
                .mails()
                .await
                .into_iter()
                .filter(|m| m["to"].as_str().unwrap_or_default().contains(address))
                .collect();
            (mails.len() >= n).then_some(mails)
        })
        .await
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let (backend, exchange, queue, prefix, dir) = (
            self.backend,
            self.exchange.clone(),
            self.queue.clone(),
            self.redis_prefix.clone(),
            self.data_dir.clone(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        if backend != Backend::Real {
            return;
        }
        // Async cleanup on a thread of its own: Drop cannot await.
        cleanup_on_own_thread(async move {
            if let Ok(store) = RedisStore::connect(
                &servers::redis_url(),
                &prefix,
                StoreSettings {
                    retention: Duration::from_secs(60),
                    max_per_user: 1,
                    idempotency_ttl: Duration::from_secs(60),
                },
            )
            .await
            {
                let _ = store.delete_everything().await;
            }
            let mut names = vec![queue.clone(), format!("{queue}.dlq")];
            names.push(format!("{queue}.retry.100ms"));
            names.push(format!("{queue}.retry.300ms"));
            delete_exchange(&exchange, &names).await;
        });
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(Options::new(backend)).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let fixture = Fixture::new(&options).await;
    spawn_instance(fixture, &options, tokens::generate()).await
}

/// One more instance of the service on an existing fixture (same store, queues, mail).
pub async fn spawn_instance(fixture: Arc<Fixture>, options: &Options, keys: TestKeys) -> TestApp {
    let config = fixture.config(options);
    let app = Application::build_with_verifier(
        config,
        fixture.bus.clone(),
        fixture.source(),
        tokens::verifier(&keys),
    )
    .await
    .unwrap();
    let port = app.port();
    let hub = app.hub();
    let service = app.service();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(Box::pin(async {
        let _ = stopped.await;
    })));
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        ws_url: format!("ws://127.0.0.1:{port}/graphql"),
        client: reqwest::Client::new(),
        keys,
        fixture,
        hub,
        service,
        stop: Some(stop),
    };
    app.wait_until_consuming().await;
    app
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

use service_kit::testing::eventually;

pub fn payment(user_id: Uuid, amount: i64, status: &str) -> PaymentData {
    PaymentData {
        payment_id: Uuid::new_v4(),
        user_id,
        amount,
        currency: "USD".into(),
        status: status.into(),
        description: Some("Coffee beans".into()),
        failure_reason: None,
        email: None,
        timestamp: chrono::Utc::now(),
    }
}

pub fn registered(user_id: Uuid, email: &str, first_name: &str) -> UserRegistered {
    UserRegistered {
        user_id,
        email: email.into(),
        first_name: first_name.into(),
        last_name: "Lovelace".into(),
        timestamp: chrono::Utc::now(),
    }
}

impl TestApp {
    /// Until the work queue and this instance's live queue both run: a probe event for a
    /// probe user (with no address, so no email) must come back through the live path.
    async fn wait_until_consuming(&self) {
        let probe = Uuid::new_v4();
        let mut live = Box::pin(self.hub.subscribe(probe));
        for _ in 0..100 {
            self.fixture
                .publish(&PaymentCreated(payment(probe, 1, "PENDING")))
                .await;
            if tokio::time::timeout(Duration::from_millis(300), live.next())
                .await
                .is_ok()
            {
                return;
            }
        }
        panic!("the app never consumed its events");
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

    /// `user`'s notifications through the federation entity resolver, as the router asks.
    pub async fn notifications_of(&self, user: Uuid, token: &str, args: &str) -> Value {
        let query = format!(
            "query($reps: [_Any!]!) {{ _entities(representations: $reps) {{ ... on User {{ \
             notifications{args} {{ edges {{ cursor node {{ id kind title body read createdAt }} }} \
             pageInfo {{ hasNextPage endCursor }} }} unreadNotificationCount }} }} }}"
        );
        let response = self
            .graphql(
                &query,
                json!({ "reps": [{ "__typename": "User", "id": user }] }),
                Some(token),
            )
            .await;
        assert!(response["errors"].is_null(), "{response}");
        response["data"]["_entities"][0].clone()
    }

    /// `user`'s notification kinds, newest first.
    pub async fn kinds_of(&self, user: Uuid) -> Vec<String> {
        let token = tokens::token_for(&self.keys, user);
        let page = self.notifications_of(user, &token, "(first: 100)").await;
        page["notifications"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until `user` has at least `n` notifications; returns their kinds.
    pub async fn wait_for_notifications(&self, user: Uuid, n: usize) -> Vec<String> {
        eventually(&format!("{n} notifications for {user}"), || async {
            let kinds = self.kinds_of(user).await;
            (kinds.len() >= n).then_some(kinds)
        })
        .await
    }

    /// The value of a Prometheus counter line of `/metrics` (0 when absent).
    pub async fn metric(&self, name_and_labels: &str) -> f64 {
        let body = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find_map(|line| {
                line.strip_prefix(name_and_labels)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

pub use service_kit::testing::error_code;
