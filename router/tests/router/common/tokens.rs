//! Signing keys and tokens for JWT tests.

use serde_json::{Value, json};
pub use service_kit::testing::TestKeys;

/// Writes the JWKS of `keys` to a fresh file and returns its path.
pub fn jwks_file(keys: &TestKeys) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("router-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_string(&keys.jwks()).unwrap()).unwrap();
    path
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
