//! Payments' settings, from environment variables (see the README's configuration table).

use std::{path::PathBuf, time::Duration};

use service_kit::{
    config::{CommonConfig, ConfigError, Env},
    jwt::JwksSettings,
    outbox::RelaySettings,
    telemetry::LogConfig,
};

pub const DEFAULT_PORT: u16 = 4002;
pub use service_kit::jwt::DEFAULT_JWKS_URL;
pub const DEFAULT_DATABASE: &str = "payments";

/// Where payments are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `MONGODB_URL` and `MONGODB_DATABASE`.
    Mongo { url: String, database: String },
    /// No `MONGODB_URL`: the embedded store, persisted to `DATA_DIR/payments.jsonl`.
    Embedded { file: PathBuf },
}

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    pub common: CommonConfig,
    pub log: LogConfig,
    /// `PAYMENTS_PORT` (default 4002; 0 picks a free port).
    pub port: u16,
    pub store: StoreConfig,
    /// `JWKS_URL`, `JWKS_REFRESH_SECS` (at least 10), `JWT_ISSUER`, `JWT_AUDIENCE`.
    pub jwks: JwksSettings,
    /// `PAYMENTS_PROCESSOR_LATENCY_MS` (default 200): how long the simulated processor takes.
    pub processor_latency: Duration,
    /// `PAYMENTS_PROCESSING_TIMEOUT_SECS` (default 300): a payment PROCESSING for longer
    /// than this was interrupted, and a periodic sweep finishes it. Must exceed the
    /// processor latency.
    pub processing_timeout: Duration,
    /// `PAYMENTS_WORK_QUEUE` (default `payments.work`): the durable queue for the `user.*` standing events.
    pub work_queue: String,
    pub relay: RelaySettings,
}

impl PaymentsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let store = match env.url_opt("MONGODB_URL", &["mongodb", "mongodb+srv"])? {
            Some(url) => StoreConfig::Mongo {
                url,
                database: database_name(env)?,
            },
            None => StoreConfig::Embedded {
                file: common.data_dir.join("payments.jsonl"),
            },
        };
        let jwks = JwksSettings::from_env(env, 10)?;
        let latency_ms: u64 = env.ranged_or("PAYMENTS_PROCESSOR_LATENCY_MS", 200, 0..=60_000)?;
        let processing_timeout = env.secs_or("PAYMENTS_PROCESSING_TIMEOUT_SECS", 300, 10)?;
        if processing_timeout <= Duration::from_millis(latency_ms) {
            return Err(ConfigError::new(
                "PAYMENTS_PROCESSING_TIMEOUT_SECS",
                &processing_timeout.as_secs().to_string(),
                "must be longer than PAYMENTS_PROCESSOR_LATENCY_MS",
            ));
        }
        Ok(Self {
            log: LogConfig::from_env(env)?.service("payments"),
            port: env.parse_or("PAYMENTS_PORT", DEFAULT_PORT)?,
            store,
            jwks,
            processor_latency: Duration::from_millis(latency_ms),
            processing_timeout,
            work_queue: service_kit::events::topology::payments_queue(env),
            relay: RelaySettings::from_env(env)?,
            common,
        })
    }
}

/// MongoDB database names: 1 to 63 characters, none of `/\. "$` and no NUL.
fn database_name(env: &Env) -> Result<String, ConfigError> {
    let name = env
        .get("MONGODB_DATABASE")
        .unwrap_or_else(|| DEFAULT_DATABASE.into());
    let name = name.trim().to_owned();
    let valid = (1..=63).contains(&name.len())
        && !name
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'));
    if !valid {
        return Err(ConfigError::new(
            "MONGODB_DATABASE",
            &name,
            "must be 1 to 63 characters without / \\ . space \" $",
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_run() {
        let config = PaymentsConfig::from_env(&Env::from_map::<&str, &str>([])).unwrap();
        assert_eq!(config.port, 4002);
        assert_eq!(
            config.store,
            StoreConfig::Embedded {
                file: PathBuf::from("./data/payments.jsonl")
            }
        );
        assert_eq!(config.jwks.url, DEFAULT_JWKS_URL);
        assert_eq!(config.jwks.issuer, "platform-auth");
        assert_eq!(config.jwks.audience, "platform");
        assert_eq!(config.processor_latency, Duration::from_millis(200));
        assert_eq!(config.processing_timeout, Duration::from_secs(300));
    }

    #[test]
    fn mongodb_url_selects_mongo_with_the_default_database() {
        let config = PaymentsConfig::from_env(&Env::from_map([(
            "MONGODB_URL",
            "mongodb://127.0.0.1:27017/?directConnection=true",
        )]))
        .unwrap();
        assert!(matches!(
            config.store,
            StoreConfig::Mongo { ref database, .. } if database == "payments"
        ));
    }

    #[test]
    fn a_bad_variable_is_named() {
        for (var, value) in [
            ("PAYMENTS_PORT", "x"),
            ("MONGODB_URL", "postgres://x"),
            ("JWKS_URL", "ftp://x"),
            ("PAYMENTS_PROCESSOR_LATENCY_MS", "-1"),
        ] {
            let err = PaymentsConfig::from_env(&Env::from_map([(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
        }
        let err = PaymentsConfig::from_env(&Env::from_map([
            ("MONGODB_URL", "mongodb://localhost"),
            ("MONGODB_DATABASE", "a.b"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "MONGODB_DATABASE");
        let err = PaymentsConfig::from_env(&Env::from_map([
            ("PAYMENTS_PROCESSOR_LATENCY_MS", "30000"),
            ("PAYMENTS_PROCESSING_TIMEOUT_SECS", "20"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "PAYMENTS_PROCESSING_TIMEOUT_SECS");
    }
}
