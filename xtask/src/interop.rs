//! `cargo xtask interop`: live interop tests between taskctx and the Python reference.
//!
//! 1. Provides a Python virtual environment with the reference (`fastmcp-tasks==4.1.4` from PyPI)
//!    under the cargo target directory, created once and reused while its recorded requirement
//!    matches.
//! 2. Runs the ignored interop tests (`tests/tests/interop.rs`) and fastmcp's Python MCP client
//!    against an rmcp task server (`crates/rmcp/tests/python_client.rs`) with
//!    `TASKCTX_INTEROP_PYTHON` pointing at that environment's interpreter. The tests start their
//!    own `redis-server`.
//!
//! When PyPI cannot be reached, the command prints `interop: SKIPPED (PyPI unreachable)` with the
//! reason and succeeds; every other failure is an error.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{StepResult, cargo, ensure_redis_server, run, workspace_root};

/// The reference the interop tests run against.
const REQUIREMENT: &str = "fastmcp-tasks==4.1.4";
/// The venv's folder name inside the cargo target directory.
const VENV_DIR: &str = "interop-venv";
/// The file inside the venv that records what it was built for.
const RECORD_FILE: &str = "taskctx-interop-requirement.txt";
/// Overrides where the venv lives (for trying the command against a fresh environment).
const VENV_ENV: &str = "TASKCTX_INTEROP_VENV";
/// The variable the interop tests read to find the reference's interpreter.
const PYTHON_ENV: &str = "TASKCTX_INTEROP_PYTHON";
/// How long one pip network attempt may take before pip gives up on it (seconds).
const PIP_TIMEOUT_SECS: &str = "60";
/// How many times pip retries a failed connection.
const PIP_RETRIES: &str = "2";

/// Texts pip and its libraries print when the package index cannot be reached at all: failed
/// DNS resolution, refused or timed-out connections, unreachable networks, proxies and TLS
/// handshakes that never complete.
const NETWORK_FAILURE_MARKERS: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname provided",
    "No address associated with hostname",
    "getaddrinfo failed",
    "Connection refused",
    "Connection reset by peer",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Read timed out",
    "Connection to pypi.org timed out",
    "Max retries exceeded",
    "ProxyError",
    "Cannot connect to proxy",
    "SSLError",
    "RemoteDisconnected",
];

/// How the venv came to be ready, or why it cannot be.
pub(crate) enum Provision {
    Ready(PathBuf),
    Unreachable(String),
}

/// Runs the live interop matrix (see the module docs).
pub(crate) fn interop() -> StepResult {
    let venv = venv_dir();
    let python = match provision(&venv)? {
        Provision::Ready(python) => python,
        Provision::Unreachable(reason) => {
            println!("interop: SKIPPED (PyPI unreachable)");
            println!("interop: {reason}");
            return Ok(());
        }
    };
    ensure_redis_server()?;
    run(
        "interop tests",
        cargo()
            .args([
                // `--workspace` (the test target exists only in taskctx-tests) resolves features
                // as `cargo xtask ci`'s test run does, so its build is reused, not redone.
                "test",
                "--locked",
                "--workspace",
                "--test",
                "interop",
                // fastmcp's Python MCP client against an rmcp task server (taskctx-rmcp).
                "--test",
                "python_client",
                "--",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(PYTHON_ENV, &python),
    )?;
    eprintln!("\nxtask: interop passed");
    Ok(())
}

/// The cargo target directory, as cargo itself resolves it for this workspace.
pub(crate) fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

pub(crate) fn venv_dir() -> PathBuf {
    match env::var_os(VENV_ENV) {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => target_dir().join(VENV_DIR),
    }
}

/// What the venv's record file says when it matches this command.
fn record() -> String {
    format!("{REQUIREMENT}\n")
}

/// Reuses the venv when its record matches and its interpreter imports the reference; otherwise
/// builds it afresh.
pub(crate) fn provision(venv: &Path) -> Result<Provision, String> {
    let python = venv.join("bin").join("python");
    let recorded = fs::read_to_string(venv.join(RECORD_FILE)).unwrap_or_default();
    if recorded == record() && imports_reference(&python) {
        eprintln!("==> interop: reusing {} ({REQUIREMENT})", venv.display());
        return Ok(Provision::Ready(python));
    }
    if venv.exists() {
        eprintln!("==> interop: rebuilding {}", venv.display());
        fs::remove_dir_all(venv)
            .map_err(|error| format!("interop: removing {}: {error}", venv.display()))?;
    }
    if let Some(parent) = venv.parent() {
        fs::create_dir_all(parent)
            .map_err(|error| format!("interop: creating {}: {error}", parent.display()))?;
    }
    run(
        "interop venv",
        Command::new("python3").arg("-m").arg("venv").arg(venv),
    )?;

    // A small download first: it tells "PyPI cannot be reached" apart from a broken install.
    let probe_dir = venv.join("probe");
    let probe = pip(&python)
        .args(["download", "--no-deps", "--no-cache-dir", "--dest"])
        .arg(&probe_dir)
        .arg(REQUIREMENT)
        .output()
        .map_err(|error| format!("interop: could not run pip: {error}"))?;
    let _ = fs::remove_dir_all(&probe_dir);
    if !probe.status.success() {
        return pip_failure("pip download", &probe, venv);
    }

    eprintln!("\n==> interop: pip install {REQUIREMENT}");
    let install = pip(&python)
        .args(["install", "--quiet", REQUIREMENT])
        .output()
        .map_err(|error| format!("interop: could not run pip: {error}"))?;
    if !install.status.success() {
        return pip_failure("pip install", &install, venv);
    }
    if !imports_reference(&python) {
        return Err(format!(
            "interop: {REQUIREMENT} installed, but `import fastmcp_tasks` fails in {}",
            venv.display()
        ));
    }
    fs::write(venv.join(RECORD_FILE), record())
        .map_err(|error| format!("interop: recording the venv's requirement: {error}"))?;
    Ok(Provision::Ready(python))
}

/// The venv's pip, bounded in time so an unreachable index fails within minutes.
fn pip(python: &Path) -> Command {
    let mut command = Command::new(python);
    command.args([
        "-m",
        "pip",
        "--disable-pip-version-check",
        "--timeout",
        PIP_TIMEOUT_SECS,
        "--retries",
        PIP_RETRIES,
    ]);
    command
}

/// Turns a failed pip run into the command's outcome: a network failure becomes a skip (the
/// half-built venv is removed so the next run starts afresh), anything else an error.
fn pip_failure(step: &str, output: &Output, venv: &Path) -> Result<Provision, String> {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = fs::remove_dir_all(venv);
    match network_failure(&text) {
        Some(line) => Ok(Provision::Unreachable(format!(
            "{step} could not reach the package index: {line}"
        ))),
        None => Err(format!(
            "interop: {step} failed ({}):\n{}",
            output.status,
            tail(&text, 30)
        )),
    }
}

/// The first line of `text` that shows the package index could not be reached, if any.
fn network_failure(text: &str) -> Option<&str> {
    text.lines()
        .find(|line| {
            NETWORK_FAILURE_MARKERS
                .iter()
                .any(|marker| line.contains(marker))
        })
        .map(str::trim)
}

fn imports_reference(python: &Path) -> bool {
    python.is_file()
        && Command::new(python)
            .args(["-c", "import fastmcp_tasks, docket, cryptography"])
            .output()
            .is_ok_and(|output| output.status.success())
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all.iter()
        .skip(all.len().saturating_sub(lines))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_and_connection_failures_are_network_failures() {
        let resolution = "WARNING: Retrying (Retry(total=1, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/fastmcp-tasks/\nERROR: Could not find a version that satisfies the requirement fastmcp-tasks==4.1.4 (from versions: none)";
        assert!(network_failure(resolution).is_some_and(|line| line.starts_with("WARNING")));
        let refused = "ERROR: Could not install packages due to an OSError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /simple/ (Caused by NewConnectionError(': Failed to establish a new connection: [Errno 111] Connection refused'))";
        assert!(network_failure(refused).is_some());
    }

    #[test]
    fn other_pip_failures_are_not_network_failures() {
        for text in [
            "ERROR: Could not find a version that satisfies the requirement fastmcp-tasks==4.1.4 (from versions: 4.1.3)\nERROR: No matching distribution found for fastmcp-tasks==4.1.4",
            "ERROR: Package 'fastmcp-tasks' requires a different Python: 3.8.10 not in '>=3.10'",
            "error: externally-managed-environment",
        ] {
            assert_eq!(network_failure(text), None, "{text}");
        }
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
