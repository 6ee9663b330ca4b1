//! `cargo xtask fuzz [--seconds N] [TARGET…]`: builds the cargo-fuzz targets in `fuzz/` (their own
//! workspace and lock file) and runs each for a bounded time, seeded from the conformance vectors.
//!
//! - cargo-fuzz is installed from crates.io (`cargo install cargo-fuzz --locked`) when missing.
//! - libFuzzer's instrumentation needs unstable compiler flags: the stable toolchain is asked for
//!   them with `RUSTC_BOOTSTRAP=1`, so no nightly toolchain is needed.
//! - The targets run without a sanitizer: every taskctx crate forbids `unsafe` code, so what the
//!   fuzzer looks for is panics and broken round trips, not memory errors.
//! - Each target's corpus is `fuzz/corpus/TARGET/` (kept between runs, not committed), seeded
//!   with every string of the vector files that target reads (`tests/conformance/`). A crash is
//!   saved under `fuzz/artifacts/TARGET/` and fails the command; it then becomes a regression test
//!   in the crate it found a fault in.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{StepResult, cargo, run, workspace_root};

/// Each fuzz target, with the vector files its seeds come from.
const TARGETS: &[(&str, &[&str])] = &[
    ("key_parse", &["keys.json", "snapshots.json"]),
    ("percent_decode", &["keys.json"]),
    ("scope_from_token", &["scope.json", "snapshots.json"]),
    ("codec_decode", &["snapshots.json", "encryption.json"]),
];

/// Seconds per target when `--seconds` is not given.
pub(crate) const DEFAULT_SECONDS: u64 = 60;

/// What one target did.
pub(crate) struct Outcome {
    pub(crate) target: &'static str,
    pub(crate) runs: Option<u64>,
    pub(crate) seconds: f64,
}

/// Parses `[--seconds N] [TARGET…]` and fuzzes.
pub(crate) fn fuzz_command(args: &[String]) -> StepResult {
    let mut seconds = DEFAULT_SECONDS;
    let mut selected = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--seconds" => args.next().map(String::as_str),
            other => other.strip_prefix("--seconds="),
        };
        if arg.starts_with("--seconds") {
            seconds = value
                .and_then(|value| value.parse().ok())
                .filter(|&seconds| seconds > 0)
                .ok_or_else(|| "fuzz: --seconds takes a whole number above 0".to_owned())?;
        } else if let Some((name, _)) = TARGETS.iter().find(|(name, _)| name == arg) {
            selected.push(*name);
        } else {
            let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "fuzz: unknown argument `{arg}` (targets: {})",
                names.join(", ")
            ));
        }
    }
    let outcomes = fuzz(seconds, &selected)?;
    report(&outcomes);
    Ok(())
}

/// Builds every target and runs the `selected` ones (all when empty) for `seconds` each.
pub(crate) fn fuzz(seconds: u64, selected: &[&str]) -> Result<Vec<Outcome>, String> {
    ensure_cargo_fuzz()?;
    let dir = workspace_root().join("fuzz");
    run(
        "fuzz build",
        cargo_fuzz(&dir).args(["build", "--sanitizer", "none"]),
    )?;
    let chosen: Vec<_> = TARGETS
        .iter()
        .filter(|(target, _)| selected.is_empty() || selected.contains(target))
        .collect();
    // The targets are independent single-threaded processes: run as many at once as there are
    // CPUs, so fuzzing takes `seconds` per batch rather than per target.
    let at_once = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut outcomes = Vec::new();
    for batch in chosen.chunks(at_once) {
        let results: Vec<Result<Outcome, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|(target, vectors)| {
                    let dir = &dir;
                    scope.spawn(move || fuzz_one(dir, target, vectors, seconds))
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("fuzz: a target's thread panicked".to_owned()))
                })
                .collect()
        });
        for result in results {
            outcomes.push(result?);
        }
    }
    Ok(outcomes)
}

/// Runs one target for `seconds`, seeded from its vector files.
fn fuzz_one(
    dir: &Path,
    target: &'static str,
    vectors: &[&str],
    seconds: u64,
) -> Result<Outcome, String> {
    let corpus = dir.join("corpus").join(target);
    let seeds = write_seeds(&corpus, vectors)?;
    eprintln!("\n==> fuzz {target} for {seconds} s ({seeds} seeds from tests/conformance)");
    let started = Instant::now();
    let output = cargo_fuzz(dir)
        .args(["run", "--sanitizer", "none", target])
        .arg(&corpus)
        .args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-max_len=65536",
            "-print_final_stats=1",
        ])
        .output()
        .map_err(|error| format!("fuzz {target}: could not start cargo fuzz: {error}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "fuzz {target} found a failure ({}); the input is saved under \
             fuzz/artifacts/{target}/\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    let outcome = Outcome {
        target,
        runs: final_runs(&log),
        seconds: started.elapsed().as_secs_f64(),
    };
    eprintln!(
        "fuzz {target}: {} executions in {:.0} s, no failure",
        outcome
            .runs
            .map_or_else(|| "?".to_owned(), |runs| runs.to_string()),
        outcome.seconds
    );
    Ok(outcome)
}

pub(crate) fn report(outcomes: &[Outcome]) {
    eprintln!("\nfuzz summary (executions per target):");
    for outcome in outcomes {
        eprintln!(
            "  {:<20} {:>12} in {:.0} s",
            outcome.target,
            outcome
                .runs
                .map_or_else(|| "?".to_owned(), |runs| runs.to_string()),
            outcome.seconds
        );
    }
}

fn cargo_fuzz(dir: &Path) -> Command {
    let mut command = cargo();
    command
        .arg("fuzz")
        .current_dir(dir)
        .env("RUSTC_BOOTSTRAP", "1");
    command
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is not there.
fn ensure_cargo_fuzz() -> StepResult {
    let present = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if present {
        return Ok(());
    }
    eprintln!("\n==> cargo-fuzz is missing; installing it from crates.io");
    run(
        "install cargo-fuzz",
        cargo().args(["install", "cargo-fuzz", "--locked"]),
    )
}

/// libFuzzer's final `stat::number_of_executed_units`, or its `Done N runs` line.
fn final_runs(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| {
        line.strip_prefix("stat::number_of_executed_units:")
            .map(str::trim)
            .or_else(|| {
                line.strip_prefix("Done ")
                    .and_then(|rest| rest.split_whitespace().next())
            })
            .and_then(|number| number.parse().ok())
    })
}

/// Writes every string of the `vectors` files into `corpus` (one file each, named by content);
/// returns how many seeds there are.
fn write_seeds(corpus: &Path, vectors: &[&str]) -> Result<usize, String> {
    fs::create_dir_all(corpus)
        .map_err(|error| format!("fuzz: could not create {}: {error}", corpus.display()))?;
    let mut seeds = BTreeSet::new();
    for name in vectors {
        let path: PathBuf = workspace_root().join("tests/conformance").join(name);
        let text = fs::read_to_string(&path)
            .map_err(|error| format!("fuzz: could not read {}: {error}", path.display()))?;
        seeds.extend(json_strings(&text));
    }
    for seed in &seeds {
        let file = corpus.join(format!("seed-{:016x}", fnv1a(seed.as_bytes())));
        fs::write(&file, seed)
            .map_err(|error| format!("fuzz: could not write {}: {error}", file.display()))?;
    }
    Ok(seeds.len())
}

/// Every string literal of a JSON text, decoded; strings holding a lone surrogate escape are
/// left out (they have no UTF-8 form).
fn json_strings(text: &str) -> Vec<String> {
    let mut strings = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut value = String::new();
        let mut valid = true;
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some('b') => value.push('\u{8}'),
                    Some('f') => value.push('\u{c}'),
                    Some('u') => match unicode_escape(&mut chars) {
                        Some(decoded) => value.push(decoded),
                        None => valid = false,
                    },
                    Some(other) => value.push(other),
                    None => break,
                },
                other => value.push(other),
            }
        }
        if valid && !value.is_empty() {
            strings.push(value);
        }
    }
    strings
}

/// The character of a `\uXXXX` escape (the `\u` already read), joining a surrogate pair.
fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Option<char> {
    let hex4 = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
        let digits: String = chars.take(4).collect();
        u32::from_str_radix(&digits, 16).ok()
    };
    let first = hex4(chars)?;
    if (0xD800..0xDC00).contains(&first) {
        let mut lookahead = chars.clone();
        if lookahead.next() == Some('\\') && lookahead.next() == Some('u') {
            let second = hex4(&mut lookahead)?;
            if (0xDC00..0xE000).contains(&second) {
                *chars = lookahead;
                return char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00));
            }
        }
        return None;
    }
    char::from_u32(first)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_read_out_of_json_with_their_escapes() {
        let text =
            r#"{"a": "x\"y", "b": ["\u00e9\n", "\ud83d\ude00", "\ud800z"], "c": 1, "d": ""}"#;
        assert_eq!(
            json_strings(text),
            ["a", "x\"y", "b", "é\n", "😀", "c", "d"]
        );
    }

    #[test]
    fn every_target_is_built_by_the_fuzz_manifest_and_has_seeds() {
        let manifest = fs::read_to_string(workspace_root().join("fuzz/Cargo.toml")).unwrap();
        for (target, vectors) in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
            assert!(
                workspace_root()
                    .join(format!("fuzz/fuzz_targets/{target}.rs"))
                    .is_file()
            );
            let strings: usize = vectors
                .iter()
                .map(|name| {
                    let path = workspace_root().join("tests/conformance").join(name);
                    json_strings(&fs::read_to_string(path).unwrap()).len()
                })
                .sum();
            assert!(strings > 20, "{target}: {strings} seeds");
        }
        assert_eq!(manifest.matches("[[bin]]").count(), TARGETS.len());
    }

    #[test]
    fn the_run_count_is_read_from_libfuzzer() {
        assert_eq!(
            final_runs("#1\tINITED\nDone 2462275 runs in 9 second(s)\n"),
            Some(2_462_275)
        );
        assert_eq!(
            final_runs("Done 5 runs in 1 second(s)\nstat::number_of_executed_units: 7\n"),
            Some(7)
        );
        assert_eq!(final_runs("nothing"), None);
    }
}
