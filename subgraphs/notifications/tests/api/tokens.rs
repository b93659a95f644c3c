//! Access tokens for tests: an Ed25519 key of our own, trusted through a static key set.

use service_kit::{
    jwt::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, JwtSettings, JwtVerifier, Role},
    testing::{self, TestKeys},
};
use uuid::Uuid;

const KID: &str = "test-key";

/// A fresh signing key, as each test app gets.
pub fn generate() -> TestKeys {
    TestKeys::generate(KID)
}

/// What the app under test verifies tokens with: `keys` only.
pub fn verifier(keys: &TestKeys) -> JwtVerifier {
    keys.static_verifier(JwtSettings::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE))
}

/// Claims for `user`, whose email claim is `<user>@example.com`.
pub fn claims(user: Uuid, role: Role, exp_offset: i64) -> Claims {
    testing::claims(user, format!("{user}@example.com"), role, exp_offset)
}

/// A valid USER token for `user`.
pub fn token_for(keys: &TestKeys, user: Uuid) -> String {
    keys.sign(&claims(user, Role::User, 600))
}
