use payments::{Application, PaymentsConfig};
use service_kit::{
    app::{Cli, NoCommand, run_until_signal},
    config::Env,
    events::InProcessBus,
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::<NoCommand>::run(
        "payments",
        "The payments subgraph. Configuration comes from environment variables (see README).",
        payments::graphql::sdl,
    );
    let config = PaymentsConfig::from_env(&Env::process())?;
    telemetry::init_tracing(&config.log)?;
    let bus = service_kit::events::bus_for(&config.common, &InProcessBus::default());
    let app = Application::build(config, bus).await?;
    run_until_signal("payments", app.port(), |stop| app.run_until_stopped(stop)).await
}
