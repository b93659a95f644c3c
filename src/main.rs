//! `cargo run --release`: the whole platform in one process (see the library).

use service_kit::{
    config::Env,
    telemetry::{self, LogConfig},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::process();
    telemetry::init_tracing(&LogConfig::from_env(&env)?)?;
    let platform = platform::Platform::build(&env).await?;

    let host = &platform.host;
    let port = platform.router_port;
    println!();
    println!(
        "  The platform is up (data in {}).",
        platform.data_dir.display()
    );
    println!("  GraphiQL        http://{host}:{port}/");
    println!("  GraphQL         http://{host}:{port}/graphql");
    println!("  Metrics         http://{host}:{port}/metrics");
    for (name, port) in &platform.subgraph_ports {
        println!("  {name:<15} http://{host}:{port}/graphql");
    }
    println!("  Press Ctrl-C to stop.");
    println!();

    service_kit::app::run_until_signal("platform", port, |stop| platform.run_until_stopped(stop))
        .await
}
