//! Access tokens (signed JWTs), the JWKS that verifies them, and opaque refresh tokens.

mod access;
mod keys;
mod refresh;

pub use access::TokenIssuer;
pub use keys::SigningKeys;
pub use refresh::{RefreshToken, hash_refresh_token};
