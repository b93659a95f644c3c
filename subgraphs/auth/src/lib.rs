//! The accounts subgraph: registration, sign-in, sessions and the keys that sign them.

pub mod config;
pub mod domain;
pub mod graphql;
pub mod passwords;
pub mod service;
pub mod startup;
pub mod storage;
pub mod throttle;
pub mod tokens;

pub use config::AuthConfig;
pub use startup::Application;
