use notifications::{Application, NotificationsConfig};
use service_kit::{
    app::{Cli, NoCommand, run_until_signal},
    config::Env,
    events::{EventSource, InProcessBus},
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::<NoCommand>::run(
        "notifications",
        "The notifications subgraph: serves it and consumes events. Configuration comes \
         from environment variables (see README).",
        notifications::graphql::sdl,
    );
    let config = NotificationsConfig::from_env(&Env::process())?;
    telemetry::init_tracing(&config.log)?;
    // Alone in its process, the in-process bus only carries this service's own live
    // announcements; AMQP_URL connects it to the platform's events.
    let embedded = InProcessBus::default();
    let bus = service_kit::events::bus_for(&config.common, &embedded);
    let source = EventSource::new(
        config.common.amqp_url.as_deref(),
        &config.common.amqp_exchange,
        &embedded,
    );
    let app = Application::build(config, bus, source).await?;
    run_until_signal("notifications", app.port(), |stop| {
        app.run_until_stopped(stop)
    })
    .await
}
