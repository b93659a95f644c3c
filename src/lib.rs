//! The whole platform in one process: the router and the three subgraphs, each on its own
//! port exactly as its own binary would serve it, joined by one event bus.
//!
//! On embedded defaults (SQLite for auth, an embedded store for payments, an in-process
//! store for notifications, mail written to a folder, an in-process bus), all persisting
//! under `DATA_DIR`. Any `*_URL` variable that is set switches that part to the real server.

use std::{path::PathBuf, sync::Arc};

use router::config::{JwtConfig, PerIpLimit, PerUserLimit, RouterConfig, SubgraphConfig};
use service_kit::client_address::TrustedProxies;
use service_kit::{
    config::Env,
    events::{EventSource, InProcessBus},
    telemetry::{self, Shutdown},
};
use tokio::{sync::watch, task::JoinSet};

/// The composed supergraph, built in so the binary runs from any directory.
const SUPERGRAPH: &str = include_str!("../schema/supergraph.graphql");
/// What GraphiQL opens with: the guided tour (checked against the schema in CI).
const TOUR: &str = include_str!("../schema/operations/tour.graphql");

/// Every service, bound to its port and ready to serve.
pub struct Platform {
    pub host: String,
    pub data_dir: PathBuf,
    pub router_port: u16,
    /// The subgraphs' names and ports.
    pub subgraph_ports: Vec<(&'static str, u16)>,
    auth: auth::Application,
    payments: payments::Application,
    notifications: notifications::Application,
    router: router::Application,
}

impl Platform {
    /// Builds every service from `env` (the same variables their own binaries read).
    pub async fn build(env: &Env) -> anyhow::Result<Self> {
        let mut auth_config = auth::AuthConfig::from_env(env)?;
        let mut payments_config = payments::PaymentsConfig::from_env(env)?;
        let mut notifications_config = notifications::NotificationsConfig::from_env(env)?;
        // The router runs in this process: the subgraphs believe its X-Forwarded-For.
        for common in [
            &mut auth_config.common,
            &mut payments_config.common,
            &mut notifications_config.common,
        ] {
            if common.trusted_proxies.is_empty() {
                common.trusted_proxies = TrustedProxies::loopback();
            }
        }
        let common = auth_config.common.clone();

        // One in-process bus joins the services when no AMQP_URL is set.
        let embedded_bus = InProcessBus::default();
        let amqp_url = common.amqp_url.as_deref();
        let bus = service_kit::events::bus_for(&common, &embedded_bus);
        let source = EventSource::new(amqp_url, &common.amqp_exchange, &embedded_bus);

        let auth = auth::Application::build(auth_config, Arc::clone(&bus)).await?;
        // The other subgraphs verify tokens against the auth that actually runs here,
        // whatever port it took, unless told otherwise.
        if env.get("JWKS_URL").is_none() {
            let jwks = format!(
                "http://{}:{}/.well-known/jwks.json",
                common.host,
                auth.port()
            );
            payments_config.jwks.url = jwks.clone();
            notifications_config.jwks.url = jwks;
        }
        let payments = payments::Application::build(payments_config, Arc::clone(&bus)).await?;
        let notifications =
            notifications::Application::build(notifications_config, Arc::clone(&bus), source)
                .await?;
        let subgraph_ports = vec![
            ("auth", auth.port()),
            ("payments", payments.port()),
            ("notifications", notifications.port()),
        ];
        let router_config = router_config(env, &common.host, &common.data_dir, &subgraph_ports)?;
        let router = router::Application::build(router_config).await?;
        Ok(Self {
            host: common.host,
            data_dir: common.data_dir,
            router_port: router.port(),
            subgraph_ports,
            auth,
            payments,
            notifications,
            router,
        })
    }

    /// Serves until `shutdown`, then stops every service gracefully. A service that stops
    /// on its own (say, its port was taken) stops the others too.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| -> Shutdown {
            Box::pin(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
        };
        let mut services = JoinSet::new();
        services.spawn(self.auth.run_until_stopped(stopped(stop_rx.clone())));
        services.spawn(self.payments.run_until_stopped(stopped(stop_rx.clone())));
        services.spawn(
            self.notifications
                .run_until_stopped(stopped(stop_rx.clone())),
        );
        services.spawn(self.router.run_until_stopped(stopped(stop_rx)));
        let early = tokio::select! {
            () = shutdown => None,
            Some(result) = services.join_next() => Some(result),
        };
        let _ = stop_tx.send(true);
        while let Some(result) = services.join_next().await {
            result??;
        }
        match early {
            Some(result) => {
                result??;
                anyhow::bail!("a service stopped unexpectedly")
            }
            None => Ok(()),
        }
    }
}

/// The router as the platform runs it: tokens verified against auth's JWKS, per-IP and
/// per-user rate limits (the latter shared through Redis when `REDIS_URL` is set), GraphiQL opening with the tour,
/// subgraphs at the ports they bound. `ROUTER_CONFIG` (a YAML file) and `ROUTER_*`
/// variables still override any of it.
fn router_config(
    env: &Env,
    host: &str,
    data_dir: &std::path::Path,
    ports: &[(&str, u16)],
) -> anyhow::Result<RouterConfig> {
    let file = env.get("ROUTER_CONFIG").map(PathBuf::from);
    let mut config = RouterConfig::load(file.as_deref(), env)?;
    if env.get("ROUTER_SUPERGRAPH").is_none() && !config.supergraph.path.exists() {
        // Not started from the repository: use the built-in copy.
        let path = data_dir.join("supergraph.graphql");
        telemetry::ensure_parent_dir(&path)?;
        std::fs::write(&path, SUPERGRAPH)?;
        config.supergraph.path = path;
    }
    let auth_port = ports
        .iter()
        .find(|(name, _)| *name == "auth")
        .map_or(auth::config::DEFAULT_PORT, |(_, port)| *port);
    if config.jwt.is_none() {
        config.jwt = Some(JwtConfig {
            jwks_url: Some(format!("http://{host}:{auth_port}/.well-known/jwks.json")),
            ..JwtConfig::default()
        });
    }
    if config.graphiql_example.is_none() {
        config.graphiql_example = Some(TOUR.to_owned());
    }
    if config.rate_limit.per_ip.is_none() {
        config.rate_limit.per_ip = Some(PerIpLimit::default());
    }
    // The per-user and login/register budgets hold without Redis too (counted in this
    // process); REDIS_URL shares them between routers.
    if config.rate_limit.per_user.is_none() {
        config.rate_limit.per_user = Some(PerUserLimit {
            redis_url: env.get("REDIS_URL"),
            ..PerUserLimit::default()
        });
    }
    for (name, port) in ports {
        config
            .subgraphs
            .entry((*name).to_owned())
            .or_insert_with(|| SubgraphConfig {
                url: Some(format!("http://{host}:{port}/graphql")),
                ..SubgraphConfig::default()
            });
    }
    Ok(config)
}
