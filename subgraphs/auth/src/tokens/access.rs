use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, encode};
use service_kit::jwt::{Claims, JwtSettings, JwtVerifier, KeySource};

use super::SigningKeys;
use crate::storage::entities::users;

/// Signs access tokens for users.
#[derive(Clone)]
pub struct TokenIssuer {
    keys: SigningKeys,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(keys: SigningKeys, issuer: String, audience: String, ttl: Duration) -> Self {
        Self {
            keys,
            issuer,
            audience,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    pub fn issue(&self, user: &users::Model) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.id.to_string(),
            email: user.email.clone(),
            role: user.role(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: user.role().scopes().into(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid().to_owned());
        Ok(encode(&header, &claims, self.keys.encoding_key())?)
    }

    /// Verifies tokens against this issuer's own keys, without a network round trip.
    pub fn verifier(&self) -> JwtVerifier {
        let mut settings = JwtSettings::new(&self.issuer, &self.audience);
        settings.algorithms = vec![Algorithm::EdDSA];
        JwtVerifier::new(KeySource::Static(self.keys.jwks().clone()), settings)
    }
}
