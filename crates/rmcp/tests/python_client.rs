//! fastmcp's Python client (fastmcp-tasks 4.1.4's client extension, from the interop virtual
//! environment) against an rmcp server built as the example server is: Streamable HTTP on axum,
//! the bearer layer, and the `Mcp-Name` shim. The client creates a task, polls `tasks/get` until
//! it completes, and reads the result; without the shim, rmcp refuses its first poll.
//!
//! The interpreter is `TASKCTX_INTEROP_PYTHON` when set (as `cargo xtask interop` sets it), else
//! the one of the venv `cargo xtask interop` builds: `TASKCTX_INTEROP_VENV`, or `interop-venv` in
//! the cargo target directory. Without a ready venv the tests print why and pass.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TOKEN_A, memory_server, router, serve_router};
use serde_json::{Value, json};
use taskctx_rmcp::McpNameShimLayer;

/// What `cargo xtask interop` sets to the venv's interpreter.
const PYTHON_ENV: &str = "TASKCTX_INTEROP_PYTHON";
/// Where `cargo xtask interop` builds the venv instead of the target directory, when set.
const VENV_ENV: &str = "TASKCTX_INTEROP_VENV";
/// The venv's folder in the cargo target directory.
const VENV_DIR: &str = "interop-venv";
/// The file `cargo xtask interop` writes into a venv once the reference is installed, and what
/// it holds.
const RECORD_FILE: &str = "taskctx-interop-requirement.txt";
const REQUIREMENT: &str = "fastmcp-tasks==4.1.4\n";
/// The longest one client run may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace's root folder (this crate is `crates/rmcp`).
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// A path from the environment, taken relative to the workspace root as cargo and xtask do.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(|value| workspace_root().join(value))
}

/// The interop venv's interpreter, or why there is none.
fn python() -> Result<PathBuf, String> {
    if let Some(python) = env_path(PYTHON_ENV) {
        return Ok(python);
    }
    let venv = env_path(VENV_ENV).unwrap_or_else(|| {
        env_path("CARGO_TARGET_DIR")
            .unwrap_or_else(|| workspace_root().join("target"))
            .join(VENV_DIR)
    });
    let record = std::fs::read_to_string(venv.join(RECORD_FILE)).unwrap_or_default();
    if record != REQUIREMENT {
        return Err(format!(
            "no interop venv with {} at {} (`cargo xtask interop` builds it)",
            REQUIREMENT.trim(),
            venv.display()
        ));
    }
    Ok(venv.join("bin").join("python"))
}

/// The interpreter, or `None` after saying why the test is skipped.
fn python_or_skip(test: &str) -> Option<PathBuf> {
    match python() {
        Ok(python) => Some(python),
        Err(reason) => {
            #[allow(
                clippy::print_stderr,
                reason = "a skipped test says why, as the interop tests do"
            )]
            {
                eprintln!("{test}: SKIPPED: {reason}");
            }
            None
        }
    }
}

/// Runs the client script with `request` on stdin and returns its JSON answer.
fn run_client(python: &Path, request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fastmcp_task_client.py");
    let mut child = Command::new(python)
        .arg(&script)
        // No `.env` file and no inherited settings: only what the test says.
        .env("FASTMCP_ENV_FILE", "/dev/null")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {}: {error}", python.display()));
    let mut stdin = child.stdin.take().expect("the script's stdin");
    stdin
        .write_all(request.to_string().as_bytes())
        .expect("the request is written");
    drop(stdin);
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).map(|_| text)
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("the script's stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("the script's stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the script's status") {
            break status;
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the client did not finish within {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.join().expect("stdout reader").expect("stdout");
    let stderr = stderr.join().expect("stderr reader").expect("stderr");
    assert!(
        status.success(),
        "the client failed ({status}):\n{}",
        String::from_utf8_lossy(&stderr)
    );
    serde_json::from_slice(&stdout).unwrap_or_else(|error| {
        panic!(
            "the client printed no JSON ({error}):\n{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    })
}

/// Runs the client against `app` (served on a free port) as caller A, calling `whoami_slow` (a
/// task that works for 300 ms, so the client polls it more than once).
async fn drive(python: PathBuf, app: axum::Router) -> Value {
    let server = serve_router(app).await;
    let request = json!({"url": server.url, "token": TOKEN_A, "tool": "whoami_slow"});
    tokio::task::spawn_blocking(move || run_client(&python, &request))
        .await
        .expect("the client runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastmcp_client_polls_a_task_through_the_shim() {
    let Some(python) = python_or_skip("fastmcp_client_polls_a_task_through_the_shim") else {
        return;
    };
    let app = router(memory_server("python-shim")).layer(McpNameShimLayer::new());
    let answer = drive(python, app).await;
    assert_eq!(answer.get("error"), None, "{answer}");
    let task_id = answer["task_id"].as_str().expect("a task id");
    assert_eq!(answer["status"], "completed", "{answer}");
    // Polled while it worked, then once completed.
    let statuses = answer["statuses"].as_array().expect("the polls");
    let (last, working) = statuses.split_last().expect("at least one poll");
    assert_eq!(last, "completed", "{answer}");
    assert!(!working.is_empty(), "{answer}");
    assert!(working.iter().all(|status| status == "working"), "{answer}");
    // The result is the tool's report: it ran as caller A, as this task.
    let report: Value = serde_json::from_str(
        answer["result_text"][0]
            .as_str()
            .expect("the result's text"),
    )
    .expect("the report is JSON");
    assert_eq!(report["caller"]["client_id"], "client-a", "{report}");
    assert_eq!(report["caller"]["sub"], "user-1", "{report}");
    assert_eq!(report["task_id"], task_id, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shim_rmcp_refuses_the_fastmcp_clients_poll() {
    let Some(python) = python_or_skip("without_the_shim_rmcp_refuses_the_fastmcp_clients_poll")
    else {
        return;
    };
    let answer = drive(python, router(memory_server("python-no-shim"))).await;
    assert!(
        answer["task_id"].is_string(),
        "the task is created: {answer}"
    );
    let error = answer["error"].as_str().expect("the poll is refused");
    assert!(
        error.contains("missing required Mcp-Name header for `tasks/get`"),
        "{error}"
    );
}
