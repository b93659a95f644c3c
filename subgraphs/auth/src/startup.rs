//! Building and running the auth service: `Application::build` binds the port (0 picks a
//! free one, which is how tests spawn the real app) and `run_until_stopped` serves it.

use std::sync::Arc;

use axum::{
    Json, Router,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};
use sea_orm::DatabaseConnection;
use service_kit::{
    app::Host,
    events::{BrokerCheck, EventBus},
    http::{GraphqlState, graphql_handler},
    outbox::OutboxRelay,
    telemetry::{ReadinessCheck, Shutdown},
};

use crate::{
    config::AuthConfig,
    graphql::{AuthSchema, schema_builder},
    passwords::PasswordHasher,
    service::AuthService,
    storage::{self, SeaOrmOutbox},
    throttle::LoginThrottle,
    tokens::{SigningKeys, TokenIssuer},
};

pub struct Application {
    host: Host,
    service: Arc<AuthService>,
}

impl Application {
    /// Connects to the database (migrating it if configured), loads the signing key and
    /// binds the listener. Events go to `bus` through the outbox.
    pub async fn build(config: AuthConfig, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let Components {
            db,
            issuer,
            relay,
            service,
        } = Components::build(&config, bus.clone()).await?;
        let schema: AuthSchema = config
            .common
            .limits
            .apply(schema_builder())
            .data(service.clone())
            .finish();
        // Every caller is looked up in auth's own table (cached briefly).
        let state = GraphqlState {
            schema,
            verifier: issuer.verifier(),
            accounts: Some(service.accounts()),
            trusted_proxies: config.common.trusted_proxies.clone(),
        };
        let jwks = issuer.keys().jwks().clone();
        let routes = Router::new()
            .route("/graphql", post(graphql_handler))
            .with_state(state)
            .route(
                "/.well-known/jwks.json",
                get(move || {
                    let jwks = jwks.clone();
                    async move {
                        ([(header::CACHE_CONTROL, "public, max-age=300")], Json(jwks))
                            .into_response()
                    }
                }),
            );
        let checks: Vec<Arc<dyn ReadinessCheck>> =
            vec![Arc::new(DatabaseCheck(db)), Arc::new(BrokerCheck(bus))];
        let host = Host::bind(&config.common.host, config.port, routes, checks)
            .await?
            // Events not yet published stay in the outbox for the next start.
            .task("outbox relay", move |stop| relay.run(stop));
        Ok(Self { host, service })
    }

    pub fn port(&self) -> u16 {
        self.host.port()
    }

    pub fn service(&self) -> Arc<AuthService> {
        self.service.clone()
    }

    /// Serves until `shutdown`, then finishes in-flight requests and stops the relay.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        self.host
            .run_until_stopped(shutdown)
            .await
            .map_err(Into::into)
    }
}

/// The service and its outbox relay, without a listener (also for the CLI commands).
pub struct Components {
    pub db: DatabaseConnection,
    pub issuer: TokenIssuer,
    pub relay: OutboxRelay,
    pub service: Arc<AuthService>,
}

impl Components {
    pub async fn build(config: &AuthConfig, bus: Arc<dyn EventBus>) -> anyhow::Result<Self> {
        let db = storage::connect(&config.database_url, config.database_max_connections).await?;
        if config.run_migrations {
            storage::migrate(&db).await?;
        }
        let keys = SigningKeys::load(&config.signing_key)?;
        let issuer = TokenIssuer::new(
            keys,
            config.issuer.clone(),
            config.audience.clone(),
            config.access_token_ttl,
        );
        let relay = OutboxRelay::new(
            "auth",
            Arc::new(SeaOrmOutbox::new(db.clone())),
            bus,
            config.relay.clone(),
        );
        let service = Arc::new(AuthService::new(
            db.clone(),
            PasswordHasher::new(config.argon2)?,
            issuer.clone(),
            config.refresh_token_ttl,
            relay.waker(),
            LoginThrottle::new(config.login_throttle),
        ));
        Ok(Self {
            db,
            issuer,
            relay,
            service,
        })
    }
}

struct DatabaseCheck(DatabaseConnection);

#[async_trait::async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|_| "unreachable".to_owned())
    }
}
