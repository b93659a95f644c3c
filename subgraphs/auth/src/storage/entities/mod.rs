//! sea-orm entities of the auth database (see `migrations/`).

pub mod outbox_events;
pub mod refresh_tokens;
pub mod users;
