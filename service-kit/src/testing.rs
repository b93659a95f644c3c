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

/// A port nothing listens on now, for a child process or a test server to bind (a race
/// with another process taking it meanwhile is possible, and unlikely).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("bind an ephemeral port: {e}"))
}

/// How long [`eventually`] waits: far longer than anything a passing test waits for.
pub const EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `check` every 50 ms until it returns `Some`, and returns that; panics naming
/// `what` after [`EVENTUALLY`]. For what happens asynchronously (a consumed event, a
/// reload), never for a time to assert.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A TCP proxy in front of a real server that a test can cut and restore, to see how a
/// service behaves while the server is unreachable.
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
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
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up_flag.load(Ordering::SeqCst) {
                    // Refuse while down: close at once, like a server that is not there.
                    drop(inbound);
                    continue;
                }
                counter.fetch_add(1, Ordering::SeqCst);
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
        Ok(Self {
            addr,
            up,
            cut,
            accepted,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
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

/// A [`TcpProxy`] in front of the test broker, and the AMQP URL that goes through it.
pub async fn amqp_proxy() -> (TcpProxy, String) {
    let amqp = servers::amqp_url();
    let upstream = tokio::net::lookup_host(amqp_host(&amqp))
        .await
        .expect("resolve the test broker")
        .next()
        .expect("the test broker has an address");
    let proxy = TcpProxy::start(upstream)
        .await
        .expect("start a proxy in front of the broker");
    let url = amqp.replace(&amqp_host(&amqp), &proxy.addr().to_string());
    (proxy, url)
}

/// The `host:port` of an AMQP URL.
fn amqp_host(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let after_creds = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    after_creds
        .split('/')
        .next()
        .unwrap_or(after_creds)
        .to_owned()
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

pub use broker::{cleanup_on_own_thread, delete_exchange, in_process_listener, rabbit_listener};
pub use keys::{TestKeys, claims, serve_jwks};

mod broker {
    use futures::StreamExt;
    use lapin::{
        options::{BasicAckOptions, BasicConsumeOptions},
        types::FieldTable,
    };
    use tokio::sync::mpsc;

    use super::servers;
    use crate::events::{Envelope, InProcessBus, rabbitmq};

    /// A real RabbitMQ consumer on an exclusive queue bound to `exchange` (declared if need
    /// be) with `binding_key`, forwarding every event it receives, as a test's eyes on what
    /// a service published.
    pub async fn rabbit_listener(
        exchange: &str,
        binding_key: &str,
    ) -> mpsc::UnboundedReceiver<Envelope> {
        let conn = rabbitmq::connect(&servers::amqp_url())
            .await
            .expect("connect to the test broker");
        let channel = conn.create_channel().await.expect("open a channel");
        let queue = rabbitmq::declare_exclusive_queue(&channel, exchange, &[binding_key])
            .await
            .expect("declare and bind the listener's queue");
        let mut consumer = channel
            .basic_consume(
                queue,
                "test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume the listener's queue");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let _conn = conn;
            while let Some(Ok(delivery)) = consumer.next().await {
                let envelope =
                    Envelope::from_slice(&delivery.data).expect("a published event decodes");
                delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack the event");
                if tx.send(envelope).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Every event published on the in-process `bus` from now on.
    pub fn in_process_listener(bus: &InProcessBus) -> mpsc::UnboundedReceiver<Envelope> {
        let mut rx = bus.subscribe();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(envelope) = rx.recv().await {
                let _ = tx.send(envelope);
            }
        });
        events
    }

    /// Deletes a test's `queues`, then its `exchange`, on the test broker. Best effort: what
    /// cannot be deleted is left behind.
    pub async fn delete_exchange(exchange: &str, queues: &[String]) {
        if let Ok(conn) = rabbitmq::connect(&servers::amqp_url()).await
            && let Ok(channel) = conn.create_channel().await
        {
            for name in queues {
                let _ = channel
                    .queue_delete(name.as_str().into(), Default::default())
                    .await;
            }
            let _ = channel
                .exchange_delete(exchange.into(), Default::default())
                .await;
            let _ = conn.close(200, "bye".into()).await;
        }
    }

    /// Runs async clean-up to completion from `Drop`, which cannot await: on a thread of its
    /// own with a runtime of its own, waiting for it to finish.
    pub fn cleanup_on_own_thread(cleanup: impl Future<Output = ()> + Send + 'static) {
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(cleanup);
        })
        .join();
    }
}

mod keys {
    use std::fmt::Display;

    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use ed25519_dalek::{
        SigningKey,
        pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding},
    };
    use jsonwebtoken::{
        Algorithm, EncodingKey, Header, encode,
        jwk::{self, AlgorithmParameters, Jwk, JwkSet},
    };
    use serde::Serialize;

    use crate::jwt::{
        Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, JwtSettings, JwtVerifier, KeySource, Role,
    };

    /// An Ed25519 signing key like auth's, with its public half as a one-key JWKS under a
    /// key id, so tests and benchmarks can sign platform tokens that a verifier trusts.
    #[derive(Clone)]
    pub struct TestKeys {
        kid: String,
        signing: SigningKey,
        encoding: EncodingKey,
        jwks: JwkSet,
        public_x: String,
    }

    impl TestKeys {
        /// A fresh random key, published under `kid`.
        pub fn generate(kid: impl Into<String>) -> Self {
            let kid = kid.into();
            let signing = SigningKey::generate(&mut rand::rngs::OsRng);
            let der = signing
                .to_pkcs8_der()
                .expect("an Ed25519 key encodes as PKCS#8");
            let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
            let jwk = Jwk {
                common: jwk::CommonParameters {
                    key_id: Some(kid.clone()),
                    key_algorithm: Some(jwk::KeyAlgorithm::EdDSA),
                    ..Default::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(jwk::OctetKeyPairParameters {
                    key_type: jwk::OctetKeyPairType::OctetKeyPair,
                    curve: jwk::EllipticCurve::Ed25519,
                    x: x.clone(),
                }),
            };
            Self {
                kid,
                encoding: EncodingKey::from_ed_der(der.as_bytes()),
                signing,
                jwks: JwkSet { keys: vec![jwk] },
                public_x: x,
            }
        }

        pub fn kid(&self) -> &str {
            &self.kid
        }

        /// The public key set a verifier trusts.
        pub fn jwks(&self) -> JwkSet {
            self.jwks.clone()
        }

        /// The private key, for signing tokens by hand (odd headers, other algorithms).
        pub fn encoding_key(&self) -> &EncodingKey {
            &self.encoding
        }

        /// The public key's `x` (base64url), e.g. to misuse it as an HMAC secret.
        pub fn public_x(&self) -> &str {
            &self.public_x
        }

        /// The private key as PKCS#8 PEM, as auth reads its signing key.
        pub fn pkcs8_pem(&self) -> String {
            self.signing
                .to_pkcs8_pem(LineEnding::LF)
                .expect("an Ed25519 key encodes as PKCS#8 PEM")
                .to_string()
        }

        /// A verifier that trusts exactly this key.
        pub fn static_verifier(&self, settings: JwtSettings) -> JwtVerifier {
            JwtVerifier::new(KeySource::Static(self.jwks()), settings)
        }

        /// `claims` signed with EdDSA under this key's id.
        pub fn sign(&self, claims: &impl Serialize) -> String {
            self.sign_with_kid(&self.kid, claims)
        }

        /// Signs with this key but names `kid` in the header (to forge another key's tokens).
        pub fn sign_with_kid(&self, kid: &str, claims: &impl Serialize) -> String {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.to_owned());
            encode(&header, claims, &self.encoding).expect("claims serialize and sign")
        }

        /// A signed token with [`claims`].
        pub fn token(
            &self,
            user_id: impl Display,
            email: impl Into<String>,
            role: Role,
            ttl_secs: i64,
        ) -> String {
            self.sign(&claims(user_id, email, role, ttl_secs))
        }
    }

    /// Platform claims for `user_id` with the default issuer and audience, issued and valid
    /// from now, expiring `ttl_secs` from now (negative: already expired), with a fresh `jti`.
    pub fn claims(
        user_id: impl Display,
        email: impl Into<String>,
        role: Role,
        ttl_secs: i64,
    ) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: user_id.to_string(),
            email: email.into(),
            role,
            iss: DEFAULT_ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            exp: now + ttl_secs,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: role.scopes().into(),
        }
    }

    /// Serves `jwks` at `http://127.0.0.1:<port>/.well-known/jwks.json`, as auth would, for
    /// as long as the runtime runs; returns that URL.
    pub async fn serve_jwks(jwks: JwkSet) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let port = listener.local_addr().expect("a bound address").port();
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://127.0.0.1:{port}/.well-known/jwks.json")
    }
}

/// Which adapters a service runs on in a contract test: each subgraph's suite runs once
/// against both, through [`contract!`](crate::contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The real servers, as in production.
    Real,
    /// The embedded adapters of the one-command run.
    Embedded,
}

/// The event auth publishes for `change`: `user.deleted`, `user.deactivated`, or
/// `user.role_changed` (an active standing).
pub fn standing_event(change: &crate::accounts::StandingChange) -> crate::events::Envelope {
    use crate::{accounts::Standing, events::*};
    let data = |role: crate::jwt::Role, active| AccountData {
        user_id: change.user_id,
        email: "someone@example.com".into(),
        role: role.as_str().into(),
        active,
        timestamp: change.as_of,
    };
    let envelope = match change.standing {
        Standing::Deleted => Envelope::new(
            "/auth",
            &UserDeleted {
                user_id: change.user_id,
                email: "someone@example.com".into(),
                timestamp: change.as_of,
            },
        ),
        Standing::Deactivated => Envelope::new(
            "/auth",
            &UserDeactivated(data(crate::jwt::Role::User, false)),
        ),
        Standing::Active { role } => Envelope::new("/auth", &UserRoleChanged(data(role, true))),
    };
    envelope.unwrap_or_else(|e| panic!("encoding a standing event: {e}"))
}

/// The `extensions.code` of a GraphQL response's first error.
pub fn error_code(response: &serde_json::Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {response}"))
}

/// Declares one `#[tokio::test]` per [`Backend`] for each contract test `async fn(Backend)`
/// named, in modules `real` and `embedded`.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod real {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::testing::Backend::Real).await
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::testing::Backend::Embedded).await
                }
            )*
        }
    };
}
