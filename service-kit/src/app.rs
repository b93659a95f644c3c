//! The host every service runs in: it binds the port, serves the service's routes with
//! `/health`, `/ready` and `/metrics` behind the standard layers, runs the service's named
//! background tasks, and on shutdown drains in-flight requests, then stops every task and
//! waits for it. Also the command line the subgraphs share (`serve`, `print-schema`).

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    http::{serve, with_standard_layers},
    telemetry::{ReadinessCheck, Shutdown, ops_routes},
};

/// The largest request body a subgraph reads.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long a subgraph request may take before it is answered 504.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A background task, started with the token that stops it.
type StartTask = Box<dyn FnOnce(CancellationToken) -> Task + Send>;

/// A service bound to its port, with its background tasks, ready to run.
pub struct Host {
    listener: TcpListener,
    port: u16,
    app: Router,
    tasks: Vec<(&'static str, StartTask)>,
}

impl Host {
    /// Binds `host:port` (0 picks a free port) to serve `routes` and the operational
    /// routes (`/ready` runs `checks`), behind the standard layers.
    pub async fn bind(
        host: &str,
        port: u16,
        routes: Router,
        checks: Vec<Arc<dyn ReadinessCheck>>,
    ) -> std::io::Result<Self> {
        let app = with_standard_layers(
            routes.merge(ops_routes(checks)),
            BODY_LIMIT,
            REQUEST_TIMEOUT,
        );
        Self::bind_app(host, port, app).await
    }

    /// Binds `host:port` to serve `app` as it is (a service with layers of its own: the
    /// router).
    pub async fn bind_app(host: &str, port: u16, app: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind((host, port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            app,
            tasks: Vec::new(),
        })
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `task` beside the server. It is given the token cancelled once the server
    /// has drained, and must end soon after; shutdown waits for it.
    pub fn task<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push((name, Box::new(move |stop| Box::pin(task(stop)) as Task)));
        self
    }

    /// Runs `task` beside the server until shutdown, when it is dropped wherever it is
    /// (a loop with nothing to finish: a sweep, a file watcher).
    pub fn until_stopped<Fut>(self, name: &'static str, task: Fut) -> Self
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.task(name, move |stop| async move {
            stop.run_until_cancelled(task).await;
        })
    }

    /// Serves until `shutdown`, lets in-flight requests finish, then stops the tasks and
    /// waits for each.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let running: Vec<_> = self
            .tasks
            .into_iter()
            .map(|(name, task)| (name, tokio::spawn(task(stop.clone()))))
            .collect();
        let served = serve(self.listener, self.app, shutdown).await;
        stop.cancel();
        for (name, task) in running {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "a background task failed");
            }
        }
        served
    }
}

/// Runs a built service until SIGTERM or Ctrl-C (`run` gets that signal as its shutdown),
/// then exports the last requests' spans before the process ends.
pub async fn run_until_signal<F, Fut>(service: &str, port: u16, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    tracing::info!(port, "{service} listening");
    let served = run(Box::pin(crate::telemetry::shutdown_signal())).await;
    crate::telemetry::flush_traces();
    served
}

/// The commands every subgraph binary has, and any of its own (`E`).
#[derive(Debug, clap::Subcommand)]
pub enum Command<E: clap::Subcommand> {
    /// Serve the subgraph (the default).
    Serve,
    /// Print the federation SDL, as `_service { sdl }` serves it.
    PrintSchema,
    #[command(flatten)]
    Own(E),
}

/// No commands of a service's own.
#[derive(Debug, clap::Subcommand)]
pub enum NoCommand {}

/// A subgraph's command line. Configuration comes from environment variables.
#[derive(Debug, clap::Parser)]
#[command(version)]
pub struct Cli<E: clap::Subcommand = NoCommand> {
    #[command(subcommand)]
    command: Option<Command<E>>,
}

impl<E: clap::Subcommand> Cli<E> {
    /// Parses the process's arguments for the binary `name`, described by `about`.
    /// `print-schema` prints `sdl()` and exits; otherwise the command to run: `None` to
    /// serve, or one of the service's own.
    pub fn run(name: &'static str, about: &'static str, sdl: impl FnOnce() -> String) -> Option<E> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Self::command().name(name).about(about).get_matches();
        let cli = match Self::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        match cli.command {
            None | Some(Command::Serve) => None,
            Some(Command::PrintSchema) => {
                print!("{}", sdl());
                std::process::exit(0);
            }
            Some(Command::Own(own)) => Some(own),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_is_stopped_and_awaited_on_shutdown() {
        let (finished, mut done) = tokio::sync::mpsc::unbounded_channel();
        let host = Host::bind("127.0.0.1", 0, Router::new(), Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(host.port(), 0);
        let graceful = finished.clone();
        let host = host
            .task("graceful", move |stop| async move {
                stop.cancelled().await;
                let _ = graceful.send("graceful");
            })
            .until_stopped("forever", async move {
                let _guard = Sent(finished, "forever");
                std::future::pending::<()>().await;
            });
        host.run_until_stopped(Box::pin(async {}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut seen = vec![done.recv().await, done.recv().await];
        seen.sort();
        assert_eq!(seen, [Some("forever"), Some("graceful")]);
    }

    /// Sends its name when dropped: the task was stopped.
    struct Sent(
        tokio::sync::mpsc::UnboundedSender<&'static str>,
        &'static str,
    );

    impl Drop for Sent {
        fn drop(&mut self) {
            let _ = self.0.send(self.1);
        }
    }
}
