//! The whole platform in one process, on embedded defaults: `cargo run --release`.
//!
//! Each service runs on its default port exactly as its own binary would; any `*_URL`
//! variable that is set switches that part to the real server.

use std::sync::Arc;

use service_kit::{config::Env, events::InProcessBus, telemetry};
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::process();
    let auth_config = auth::AuthConfig::from_env(&env)?;
    telemetry::init_tracing(&auth_config.log)?;

    // One in-process bus joins the services when no AMQP_URL is set.
    let embedded_bus = InProcessBus::default();
    let bus = service_kit::events::bus_for(
        auth_config.common.amqp_url.as_deref(),
        &auth_config.common.amqp_exchange,
        &embedded_bus,
    );

    let host = auth_config.common.host.clone();
    let auth = auth::Application::build(auth_config, Arc::clone(&bus)).await?;
    let auth_port = auth.port();

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| -> telemetry::Shutdown {
        Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
    };
    let auth_task = tokio::spawn(auth.run_until_stopped(stopped(stop_rx.clone())));

    println!();
    println!("  platform is up (embedded defaults; data in ./data)");
    println!("  auth subgraph   http://{host}:{auth_port}/graphql");
    println!("  auth JWKS       http://{host}:{auth_port}/.well-known/jwks.json");
    println!("  auth metrics    http://{host}:{auth_port}/metrics");
    println!("  press Ctrl-C to stop");
    println!();

    telemetry::shutdown_signal().await;
    let _ = stop_tx.send(true);
    auth_task.await??;
    Ok(())
}
