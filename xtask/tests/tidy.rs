//! Tidy checks over the whole workspace, written as tests so `cargo test` enforces them.
//!
//! - every Rust source file opens with a `//!` doc comment saying what it is;
//! - every `#[allow(...)]` / `#![allow(...)]` gives its `reason = "..."`;
//! - the repository's copy of the conformance vectors matches the shared folder when it is present
//!   (a plain clone without it says it skipped; under `CI=true` it is never skipped).

use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under the workspace's source folders, skipping build output.
fn rust_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = ["crates", "xtask", "tests", "fuzz"]
        .iter()
        .map(|dir| root.join(dir))
        .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && !name.to_string_lossy().starts_with('.') {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_rust_file_opens_with_module_docs() {
    let files = rust_files();
    assert!(files.len() > 3, "found too few Rust files: {files:?}");
    let missing: Vec<_> = files
        .iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap();
            let first = text
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            !first.starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` doc comment: {missing:#?}"
    );
}

#[test]
fn every_lint_allow_gives_its_reason() {
    let mut offenders = Vec::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap();
        for opener in ["#[allow(", "#![allow("] {
            for (start, _) in text.match_indices(opener) {
                // The attribute runs to the first `)]` after it, possibly over several lines.
                let rest = &text[start..];
                let attribute = rest.find(")]").map_or(rest, |end| &rest[..end]);
                let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                let is_code = text[line_start..start].trim().is_empty();
                if is_code && !attribute.contains("reason") {
                    let line = text[..start].lines().count() + 1;
                    offenders.push(format!("{}:{line}: {attribute}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "lint allows without a reason:\n{}",
        offenders.join("\n")
    );
}

/// What the conformance comparison does, given whether `../shared/conformance` exists and the
/// value of `CI`.
#[derive(Debug, PartialEq, Eq)]
enum SharedCheck {
    Compare,
    /// A plain clone elsewhere: said in the output, and passed.
    Skip,
    /// Under CI the shared folder is always there: its absence is a failure, never a skip.
    Fail,
}

fn shared_vectors_check(shared_present: bool, ci: Option<&str>) -> SharedCheck {
    let under_ci = ci.is_some_and(|value| value.eq_ignore_ascii_case("true") || value == "1");
    match (shared_present, under_ci) {
        (true, _) => SharedCheck::Compare,
        (false, false) => SharedCheck::Skip,
        (false, true) => SharedCheck::Fail,
    }
}

#[test]
fn the_shared_vectors_are_skipped_only_outside_ci() {
    assert_eq!(shared_vectors_check(true, None), SharedCheck::Compare);
    assert_eq!(
        shared_vectors_check(true, Some("true")),
        SharedCheck::Compare
    );
    assert_eq!(shared_vectors_check(false, None), SharedCheck::Skip);
    assert_eq!(
        shared_vectors_check(false, Some("false")),
        SharedCheck::Skip
    );
    assert_eq!(shared_vectors_check(false, Some("true")), SharedCheck::Fail);
    assert_eq!(shared_vectors_check(false, Some("TRUE")), SharedCheck::Fail);
    assert_eq!(shared_vectors_check(false, Some("1")), SharedCheck::Fail);
}

#[test]
fn conformance_copy_matches_shared_vectors() {
    let root = workspace_root();
    let copy = root.join("tests/conformance");
    let names: Vec<_> = fs::read_dir(&copy)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert!(
        names.iter().any(|name| name == "keys.json"),
        "tests/conformance has no keys.json"
    );
    // The shared folder sits beside the repository in the development and CI checkouts; a plain
    // clone elsewhere has only the copy, which is then the source of truth. CI always has it.
    let shared = root.join("../shared/conformance");
    match shared_vectors_check(shared.is_dir(), std::env::var("CI").ok().as_deref()) {
        SharedCheck::Compare => {}
        SharedCheck::Skip => {
            eprintln!(
                "conformance_copy_matches_shared_vectors: SKIPPED: {} is missing, so \
                 tests/conformance is not compared with the shared vectors",
                shared.display()
            );
            return;
        }
        SharedCheck::Fail => panic!(
            "{} is missing under CI=true: the shared vectors must be beside the checkout",
            shared.display()
        ),
    }
    for name in names {
        let ours = fs::read(copy.join(&name)).unwrap();
        let theirs = fs::read(shared.join(&name)).unwrap_or_else(|_| {
            panic!("{} is not in ../shared/conformance", name.to_string_lossy())
        });
        assert!(
            ours == theirs,
            "tests/conformance/{} differs from the shared copy",
            name.to_string_lossy()
        );
    }
}
