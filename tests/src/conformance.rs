//! Loading the conformance vectors recorded from the Python reference.

use std::path::{Path, PathBuf};

/// The folder holding this repository's copy of the conformance vectors.
#[must_use]
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Reads and parses one vector file, for example `load("keys.json")`.
///
/// # Panics
/// When the file is missing or is not JSON: the tests that call this cannot run without it.
#[must_use]
#[allow(
    clippy::panic,
    reason = "test support: a missing vector file must fail the test loudly"
)]
pub fn load(name: &str) -> serde_json::Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()))
}
