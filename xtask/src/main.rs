//! Project automation for taskctx, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks, in order, failing fast: formatting, clippy, tests (with a
//!   `redis-server` provisioned for the Redis-backed ones), the glue without its `tls` feature,
//!   docs, dependency layering and one version of each crate ([`layering`]), and every fuzz
//!   target for a bounded time ([`fuzz`]).
//! - `fuzz [--seconds N] [TARGET…]`: builds and runs the fuzz targets in `fuzz/` ([`fuzz`]).
//! - `bench`: every benchmark in the workspace (`cargo bench --workspace`), arguments passed on.
//! - `bench --reference`: taskctx's benchmarks beside the Python reference's, in one run, on one
//!   Redis, as one table ([`reference_bench`]).
//! - `interop`: live interop tests against the Python reference on a real Redis ([`interop`]).
//!
//! Only the standard library is used, so the automation builds in seconds on a fresh machine.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: its output is the point"
)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod fuzz;
mod interop;
mod layering;
mod mcp_tasks;
mod reference_bench;

/// The result of one step: `Err` carries the sentence printed before exiting non-zero.
type StepResult = Result<(), String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "ci" => ci(),
        "bench" if rest.first().is_some_and(|arg| arg == "--reference") => {
            reference_bench::run(rest.get(1..).unwrap_or_default())
        }
        "bench" => bench(rest),
        "interop" => interop::interop(),
        "fuzz" => fuzz::fuzz_command(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci       fmt, clippy, tests (provisions redis-server), the glue without `tls`, docs,
           dependency layering, one version of each crate, every fuzz target for 30 s
  fuzz     build and run the fuzz targets in fuzz/ (installs cargo-fuzz when missing):
           `cargo xtask fuzz [--seconds N] [TARGET...]`, 60 s per target by default
  bench    run every benchmark in the workspace (extra arguments go to `cargo bench`)
  bench --reference [--tasks N] [--only mcp-tasks]
           taskctx beside the Python reference (interop venv), one run, one redis-server:
           micro benchmarks, the Redis round trip and MCP tasks end to end through two
           replicas and their workers, printed as one table
  interop  live interop tests against the Python reference (fastmcp-tasks 4.1.4, venv cached
           under the target directory; skipped when PyPI cannot be reached)";

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or(manifest_dir.clone(), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command`, echoing it first; a non-zero exit is an error naming the step.
fn run(step: &str, command: &mut Command) -> StepResult {
    eprintln!("\n==> {step}: {}", render(command));
    let started = std::time::Instant::now();
    let status = command
        .status()
        .map_err(|error| format!("{step}: could not start `{}`: {error}", render(command)))?;
    eprintln!("<== {step}: {:.0} s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

fn render(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

/// Seconds each fuzz target runs for in `cargo xtask ci`.
const CI_FUZZ_SECONDS: u64 = 30;

fn ci() -> StepResult {
    let started = std::time::Instant::now();
    run("format", cargo().args(["fmt", "--all", "--check"]))?;
    run(
        "format (fuzz)",
        cargo().args([
            "fmt",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--all",
            "--check",
        ]),
    )?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    ensure_redis_server()?;
    if has_nextest() {
        run(
            "tests",
            cargo().args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ]),
        )?;
    } else {
        run(
            "tests",
            cargo().args(["test", "--workspace", "--locked", "--no-fail-fast"]),
        )?;
    }
    if !workspace_root().join("../shared/conformance").is_dir() {
        eprintln!(
            "\nnote: ../shared/conformance is missing: tests/conformance was not compared with it"
        );
    }
    glue_without_tls()?;
    run(
        "doctests",
        cargo().args(["test", "--workspace", "--locked", "--doc"]),
    )?;
    run(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    layering::check_layers()?;
    layering::check_lock_duplicates()?;
    let outcomes = fuzz::fuzz(CI_FUZZ_SECONDS, &[])?;
    fuzz::report(&outcomes);
    eprintln!(
        "\nxtask: ci passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The glue's unit tests and URL tests in a build without its `tls` feature (the workspace test
/// run turns it on through feature unification), checking that the test of that build ran.
fn glue_without_tls() -> StepResult {
    const TEST: &str = "tls_urls_need_the_tls_feature";
    let mut command = cargo();
    command.args([
        "test",
        "-p",
        "taskctx-worker-glue",
        "--no-default-features",
        "--lib",
        "--test",
        "store_urls",
        "--locked",
    ]);
    eprintln!("\n==> glue without tls: {}", render(&command));
    let started = std::time::Instant::now();
    let output = command
        .output()
        .map_err(|error| format!("glue without tls: could not start cargo: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "glue without tls failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if !stdout.contains(&format!("test {TEST} ... ok")) {
        return Err(format!(
            "glue without tls: `{TEST}` did not run in the build without `tls`:\n{stdout}"
        ));
    }
    let summaries: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("test result"))
        .collect();
    eprintln!("{TEST} ran; {}", summaries.join("; "));
    eprintln!(
        "<== glue without tls: {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench(extra: &[String]) -> StepResult {
    run("bench", cargo().args(["bench", "--workspace"]).args(extra))
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Makes sure `redis-server`, `redis-cli` (and `openssl`, which makes the TLS tests' certificates)
/// are on the PATH for the Redis-backed tests, which
/// start their own servers on free loopback ports. Installs Debian's packages when running as root.
fn ensure_redis_server() -> StepResult {
    let present = || on_path("redis-server") && on_path("redis-cli") && on_path("openssl");
    if present() {
        return Ok(());
    }
    if !is_root() || !on_path("apt-get") {
        return Err(
            "the Redis-backed tests need `redis-server`, `redis-cli` and `openssl` on the PATH; \
             install them (Debian/Ubuntu: `sudo apt-get install redis-server openssl`) and run again"
                .to_owned(),
        );
    }
    eprintln!("\n==> redis-server is missing; installing it with apt-get");
    let noninteractive = [("DEBIAN_FRONTEND", "noninteractive")];
    run(
        "apt-get update",
        Command::new("apt-get")
            .args(["update", "-q"])
            .envs(noninteractive),
    )?;
    run(
        "apt-get install",
        Command::new("apt-get")
            .args([
                "install",
                "-q",
                "-y",
                "--no-install-recommends",
                "redis-server",
                "redis-tools",
                "openssl",
            ])
            .envs(noninteractive),
    )?;
    // The package starts a system service on the default port; the tests do not use it.
    if present() {
        Ok(())
    } else {
        Err(
            "apt-get finished, but redis-server, redis-cli or openssl is still not on the PATH"
                .to_owned(),
        )
    }
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}
