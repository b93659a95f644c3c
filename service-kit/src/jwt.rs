//! Verification of access tokens against a JWKS, shared by the router and every subgraph.
//!
//! Only asymmetric algorithms are accepted, each key is bound to one algorithm (so an
//! HS256 token "signed" with a public key never verifies), `alg: none` cannot even be
//! parsed, and issuer, audience, expiry and not-before are always checked.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, Jwk, JwkSet},
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::config::{ConfigError, Env};

/// A user's role, carried in access tokens.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(name = "Role")]
pub enum Role {
    /// A regular user: sees and changes only their own data.
    #[default]
    User,
    /// An administrator: may read and manage every user's data.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Admin => "ADMIN",
        }
    }

    /// The scopes a token of this role carries.
    pub fn scopes(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "user admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "USER" => Ok(Self::User),
            "ADMIN" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// The claims of a platform access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id (UUID).
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// OAuth scopes, space separated (`user`, and `admin` for ADMINs): what the router's
    /// `@requiresScopes` checks. Empty in tokens issued before scopes existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// Why a token was rejected. `client_message` is what a caller may see.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm not allowed")]
    AlgorithmNotAllowed,
    #[error("token has no key id")]
    MissingKeyId,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong token issuer")]
    WrongIssuer,
    #[error("wrong token audience")]
    WrongAudience,
    #[error("invalid token")]
    Invalid,
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl JwtError {
    pub fn client_message(&self) -> &'static str {
        match self {
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::KeysUnavailable(_) => "token cannot be verified right now",
            _ => "invalid token",
        }
    }
}

/// Where verification keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// A JWKS endpoint, re-fetched every `refresh_interval` and when a token names an unknown `kid`.
    Url {
        url: String,
        refresh_interval: Duration,
    },
    /// A fixed key set (auth verifying its own tokens, a JWKS file, tests).
    Static(JwkSet),
}

/// What a valid token must satisfy.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Allowed algorithms; symmetric ones are never accepted.
    pub algorithms: Vec<Algorithm>,
}

impl JwtSettings {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(30),
            algorithms: vec![Algorithm::EdDSA, Algorithm::RS256, Algorithm::ES256],
        }
    }
}

/// The issuer and audience every platform token carries unless configured otherwise.
pub const DEFAULT_ISSUER: &str = "platform-auth";
pub const DEFAULT_AUDIENCE: &str = "platform";

/// Where a subgraph finds auth's JWKS unless `JWKS_URL` says otherwise.
pub const DEFAULT_JWKS_URL: &str = "http://127.0.0.1:4001/.well-known/jwks.json";

/// How a subgraph verifies access tokens: against auth's JWKS, fetched over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// `JWKS_URL` (default [`DEFAULT_JWKS_URL`]): auth's public keys.
    pub url: String,
    /// `JWKS_REFRESH_SECS` (default 300): how long fetched keys are trusted before a refetch.
    pub refresh: Duration,
    /// `JWT_ISSUER` / `JWT_AUDIENCE` (defaults [`DEFAULT_ISSUER`] / [`DEFAULT_AUDIENCE`]),
    /// as auth signs them.
    pub issuer: String,
    pub audience: String,
}

impl JwksSettings {
    /// Reads `JWKS_URL`, `JWKS_REFRESH_SECS` (at least `min_refresh_secs`), `JWT_ISSUER`
    /// and `JWT_AUDIENCE`.
    pub fn from_env(env: &Env, min_refresh_secs: u64) -> Result<Self, ConfigError> {
        Ok(Self {
            url: env
                .url_opt("JWKS_URL", &["http", "https"])?
                .unwrap_or_else(|| DEFAULT_JWKS_URL.into()),
            refresh: env.secs_or("JWKS_REFRESH_SECS", 300, min_refresh_secs)?,
            issuer: env
                .get("JWT_ISSUER")
                .unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: env
                .get("JWT_AUDIENCE")
                .unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
        })
    }

    /// A verifier that fetches keys from [`Self::url`] and checks issuer and audience.
    pub fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(
            KeySource::Url {
                url: self.url.clone(),
                refresh_interval: self.refresh,
            },
            JwtSettings::new(self.issuer.clone(), self.audience.clone()),
        )
    }
}

/// The minimum time between two JWKS fetches triggered by unknown key ids, so that a flood
/// of tokens with random `kid`s cannot turn into a flood of requests to auth.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

struct KeyCache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
}

/// Verifies access tokens. Cheap to clone.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    source: KeySource,
    settings: JwtSettings,
    cache: RwLock<KeyCache>,
    refresh: Mutex<()>,
    http: reqwest::Client,
}

impl JwtVerifier {
    pub fn new(source: KeySource, settings: JwtSettings) -> Self {
        let mut cache = KeyCache {
            keys: HashMap::new(),
            fetched_at: None,
        };
        if let KeySource::Static(set) = &source {
            cache.keys = index_keys(set);
            cache.fetched_at = Some(Instant::now());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                source,
                settings,
                cache: RwLock::new(cache),
                refresh: Mutex::new(()),
                http,
            }),
        }
    }

    pub fn settings(&self) -> &JwtSettings {
        &self.inner.settings
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        self.verify_as::<Claims>(token).await
    }

    /// Verifies `token` exactly like [`Self::verify`] but reads the claims into any type, for
    /// callers that accept tokens with other claim sets (the router forwards them as JSON).
    pub async fn verify_as<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<C, JwtError> {
        let header = decode_header(token).map_err(|_| JwtError::Malformed)?;
        if !self.inner.settings.algorithms.contains(&header.alg) || is_symmetric(header.alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let kid = header.kid.ok_or(JwtError::MissingKeyId)?;
        let (key, key_alg) = self.key(&kid).await?;
        if key_alg != header.alg {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let settings = &self.inner.settings;
        let mut validation = Validation::new(key_alg);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        decode::<C>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
                ErrorKind::InvalidAudience => JwtError::WrongAudience,
                ErrorKind::InvalidAlgorithm => JwtError::AlgorithmNotAllowed,
                _ => JwtError::Invalid,
            })
    }

    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), JwtError> {
        {
            let cache = self.inner.cache.read().await;
            let stale = match (&self.inner.source, cache.fetched_at) {
                (KeySource::Url { .. }, None) => true,
                (
                    KeySource::Url {
                        refresh_interval, ..
                    },
                    Some(at),
                ) => at.elapsed() >= *refresh_interval,
                (KeySource::Static(_), _) => false,
            };
            if let Some(found) = cache.keys.get(kid)
                && !stale
            {
                return Ok(found.clone());
            }
        }
        let KeySource::Url { url, .. } = &self.inner.source else {
            return Err(JwtError::UnknownKey);
        };
        // One fetch at a time; whoever waited re-checks what the fetch brought.
        let _guard = self.inner.refresh.lock().await;
        {
            let cache = self.inner.cache.read().await;
            let recently = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL);
            if recently {
                return cache.keys.get(kid).cloned().ok_or(JwtError::UnknownKey);
            }
        }
        match self.fetch(url).await {
            Ok(set) => {
                let mut cache = self.inner.cache.write().await;
                cache.keys = index_keys(&set);
                cache.fetched_at = Some(Instant::now());
                cache.keys.get(kid).cloned().ok_or(JwtError::UnknownKey)
            }
            Err(reason) => {
                tracing::warn!(%url, %reason, "JWKS fetch failed");
                // Keep serving keys we already know rather than failing every request.
                let cache = self.inner.cache.read().await;
                cache
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or(JwtError::KeysUnavailable(reason))
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, String> {
        let response = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| format!("bad JWKS: {e}"))
    }
}

fn is_symmetric(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Each usable key of a set, with the one algorithm it may verify.
fn index_keys(set: &JwkSet) -> HashMap<String, (DecodingKey, Algorithm)> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let alg = key_algorithm(jwk)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, (key, alg)))
        })
        .collect()
}

fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(declared) = jwk.common.key_algorithm {
        let alg: Algorithm = declared.to_string().parse().ok()?;
        return (!is_symmetric(alg)).then_some(alg);
    }
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(_) => Some(Algorithm::ES256),
        // Symmetric secrets are never verification keys here.
        AlgorithmParameters::OctetKey(_) => None,
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode};

    use crate::testing::TestKeys;

    fn keys(kid: &str) -> TestKeys {
        TestKeys::generate(kid)
    }

    fn claims(offset_exp: i64, offset_nbf: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: uuid::Uuid::new_v4().to_string(),
            email: "a@example.com".into(),
            role: Role::User,
            iss: DEFAULT_ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            exp: now + offset_exp,
            iat: now,
            nbf: now + offset_nbf,
            jti: "j".into(),
            scope: Role::User.scopes().into(),
        }
    }

    fn sign(keys: &TestKeys, kid: &str, claims: &Claims) -> String {
        keys.sign_with_kid(kid, claims)
    }

    fn verifier(keys: &TestKeys) -> JwtVerifier {
        keys.static_verifier(JwtSettings::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE))
    }

    #[tokio::test]
    async fn accepts_a_good_token() {
        let k = keys("k1");
        let c = claims(60, 0);
        assert_eq!(verifier(&k).verify(&sign(&k, "k1", &c)).await.unwrap(), c);
    }

    #[tokio::test]
    async fn rejects_expired_and_immature_tokens() {
        let k = keys("k1");
        let v = verifier(&k);
        let expired = sign(&k, "k1", &claims(-3600, -7200));
        assert_eq!(v.verify(&expired).await, Err(JwtError::Expired));
        let early = sign(&k, "k1", &claims(7200, 3600));
        assert_eq!(v.verify(&early).await, Err(JwtError::NotYetValid));
    }

    #[tokio::test]
    async fn rejects_wrong_issuer_and_audience() {
        let k = keys("k1");
        let v = verifier(&k);
        let mut c = claims(60, 0);
        c.iss = "someone-else".into();
        assert_eq!(
            v.verify(&sign(&k, "k1", &c)).await,
            Err(JwtError::WrongIssuer)
        );
        let mut c = claims(60, 0);
        c.aud = "other".into();
        assert_eq!(
            v.verify(&sign(&k, "k1", &c)).await,
            Err(JwtError::WrongAudience)
        );
    }

    #[tokio::test]
    async fn rejects_unknown_kid_and_missing_kid() {
        let k = keys("k1");
        let v = verifier(&k);
        let c = claims(60, 0);
        assert_eq!(
            v.verify(&sign(&k, "other", &c)).await,
            Err(JwtError::UnknownKey)
        );
        let no_kid = encode(&Header::new(Algorithm::EdDSA), &c, k.encoding_key()).unwrap();
        assert_eq!(v.verify(&no_kid).await, Err(JwtError::MissingKeyId));
    }

    #[tokio::test]
    async fn rejects_alg_none_and_hs256_signed_with_the_public_key() {
        let k = keys("k1");
        let v = verifier(&k);
        let c = claims(60, 0);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{body}.");
        assert_eq!(v.verify(&unsigned).await, Err(JwtError::Malformed));

        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let confused = encode(
            &header,
            &c,
            &EncodingKey::from_secret(k.public_x().as_bytes()),
        )
        .unwrap();
        assert_eq!(
            v.verify(&confused).await,
            Err(JwtError::AlgorithmNotAllowed)
        );
    }

    #[tokio::test]
    async fn rejects_a_tampered_payload() {
        let k = keys("k1");
        let v = verifier(&k);
        let token = sign(&k, "k1", &claims(60, 0));
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(60, 0);
        forged.role = Role::Admin;
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        parts[1] = &forged_body;
        assert_eq!(v.verify(&parts.join(".")).await, Err(JwtError::Invalid));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
