//! What every service of the platform needs, and nothing else: configuration, telemetry,
//! JWT verification, the GraphQL conventions, the event contracts and bus, and the outbox.

pub mod accounts;
pub mod app;
pub mod client_address;
pub mod config;
pub mod digest;
pub mod events;
pub mod federation;
pub mod graphql;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod outbox;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use tokio_util::sync::CancellationToken;

#[doc(hidden)]
pub use tracing as __tracing;
