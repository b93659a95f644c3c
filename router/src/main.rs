use std::path::PathBuf;

use clap::Parser;
use router::{Application, RouterConfig};
use service_kit::{app::run_until_signal, config::Env, telemetry};

/// The platform's federated GraphQL router. Every setting has a default; a YAML file
/// (`--config`) and environment variables override them (see `router/README.md`).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The Federation v2 supergraph SDL to serve [default: schema/supergraph.graphql, or
    /// `supergraph.path` from the config file, or ROUTER_SUPERGRAPH].
    #[arg(long)]
    supergraph: Option<PathBuf>,
    /// Optional YAML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env = Env::process();
    let log = telemetry::LogConfig::from_env(&env)?.service("router");
    telemetry::init_tracing(&log)?;
    let mut config = RouterConfig::load(cli.config.as_deref(), &env)?;
    // An explicit flag wins over the file and the environment.
    if let Some(path) = cli.supergraph {
        config.supergraph.path = path;
    }
    let app = Application::build(config).await?;
    run_until_signal("router", app.port(), |stop| app.run_until_stopped(stop)).await
}
