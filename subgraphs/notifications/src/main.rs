use clap::{Parser, Subcommand};
use notifications::{Application, NotificationsConfig};
use service_kit::{
    config::Env,
    events::{EventSource, InProcessBus},
    telemetry,
};

/// The notifications subgraph. Configuration comes from environment variables (see README).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph and consume events (the default).
    Serve,
    /// Print the federation SDL, as `_service { sdl }` serves it.
    PrintSchema,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::PrintSchema) = cli.command {
        print!("{}", notifications::graphql::sdl());
        return Ok(());
    }
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
    tracing::info!(port = app.port(), "notifications listening");
    let served = app
        .run_until_stopped(Box::pin(telemetry::shutdown_signal()))
        .await;
    // The last requests' spans, before the process ends.
    telemetry::flush_traces();
    served
}
