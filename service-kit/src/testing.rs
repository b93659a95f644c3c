//! Test helpers shared by the services' integration tests (feature `testing`).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// A unique, lowercase, identifier-safe name for a test's database, exchange or key prefix.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A TCP proxy in front of a real server that a test can cut and restore, to see how a
/// service behaves while the server is unreachable.
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl TcpProxy {
    /// Listens on an ephemeral port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let cut_rx = cut.subscribe();
        let up_flag = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up_flag.load(Ordering::SeqCst) {
                    // Refuse while down: close at once, like a server that is not there.
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                // Only cuts after this connection opened concern it.
                cut_rx.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {},
                        _ = cut_rx.changed() => {},
                    }
                });
            }
        });
        Ok(Self { addr, up, cut })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and refuses new ones.
    pub fn disable(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn enable(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The real servers tests use. Each can be overridden by an environment variable; the
/// defaults are the servers `scripts/services.sh` starts on the development and CI machines.
pub mod servers {
    fn var(name: &str, default: &str) -> String {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    /// A PostgreSQL URL with rights to create databases (tests create their own).
    pub fn postgres_admin_url() -> String {
        var(
            "TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
    }

    pub fn redis_url() -> String {
        var("TEST_REDIS_URL", "redis://127.0.0.1:6379")
    }

    pub fn amqp_url() -> String {
        var("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
    }

    /// The MongoDB-wire server (SecantusDB on these machines).
    pub fn mongodb_url() -> String {
        var(
            "TEST_MONGODB_URL",
            "mongodb://127.0.0.1:27017/?directConnection=true",
        )
    }

    /// The Python that has the test tools (`aiosmtpd`, `SecantusDB`) installed.
    pub fn python() -> String {
        var("TEST_PYTHON", "python3")
    }
}
