#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

//! The whole platform's tests, in one binary: the one-command run's journey and restart,
//! and the deployment files checked against the code.

mod common;
mod deployment;
mod journey;
mod restart;
