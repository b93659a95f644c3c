#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! The notifications service's API tests: the real application over HTTP and websockets,
//! on Redis + RabbitMQ + a real SMTP server, and on the embedded store, bus and mail folder
//! (the same contract for both).

mod events;
mod graphql;
mod helpers;
mod process;
mod store;
mod subscriptions;
mod tokens;

/// One test per backend for each contract test: see `service_kit::contract!`.
use service_kit::contract;
