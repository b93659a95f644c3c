#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! Auth's API tests: the real application over HTTP, on PostgreSQL + RabbitMQ and on the
//! embedded SQLite + in-process bus (the same contract for both).

mod accounts;
mod authorization;
mod events;
mod helpers;
mod process;
mod sessions;
mod standing;
mod tokens;

/// One test per backend for each contract test: see `service_kit::contract!`.
use service_kit::contract;
