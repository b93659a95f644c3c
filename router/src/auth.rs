//! JWT authentication of callers, before any planning: a bad token is answered with HTTP 401
//! and `UNAUTHENTICATED`; no token passes anonymously unless authentication is required.
//! Verification itself is `service_kit::jwt` (JWKS by URL or file, asymmetric algorithms only).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use jsonwebtoken::{Algorithm, jwk::JwkSet};
use serde_json::Value;
use service_kit::jwt::{JwtSettings, JwtVerifier, KeySource};

use crate::{
    config::JwtConfig,
    error::{GraphQLError, RequestError, codes::ErrorCode},
};

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's `sub`.
    pub subject: String,
    /// All claims, forwarded to subgraphs as JSON when configured.
    pub claims: Value,
    /// The `Authorization` header value as received, forwarded to subgraphs.
    pub authorization: HeaderValue,
}

/// Verifies tokens as configured.
#[derive(Clone)]
pub struct Authenticator {
    verifier: JwtVerifier,
    header: HeaderName,
    prefix: String,
    require: bool,
    claims_header: Option<HeaderName>,
}

impl Authenticator {
    pub fn from_config(config: &JwtConfig) -> anyhow::Result<Self> {
        let source = match (&config.jwks_url, &config.jwks_file) {
            (Some(url), _) => KeySource::Url {
                url: url.clone(),
                refresh_interval: std::time::Duration::from_secs(config.refresh_interval_secs),
            },
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read JWKS file {}: {e}", path.display())
                })?;
                let set: JwkSet = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid JWKS file {}: {e}", path.display()))?;
                KeySource::Static(set)
            }
            (None, None) => anyhow::bail!("jwt needs jwks_url or jwks_file"),
        };
        let mut settings = JwtSettings::new(config.issuer.clone(), config.audience.clone());
        settings.leeway = std::time::Duration::from_secs(config.leeway_secs);
        settings.algorithms = config
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| anyhow::anyhow!("unknown JWT algorithm {a:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let header = HeaderName::try_from(config.header.to_ascii_lowercase())
            .map_err(|_| anyhow::anyhow!("invalid jwt header name {:?}", config.header))?;
        let claims_header = if config.forward_claims_header.is_empty() {
            None
        } else {
            Some(
                HeaderName::try_from(config.forward_claims_header.to_ascii_lowercase()).map_err(
                    |_| anyhow::anyhow!("invalid claims header {:?}", config.forward_claims_header),
                )?,
            )
        };
        Ok(Self {
            verifier: JwtVerifier::new(source, settings),
            header,
            prefix: config.prefix.clone(),
            require: config.require_authentication,
            claims_header,
        })
    }

    /// Whether a request brings a token at all.
    pub fn has_token(&self, headers: &HeaderMap) -> bool {
        headers.contains_key(&self.header)
    }

    pub fn claims_header(&self) -> Option<&HeaderName> {
        self.claims_header.as_ref()
    }

    /// The caller of an HTTP request: `Ok(None)` for anonymous, `Err` for a bad token or a
    /// missing one when authentication is required.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Caller>, RequestError> {
        let raw = headers.get(&self.header);
        let token = match raw {
            None => None,
            Some(value) => {
                let text = value
                    .to_str()
                    .map_err(|_| unauthenticated("invalid token"))?;
                Some(
                    self.strip_prefix(text)
                        .ok_or_else(|| unauthenticated("malformed authorization header"))?,
                )
            }
        };
        self.authenticate_token(token, raw.cloned()).await
    }

    /// Verifies a token taken from anywhere (a websocket's `connection_init` payload too).
    pub async fn authenticate_token(
        &self,
        token: Option<&str>,
        header_value: Option<HeaderValue>,
    ) -> Result<Option<Caller>, RequestError> {
        let Some(token) = token else {
            if self.require {
                return Err(unauthenticated("authentication required"));
            }
            return Ok(None);
        };
        let claims: Value = self.verifier.verify_as(token).await.map_err(|e| {
            tracing::debug!(reason = %e, "rejected access token");
            unauthenticated(e.client_message())
        })?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let authorization = match header_value {
            Some(v) => v,
            None => HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| unauthenticated("invalid token"))?,
        };
        Ok(Some(Caller {
            subject,
            claims,
            authorization,
        }))
    }

    /// The token in a header value: after the configured scheme, or the whole value when no
    /// scheme is configured.
    fn strip_prefix<'a>(&self, value: &'a str) -> Option<&'a str> {
        let value = value.trim();
        if self.prefix.is_empty() {
            return (!value.is_empty()).then_some(value);
        }
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case(&self.prefix) && !token.is_empty()).then_some(token)
    }

    /// The token in a `connection_init` payload: `Authorization`/`authorization` (with the
    /// scheme), or `token`/`authToken` (bare).
    pub fn token_from_init_payload<'a>(&self, payload: &'a Value) -> Option<&'a str> {
        let headers = payload.get("headers").unwrap_or(payload);
        for key in [self.header.as_str(), "Authorization", "authorization"] {
            if let Some(v) = headers.get(key).and_then(Value::as_str) {
                return self.strip_prefix(v).or(Some(v));
            }
        }
        ["token", "authToken"]
            .iter()
            .find_map(|k| payload.get(*k).and_then(Value::as_str))
    }
}

fn unauthenticated(message: &str) -> RequestError {
    RequestError::new(
        StatusCode::UNAUTHORIZED,
        GraphQLError::new(message, ErrorCode::Unauthenticated.as_str()),
    )
}
