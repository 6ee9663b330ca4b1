//! Tasks handed to a worker in a second OS process through a real `redis-server` (started by the
//! harness on a free loopback port), with two server replicas on that Redis: replica 1 stores
//! each caller's task and snapshot and pushes the execution key onto a Redis list, then goes
//! away; the worker pops each key, runs the tool as the caller who created the task and settles
//! the task in the store; replica 2 answers with the result.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::process::{Child, Command, Stdio};

use common::{
    Remote, Server, TOKEN_A, TOKEN_B, connect, mcp_error, redis_pool, redis_queue, report,
    report_result, serve, settled_report, start,
};
use deadpool_redis::redis;
use rmcp::model::GetTaskParams;
use serde_json::{Value, json};
use taskctx_rmcp::OwnedTasks;
use taskctx_tests::redis::RedisServer;
use taskctx_worker_glue::{RestorePolicy, TaskGlue};

/// The list the server pushes jobs onto and the worker pops them from.
const JOBS: &str = "rmcp-test:jobs";
/// How many jobs the worker process runs before it exits.
const JOB_COUNT: usize = 3;
/// Environment of the worker process: the Redis URL, and how many jobs to run.
const WORKER_REDIS_ENV: &str = "TASKCTX_RMCP_TEST_WORKER_REDIS";
const WORKER_JOBS_ENV: &str = "TASKCTX_RMCP_TEST_WORKER_JOBS";
/// How long the worker waits for a job, in seconds.
const WAIT_SECS: f64 = 60.0;

/// The glue of both sides: one Redis, one queue; a context that cannot be restored fails the task.
fn glue(url: &str) -> TaskGlue {
    TaskGlue::builder()
        .store_url(url)
        .restore_policy(RestorePolicy::FailClosed)
        .build()
        .expect("a Redis glue")
}

/// The worker process, killed if the test ends before it does.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_in_another_process_settles_tasks_another_replica_created() {
    let redis = RedisServer::start();
    let url = redis.url();
    let replica_2 = serve(Server {
        tasks: OwnedTasks::new(glue(&url)).expect("the store keeps task records"),
        remote: Remote::None,
    })
    .await;

    // Replica 1 creates the tasks and queues them, then goes away before any runs.
    let replica_1 = serve(Server {
        tasks: OwnedTasks::new(glue(&url)).expect("the store keeps task records"),
        remote: Remote::Dispatch(redis_queue(&url, JOBS)),
    })
    .await;
    let mut tasks = Vec::new();
    for (token, x_test) in [
        (Some(TOKEN_A), "from-a"),
        (Some(TOKEN_B), "from-b"),
        (None, "from-anonymous"),
    ] {
        let client = connect(&replica_1.url, token, x_test).await;
        tasks.push(start(&client, "whoami_remote", None).await);
        client.cancel().await.expect("client closes");
    }
    drop(replica_1);
    let [task_a, task_b, task_anonymous] = <[String; 3]>::try_from(tasks).expect("three tasks");

    let mut worker = Worker(
        Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "worker_process", "--ignored", "--nocapture"])
            .env(WORKER_REDIS_ENV, &url)
            .env(WORKER_JOBS_ENV, JOB_COUNT.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("the worker process starts"),
    );

    let a = connect(&replica_2.url, Some(TOKEN_A), "a-on-2").await;
    let b = connect(&replica_2.url, Some(TOKEN_B), "b-on-2").await;
    let anonymous = connect(&replica_2.url, None, "anonymous-on-2").await;

    // Another caller cannot see a remote task either.
    let foreign = mcp_error(b.get_task(GetTaskParams::new(task_a.clone())).await);
    assert_eq!(foreign.message, format!("unknown task: {task_a}"));

    let expected = [
        (
            &a,
            &task_a,
            json!({"client_id": "client-a", "sub": "user-1", "token": TOKEN_A}),
            json!("client-a|user-1"),
            "from-a",
        ),
        (
            &b,
            &task_b,
            json!({"client_id": "client-b", "sub": "user-2", "token": TOKEN_B}),
            json!("client-b|user-2"),
            "from-b",
        ),
        (
            &anonymous,
            &task_anonymous,
            Value::Null,
            Value::Null,
            "from-anonymous",
        ),
    ];
    for (client, task_id, caller, scope, x_test) in expected {
        let seen = settled_report(client, task_id).await;
        assert_ne!(seen["pid"], std::process::id(), "ran in the worker process");
        assert_eq!(seen["caller"], caller, "{seen}");
        assert_eq!(seen["scope"], scope, "{seen}");
        assert_eq!(seen["task_id"], task_id.as_str(), "{seen}");
        // The headers of the call that created the task, on replica 1.
        assert_eq!(seen["x_test"], x_test, "{seen}");
        assert_eq!(seen["tool"], "whoami_remote", "{seen}");
        assert_eq!(seen["tool_version"], "1.2.3", "{seen}");
        assert!(seen["session_id"].is_string(), "{seen}");
    }

    // Each snapshot is stored under its caller's scope (SPEC §4).
    for key in [
        format!("fastmcp:fastmcp:task:auth:client-a%7Cuser-1:{task_a}:snapshot"),
        format!("fastmcp:fastmcp:task:auth:client-b%7Cuser-2:{task_b}:snapshot"),
        format!("fastmcp:fastmcp:task:anon:{task_anonymous}:snapshot"),
    ] {
        assert_eq!(redis.command(&["EXISTS", &key]).integer(), 1, "{key}");
    }

    let status = worker.0.wait().expect("the worker process ends");
    assert!(status.success(), "worker process: {status}");
    for client in [a, b, anonymous] {
        client.cancel().await.expect("client closes");
    }
}

/// The worker: started by the test above in a second process; runs its jobs, then exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the worker process of the test above"]
async fn worker_process() {
    let url = std::env::var(WORKER_REDIS_ENV)
        .unwrap_or_else(|_| panic!("started without {WORKER_REDIS_ENV}: run the test above"));
    let jobs: usize = std::env::var(WORKER_JOBS_ENV)
        .expect("the job count")
        .parse()
        .expect("a job count");
    let tasks = OwnedTasks::new(glue(&url)).expect("the store keeps task records");
    let pool = redis_pool(&url);
    let mut connection = pool.get().await.expect("a Redis connection");
    for _ in 0..jobs {
        let (_, payload): (String, String) = redis::cmd("BLPOP")
            .arg(JOBS)
            .arg(WAIT_SECS)
            .query_async(&mut connection)
            .await
            .expect("a job within the wait");
        let job: Value = serde_json::from_str(&payload).expect("a job");
        let key = job["execution_key"].as_str().expect("an execution key");
        let settled = tasks
            .run_remote(key, |_| async { Ok(report_result(&report().await)) })
            .await
            .expect("a task's execution key");
        assert!(settled, "the worker settles the task");
    }
}
