//! `taskctx work` on the harness Redis with jobs whose tasks have records (MCP tasks, as
//! `OwnedTasks::spawn_remote` creates them): each record is settled with the job's output as an
//! MCP tool result, a cancelled task's job is skipped, and jobs without a record run as before.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on a broken assumption"
)]

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use taskctx_tests::redis::RedisServer;
use taskctx_worker_glue::records::{NewRecord, Outcome, TaskRecord, TaskRecords, TaskStatus};
use taskctx_worker_glue::{
    AccessToken, Component, RestorePolicy, Scope, Submit, TaskContextSnapshot, TaskGlue, TaskId,
    TaskKey, TaskType, Ttl, scope_of,
};

const LIST: &str = "jobs:records";

fn work(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskctx"))
        .args(["work", "--url", url, "--list", LIST, "--workers", "2"])
        .env_remove("TASKCTX_ENCRYPTION_KEY")
        .output()
        .expect("the binary runs")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn snapshot(client: &str, request_id: &str) -> TaskContextSnapshot {
    let token = AccessToken::builder(format!("token-{client}"), client).build();
    TaskContextSnapshot::builder()
        .access_token(token)
        .origin_request_id(request_id)
        .owning_tool_name("report")
        .build()
}

/// Creates task `id` of `client` with a record and pushes its job, `EXECUTION_KEY\nREQUEST_ID`
/// with `pushed_request` as the request id.
async fn create(
    redis: &RedisServer,
    records: &TaskRecords,
    client: &str,
    id: &str,
    pushed_request: &str,
) -> TaskKey<'static> {
    let snapshot = snapshot(client, "req-1");
    let scope = scope_of(&snapshot).unwrap().map(Scope::into_owned);
    let key = TaskKey::new(
        scope,
        TaskId::new(id.to_owned()).unwrap(),
        TaskType::TOOL,
        Component::new("report"),
    );
    let ttl = Ttl::from_secs(120).unwrap();
    records
        .create(NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1)))
        .await
        .unwrap();
    push(redis, &key.to_key(), pushed_request);
    key
}

fn push(redis: &RedisServer, execution_key: &str, request_id: &str) {
    redis.command(&["RPUSH", LIST, &format!("{execution_key}\n{request_id}")]);
}

async fn record(records: &TaskRecords, key: &TaskKey<'_>) -> TaskRecord {
    records
        .get(key.scope(), key.task_id())
        .await
        .unwrap()
        .expect("a record")
}

fn result_of(record: &TaskRecord) -> Value {
    match record.outcome() {
        Some(Outcome::Completed(json) | Outcome::Failed(json)) => {
            serde_json::from_str(json).unwrap()
        }
        other => panic!("no result or error: {other:?}"),
    }
}

#[test]
fn work_settles_task_records_and_skips_a_cancelled_task() {
    let redis = RedisServer::start();
    let url = redis.url();
    let runtime = runtime();
    let glue: TaskGlue = TaskGlue::builder()
        .store_url(url.as_str())
        .restore_policy(RestorePolicy::FailClosed)
        .build()
        .unwrap();
    let records = glue.records().unwrap().clone();

    let (a, b, cancelled) = runtime.block_on(async {
        // Two scopes sharing one task id, a task cancelled before its job runs, and a plain task
        // without a record.
        let a = create(&redis, &records, "client-a", "shared", "req-1").await;
        let b = create(&redis, &records, "client-b", "shared", "req-1").await;
        let cancelled = create(&redis, &records, "client-a", "cancelled", "req-1").await;
        records
            .cancel(cancelled.scope(), cancelled.task_id())
            .await
            .unwrap();
        let plain = snapshot("client-c", "req-9");
        let task = Submit::new(
            &plain,
            TaskId::new("plain").unwrap(),
            TaskType::TOOL,
            Component::new("report"),
        );
        let submitted = glue.submit(task).await.unwrap().into_execution_key();
        push(&redis, &submitted, "req-9");
        (a, b, cancelled)
    });

    let worked = work(&url);
    let text = String::from_utf8(worked.stdout).unwrap();
    let errors = String::from_utf8(worked.stderr).unwrap();
    assert!(worked.status.success(), "{text}{errors}");
    assert!(text.contains("tasks            3"), "{text}");
    assert!(text.contains("restored         3"), "{text}");
    assert!(text.contains("settled          2 (task records)"), "{text}");
    assert!(text.contains("skipped          1"), "{text}");
    assert!(text.contains("isolation        pass"), "{text}");
    assert!(
        errors.contains("task cancelled has already settled as cancelled: job skipped"),
        "{errors}"
    );

    runtime.block_on(async {
        let expected = json!({
            "content": [{"type": "text", "text": "restored the caller of request req-1"}],
            "isError": false,
        });
        for key in [&a, &b] {
            let record = record(&records, key).await;
            assert_eq!(record.status(), TaskStatus::Completed);
            assert_eq!(result_of(&record), expected);
            assert_eq!(record.claims(), 1);
            assert!(record.lease().is_none());
        }
        let record = record(&records, &cancelled).await;
        assert_eq!(record.status(), TaskStatus::Cancelled);
        assert_eq!(record.claims(), 0);
        let plain = TaskId::new("plain").unwrap();
        let scope = scope_of(&snapshot("client-c", "req-9")).unwrap();
        assert!(records.get(scope.as_ref(), &plain).await.unwrap().is_none());
    });

    // A job whose context is not its own request's fails its task with an error object, and the
    // worker exits 1.
    let wrong = runtime.block_on(create(&redis, &records, "client-a", "wrong", "req-2"));
    let worked = work(&url);
    let text = String::from_utf8(worked.stdout).unwrap();
    assert_eq!(worked.status.code(), Some(1), "{text}");
    assert!(text.contains("settled          1 (task records)"), "{text}");
    runtime.block_on(async {
        let record = record(&records, &wrong).await;
        assert_eq!(record.status(), TaskStatus::Failed);
        assert_eq!(
            result_of(&record),
            json!({"code": -32603, "message": "the restored context is not the task's caller's"})
        );
    });
}
