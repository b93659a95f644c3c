//! Access tokens for tests: an Ed25519 key of our own, trusted through a static key set.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header, encode,
    jwk::{self, AlgorithmParameters, Jwk, JwkSet},
};
use service_kit::jwt::{Claims, JwtSettings, JwtVerifier, KeySource, Role};
use uuid::Uuid;

const KID: &str = "test-key";

#[derive(Clone)]
pub struct TestKeys {
    encoding: EncodingKey,
    set: JwkSet,
}

impl TestKeys {
    pub fn generate() -> Self {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let der = signing.to_pkcs8_der().unwrap();
        let jwk = Jwk {
            common: jwk::CommonParameters {
                key_id: Some(KID.into()),
                key_algorithm: Some(jwk::KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(jwk::OctetKeyPairParameters {
                key_type: jwk::OctetKeyPairType::OctetKeyPair,
                curve: jwk::EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            }),
        };
        Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            set: JwkSet { keys: vec![jwk] },
        }
    }

    pub fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(
            KeySource::Static(self.set.clone()),
            JwtSettings::new("platform-auth", "platform"),
        )
    }

    pub fn claims(user: Uuid, role: Role, exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: user.to_string(),
            email: format!("{user}@example.com"),
            role,
            iss: "platform-auth".into(),
            aud: "platform".into(),
            exp: now + exp_offset,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4().to_string(),
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(KID.into());
        encode(&header, claims, &self.encoding).unwrap()
    }

    /// A valid USER token for `user`.
    pub fn token_for(&self, user: Uuid) -> String {
        self.sign(&Self::claims(user, Role::User, 600))
    }
}
