//! Shared support for taskctx's cross-crate tests.
//!
//! - [`conformance`]: the vectors recorded from the Python reference (fastmcp-tasks 4.1.4), kept in
//!   `tests/conformance/` (a copy of the project's shared conformance folder; a tidy test keeps the
//!   two identical when both are present).
//! - [`fixtures`]: the full snapshot the benchmarks measure.
//! - [`python`]: scripts run under the interop venv's Python (the reference, fastmcp's client).
//! - [`redis`]: real `redis-server` processes (standalone, unix socket, cluster, sentinel) on free
//!   loopback ports, for the store tests.
//!
//! `cargo test -p taskctx-tests --doc` also runs every Rust example of the README, as written.

pub mod conformance;
pub mod fixtures;
pub mod python;
pub mod redis;

/// The README's Rust examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
