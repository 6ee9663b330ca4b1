//! fastmcp's Python client (fastmcp-tasks 4.1.4's client extension, from the interop virtual
//! environment) against an rmcp server built as the example server is: Streamable HTTP on axum,
//! the bearer layer, and the `Mcp-Name` shim. The client creates a task, polls `tasks/get` until
//! it completes, and reads the result; without the shim, rmcp refuses its first poll. With two
//! replicas, each an OS process of its own over one `redis-server` (started by the harness), it
//! creates on one and polls and reads on the other.
//!
//! The tests are ignored by default: `cargo xtask interop` builds the venv and runs them with
//! `TASKCTX_INTEROP_PYTHON` set to its interpreter.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::path::Path;

use common::{
    Process, TOKEN_A, announce, exit_with_the_test, memory_server, router, serve_router,
    store_server,
};
use serde_json::{Value, json};
use taskctx_rmcp::McpNameShimLayer;
use taskctx_tests::python;
use taskctx_tests::redis::RedisServer;

/// The two-replica test, whose replicas are processes of their own running it again with the
/// store's URL in [`REPLICA_STORE_ENV`].
const TWO_REPLICAS: &str = "fastmcp_client_creates_on_one_replica_and_polls_another";
/// The cancel test, whose replicas are processes of their own as the two-replica test's are.
const CANCEL_ON_TWO: &str = "fastmcp_client_cancels_on_another_replica";
const REPLICA_STORE_ENV: &str = "TASKCTX_RMCP_PYTHON_REPLICA_STORE";

/// Runs the client script with `request` on stdin and returns its JSON answer.
fn run_client(request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fastmcp_task_client.py");
    python::run_json(python::script(script), request)
}

/// Runs the client against `app` (served on a free port) as caller A, calling `whoami_slow` (a
/// task that works for 300 ms, so the client polls it more than once).
async fn drive(app: axum::Router) -> Value {
    let server = serve_router(app).await;
    let request = json!({"url": server.url, "token": TOKEN_A, "tool": "whoami_slow"});
    tokio::task::spawn_blocking(move || run_client(&request))
        .await
        .expect("the client runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the interop venv: run `cargo xtask interop`"]
async fn fastmcp_client_polls_a_task_through_the_shim() {
    let app = router(memory_server("python-shim")).layer(McpNameShimLayer::new());
    let answer = drive(app).await;
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
#[ignore = "needs the interop venv: run `cargo xtask interop`"]
async fn without_the_shim_rmcp_refuses_the_fastmcp_clients_poll() {
    let answer = drive(router(memory_server("python-no-shim"))).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the interop venv: run `cargo xtask interop`"]
async fn fastmcp_client_creates_on_one_replica_and_polls_another() {
    if let Ok(store) = std::env::var(REPLICA_STORE_ENV) {
        return serve_as_replica(&store).await;
    }
    let (answer, replica_one) = across_two_replicas(TWO_REPLICAS, "whoami_slow", false).await;
    assert_eq!(answer.get("error"), None, "{answer}");
    assert_eq!(answer["status"], "completed", "{answer}");
    let report: Value = serde_json::from_str(
        answer["result_text"][0]
            .as_str()
            .expect("the result's text"),
    )
    .expect("the report is JSON");
    assert_eq!(report["caller"]["client_id"], "client-a", "{report}");
    assert_eq!(report["task_id"], answer["task_id"], "{report}");
    assert_eq!(report["pid"], replica_one, "ran in replica 1: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the interop venv: run `cargo xtask interop`"]
async fn fastmcp_client_cancels_on_another_replica() {
    if let Ok(store) = std::env::var(REPLICA_STORE_ENV) {
        return serve_as_replica(&store).await;
    }
    // `wait` runs in replica 1 until it sees a cancel; the client cancels through replica 2.
    let (answer, _) = across_two_replicas(CANCEL_ON_TWO, "wait", true).await;
    assert_eq!(answer.get("error"), None, "{answer}");
    assert_eq!(answer["status"], "cancelled", "{answer}");
    let statuses = answer["statuses"].as_array().expect("the polls");
    let (last, before) = statuses.split_last().expect("at least one poll");
    assert_eq!(last, "cancelled", "{answer}");
    assert!(before.iter().all(|status| status == "working"), "{answer}");
}

/// Runs the client as caller A with `tool` on replica 1 and polls (and with `cancel`, cancels)
/// through replica 2: two processes running `test` again, each an `OwnedTasks` and a server,
/// over one Redis. Returns the client's answer and replica 1's process id.
async fn across_two_replicas(test: &str, tool: &str, cancel: bool) -> (Value, u32) {
    let redis = RedisServer::start();
    let url = redis.url();
    let one = Process::start(test, &[(REPLICA_STORE_ENV, &url)]);
    let two = Process::start(test, &[(REPLICA_STORE_ENV, &url)]);
    let request = json!({
        "url": one.ready(),
        "poll_url": two.ready(),
        "token": TOKEN_A,
        "tool": tool,
        "cancel": cancel,
    });
    let answer = tokio::task::spawn_blocking(move || run_client(&request))
        .await
        .expect("the client runs");
    (answer, one.pid())
}

/// A replica process of the two-replica tests: serves, with the shim, until the test is gone.
async fn serve_as_replica(store: &str) {
    exit_with_the_test();
    let replica =
        serve_router(router(store_server(store, None)).layer(McpNameShimLayer::new())).await;
    announce(&replica.url);
    std::future::pending::<()>().await;
}
