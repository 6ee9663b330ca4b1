//! Owner-bound tasks over real HTTP: an rmcp Streamable HTTP server on axum behind the bearer
//! layer, and rmcp's own client, for two authenticated callers and an anonymous one.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::sync::Arc;

use common::{
    Dispatch, TOKEN_A, TOKEN_B, TOKEN_NO_SCOPE, connect, connect_with, mcp_error, report_result,
    serve, serve_memory, settle, settled_report, start, store_server, tasks,
};
use rmcp::model::{CancelTaskParams, GetTaskParams, TaskPayload, UpdateTaskParams};
use rmcp::task_manager::TaskManager;
use serde_json::{Value, json};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const HEADER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_runs_as_exactly_its_caller() {
    let server = serve_memory("http-each-caller").await;
    let a = connect(&server.url, Some(TOKEN_A), "from-a").await;
    let b = connect(&server.url, Some(TOKEN_B), "from-b").await;
    let anonymous = connect(&server.url, None, "from-anonymous").await;

    // Interleaved: all three tasks exist before any is read.
    let task_a = start(&a, "whoami", None).await;
    let task_b = start(&b, "whoami", None).await;
    let task_anonymous = start(&anonymous, "whoami", None).await;

    let seen_a = settled_report(&a, &task_a).await;
    assert_eq!(
        seen_a["caller"],
        json!({"client_id": "client-a", "sub": "user-1", "token": TOKEN_A})
    );
    assert_eq!(seen_a["caller_before_await"], seen_a["caller"]);
    assert_eq!(seen_a["scope"], "client-a|user-1");
    assert_eq!(seen_a["task_id"], task_a.as_str());
    assert_eq!(seen_a["x_test"], "from-a");
    assert_eq!(seen_a["tool"], "whoami");
    assert_eq!(seen_a["tool_version"], "1.2.3");
    // The bearer header is a credential: the default header policy leaves it out.
    assert_eq!(seen_a["authorization_header"], Value::Null);
    // The JSON-RPC id of the `tools/call` request (rmcp's client numbers its requests).
    assert!(
        seen_a["origin_request_id"]
            .as_str()
            .is_some_and(|id| id.parse::<u64>().is_ok()),
        "{seen_a}"
    );
    // The `mcp-session-id` of the caller's connection.
    let session_a = seen_a["session_id"].as_str().expect("a session id");
    assert!(!session_a.is_empty());

    let seen_b = settled_report(&b, &task_b).await;
    assert_eq!(
        seen_b["caller"],
        json!({"client_id": "client-b", "sub": "user-2", "token": TOKEN_B})
    );
    assert_eq!(seen_b["scope"], "client-b|user-2");
    assert_eq!(seen_b["x_test"], "from-b");
    let session_b = seen_b["session_id"].as_str().expect("a session id");
    assert_ne!(session_a, session_b);

    let seen_anonymous = settled_report(&anonymous, &task_anonymous).await;
    assert_eq!(seen_anonymous["caller"], Value::Null);
    assert_eq!(seen_anonymous["caller_before_await"], Value::Null);
    assert_eq!(seen_anonymous["scope"], Value::Null);
    assert_eq!(seen_anonymous["x_test"], "from-anonymous");

    for client in [a, b, anonymous] {
        client.cancel().await.expect("client closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_callers_task_is_answered_as_an_unknown_id() {
    let server = serve_memory("http-no-oracle").await;
    let a = connect(&server.url, Some(TOKEN_A), "a").await;
    let b = connect(&server.url, Some(TOKEN_B), "b").await;
    let anonymous = connect(&server.url, None, "anonymous").await;

    // Running tasks (they wait for a cancel), so every method has something to act on.
    let task_a = start(&a, "wait", None).await;
    let task_anonymous = start(&anonymous, "wait", None).await;
    let never = "0b0e5a52-8c8e-4e52-9e53-000000000000".to_owned();

    // What rmcp itself answers for an id it never saw.
    let rmcp_unknown = |id: &str| {
        TaskManager::new()
            .get_task(id)
            .expect_err("an empty manager knows no task")
    };

    for (asker, id, owner) in [
        (&b, &task_a, "another scope"),
        (
            &anonymous,
            &task_a,
            "anonymous asking for an authenticated task",
        ),
        (
            &a,
            &task_anonymous,
            "authenticated asking for an anonymous task",
        ),
        (
            &b,
            &task_anonymous,
            "another scope asking for an anonymous task",
        ),
    ] {
        // The same id, answered as if it did not exist...
        let foreign_get = mcp_error(asker.get_task(GetTaskParams::new(id.clone())).await);
        let foreign_update = mcp_error(
            asker
                .update_task(UpdateTaskParams::new(id.clone(), Default::default()))
                .await,
        );
        let foreign_cancel = mcp_error(asker.cancel_task(CancelTaskParams::new(id.clone())).await);
        // ...exactly as this server answers an id of the same shape that never existed, once
        // the id in the message is swapped.
        let unknown_get = mcp_error(asker.get_task(GetTaskParams::new(never.clone())).await);
        let unknown_update = mcp_error(
            asker
                .update_task(UpdateTaskParams::new(never.clone(), Default::default()))
                .await,
        );
        let unknown_cancel = mcp_error(
            asker
                .cancel_task(CancelTaskParams::new(never.clone()))
                .await,
        );
        for (foreign, unknown) in [
            (&foreign_get, &unknown_get),
            (&foreign_update, &unknown_update),
            (&foreign_cancel, &unknown_cancel),
        ] {
            assert_eq!(foreign.code, unknown.code, "{owner}");
            assert_eq!(foreign.data, unknown.data, "{owner}");
            assert_eq!(
                foreign.message.replace(id.as_str(), "ID"),
                unknown.message.replace(never.as_str(), "ID"),
                "{owner}"
            );
            // And byte for byte what rmcp says for an unknown id.
            assert_eq!(*foreign, rmcp_unknown(id), "{owner}");
        }
    }

    // The owners still see their tasks, untouched by the foreign cancels.
    for (owner, id) in [(&a, &task_a), (&anonymous, &task_anonymous)] {
        let state = owner
            .get_task(GetTaskParams::new(id.clone()))
            .await
            .expect("the owner sees its task");
        assert!(!state.task.status().is_terminal(), "{:?}", state.task);
        owner
            .cancel_task(CancelTaskParams::new(id.clone()))
            .await
            .expect("the owner cancels its task");
        assert_eq!(settle(owner, id).await, TaskPayload::Cancelled);
    }

    for client in [a, b, anonymous] {
        client.cancel().await.expect("client closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_of_one_caller_share_its_tasks() {
    let server = serve_memory("http-same-caller").await;
    let first = connect(&server.url, Some(TOKEN_A), "first").await;
    let second = connect(&server.url, Some(TOKEN_A), "second").await;
    let task = start(&first, "whoami", None).await;
    let seen = settled_report(&second, &task).await;
    assert_eq!(seen["x_test"], "first");
    // The task keeps the session that created it.
    let second_task = start(&second, "whoami", None).await;
    let second_seen = settled_report(&first, &second_task).await;
    assert_eq!(second_seen["x_test"], "second");
    assert_ne!(seen["session_id"], second_seen["session_id"]);
    first.cancel().await.expect("client closes");
    second.cancel().await.expect("client closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_comes_from_meta_before_headers() {
    let server = serve_memory("http-trace").await;
    let client = connect(&server.url, Some(TOKEN_A), "trace").await;
    let task = start(&client, "whoami", Some((TRACEPARENT, "vendor=meta"))).await;
    let seen = settled_report(&client, &task).await;
    assert_eq!(seen["traceparent"], TRACEPARENT);
    assert_eq!(seen["tracestate"], "vendor=meta");

    let task = start(&client, "whoami", None).await;
    let seen = settled_report(&client, &task).await;
    assert_eq!(seen["traceparent"], Value::Null);
    assert_eq!(seen["tracestate"], Value::Null);
    client.cancel().await.expect("client closes");

    // Without `_meta`, the HTTP headers give the pair.
    let headers = [
        ("traceparent", HEADER_TRACEPARENT),
        ("tracestate", "vendor=header"),
    ];
    let client = connect_with(&server.url, None, &headers).await;
    let task = start(&client, "whoami", None).await;
    let seen = settled_report(&client, &task).await;
    assert_eq!(seen["traceparent"], HEADER_TRACEPARENT);
    assert_eq!(seen["tracestate"], "vendor=header");

    // With both, `_meta` gives the whole pair: its tracestate, not the header's.
    let task = start(&client, "whoami", Some((TRACEPARENT, "vendor=meta"))).await;
    let seen = settled_report(&client, &task).await;
    assert_eq!(seen["traceparent"], TRACEPARENT);
    assert_eq!(seen["tracestate"], "vendor=meta");
    client.cancel().await.expect("client closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_a_valid_scope_gets_no_task_and_sees_none() {
    let server = serve_memory("http-no-scope").await;
    let a = connect(&server.url, Some(TOKEN_A), "a").await;
    let broken = connect(&server.url, Some(TOKEN_NO_SCOPE), "broken").await;
    let task_a = start(&a, "wait", None).await;

    let refused = mcp_error(
        broken
            .call_tool_once(rmcp::model::CallToolRequestParams::new("whoami"))
            .await,
    );
    assert_eq!(refused.code, rmcp::model::ErrorCode::INVALID_REQUEST);
    assert_eq!(
        refused.message,
        "the caller's access token gives no valid task scope"
    );
    assert_eq!(
        mcp_error(broken.get_task(GetTaskParams::new(task_a.clone())).await),
        TaskManager::new()
            .get_task(&task_a)
            .expect_err("an empty manager knows no task")
    );
    a.cancel_task(CancelTaskParams::new(task_a.clone()))
        .await
        .expect("the owner cancels its task");
    for client in [a, broken] {
        client.cancel().await.expect("client closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_jobs_debug_hides_its_execution_key() {
    // A job system whose worker (an `OwnedTasks` of its own over the same store) reports the
    // job's `Debug` beside the key it was handed.
    let url = "memory://http-remote-debug";
    let worker = tasks(url);
    let dispatch: Dispatch = Arc::new(move |job| {
        let worker = worker.clone();
        Box::pin(async move {
            let seen = json!({"debug": format!("{job:?}"), "key": job.execution_key});
            tokio::spawn(async move {
                let settled = worker
                    .run_remote(
                        &job.execution_key,
                        |_| async move { Ok(report_result(&seen)) },
                    )
                    .await
                    .expect("a task's execution key");
                assert!(settled, "the worker settles the task");
            });
            Ok(())
        })
    });
    let server = serve(store_server(url, Some(dispatch))).await;
    let a = connect(&server.url, Some(TOKEN_A), "a").await;
    let task = start(&a, "whoami_remote", None).await;
    let seen = settled_report(&a, &task).await;
    let debug = seen["debug"].as_str().expect("the job's Debug");
    let key = seen["key"].as_str().expect("the execution key");
    assert!(key.contains("client-a%7Cuser-1"), "{key}");
    assert_eq!(debug, format!("RemoteJob {{ task_id: {task:?}, .. }}"));
    for secret in [key, "client-a", "user-1", "auth:"] {
        assert!(!debug.contains(secret), "{debug} shows {secret}");
    }
    a.cancel().await.expect("client closes");
}
