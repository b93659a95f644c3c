#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! The platform end to end, as production runs it: the router and the three subgraphs as
//! separate processes on the real servers, driven through the router only (see `e2e::Stack`).

mod attacks;
mod faults;
mod journey;

use std::time::Duration;

/// Polls `check` every 100 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
