#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! The platform end to end, as production runs it: the router and the three subgraphs as
//! separate processes on the real servers, driven through the router only (see `e2e::Stack`).

mod attacks;
mod faults;
mod journey;
mod policies;
mod tracing;
mod transports;

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Where the suite keeps what CI archives (the GraphiQL screenshot):
/// `E2E_ARTIFACTS_DIR`, or `artifacts/e2e` in the repository.
pub fn artifacts_dir() -> std::path::PathBuf {
    let dir = std::env::var("E2E_ARTIFACTS_DIR").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/e2e"),
        Into::into,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Node clients' directory, with its packages installed (`npm ci`, as `scripts/test.sh` does).
pub fn node_clients() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients");
    assert!(
        dir.join("node_modules/graphql-ws").exists(),
        "run `npm ci --prefix e2e/clients` first (scripts/test.sh does)"
    );
    dir
}

/// One of the Node clients in `e2e/clients` (the npm packages people use), run with `args`;
/// it prints what it receives as JSON lines and ends when its standard input closes.
pub struct NodeClient {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl NodeClient {
    pub async fn start(script: &str, args: &[&str]) -> Self {
        let mut child = tokio::process::Command::new("node")
            .arg(node_clients().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next line, or `None` when none came `within` or the client has exited.
    pub async fn try_next(&mut self, within: Duration) -> Option<Value> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .ok()?
            .unwrap()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    pub async fn next(&mut self) -> Value {
        self.try_next(Duration::from_secs(30))
            .await
            .expect("the Node client printed a line within 30 s")
    }

    /// Closes standard input (the client's signal to end) and waits for it.
    pub async fn close(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait().await;
    }
}

/// Runs an operation in GraphiQL in headless Chromium (`graphiql.mjs`; `mode` `defer` runs a
/// deferred one and waits for its deferred part) and returns what the script reported:
/// the result pane's text and the requests that failed.
pub async fn run_graphiql(
    stack: &e2e::Stack,
    token: &str,
    screenshot: &std::path::Path,
    mode: Option<&str>,
) -> Value {
    let _ = std::fs::remove_file(screenshot);
    let router = format!("http://127.0.0.1:{}", stack.port(e2e::Service::Router));
    let screenshot = screenshot.display().to_string();
    let output = tokio::process::Command::new("node")
        .arg(node_clients().join("graphiql.mjs"))
        .args([router.as_str(), token, screenshot.as_str()])
        .args(mode)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "GraphiQL run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
