//! Python scripts from the interop virtual environment (the reference, fastmcp-tasks 4.1.4, and
//! fastmcp's MCP client), run as JSON-in, JSON-out processes.
//!
//! `cargo xtask interop` builds the environment and runs the tests that need it (they are
//! `#[ignore]`d otherwise) with [`PYTHON_ENV`] set to its interpreter.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variable `cargo xtask interop` sets to the environment's Python interpreter.
pub const PYTHON_ENV: &str = "TASKCTX_INTEROP_PYTHON";

/// The longest one script run may take before the test fails.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The interpreter named by [`PYTHON_ENV`].
///
/// # Panics
/// When the variable is not set: the calling test cannot run without the environment.
#[must_use]
#[allow(
    clippy::panic,
    reason = "test support: a test run without the environment must fail loudly"
)]
pub fn interpreter() -> PathBuf {
    std::env::var_os(PYTHON_ENV).map_or_else(
        || panic!("{PYTHON_ENV} is not set: this test needs the interop venv; run `cargo xtask interop`"),
        PathBuf::from,
    )
}

/// A command for `script` under [`interpreter`], with no `.env` file and no bytecode written;
/// add the script's own settings, then pass it to [`run_json`].
#[must_use]
pub fn script(script: impl Into<PathBuf>) -> Command {
    let mut command = Command::new(interpreter());
    command
        .arg(script.into())
        .env("FASTMCP_ENV_FILE", "/dev/null")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// Runs `command` with `request` as JSON on its stdin and returns the JSON it prints, within
/// [`SCRIPT_TIMEOUT`].
///
/// # Panics
/// When the script cannot start, fails, runs too long or prints no JSON: the test fails.
#[must_use]
#[allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test support: a failed script is the test failing"
)]
pub fn run_json(mut command: Command, request: &Value) -> Value {
    let name = format!("{:?}", command.get_args().next().unwrap_or_default());
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {name}: {error}"));
    let mut stdin = child.stdin.take().expect("the script's stdin");
    let input = request.to_string().into_bytes();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let read = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
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
            panic!("{name} did not finish within {SCRIPT_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    writer
        .join()
        .expect("the stdin writer")
        .expect("the request is written");
    let stdout = stdout.join().expect("the stdout reader").expect("stdout");
    let stderr = stderr.join().expect("the stderr reader").expect("stderr");
    assert!(
        status.success(),
        "{name} failed ({status}):\n{}",
        String::from_utf8_lossy(&stderr)
    );
    serde_json::from_slice(&stdout).unwrap_or_else(|error| {
        panic!(
            "{name} printed no JSON ({error}):\n{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    })
}
