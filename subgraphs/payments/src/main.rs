use clap::{Parser, Subcommand};
use payments::{Application, PaymentsConfig};
use service_kit::{config::Env, events::InProcessBus, telemetry};

/// The payments subgraph. Configuration comes from environment variables (see README).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the subgraph (the default).
    Serve,
    /// Print the federation SDL, as `_service { sdl }` serves it.
    PrintSchema,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::PrintSchema) = cli.command {
        print!("{}", payments::graphql::sdl());
        return Ok(());
    }
    let config = PaymentsConfig::from_env(&Env::process())?;
    telemetry::init_tracing(&config.log)?;
    let bus = service_kit::events::bus_for(&config.common, &InProcessBus::default());
    let app = Application::build(config, bus).await?;
    tracing::info!(port = app.port(), "payments listening");
    let served = app
        .run_until_stopped(Box::pin(telemetry::shutdown_signal()))
        .await;
    // The last requests' spans, before the process ends.
    telemetry::flush_traces();
    served
}
