//! Dependency checks of `cargo xtask ci`: each layer depends only on the workspace crates below it
//! and on no crate its row forbids ([`LAYERS`]: one row per crate, so a new crate is one more
//! row), and the lock file resolves one version of each crate the workspace builds, except the
//! exceptions named with their reason in [`ACCEPTED_DUPLICATES`].

use std::collections::BTreeMap;

use crate::{StepResult, cargo};

/// One layer: the crate, the workspace crates it may depend on, and the external crates that
/// must never appear in its normal dependency tree (every feature on, every target). A forbidden
/// name also matches its family (`deadpool` matches `deadpool-redis`).
struct Layer {
    krate: &'static str,
    may_use: &'static [&'static str],
    forbidden: &'static [&'static [&'static str]],
}

/// Async runtimes and Redis clients: what a sync, I/O-free layer must not pull.
const IO: &[&str] = &["tokio", "redis", "deadpool", "futures", "mio", "async-lock"];
/// The adapters' frameworks and the command line's crates: no layer below them may pull them.
const FRAMEWORKS: &[&str] = &[
    "rmcp",
    "tower",
    "axum",
    "hyper",
    "reqwest",
    "apalis",
    "opentelemetry",
    "opentelemetry_sdk",
    "tracing-opentelemetry",
    "clap",
    "indicatif",
];
/// The taskctx crates an adapter builds on.
const BELOW_ADAPTERS: &[&str] = &[
    "taskctx-scope",
    "taskctx-snapshot",
    "taskctx-registry",
    "taskctx-worker-glue",
];

/// The layers, lowest first. An adapter crate (`crates/rmcp`, `crates/tower`) is one more row:
/// it may use the glue and the layers below, and none of the other adapters' frameworks.
const LAYERS: &[Layer] = &[
    Layer {
        krate: "taskctx-scope",
        may_use: &[],
        forbidden: &[
            IO,
            FRAMEWORKS,
            &["serde", "serde_json", "dashmap", "tracing"],
        ],
    },
    Layer {
        krate: "taskctx-snapshot",
        may_use: &["taskctx-scope"],
        forbidden: &[IO, FRAMEWORKS, &["dashmap", "tracing", "rustls"]],
    },
    Layer {
        krate: "taskctx-registry",
        may_use: &["taskctx-scope"],
        forbidden: &[IO, FRAMEWORKS, &["serde_json", "tracing", "rustls"]],
    },
    Layer {
        krate: "taskctx-worker-glue",
        may_use: &["taskctx-scope", "taskctx-snapshot", "taskctx-registry"],
        forbidden: &[FRAMEWORKS],
    },
    // rmcp's HTTP server and client (axum, hyper, reqwest) are for the tests and the example
    // only; the crate itself uses rmcp's `server` feature and tower's two trait crates.
    Layer {
        krate: "taskctx-rmcp",
        may_use: BELOW_ADAPTERS,
        forbidden: &[&[
            "axum",
            "hyper",
            "reqwest",
            "apalis",
            "opentelemetry",
            "opentelemetry_sdk",
            "tracing-opentelemetry",
            "clap",
            "indicatif",
        ]],
    },
    // apalis is a dev-dependency (the tests and the example); OpenTelemetry only with `otel`.
    Layer {
        krate: "taskctx-tower",
        may_use: BELOW_ADAPTERS,
        forbidden: &[&[
            "rmcp",
            "axum",
            "hyper",
            "reqwest",
            "apalis",
            "opentelemetry_sdk",
            "clap",
            "indicatif",
        ]],
    },
];

/// Crates that may be built in two versions, each with the reason it cannot be one.
const ACCEPTED_DUPLICATES: &[(&str, &str)] = &[
    (
        "getrandom",
        "ring 0.17 (rustls's crypto provider, behind worker-glue's `tls` feature) still uses \
         getrandom 0.2, and rand 0.9 (below) getrandom 0.3; snapshot and everything else use 0.4",
    ),
    (
        "rand",
        "opentelemetry_sdk 0.33 (latest; taskctx-tower's dev-dependency, for the in-memory span \
         exporter of the `otel` tests) uses rand 0.9; apalis and proptest use 0.10",
    ),
    (
        "rand_core",
        "rand 0.9 and 0.10 (see rand) each bring their own rand_core",
    ),
    (
        "r-efi",
        "getrandom 0.3 and 0.4 (see getrandom) each pin their own r-efi, on UEFI targets only",
    ),
    (
        "hashbrown",
        "dashmap 6 (the registry's map, latest stable) is on hashbrown 0.14; indexmap 2, which \
         rmcp uses, is on 0.17",
    ),
    (
        "windows-sys",
        "ring 0.17 pins windows-sys 0.52 on Windows targets (never built on Linux); tokio and the \
         rest use 0.61",
    ),
    (
        "syn",
        "divan's macros (the benchmarks' dev-dependency, latest 0.1.21) still use syn 2; every \
         other proc macro uses syn 3",
    ),
];

/// Checks every row of [`LAYERS`].
pub(crate) fn check_layers() -> StepResult {
    let mut problems = Vec::new();
    for layer in LAYERS {
        eprintln!(
            "\n==> layering: cargo tree -p {} -e normal --all-features",
            layer.krate
        );
        let tree = normal_tree(layer.krate)?;
        let mut names: Vec<&str> = tree
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| *name != layer.krate)
            .collect();
        names.sort_unstable();
        names.dedup();
        problems.extend(layer_problems(layer, &names));
        eprintln!("{} depends on {} crates", layer.krate, names.len());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("layering:\n  {}", problems.join("\n  ")))
    }
}

/// What is wrong with a layer whose normal dependency tree holds `names`.
fn layer_problems(layer: &Layer, names: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for name in names {
        if name.starts_with("taskctx-") && !layer.may_use.contains(name) {
            problems.push(format!(
                "{} depends on {name}, which is not below it (it may use: {})",
                layer.krate,
                if layer.may_use.is_empty() {
                    "no other taskctx crate".to_owned()
                } else {
                    layer.may_use.join(", ")
                }
            ));
        }
        let forbidden = layer
            .forbidden
            .iter()
            .flat_map(|list| list.iter())
            .find(|forbidden| name == *forbidden || name.starts_with(&format!("{forbidden}-")));
        if let Some(forbidden) = forbidden {
            problems.push(format!(
                "{} must not depend on {forbidden}, but its tree has {name}",
                layer.krate
            ));
        }
    }
    problems
}

fn normal_tree(krate: &str) -> Result<String, String> {
    let output = cargo()
        .args([
            "tree",
            "--locked",
            "-p",
            krate,
            "-e",
            "normal",
            "--all-features",
            "--target",
            "all",
            "--prefix",
            "none",
        ])
        .output()
        .map_err(|error| format!("layering: could not run cargo tree: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "layering: cargo tree -p {krate} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Checks that the lock file resolves one version of each crate that any build of the workspace
/// compiles (every member, every feature, every target, dev-dependencies included), apart from
/// [`ACCEPTED_DUPLICATES`], and that each accepted exception is still needed.
///
/// It reads `cargo tree --duplicates` rather than `Cargo.lock` itself: the lock file is
/// feature-independent and also lists optional dependencies that no feature turns on (postcard's
/// `embedded-io` 0.4 and 0.6), which are never built.
pub(crate) fn check_lock_duplicates() -> StepResult {
    eprintln!(
        "\n==> one version of each crate: cargo tree --workspace --duplicates --all-features \
         --target all"
    );
    let output = cargo()
        .args([
            "tree",
            "--locked",
            "--workspace",
            "--duplicates",
            "--all-features",
            "--target",
            "all",
            "--depth",
            "0",
            "--prefix",
            "none",
        ])
        .output()
        .map_err(|error| format!("could not run cargo tree: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree --duplicates failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let versions = duplicated_versions(&String::from_utf8_lossy(&output.stdout));
    let problems = duplicate_problems(&versions, ACCEPTED_DUPLICATES);
    for (name, reason) in ACCEPTED_DUPLICATES {
        let found = versions
            .get(*name)
            .map_or_else(String::new, |found| found.join(", "));
        eprintln!("accepted: {name} {found}: {reason}");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "one version of each crate:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The crates `cargo tree --duplicates --depth 0 --prefix none` lists (`name vX.Y.Z` lines),
/// with their versions.
fn duplicated_versions(tree: &str) -> BTreeMap<String, Vec<String>> {
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in tree.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next())
            && let Some(version) = version.strip_prefix('v')
        {
            let found = versions.entry(name.to_owned()).or_default();
            if !found.iter().any(|known| known == version) {
                found.push(version.to_owned());
            }
        }
    }
    versions
}

fn duplicate_problems(
    versions: &BTreeMap<String, Vec<String>>,
    accepted: &[(&str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, found) in versions {
        let is_accepted = accepted.iter().any(|(accepted, _)| accepted == name);
        if found.len() > 1 && !is_accepted {
            problems.push(format!(
                "{name} is locked at {} versions ({}); align them, or name the exception and its \
                 reason in ACCEPTED_DUPLICATES (xtask/src/layering.rs)",
                found.len(),
                found.join(", ")
            ));
        }
    }
    for (name, _) in accepted {
        if versions.get(*name).is_none_or(|found| found.len() < 2) {
            problems.push(format!(
                "{name} is listed in ACCEPTED_DUPLICATES but is locked at one version now: drop \
                 the exception"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "getrandom v0.2.17\n\ngetrandom v0.4.3\n\nsyn v2.0.119 (proc-macro)\n\n\
                        syn v3.0.10\nsyn v3.0.10\n";

    #[test]
    fn the_duplicates_are_read_from_cargo_tree() {
        let versions = duplicated_versions(TREE);
        assert_eq!(versions["getrandom"], ["0.2.17", "0.4.3"]);
        assert_eq!(versions["syn"], ["2.0.119", "3.0.10"]);
        assert_eq!(versions.len(), 2);
        assert!(duplicated_versions("warning: nothing to print.").is_empty());
    }

    #[test]
    fn a_duplicate_fails_unless_accepted_and_a_stale_exception_fails() {
        let versions = duplicated_versions(TREE);
        assert!(duplicate_problems(&versions, &[("getrandom", "why"), ("syn", "why")]).is_empty());
        let unexplained = duplicate_problems(&versions, &[("syn", "why")]);
        assert_eq!(unexplained.len(), 1);
        assert!(unexplained[0].contains("getrandom is locked at 2 versions"));
        let stale = duplicate_problems(
            &versions,
            &[("getrandom", "why"), ("syn", "why"), ("serde", "why")],
        );
        assert_eq!(stale.len(), 1);
        assert!(stale[0].contains("serde is listed"));
    }

    #[test]
    fn a_layer_may_not_use_a_higher_one_or_a_forbidden_family() {
        let snapshot = LAYERS
            .iter()
            .find(|layer| layer.krate == "taskctx-snapshot")
            .unwrap();
        assert!(layer_problems(snapshot, &["taskctx-scope", "serde", "sha2"]).is_empty());
        let problems = layer_problems(
            snapshot,
            &[
                "taskctx-worker-glue",
                "deadpool-redis",
                "tokio",
                "tokio-util",
            ],
        );
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("taskctx-worker-glue, which is not below it"));
        assert!(problems[1].contains("must not depend on deadpool"));
        let scope = &LAYERS[0];
        assert!(layer_problems(scope, &["taskctx-snapshot"])[0].contains("no other taskctx"));
    }

    #[test]
    fn every_layer_is_in_the_workspace_and_lower_layers_come_first() {
        let root = crate::workspace_root();
        for (index, layer) in LAYERS.iter().enumerate() {
            let folder = layer.krate.trim_start_matches("taskctx-");
            assert!(
                root.join("crates")
                    .join(folder)
                    .join("Cargo.toml")
                    .is_file(),
                "{}",
                layer.krate
            );
            for used in layer.may_use {
                let position = LAYERS.iter().position(|other| other.krate == *used);
                assert!(position.is_some_and(|position| position < index), "{used}");
            }
        }
    }
}
