//! The in-process integration tests, one binary (each module was a test binary of its own; one
//! binary links the library once). Kept apart, in binaries of their own, only what must be:
//! `cli.rs` and `serve.rs` (real child processes of the binary), `no_leaks.rs` (a global log
//! subscriber) and `environment.rs` (it sets process environment variables).
//!
//! Run one module with `cargo test --test suite MODULE::`, e.g. `cargo test --test suite
//! rules::` for the rule tests or `cargo test --test suite examples::` for the examples.

#[path = "../common/mod.rs"]
mod common;

mod analytics;
mod apply;
mod auth;
mod conformance;
mod examples;
mod fallback;
mod fatigue;
mod fuzz;
mod http;
mod knowledge;
mod playground;
mod records;
mod replay;
mod rollout;
mod rules;
mod store;
mod versions;
