//! The notifications service's settings, from environment variables (see the README's
//! configuration table).

use std::{path::PathBuf, time::Duration};

use service_kit::{
    config::{CommonConfig, ConfigError, Env},
    jwt::JwksSettings,
    telemetry::LogConfig,
};

use crate::storage::StoreSettings;

pub const DEFAULT_PORT: u16 = 4003;
pub use service_kit::jwt::DEFAULT_JWKS_URL;

/// How the work queue consumes events.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// `NOTIFICATIONS_QUEUE` (default `notifications.work`).
    pub name: String,
    /// `NOTIFICATIONS_PREFETCH` (default 16).
    pub prefetch: u16,
    /// `NOTIFICATIONS_MAX_ATTEMPTS` (default 5).
    pub max_attempts: u32,
    /// `NOTIFICATIONS_RETRY_DELAYS_MS` (default `1000,5000,30000`).
    pub retry_delays: Vec<Duration>,
}

/// The per-user email rate limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// `NOTIFICATIONS_EMAIL_RATE_LIMIT` emails (default 10) ...
    pub emails: u32,
    /// ... per `NOTIFICATIONS_EMAIL_RATE_WINDOW_SECS` (default 3600).
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    pub common: CommonConfig,
    pub log: LogConfig,
    /// `NOTIFICATIONS_PORT` (default 4003; 0 picks a free port).
    pub port: u16,
    /// `REDIS_URL`; unset means the in-process store.
    pub redis_url: Option<String>,
    /// `REDIS_KEY_PREFIX` (default `notifications`).
    pub redis_prefix: String,
    /// `SMTP_URL`, e.g. `smtp://user:pass@host:587?tls=required`; unset means `.eml` files
    /// under `DATA_DIR/mail`.
    pub smtp_url: Option<String>,
    /// `SMTP_TIMEOUT_SECS` (default 10).
    pub smtp_timeout: Duration,
    /// `MAIL_FROM` (default `Platform <no-reply@platform.local>`).
    pub mail_from: String,
    /// `NOTIFICATIONS_TEMPLATES_DIR` (default: this crate's `templates/`).
    pub templates_dir: PathBuf,
    /// `JWKS_URL` (default auth's on 127.0.0.1:4001), `JWKS_REFRESH_SECS` (default 300, at
    /// least 1), `JWT_ISSUER`, `JWT_AUDIENCE`.
    pub jwks: JwksSettings,
    pub store: StoreSettings,
    pub rate_limit: RateLimit,
    pub queue: QueueSettings,
}

impl NotificationsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let redis_prefix = env
            .get("REDIS_KEY_PREFIX")
            .unwrap_or_else(|| "notifications".into());
        if redis_prefix.contains(['*', '?', '[', ' ']) {
            return Err(ConfigError::new(
                "REDIS_KEY_PREFIX",
                &redis_prefix,
                "must not contain spaces or glob characters",
            ));
        }
        let mail_from = env
            .get("MAIL_FROM")
            .unwrap_or_else(|| "Platform <no-reply@platform.local>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "MAIL_FROM",
                &mail_from,
                "expected an address like `Name <user@example.com>`",
            ));
        }
        let jwks = JwksSettings::from_env(env, 1)?;
        Ok(Self {
            log: LogConfig::from_env(env)?.service("notifications"),
            port: env.parse_or("NOTIFICATIONS_PORT", DEFAULT_PORT)?,
            redis_url: env.url_opt("REDIS_URL", &["redis", "redis+unix", "unix"])?,
            redis_prefix,
            smtp_url: env.url_opt("SMTP_URL", &["smtp", "smtps"])?,
            smtp_timeout: env.secs_or("SMTP_TIMEOUT_SECS", 10, 1)?,
            mail_from,
            templates_dir: env.get("NOTIFICATIONS_TEMPLATES_DIR").map_or_else(
                || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")),
                PathBuf::from,
            ),
            jwks,
            store: StoreSettings {
                retention: env.secs_or("NOTIFICATIONS_RETENTION_SECS", 30 * 24 * 3600, 1)?,
                max_per_user: env.ranged_or("NOTIFICATIONS_MAX_PER_USER", 500, 1..=100_000)?,
                idempotency_ttl: env.secs_or(
                    "NOTIFICATIONS_IDEMPOTENCY_TTL_SECS",
                    7 * 24 * 3600,
                    60,
                )?,
            },
            rate_limit: RateLimit {
                emails: env.ranged_or("NOTIFICATIONS_EMAIL_RATE_LIMIT", 10, 0..=1_000_000)?,
                window: env.secs_or("NOTIFICATIONS_EMAIL_RATE_WINDOW_SECS", 3600, 1)?,
            },
            queue: QueueSettings {
                name: service_kit::events::topology::notifications_queue(env),
                prefetch: env.ranged_or("NOTIFICATIONS_PREFETCH", 16, 1..=1000)?,
                max_attempts: env.ranged_or("NOTIFICATIONS_MAX_ATTEMPTS", 5, 1..=100)?,
                retry_delays: retry_delays(env)?,
            },
            common,
        })
    }

    /// Where `.eml` files go when no `SMTP_URL` is set.
    pub fn mail_dir(&self) -> PathBuf {
        self.common.data_dir.join("mail")
    }
}

fn retry_delays(env: &Env) -> Result<Vec<Duration>, ConfigError> {
    const VAR: &str = "NOTIFICATIONS_RETRY_DELAYS_MS";
    let Some(raw) = env.get(VAR) else {
        return Ok(vec![
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(30),
        ]);
    };
    let delays = raw
        .split(',')
        .map(|part| part.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(VAR, &raw, e))?;
    if delays.is_empty() || delays.contains(&0) {
        return Err(ConfigError::new(
            VAR,
            &raw,
            "expected comma-separated positive milliseconds",
        ));
    }
    Ok(delays.into_iter().map(Duration::from_millis).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_run() {
        let config = NotificationsConfig::from_env(&Env::from_map::<&str, &str>([])).unwrap();
        assert_eq!(config.port, 4003);
        assert!(config.redis_url.is_none());
        assert!(config.smtp_url.is_none());
        assert!(config.mail_dir().ends_with("data/mail"));
        assert_eq!(config.jwks.url, DEFAULT_JWKS_URL);
        assert_eq!(config.queue.retry_delays.len(), 3);
        assert_eq!(config.rate_limit.emails, 10);
        assert!(config.templates_dir.join("welcome.txt").exists());
    }

    #[test]
    fn a_bad_variable_is_named() {
        for (var, value) in [
            ("NOTIFICATIONS_PORT", "x"),
            ("REDIS_URL", "http://localhost"),
            ("SMTP_URL", "mailto:x"),
            ("MAIL_FROM", "not an address"),
            ("NOTIFICATIONS_RETRY_DELAYS_MS", "100,soon"),
            ("NOTIFICATIONS_MAX_PER_USER", "0"),
        ] {
            let err = NotificationsConfig::from_env(&Env::from_map([(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn retry_delays_parse() {
        let env = Env::from_map([("NOTIFICATIONS_RETRY_DELAYS_MS", "50, 200")]);
        let config = NotificationsConfig::from_env(&env).unwrap();
        assert_eq!(
            config.queue.retry_delays,
            vec![Duration::from_millis(50), Duration::from_millis(200)]
        );
    }
}
