//! `spawn_app`: the real auth application on port 0, on a fresh database of its own.

use std::{sync::Arc, time::Duration};

use auth::{Application, AuthConfig, config::SigningKeySource, service::AuthService};
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use service_kit::{
    config::Env,
    events::{Envelope, EventBus, InProcessBus, rabbitmq::RabbitBus},
    testing::{
        TcpProxy, TestKeys, amqp_proxy, cleanup_on_own_thread, delete_exchange,
        in_process_listener, rabbit_listener, servers, unique_name,
    },
};
use tokio::sync::{mpsc, oneshot};

/// Which adapters an app runs on: PostgreSQL and RabbitMQ (`Real`), or SQLite and the in-process bus (`Embedded`).
pub use service_kit::testing::Backend;

pub struct TestApp {
    pub address: String,
    pub service: Arc<AuthService>,
    pub client: reqwest::Client,
    /// The app's signing key, so tests can forge tokens with the right key. Auth names it
    /// by its thumbprint, not by this key's `kid`: read the served JWKS for that.
    pub signing_key: TestKeys,
    pub exchange: String,
    events: mpsc::UnboundedReceiver<Envelope>,
    stop: Option<oneshot::Sender<()>>,
    cleanup: Cleanup,
    pub proxy: Option<TcpProxy>,
}

enum Cleanup {
    Postgres { database: String },
    Sqlite { dir: std::path::PathBuf },
}

pub struct Options {
    pub backend: Backend,
    /// Put a cuttable proxy between the app and RabbitMQ.
    pub broker_proxy: bool,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(Options {
        backend,
        broker_proxy: false,
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let exchange = unique_name("test_events");
    let signing_key = TestKeys::generate("auth");
    let mut vars: Vec<(String, String)> = vec![
        ("AUTH_PORT".into(), "0".into()),
        ("AMQP_EXCHANGE".into(), exchange.clone()),
        ("AUTH_SIGNING_KEY".into(), signing_key.pkcs8_pem()),
        // Cheap hashing keeps the suite fast; the parameters are covered by unit tests.
        ("ARGON2_MEMORY_KIB".into(), "64".into()),
        ("ARGON2_ITERATIONS".into(), "1".into()),
        ("OUTBOX_MAX_BACKOFF_MS".into(), "500".into()),
        ("OUTBOX_POLL_INTERVAL_MS".into(), "100".into()),
        // Tests stand in for the router: they name the client with X-Forwarded-For.
        ("TRUSTED_PROXIES".into(), "127.0.0.1".into()),
    ];
    let (cleanup, events, bus, proxy): (Cleanup, _, Arc<dyn EventBus>, _) = match options.backend {
        Backend::Real => {
            let database = unique_name("auth_test");
            let admin = Database::connect(servers::postgres_admin_url())
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {database}"))
                .await
                .unwrap();
            vars.push(("DATABASE_URL".into(), database_url(&database)));
            let events = rabbit_listener(&exchange, "#").await;
            let (amqp, proxy) = if options.broker_proxy {
                let (proxy, url) = amqp_proxy().await;
                (url, Some(proxy))
            } else {
                (servers::amqp_url(), None)
            };
            let bus: Arc<dyn EventBus> = Arc::new(RabbitBus::new(amqp, exchange.clone()));
            (Cleanup::Postgres { database }, events, bus, proxy)
        }
        Backend::Embedded => {
            let dir = std::env::temp_dir().join(unique_name("auth_test"));
            vars.push(("DATA_DIR".into(), dir.display().to_string()));
            let bus = InProcessBus::default();
            let events = in_process_listener(&bus);
            (Cleanup::Sqlite { dir }, events, Arc::new(bus) as _, None)
        }
    };
    let config = AuthConfig::from_env(&Env::from_map(vars)).unwrap();
    assert!(matches!(config.signing_key, SigningKeySource::Pem(_)));
    let app = Application::build(config, bus).await.unwrap();
    let port = app.port();
    let service = app.service();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(Box::pin(async {
        let _ = stopped.await;
    })));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),

        service,
        client: reqwest::Client::new(),
        signing_key,
        exchange,
        events,
        stop: Some(stop),
        cleanup,
        proxy,
    }
}

fn database_url(database: &str) -> String {
    let admin = servers::postgres_admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{database}")
}

impl TestApp {
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

    /// `login` as a client at `address` (behind the trusted proxy the test plays).
    pub async fn login_from(&self, address: &str, email: &str, password: &str) -> Value {
        self.client
            .post(format!("{}/graphql", self.address))
            .header("x-forwarded-for", address)
            .json(&json!({ "query": LOGIN, "variables": { "input": { "email": email, "password": password } } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Registers a user and returns the `register` payload.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let response = self
            .graphql(
                REGISTER,
                json!({ "input": { "email": email, "password": password, "firstName": "Ada", "lastName": "Lovelace" } }),
                None,
            )
            .await;
        assert!(response["errors"].is_null(), "register failed: {response}");
        response["data"]["register"].clone()
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.graphql(
            LOGIN,
            json!({ "input": { "email": email, "password": password } }),
            None,
        )
        .await
    }

    /// An ADMIN account's access token.
    pub async fn admin_token(&self) -> String {
        let email = format!("{}@example.com", unique_name("admin"));
        self.service
            .create_admin(auth::service::NewAccount {
                email: email.clone(),
                password: "admin password".into(),
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
            })
            .await
            .unwrap();
        let response = self.login(&email, "admin password").await;
        response["data"]["login"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn user_count(&self) -> u64 {
        auth::storage::entities::users::Entity::find()
            .count(self.service.db())
            .await
            .unwrap()
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

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let exchange = self.exchange.clone();
        let cleanup = std::mem::replace(
            &mut self.cleanup,
            Cleanup::Sqlite {
                dir: std::path::PathBuf::new(),
            },
        );
        // Async cleanup on a thread of its own: Drop cannot await.
        cleanup_on_own_thread(async move {
            match cleanup {
                Cleanup::Postgres { database } => {
                    if let Ok(admin) = Database::connect(servers::postgres_admin_url()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                            ))
                            .await;
                    }
                    delete_exchange(&exchange, &[]).await;
                }
                Cleanup::Sqlite { dir } => {
                    if !dir.as_os_str().is_empty() {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                }
            }
        });
    }
}

pub const REGISTER: &str = "mutation Register($input: RegisterInput!) { register(input: $input) { accessToken refreshToken tokenType expiresIn user { id email firstName lastName role isActive createdAt updatedAt } } }";
pub const LOGIN: &str = "mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id email } } }";
pub const REFRESH: &str = "mutation Refresh($token: String!) { refresh(refreshToken: $token) { accessToken refreshToken user { id } } }";
pub const LOGOUT: &str = "mutation Logout($token: String!) { logout(refreshToken: $token) }";
pub const ME: &str = "{ me { id email firstName role } }";

pub use service_kit::testing::error_code;
