//! Auth's settings, from environment variables (see the README's configuration table).

use std::{path::PathBuf, time::Duration};

use service_kit::{
    config::{CommonConfig, ConfigError, Env},
    jwt::{DEFAULT_AUDIENCE, DEFAULT_ISSUER},
    outbox::RelaySettings,
    telemetry::LogConfig,
};

/// Argon2id cost. Defaults are OWASP's recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Where the access-token signing key comes from.
#[derive(Debug, Clone)]
pub enum SigningKeySource {
    /// A PKCS#8 PEM Ed25519 private key given inline (`AUTH_SIGNING_KEY`).
    Pem(String),
    /// A PEM file (`AUTH_SIGNING_KEY_FILE`); created with a fresh key if missing.
    File(PathBuf),
    /// A fresh key held only in memory (tests).
    Ephemeral,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub common: CommonConfig,
    pub log: LogConfig,
    pub port: u16,
    /// `DATABASE_URL`: PostgreSQL; unset means SQLite under `DATA_DIR`.
    pub database_url: String,
    pub database_max_connections: u32,
    pub run_migrations: bool,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub signing_key: SigningKeySource,
    pub argon2: Argon2Params,
    pub relay: RelaySettings,
    pub login_throttle: crate::throttle::ThrottlePolicy,
}

pub const DEFAULT_PORT: u16 = 4001;

impl AuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let database_url =
            match env.url_opt("DATABASE_URL", &["postgres", "postgresql", "sqlite"])? {
                Some(url) => url,
                None => format!(
                    "sqlite://{}?mode=rwc",
                    common.data_dir.join("auth.db").display()
                ),
            };
        let signing_key = match (
            env.get("AUTH_SIGNING_KEY"),
            env.get("AUTH_SIGNING_KEY_FILE"),
        ) {
            (Some(pem), _) => SigningKeySource::Pem(pem),
            (None, Some(path)) => SigningKeySource::File(path.into()),
            (None, None) => SigningKeySource::File(common.data_dir.join("auth-signing-key.pem")),
        };
        let defaults = Argon2Params::default();
        Ok(Self {
            log: LogConfig::from_env(env)?.service("auth"),
            port: env.parse_or("AUTH_PORT", DEFAULT_PORT)?,
            database_url,
            database_max_connections: env.ranged_or("DATABASE_MAX_CONNECTIONS", 10, 1..=1000)?,
            run_migrations: env.bool_or("AUTH_RUN_MIGRATIONS", true)?,
            issuer: env
                .get("JWT_ISSUER")
                .unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: env
                .get("JWT_AUDIENCE")
                .unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            access_token_ttl: env.secs_or("AUTH_ACCESS_TOKEN_TTL_SECS", 900, 30)?,
            refresh_token_ttl: env.secs_or("AUTH_REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600, 60)?,
            signing_key,
            argon2: Argon2Params {
                memory_kib: env.ranged_or(
                    "ARGON2_MEMORY_KIB",
                    defaults.memory_kib,
                    8..=4 * 1024 * 1024,
                )?,
                iterations: env.ranged_or("ARGON2_ITERATIONS", defaults.iterations, 1..=100)?,
                parallelism: env.ranged_or("ARGON2_PARALLELISM", defaults.parallelism, 1..=64)?,
            },
            relay: RelaySettings::from_env(env)?,
            login_throttle: {
                let d = crate::throttle::ThrottlePolicy::default();
                crate::throttle::ThrottlePolicy {
                    free_per_address: env.ranged_or(
                        "AUTH_LOGIN_FREE_FAILURES",
                        d.free_per_address,
                        1..=10_000,
                    )?,
                    free_per_account: env.ranged_or(
                        "AUTH_LOGIN_FREE_ACCOUNT_FAILURES",
                        d.free_per_account,
                        1..=1_000_000,
                    )?,
                    window: env.secs_or("AUTH_LOGIN_FAILURE_WINDOW_SECS", d.window.as_secs(), 1)?,
                    max_delay: env.secs_or(
                        "AUTH_LOGIN_MAX_DELAY_SECS",
                        d.max_delay.as_secs(),
                        1,
                    )?,
                }
            },
            common,
        })
    }

    pub fn uses_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_run() {
        let config = AuthConfig::from_env(&Env::from_map::<&str, &str>([])).unwrap();
        assert_eq!(config.port, 4001);
        assert!(config.uses_sqlite());
        assert!(config.database_url.contains("data/auth.db"));
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.argon2.memory_kib, 19_456);
    }

    #[test]
    fn a_bad_variable_is_named() {
        let err = AuthConfig::from_env(&Env::from_map([("AUTH_ACCESS_TOKEN_TTL_SECS", "5")]))
            .unwrap_err();
        assert_eq!(err.var, "AUTH_ACCESS_TOKEN_TTL_SECS");
        let err =
            AuthConfig::from_env(&Env::from_map([("DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }
}
