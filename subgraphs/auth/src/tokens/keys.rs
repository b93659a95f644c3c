use std::{io::Write, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{
    EncodingKey,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
        OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
    },
};

use crate::config::SigningKeySource;

/// The Ed25519 key that signs access tokens, its key id, and the public JWKS.
#[derive(Clone)]
pub struct SigningKeys {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl SigningKeys {
    pub fn load(source: &SigningKeySource) -> anyhow::Result<Self> {
        let key = match source {
            SigningKeySource::Pem(pem) => SigningKey::from_pkcs8_pem(pem).map_err(|e| {
                anyhow::anyhow!("AUTH_SIGNING_KEY is not a PKCS#8 Ed25519 PEM: {e}")
            })?,
            SigningKeySource::File(path) => load_or_create(path)?,
            SigningKeySource::Ephemeral => SigningKey::generate(&mut rand::rngs::OsRng),
        };
        Self::from_key(&key)
    }

    fn from_key(key: &SigningKey) -> anyhow::Result<Self> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the signing key: {e}"))?;
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            }),
        };
        // The RFC 7638 thumbprint names the key: stable across restarts, new on rotation.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common.key_id = Some(kid.clone());
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

fn load_or_create(path: &Path) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(pem) => SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{} is not a PKCS#8 Ed25519 PEM: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("encoding the signing key: {e}"))?;
            service_kit::telemetry::ensure_parent_dir(path)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(path)?.write_all(pem.as_bytes())?;
            tracing::info!(path = %path.display(), "generated a new access-token signing key");
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(uuid::Uuid::new_v4().to_string());
        let path = dir.join("key.pem");
        let first = SigningKeys::load(&SigningKeySource::File(path.clone())).unwrap();
        let second = SigningKeys::load(&SigningKeySource::File(path.clone())).unwrap();
        assert_eq!(first.kid(), second.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_jwks_holds_only_the_public_key() {
        let keys = SigningKeys::load(&SigningKeySource::Ephemeral).unwrap();
        let json = serde_json::to_value(keys.jwks()).unwrap();
        let key = &json["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["kid"], keys.kid());
        assert!(
            key.get("d").is_none(),
            "private part must never be published"
        );
    }
}
