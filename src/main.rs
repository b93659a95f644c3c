//! The whole platform in one process: `cargo run --release`.
//!
//! The router and the three subgraphs run on their default ports exactly as their own
//! binaries would, on embedded defaults (SQLite for auth, an embedded store for payments,
//! an in-process store for notifications, mail written to a folder, one in-process event
//! bus), all persisting under `./data`. Any `*_URL` variable that is set switches that part
//! to the real server.

use std::{path::PathBuf, sync::Arc};

use router::config::{JwtConfig, PerIpLimit, PerUserLimit, RouterConfig, SubgraphConfig};
use service_kit::{
    config::Env,
    events::{EventSource, InProcessBus},
    telemetry::{self, LogConfig},
};
use tokio::{sync::watch, task::JoinSet};

/// The composed supergraph, built in so the binary runs from any directory.
const SUPERGRAPH: &str = include_str!("../schema/supergraph.graphql");
/// What GraphiQL opens with: the guided tour (checked against the schema in CI).
const TOUR: &str = include_str!("../schema/operations/tour.graphql");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::process();
    telemetry::init_tracing(&LogConfig::from_env(&env)?)?;
    let auth_config = auth::AuthConfig::from_env(&env)?;
    let payments_config = payments::PaymentsConfig::from_env(&env)?;
    let notifications_config = notifications::NotificationsConfig::from_env(&env)?;
    let common = auth_config.common.clone();

    // One in-process bus joins the services when no AMQP_URL is set.
    let embedded_bus = InProcessBus::default();
    let bus = service_kit::events::bus_for(
        common.amqp_url.as_deref(),
        &common.amqp_exchange,
        &embedded_bus,
    );
    let source = EventSource::new(
        common.amqp_url.as_deref(),
        &common.amqp_exchange,
        &embedded_bus,
    );

    let auth = auth::Application::build(auth_config, Arc::clone(&bus)).await?;
    let payments = payments::Application::build(payments_config, Arc::clone(&bus)).await?;
    let notifications =
        notifications::Application::build(notifications_config, Arc::clone(&bus), source).await?;
    let ports = [
        ("auth", auth.port()),
        ("payments", payments.port()),
        ("notifications", notifications.port()),
    ];
    let router_config = platform_router_config(&env, &common.host, &common.data_dir, &ports)?;
    let router = router::Application::build(router_config).await?;
    let router_port = router.port();

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| -> telemetry::Shutdown {
        Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
    };
    let mut services = JoinSet::new();
    services.spawn(auth.run_until_stopped(stopped(stop_rx.clone())));
    services.spawn(payments.run_until_stopped(stopped(stop_rx.clone())));
    services.spawn(notifications.run_until_stopped(stopped(stop_rx.clone())));
    services.spawn(router.run_until_stopped(stopped(stop_rx.clone())));

    let host = &common.host;
    println!();
    println!(
        "  The platform is up (data in {}).",
        common.data_dir.display()
    );
    println!("  GraphiQL        http://{host}:{router_port}/");
    println!("  GraphQL         http://{host}:{router_port}/graphql");
    println!("  Metrics         http://{host}:{router_port}/metrics");
    for (name, port) in ports {
        println!("  {name:<15} http://{host}:{port}/graphql");
    }
    println!("  Press Ctrl-C to stop.");
    println!();

    tokio::select! {
        () = telemetry::shutdown_signal() => {}
        // A service that stops on its own (e.g. a port taken) stops the platform.
        Some(result) = services.join_next() => {
            let _ = stop_tx.send(true);
            result??;
            anyhow::bail!("a service stopped unexpectedly");
        }
    }
    let _ = stop_tx.send(true);
    while let Some(result) = services.join_next().await {
        result??;
    }
    Ok(())
}

/// The router as the platform runs it: tokens verified against auth's JWKS, per-IP rate
/// limits (and per-user ones when `REDIS_URL` is set), subgraphs at the ports they bound.
/// `ROUTER_*` variables still override any of it.
fn platform_router_config(
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
        .find(|(n, _)| *n == "auth")
        .map_or(4001, |(_, p)| *p);
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
    if config.rate_limit.per_user.is_none()
        && let Some(redis_url) = env.get("REDIS_URL")
    {
        config.rate_limit.per_user = Some(PerUserLimit {
            redis_url: Some(redis_url),
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
