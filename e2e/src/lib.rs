//! The platform as production runs it: the router and the three subgraphs as separate
//! processes (the binaries cargo built), on the real PostgreSQL, MongoDB-wire server, Redis,
//! RabbitMQ and an aiosmtpd SMTP server, each reached through a [`TcpProxy`] so that a test
//! can take a server away from the platform and give it back without disturbing other
//! suites that share it.
//!
//! Used by the end-to-end suite (`tests/e2e`) and the load harness (`src/bin/load.rs`).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Mutex,
    time::Duration,
};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use service_kit::testing::{
    TcpProxy, cleanup_on_own_thread, delete_exchange, servers, unique_name,
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub mod client;
pub mod journey;

pub use client::{Client, Session, subscribe};

/// One of the platform's four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Auth,
    Payments,
    Notifications,
    Router,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Auth,
        Service::Payments,
        Service::Notifications,
        Service::Router,
    ];

    /// The binary's (and log file's) name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Payments => "payments",
            Service::Notifications => "notifications",
            Service::Router => "router",
        }
    }
}

/// How a stack differs from the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Extra environment for one service, applied last.
    pub env: Vec<(Service, &'static str, String)>,
    /// Cheap argon2 parameters (tests register many users); false keeps the OWASP defaults.
    pub cheap_hashing: bool,
    /// `RUST_LOG` for every service (`E2E_LOG` overrides it, to debug a failing test).
    pub log_level: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            cheap_hashing: true,
            log_level: "info",
        }
    }
}

impl Options {
    pub fn with(mut self, service: Service, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((service, key, value.into()));
        self
    }
}

/// The four services running as processes, and the proxies in front of the servers they use.
pub struct Stack {
    /// Logs (`<service>.log`), data directories, the SMTP server's mail.
    pub dir: PathBuf,
    ports: Mutex<HashMap<Service, u16>>,
    envs: HashMap<Service, Vec<(String, String)>>,
    children: Mutex<HashMap<Service, Child>>,
    pub postgres: TcpProxy,
    pub redis: TcpProxy,
    pub rabbitmq: TcpProxy,
    _smtp: Child,
    resources: Resources,
}

/// What a stack created on the shared servers, removed when it is dropped.
#[derive(Clone)]
struct Resources {
    database: String,
    mongo_database: String,
    redis_prefixes: Vec<String>,
    exchange: String,
    queues: Vec<String>,
}

/// The directory cargo put the binaries in: `E2E_BIN_DIR`, or the profile directory of the
/// running test or bench binary (`target/debug/deps/e2e-…` → `target/debug`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("E2E_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("the running binary has a path");
    let mut dir = exe
        .parent()
        .expect("the binary is in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn binary(service: Service) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(service.name());
    if !path.exists() {
        bail!(
            "{} is missing: build the services first (`cargo build --workspace --bins`; \
             `cargo nextest run --workspace` builds them)",
            path.display()
        );
    }
    Ok(path)
}

async fn proxy_to(url: &str, default_port: u16) -> anyhow::Result<(TcpProxy, String)> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_part = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, h)| h);
    let host_port = host_part
        .split(['/', '?'])
        .next()
        .unwrap_or(host_part)
        .to_owned();
    let target = if host_port.contains(':') {
        host_port.clone()
    } else {
        format!("{host_port}:{default_port}")
    };
    let upstream = tokio::net::lookup_host(&target)
        .await?
        .next()
        .context("the server has an address")?;
    let proxy = TcpProxy::start(upstream).await?;
    let proxied = url.replacen(&host_port, &proxy.addr().to_string(), 1);
    Ok((proxy, proxied))
}

impl Stack {
    /// Starts aiosmtpd, then auth, payments, notifications and the router, each once its
    /// dependencies answer; returns when the router is ready.
    pub async fn start(options: Options) -> anyhow::Result<Stack> {
        let dir = std::env::temp_dir().join(unique_name("e2e"));
        std::fs::create_dir_all(&dir)?;

        let resources = Resources {
            database: unique_name("e2e_auth"),
            mongo_database: unique_name("e2e_payments"),
            redis_prefixes: vec![unique_name("e2e_notifications"), unique_name("e2e_limits")],
            exchange: unique_name("e2e_events"),
            queues: vec![
                unique_name("e2e_notifications"),
                unique_name("e2e_payments"),
            ],
        };
        let admin = Database::connect(servers::postgres_admin_url()).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", resources.database))
            .await?;
        admin.close().await?;

        let (postgres, pg_url) = proxy_to(&servers::postgres_admin_url(), 5432).await?;
        let database_url = match pg_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", resources.database),
            None => bail!("TEST_DATABASE_URL has no database part"),
        };
        let (redis, redis_url) = proxy_to(&servers::redis_url(), 6379).await?;
        let (rabbitmq, amqp_url) = proxy_to(&servers::amqp_url(), 5672).await?;
        let (mongo_proxyless_url, smtp_port) =
            (servers::mongodb_url(), service_kit::testing::free_port());

        let mail_dir = dir.join("mail");
        let smtp = start_smtp(smtp_port, &mail_dir).await?;

        // Each service binds port 0 and reports the port it got, so that stacks running side
        // by side never race for a port; dependants learn it before they start.
        let common = |service: Service| -> Vec<(String, String)> {
            [
                ("PATH", std::env::var("PATH").unwrap_or_default()),
                ("HOST", "127.0.0.1".into()),
                ("RUST_LOG", log_filter(service, options.log_level)),
                ("LOG_FORMAT", "json".into()),
                ("DATA_DIR", dir.join(service.name()).display().to_string()),
                ("AMQP_URL", amqp_url.clone()),
                ("AMQP_EXCHANGE", resources.exchange.clone()),
                ("OUTBOX_POLL_INTERVAL_MS", "100".into()),
                ("OUTBOX_MAX_BACKOFF_MS", "1000".into()),
                // The subgraphs believe the router's X-Forwarded-For, as a deployment
                // lists its router; the router itself trusts no proxy unless a test says so.
                ("TRUSTED_PROXIES", "127.0.0.1".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        };

        let mut envs: HashMap<Service, Vec<(String, String)>> = HashMap::new();
        let mut auth = common(Service::Auth);
        auth.push(("DATABASE_URL".into(), database_url));
        auth.push((
            "AUTH_SIGNING_KEY_FILE".into(),
            dir.join("auth-signing-key.pem").display().to_string(),
        ));
        if options.cheap_hashing {
            auth.push(("ARGON2_MEMORY_KIB".into(), "64".into()));
            auth.push(("ARGON2_ITERATIONS".into(), "1".into()));
        }
        envs.insert(Service::Auth, auth);

        let mut payments = common(Service::Payments);
        payments.push(("MONGODB_URL".into(), mongo_proxyless_url));
        payments.push(("MONGODB_DATABASE".into(), resources.mongo_database.clone()));
        payments.push(("PAYMENTS_WORK_QUEUE".into(), resources.queues[1].clone()));
        envs.insert(Service::Payments, payments);

        let mut notifications = common(Service::Notifications);
        notifications.push(("REDIS_URL".into(), redis_url.clone()));
        notifications.push((
            "REDIS_KEY_PREFIX".into(),
            resources.redis_prefixes[0].clone(),
        ));
        notifications.push(("SMTP_URL".into(), format!("smtp://127.0.0.1:{smtp_port}")));
        notifications.push(("NOTIFICATIONS_QUEUE".into(), resources.queues[0].clone()));
        notifications.push(("NOTIFICATIONS_RETRY_DELAYS_MS".into(), "500,2000".into()));
        envs.insert(Service::Notifications, notifications);

        let mut router = common(Service::Router);
        let supergraph = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/supergraph.graphql");
        router.push(("ROUTER_SUPERGRAPH".into(), supergraph.display().to_string()));
        router.push(("ROUTER_SUPERGRAPH_WATCH".into(), "false".into()));
        router.push(("REDIS_URL".into(), redis_url));
        router.push((
            "ROUTER_RATE_LIMIT_PREFIX".into(),
            resources.redis_prefixes[1].clone(),
        ));
        envs.insert(Service::Router, router);

        let mut stack = Stack {
            dir,
            ports: Mutex::new(HashMap::new()),
            envs,
            children: Mutex::new(HashMap::new()),
            postgres,
            redis,
            rabbitmq,
            _smtp: smtp,
            resources,
        };
        let overrides = options.env;
        let apply_overrides = |stack: &mut Stack, service: Service| {
            for (s, key, value) in &overrides {
                if *s == service {
                    stack.set_env(service, key, value.clone());
                }
            }
        };
        apply_overrides(&mut stack, Service::Auth);
        stack.spawn(Service::Auth).await?;
        let jwks_url = format!(
            "http://127.0.0.1:{}/.well-known/jwks.json",
            stack.port(Service::Auth)
        );
        for service in [Service::Payments, Service::Notifications] {
            stack.set_env(service, "JWKS_URL", jwks_url.clone());
            apply_overrides(&mut stack, service);
            stack.spawn(service).await?;
        }
        stack.set_env(Service::Router, "ROUTER_JWKS_URL", jwks_url);
        for service in [Service::Auth, Service::Payments, Service::Notifications] {
            let url = format!("http://127.0.0.1:{}/graphql", stack.port(service));
            let key = format!("ROUTER_SUBGRAPH_{}_URL", service.name().to_uppercase());
            stack.set_env(Service::Router, &key, url);
        }
        apply_overrides(&mut stack, Service::Router);
        stack.spawn(Service::Router).await?;
        Ok(stack)
    }

    /// The RabbitMQ exchange this stack's services share.
    pub fn exchange(&self) -> &str {
        &self.resources.exchange
    }

    /// The port a service listens on (once it has started).
    pub fn port(&self, service: Service) -> u16 {
        self.ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service)
            .copied()
            .unwrap_or_else(|| panic!("{} has not started", service.name()))
    }

    /// The router's GraphQL endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.port(Service::Router))
    }

    /// A client of the router's GraphQL endpoint.
    pub fn client(&self) -> Client {
        Client::new(self.url())
    }

    /// Where the SMTP server writes every message it accepts, one `.eml` file each.
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    /// A service's combined stdout and stderr so far.
    pub fn log(&self, service: Service) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", service.name())))
            .unwrap_or_default()
    }

    /// Starts (or restarts) a service with its environment and port, and waits until it is
    /// ready (see [`Stack::launch`]).
    pub async fn spawn(&self, service: Service) -> anyhow::Result<()> {
        // A restart keeps its port (the others know it); a first start takes any free one.
        let known = self
            .ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service)
            .copied();
        let (child, port) = self.launch(service, known, service.name()).await?;
        self.lock().insert(service, child);
        self.ports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(service, port);
        Ok(())
    }

    /// Another instance of a service, with the same configuration, on a port of its own
    /// (log `<service>-<n>.log`): horizontal scaling, as a deployment would add replicas.
    pub async fn replica(&self, service: Service, n: usize) -> anyhow::Result<(Child, u16)> {
        self.launch(service, None, &format!("{}-{n}", service.name()))
            .await
    }

    /// Starts a process of `service` on `port` (0: any) and waits until it is ready:
    /// `/ready` for the router (every subgraph answers), `/health` for a subgraph, whose
    /// work queue must also be declared. Returns the process and its port.
    async fn launch(
        &self,
        service: Service,
        port: Option<u16>,
        log_name: &str,
    ) -> anyhow::Result<(Child, u16)> {
        let log_path = self.dir.join(format!("{log_name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log_start = log.metadata()?.len();
        let port_var = match service {
            Service::Auth => "AUTH_PORT",
            Service::Payments => "PAYMENTS_PORT",
            Service::Notifications => "NOTIFICATIONS_PORT",
            Service::Router => "ROUTER_PORT",
        };
        let mut child = Command::new(binary(service)?)
            .env_clear()
            .envs(self.envs[&service].iter().map(|(k, v)| (k, v)))
            .env(port_var, port.unwrap_or(0).to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let path = if service == Service::Router {
            "ready"
        } else {
            "health"
        };
        let listening = format!("\"{} listening\"", service.name());
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "{log_name} exited with {status} while starting; its log:\n{}",
                    log_text()
                );
            }
            let bound = port.or_else(|| listening_port(&log_path, log_start, &listening));
            if let Some(bound) = bound {
                // A consumer's queue and bindings must exist before events flow: RabbitMQ
                // drops what it cannot route, so a broker outage before the first
                // declaration would lose the events published meanwhile.
                let consuming = !matches!(service, Service::Payments | Service::Notifications)
                    || log_contains(&log_path, log_start, "consuming work queue");
                let url = format!("http://127.0.0.1:{bound}/{path}");
                if consuming
                    && let Ok(response) = http.get(&url).send().await
                    && response.status().is_success()
                {
                    return Ok((child, bound));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{log_name} was not ready after 30 s; its log:\n{}",
            log_text()
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Service, Child>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes a service's environment for its next start.
    pub fn set_env(&mut self, service: Service, key: &str, value: impl Into<String>) {
        let vars = self.envs.entry(service).or_default();
        vars.retain(|(k, _)| k != key);
        vars.push((key.to_owned(), value.into()));
    }

    /// The operating system's process id of a running service.
    pub fn pid(&self, service: Service) -> Option<u32> {
        self.lock().get(&service).and_then(Child::id)
    }

    /// SIGKILL: the process dies at once, as in a crash or an OOM kill.
    pub async fn kill(&self, service: Service) {
        let child = self.lock().remove(&service);
        if let Some(mut child) = child {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM, as an orchestrator stops a service, then waits for the process to exit.
    pub async fn terminate(&self, service: Service) -> anyhow::Result<std::process::ExitStatus> {
        let child = self.lock().remove(&service);
        let mut child = child.context("the service is not running")?;
        let pid = child.id().context("the service has exited")?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        Ok(tokio::time::timeout(Duration::from_secs(60), child.wait()).await??)
    }

    /// A Prometheus metric's value at `/metrics` of a service, summed over matching series.
    pub async fn metric(&self, service: Service, name_and_labels: &str) -> f64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.port(service));
        let Ok(response) = reqwest::get(url).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with(name_and_labels))
            .filter_map(|line| line.rsplit_once(' '))
            .filter_map(|(_, value)| value.parse::<f64>().ok())
            .sum()
    }

    /// Creates an ADMIN account with the auth binary's `create-admin` command, as an
    /// operator would, and signs it in.
    pub async fn create_admin(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let status = Command::new(binary(Service::Auth)?)
            .env_clear()
            .envs(self.envs[&Service::Auth].iter().map(|(k, v)| (k, v)))
            .env("ADMIN_PASSWORD", password)
            .args(["create-admin", "--email", email])
            .stdout(Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("create-admin failed: {status}");
        }
        let login = self
            .client()
            .gql(
                "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                json!({ "i": { "email": email, "password": password } }),
                None,
            )
            .await?;
        login["data"]["login"]["accessToken"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("admin login: {login}"))
    }

    /// Every message the SMTP server accepted so far, as raw RFC 5322 text.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.mail_dir()) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }
}

/// `RUST_LOG` for a service: `E2E_LOG` or `level`, plus, when that is quieter than info,
/// the two info lines the stack reads (the port a service listens on, and that its work
/// queue is consumed) without the router's line per request.
fn log_filter(service: Service, level: &str) -> String {
    let level = std::env::var("E2E_LOG").unwrap_or_else(|_| level.to_owned());
    if ["info", "debug", "trace"].iter().any(|l| level.contains(l)) {
        return level;
    }
    let name = service.name();
    format!("{level},{name}=info,router::server=warn,service_kit::events::consumer=info")
}

/// Whether a service logged `needle` after `offset`.
fn log_contains(log: &Path, offset: u64, needle: &str) -> bool {
    std::fs::read(log)
        .ok()
        .and_then(|text| {
            text.get(offset as usize..)
                .map(|t| String::from_utf8_lossy(t).contains(needle))
        })
        .unwrap_or(false)
}

/// The port of the `"<service> listening"` line a service logged after `offset`.
fn listening_port(log: &Path, offset: u64, listening: &str) -> Option<u16> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(text.get(offset as usize..)?);
    let line = text.lines().find(|l| l.contains(listening))?;
    let after = &line[line.find("\"port\":")? + 7..];
    after
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// aiosmtpd on `port`, writing what it accepts to `mail_dir` (the notifications tests'
/// server); it exits when its standard input closes, that is with the stack.
async fn start_smtp(port: u16, mail_dir: &Path) -> anyhow::Result<Child> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../subgraphs/notifications/tests/support/smtp_server.py");
    let mut child = Command::new(servers::python())
        .arg(script)
        .arg(port.to_string())
        .arg(mail_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("start the SMTP server (is TEST_PYTHON set to the test venv's python?)")?;
    let stdout = child.stdout.take().context("the SMTP server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    match ready {
        Ok(Ok(Some(line))) if line.trim() == "READY" => Ok(child),
        other => bail!("the SMTP server did not start: {other:?}"),
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, mut child) in self.lock().drain() {
            let _ = child.start_kill();
        }
        let resources = self.resources.clone();
        let dir = self.dir.clone();
        // Logs stay when the test failed, for the report; otherwise they go.
        let keep_logs = std::thread::panicking();
        if keep_logs {
            eprintln!("the services' logs are kept in {}", dir.display());
        }
        cleanup_on_own_thread(async move {
            if let Ok(admin) = Database::connect(servers::postgres_admin_url()).await {
                let _ = admin
                    .execute_unprepared(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        resources.database
                    ))
                    .await;
            }
            if let Ok(mongo) = mongodb::Client::with_uri_str(servers::mongodb_url()).await {
                let _ = mongo.database(&resources.mongo_database).drop().await;
            }
            if let Ok(redis) = redis::Client::open(servers::redis_url())
                && let Ok(mut conn) = redis.get_multiplexed_async_connection().await
            {
                for prefix in &resources.redis_prefixes {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            }
            let mut queues = Vec::new();
            for queue in &resources.queues {
                queues.push(queue.clone());
                queues.push(format!("{queue}.dlq"));
                for delay in [500, 1000, 2000, 4000, 5000, 30000] {
                    queues.push(format!("{queue}.retry.{delay}ms"));
                }
            }
            delete_exchange(&resources.exchange, &queues).await;
            if !keep_logs {
                let _ = std::fs::remove_dir_all(dir);
            }
        });
    }
}
