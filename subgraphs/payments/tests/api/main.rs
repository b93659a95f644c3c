#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! Payments API tests: the real application over HTTP, on MongoDB + RabbitMQ and on the
//! embedded store + in-process bus (the same contract for both).

mod authorization;
mod bad_input;
mod concurrency;
mod events;
mod helpers;
mod idempotency;
mod lifecycle;
mod pagination;
mod process;
mod recovery;

/// One test per backend for each contract test: see `service_kit::contract!`.
use service_kit::contract;
