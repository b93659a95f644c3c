//! Signing keys and tokens for JWT tests.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header, encode,
    jwk::{self, AlgorithmParameters, Jwk, JwkSet},
};
use serde_json::{Value, json};

pub struct Keys {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwks: JwkSet,
    pub public_x: String,
}

impl Keys {
    pub fn generate(kid: &str) -> Self {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let der = signing.to_pkcs8_der().unwrap();
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let jwk = Jwk {
            common: jwk::CommonParameters {
                key_id: Some(kid.into()),
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
            kid: kid.into(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwks: JwkSet { keys: vec![jwk] },
            public_x: x,
        }
    }

    /// Writes the JWKS to a fresh file and returns its path.
    pub fn jwks_file(&self) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("router-jwks-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, serde_json::to_string(&self.jwks).unwrap()).unwrap();
        path
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).unwrap()
    }
}

/// Valid platform claims for user 1, with expiry/not-before offsets in seconds.
pub fn claims(exp_in: i64, nbf_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "1",
        "email": "user1@example.com",
        "role": "USER",
        "iss": service_kit::jwt::DEFAULT_ISSUER,
        "aud": service_kit::jwt::DEFAULT_AUDIENCE,
        "exp": now + exp_in,
        "iat": now,
        "nbf": now + nbf_in,
        "jti": "t1",
    })
}
