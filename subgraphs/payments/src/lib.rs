//! The payments subgraph: idempotent payments, a safe state machine, and events that are
//! never lost.

pub mod config;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod processor;
pub mod service;
pub mod startup;
pub mod storage;

pub use config::PaymentsConfig;
pub use startup::Application;
