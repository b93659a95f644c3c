//! Password hashing with Argon2id.
//!
//! Hashing is CPU- and memory-heavy by design, so it runs on the blocking pool behind a
//! semaphore: a burst of logins queues instead of allocating 19 MiB per request at once.
//! An unknown email is verified against a dummy hash made with the same parameters, so a
//! login costs the same time whether or not the account exists.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
    password_hash::SaltString,
};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

use crate::{config::Argon2Params, domain::Password};

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    dummy_hash: Arc<str>,
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params) -> anyhow::Result<Self> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Ok(Self {
            argon2,
            dummy_hash: dummy_hash.into(),
            permits: Arc::new(Semaphore::new(workers)),
        })
    }

    /// A PHC-format hash of `password` with a fresh salt.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let argon2 = self.argon2.clone();
        let secret = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await?
    }

    /// Checks `password` against `stored` (or against the dummy hash when there is no
    /// account), taking the same time either way.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let exists = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let argon2 = self.argon2.clone();
        let secret = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2.verify_password(secret.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await?;
        Ok(matches && exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = cheap();
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("horse"));
        assert!(
            hasher
                .verify(Some(&hash), "correct horse battery")
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Some(&hash), "wrong horse battery")
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_account_never_verifies() {
        let hasher = cheap();
        assert!(!hasher.verify(None, "anything at all").await.unwrap());
    }

    #[test]
    fn default_parameters_follow_owasp() {
        let p = Argon2Params::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19_456, 2, 1));
    }
}
