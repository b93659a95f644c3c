use std::io::BufRead;

use auth::{Application, AuthConfig, service::NewAccount, startup::Components};
use clap::Subcommand;
use service_kit::{
    app::{Cli, run_until_signal},
    config::Env,
    events::InProcessBus,
    telemetry,
};

/// Auth's own commands, beside `serve` and `print-schema`.
#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an ADMIN account, or make an existing account ADMIN. The password is read
    /// from ADMIN_PASSWORD or, if unset, from the first line of standard input (never from
    /// the command line, where other users could see it).
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        first_name: String,
        #[arg(long, default_value = "User")]
        last_name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::<Command>::run(
        "auth",
        "The accounts subgraph. Configuration comes from environment variables (see README).",
        auth::graphql::sdl,
    );
    let config = AuthConfig::from_env(&Env::process())?;
    telemetry::init_tracing(&config.log)?;
    match command {
        None => {
            let bus = service_kit::events::bus_for(&config.common, &InProcessBus::default());
            let app = Application::build(config, bus).await?;
            run_until_signal("auth", app.port(), |stop| app.run_until_stopped(stop)).await
        }
        Some(Command::Migrate) => {
            let db = auth::storage::connect(&config.database_url, 1).await?;
            auth::storage::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Some(Command::CreateAdmin {
            email,
            first_name,
            last_name,
        }) => {
            let password = match std::env::var("ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let mut config = config;
            config.run_migrations = true;
            let bus = service_kit::events::bus_for(&config.common, &InProcessBus::default());
            let components = Components::build(&config, bus).await?;
            let (user, created) = components
                .service
                .create_admin(NewAccount {
                    email,
                    password,
                    first_name,
                    last_name,
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            // Publish the resulting event now, if the broker is reachable; otherwise it waits
            // in the outbox for the service's relay.
            if let Err(e) = components.relay.publish_batch().await {
                eprintln!("note: events stay in the outbox until the broker is reachable ({e})");
            }
            let verb = if created { "created" } else { "promoted" };
            println!("{verb} ADMIN {} ({})", user.email, user.id);
            Ok(())
        }
    }
}
