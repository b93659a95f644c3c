//! Typed configuration from environment variables.
//!
//! Every service reads its settings through an [`Env`]: a lookup function, so that
//! tests can feed a map instead of mutating the process environment. A bad value
//! fails start-up with an error naming the variable and the reason.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

/// A configuration variable that is present but unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &str, value: &str, reason: impl Display) -> Self {
        Self {
            var: var.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A source of configuration variables.
pub struct Env {
    lookup: Lookup,
    /// Every variable a configuration asked for, so a deployment can be checked for
    /// variables that no service reads (typos, leftovers).
    read: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|key| std::env::var(key).ok()),
            read: Default::default(),
        }
    }

    /// A fixed map, for tests.
    pub fn from_map<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            lookup: Box::new(move |key| map.get(key).cloned()),
            read: Default::default(),
        }
    }

    /// The raw value; empty strings count as unset, as shells and compose files
    /// commonly pass `VAR=` to mean "not set".
    pub fn get(&self, key: &str) -> Option<String> {
        if let Ok(mut read) = self.read.lock() {
            read.insert(key.to_owned());
        }
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    /// Whether a configuration has asked for `key`.
    pub fn was_read(&self, key: &str) -> bool {
        self.read.lock().is_ok_and(|read| read.contains(key))
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(key, &raw, e)),
        }
    }

    /// An optional value parsed with `FromStr`.
    pub fn parse_opt<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(key)
            .map(|raw| {
                raw.trim()
                    .parse()
                    .map_err(|e| ConfigError::new(key, &raw, e))
            })
            .transpose()
    }

    /// A boolean: `true/false`, `1/0`, `yes/no`, `on/off`.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(
                    key,
                    &raw,
                    "expected true/false, 1/0, yes/no or on/off",
                )),
            },
        }
    }

    /// A whole number of seconds, at least `min`.
    pub fn secs_or(&self, key: &str, default: u64, min: u64) -> Result<Duration, ConfigError> {
        let secs: u64 = self.parse_or(key, default)?;
        if secs < min {
            return Err(ConfigError::new(
                key,
                &secs.to_string(),
                format!("must be at least {min} seconds"),
            ));
        }
        Ok(Duration::from_secs(secs))
    }

    /// A number within `range`.
    pub fn ranged_or<T>(
        &self,
        key: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
        T::Err: Display,
    {
        let value = self.parse_or(key, default)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                key,
                &value.to_string(),
                format!("must be between {} and {}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    /// A URL-like value that must use one of `schemes`.
    pub fn url_opt(&self, key: &str, schemes: &[&str]) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let raw = raw.trim().to_owned();
        let scheme_ok = raw
            .split_once("://")
            .is_some_and(|(scheme, rest)| schemes.contains(&scheme) && !rest.is_empty());
        if !scheme_ok {
            // The value may hold a password: report only its scheme.
            let shown = raw.split("://").next().unwrap_or_default();
            return Err(ConfigError::new(
                key,
                &format!("{shown}://…"),
                format!(
                    "expected a URL starting with {}",
                    schemes.join("://, ") + "://"
                ),
            ));
        }
        Ok(Some(raw))
    }
}

/// Settings every service shares: where it listens and how it logs.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// Address to bind (`HOST`, default `127.0.0.1`).
    pub host: String,
    /// Directory for embedded data (`DATA_DIR`, default `./data`).
    pub data_dir: std::path::PathBuf,
    /// The topic exchange for events (`AMQP_EXCHANGE`, default `platform.events`).
    pub amqp_exchange: String,
    /// `AMQP_URL`; unset means the in-process bus.
    pub amqp_url: Option<String>,
    /// The consumers' durable queues, which publishers declare too
    /// (`PAYMENTS_WORK_QUEUE`, `NOTIFICATIONS_QUEUE`).
    pub amqp_queues: Vec<crate::events::topology::DurableQueue>,
    /// What one GraphQL operation may ask (`GRAPHQL_MAX_*`).
    pub limits: crate::limits::OperationLimits,
    /// Proxies (the router) whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`,
    /// addresses or CIDR ranges; unset: none, the peer is the client).
    pub trusted_proxies: crate::client_address::TrustedProxies,
}

impl CommonConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            host: env.get("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            data_dir: env
                .get("DATA_DIR")
                .unwrap_or_else(|| "./data".into())
                .into(),
            amqp_exchange: env
                .get("AMQP_EXCHANGE")
                .unwrap_or_else(|| crate::events::DEFAULT_EXCHANGE.into()),
            amqp_url: env.url_opt("AMQP_URL", &["amqp", "amqps"])?,
            amqp_queues: crate::events::topology::DurableQueue::platform(env),
            limits: crate::limits::OperationLimits::from_env(env)?,
            trusted_proxies: crate::client_address::TrustedProxies::from_env(
                env,
                "TRUSTED_PROXIES",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_number_names_the_variable() {
        let env = Env::from_map([("AUTH_PORT", "forty")]);
        let err = env.parse_or::<u16>("AUTH_PORT", 4001).unwrap_err();
        assert_eq!(err.var, "AUTH_PORT");
        assert!(err.to_string().contains("AUTH_PORT"), "{err}");
        assert!(err.to_string().contains("invalid digit"), "{err}");
    }

    #[test]
    fn unset_and_empty_take_the_default() {
        let env = Env::from_map([("A", "")]);
        assert_eq!(env.parse_or::<u16>("A", 7).unwrap(), 7);
        assert_eq!(env.parse_or::<u16>("B", 8).unwrap(), 8);
    }

    #[test]
    fn out_of_range_is_rejected() {
        let env = Env::from_map([("N", "0")]);
        let err = env.ranged_or::<u32>("N", 5, 1..=10).unwrap_err();
        assert!(err.reason.contains("between 1 and 10"));
    }

    #[test]
    fn booleans() {
        let env = Env::from_map([("T", "yes"), ("F", "0"), ("X", "maybe")]);
        assert!(env.bool_or("T", false).unwrap());
        assert!(!env.bool_or("F", true).unwrap());
        assert_eq!(env.bool_or("X", true).unwrap_err().var, "X");
    }

    #[test]
    fn url_with_wrong_scheme_does_not_echo_credentials() {
        let env = Env::from_map([("AMQP_URL", "http://guest:secret@host")]);
        let err = env.url_opt("AMQP_URL", &["amqp"]).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("AMQP_URL"));
    }
}
