//! The router's integration tests, one binary: the real router (in-process, and as its own
//! process where the CLI or a second instance matters) against the fixture subgraphs in
//! `common`.

#![allow(clippy::unwrap_used)]

mod common;

mod authorization;
mod catalog;
mod dedupe;
mod defer;
mod demand_control;
mod differential;
mod federation;
mod fixtures_sdl;
mod gateways;
mod jwt;
mod limits;
mod persisted;
mod reload;
mod requires;
mod resilience;
mod subscriptions;
mod transports;
