//! Benchmarks of the worker path: restore a task's context from a `memory://` store and run a
//! trivial future inside it, per task; and submission.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks fail loudly on a broken assumption"
)]

use divan::{Bencher, black_box};
use taskctx_worker_glue::Codec;
use taskctx_worker_glue::prelude::*;

fn main() {
    divan::main();
}

/// A typical caller: a token with a `sub` claim, four headers, session id, tool name and version.
fn snapshot() -> TaskContextSnapshot {
    let token = AccessToken::builder("eyJhbGciOiJSUzI1NiJ9.payload.sig", "client-a")
        .scopes(["read"])
        .expires_at(4_102_444_800)
        .claim("sub", "user-1")
        .build();
    TaskContextSnapshot::builder()
        .access_token(token)
        .header("user-agent", "python-httpx/0.28.1")
        .header("mcp-session-id", "3f2a9c0d5b8e4f1a")
        .header("x-request-id", "req-42")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .session_id("3f2a9c0d5b8e4f1a")
        .owning_tool_name("weather")
        .owning_tool_version("1.0")
        .build()
}

fn glue(name: &str) -> TaskGlue {
    let codec = match name {
        "json" => Codec::json(),
        "native" => Codec::native(),
        _ => Codec::native_sealed(KeyRing::new(SealingKey::new("k1", [7; 32]).unwrap())),
    };
    TaskGlue::builder()
        .store_url(format!("memory://bench-{name}"))
        .codec(codec)
        .build()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Restore from `memory://` and run a future that reads the caller's token: one task.
#[divan::bench(args = ["json", "native", "sealed"])]
fn restore_and_run(bencher: Bencher<'_, '_>, codec: &str) {
    let runtime = runtime();
    let glue = glue(codec);
    let snapshot = snapshot();
    let task_id = TaskId::new("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7").unwrap();
    let key = runtime
        .block_on(
            glue.submit(
                Submit::new(
                    &snapshot,
                    task_id,
                    TaskType::TOOL,
                    Component::new("weather"),
                )
                .leg(Leg::new(2)),
            ),
        )
        .unwrap()
        .into_execution_key();
    bencher.bench_local(|| {
        runtime.block_on(async {
            glue.run(black_box(&key), async { access_token().is_some() })
                .await
                .unwrap()
        })
    });
}

/// Running a future under a key that is not a task key (the floor: parse and block_on).
#[divan::bench]
fn run_non_task_key(bencher: Bencher<'_, '_>) {
    let runtime = runtime();
    let glue = glue("json");
    bencher.bench_local(|| {
        runtime.block_on(async {
            glue.run(black_box("job-42"), async { access_token().is_some() })
                .await
                .unwrap()
        })
    });
}

/// Submit: scope derivation, encode and one save to `memory://`.
#[divan::bench(args = ["json", "native", "sealed"])]
fn submit(bencher: Bencher<'_, '_>, codec: &str) {
    let runtime = runtime();
    let glue = glue(codec);
    let snapshot = snapshot();
    let task_id = TaskId::new("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7").unwrap();
    bencher.bench_local(|| {
        runtime
            .block_on(glue.submit(Submit::<()>::new(
                &snapshot,
                black_box(task_id.clone()),
                TaskType::TOOL,
                Component::new("weather"),
            )))
            .unwrap()
    });
}
