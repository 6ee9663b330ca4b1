//! An apalis worker on a real `redis-server`, its jobs served through `TaskContextLayer`: a
//! producer in another OS process submits 1,000 tasks of 100 callers (the same ten task ids in
//! every scope) and an anonymous task after every ten, and pushes one apalis job per task; every
//! job sees exactly its own caller, before and after yielding to the jobs interleaved with it (the
//! test checks that they do interleave), and an anonymous job after an authenticated one sees none.
//!
//! The producer is this test binary itself, run again with `PRODUCER_ENV` set and the
//! `producer_process` entry point selected (see [`producer_process`]).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on a broken assumption"
)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, Task, TaskSink, WorkerBuilder, WorkerContext};
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};
use taskctx_tests::redis::RedisServer;
use taskctx_tower::TaskContextLayer;
use taskctx_worker_glue::current_task;
use taskctx_worker_glue::prelude::*;

/// The variable that makes this binary the producer; its value is the Redis URL.
const PRODUCER_ENV: &str = "TASKCTX_APALIS_PRODUCER_REDIS_URL";
/// The apalis queue of the test's jobs.
const QUEUE: &str = "taskctx-apalis-test";
const SCOPES: usize = 100;
const TASKS_PER_SCOPE: usize = 10;
/// 1,000 authenticated jobs and one anonymous job after each scope's ten.
const JOBS: usize = SCOPES * TASKS_PER_SCOPE + SCOPES;

/// One apalis job: the task's execution key, and the caller the producer expects it to see.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    execution_key: String,
    task_id: String,
    /// `(client_id, sub, session id)`; `None` for an anonymous task.
    caller: Option<(String, String, String)>,
}

/// What a job saw inside the worker: task id, `(client_id, sub)` of its token, session id.
type Seen = (Option<String>, Option<(String, String)>, Option<String>);

fn seen() -> Seen {
    let token = access_token().map(|token| {
        let sub = token
            .sub_claim()
            .and_then(|sub| sub.as_str())
            .unwrap_or_default();
        (token.client_id().to_owned(), sub.to_owned())
    });
    let task = current_task().map(|(task, _)| task.task_id().as_str().to_owned());
    (task, token, session_id().map(|id| id.to_string()))
}

fn expected(job: &Job) -> Seen {
    let caller = job.caller.as_ref();
    (
        Some(job.task_id.clone()),
        caller.map(|(client, sub, _)| (client.clone(), sub.clone())),
        caller.map(|(_, _, session)| session.clone()),
    )
}

/// Every run of a job, by execution key: what it should see, and what it saw before and after
/// yielding to the other jobs.
#[derive(Clone, Default)]
struct Record {
    runs: Arc<Mutex<BTreeMap<String, Vec<Run>>>>,
    /// How many jobs are between their first look at the context and their last.
    in_flight: Arc<AtomicUsize>,
    /// The most jobs ever in flight at once.
    most_in_flight: Arc<AtomicUsize>,
}

/// One run of a job: what it should see, and what it saw before and after yielding.
type Run = (Seen, Seen, Seen);

async fn handle(job: Job, record: Data<Record>, worker: WorkerContext) -> Result<(), BoxDynError> {
    let record: &Record = &record;
    let in_flight = record.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    record.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    let before = seen();
    tokio::task::yield_now().await;
    let after = seen();
    record.in_flight.fetch_sub(1, Ordering::SeqCst);
    let done = {
        let mut runs = record.runs.lock().unwrap();
        runs.entry(job.execution_key.clone())
            .or_default()
            .push((expected(&job), before, after));
        runs.len() == JOBS
    };
    if done {
        worker.stop()?;
    }
    Ok(())
}

fn storage_config() -> Config {
    Config::default().queue(QUEUE).batch_size(50)
}

/// The producer process: submits every task through `TaskGlue` and pushes its apalis job. Run
/// only by [`apalis_worker_runs_each_job_as_its_own_caller`] (with `PRODUCER_ENV` set); on its
/// own it has nothing to do.
#[test]
#[ignore = "the producer process of apalis_worker_runs_each_job_as_its_own_caller"]
fn producer_process() {
    let Ok(url) = std::env::var(PRODUCER_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let glue: TaskGlue = TaskGlue::builder().store_url(url.as_str()).build().unwrap();
        let connection = apalis_redis::connect(url.as_str()).await.unwrap();
        let mut storage = RedisStorage::<Job>::new(connection).with_config(storage_config());
        for scope in 0..SCOPES {
            for index in 0..TASKS_PER_SCOPE {
                let (client, sub) = (format!("client-{scope}"), format!("user-{scope}"));
                let session = format!("session-{scope}-{index}");
                let token = AccessToken::builder(format!("token-{scope}"), client.as_str())
                    .claim("sub", sub.as_str())
                    .build();
                let snapshot = TaskContextSnapshot::builder()
                    .access_token(token)
                    .session_id(session.as_str())
                    .build();
                let task_id = format!("job-{index}");
                let job = submit(&glue, &snapshot, &task_id, Some((client, sub, session))).await;
                storage.push(job).await.unwrap();
            }
            let anonymous = TaskContextSnapshot::builder().build();
            let job = submit(&glue, &anonymous, &format!("anon-{scope}"), None).await;
            storage.push(job).await.unwrap();
        }
    });
}

async fn submit(
    glue: &TaskGlue,
    snapshot: &TaskContextSnapshot,
    task_id: &str,
    caller: Option<(String, String, String)>,
) -> Job {
    let task = Submit::new(
        snapshot,
        TaskId::new(task_id).unwrap(),
        TaskType::TOOL,
        Component::new("report"),
    );
    let submitted = glue.submit(task).await.unwrap();
    Job {
        execution_key: submitted.into_execution_key(),
        task_id: task_id.to_owned(),
        caller,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apalis_worker_runs_each_job_as_its_own_caller() {
    let redis = RedisServer::start();
    let url = redis.url();

    let producer = Command::new(std::env::current_exe().unwrap())
        .args(["producer_process", "--exact", "--ignored", "--nocapture"])
        .env(PRODUCER_ENV, &url)
        .output()
        .unwrap();
    assert!(
        producer.status.success() && String::from_utf8_lossy(&producer.stdout).contains("1 passed"),
        "producer failed: {}\n{}",
        String::from_utf8_lossy(&producer.stdout),
        String::from_utf8_lossy(&producer.stderr)
    );

    let glue: TaskGlue = TaskGlue::builder()
        .store_url(url.as_str())
        .restore_policy(RestorePolicy::FailClosed)
        .build()
        .unwrap();
    let record = Record::default();
    let connection = apalis_redis::connect(url.as_str()).await.unwrap();
    let storage = RedisStorage::<Job>::new(connection).with_config(storage_config());
    let worker = WorkerBuilder::new("taskctx-apalis-worker")
        .backend(storage)
        .data(record.clone())
        .layer(TaskContextLayer::new(glue, |task: &Task<Job>| {
            Some(task.args.execution_key.clone())
        }))
        .build(handle);
    tokio::time::timeout(Duration::from_secs(120), worker.run())
        .await
        .expect("the worker ran every job within 120 s")
        .unwrap();

    let most_in_flight = record.most_in_flight.load(Ordering::SeqCst);
    assert!(
        most_in_flight > 1,
        "the jobs never interleaved ({most_in_flight} at most in flight)"
    );
    let record = record.runs.lock().unwrap();
    assert_eq!(record.len(), JOBS);
    let mut scopes = std::collections::BTreeSet::new();
    let mut anonymous = 0;
    for (key, runs) in record.iter() {
        let [(expected, before, after)] = runs.as_slice() else {
            panic!("job {key} ran {} times", runs.len());
        };
        assert_eq!(before, expected, "job {key} before yielding");
        assert_eq!(after, expected, "job {key} after yielding");
        match &after.1 {
            Some((client, _)) => {
                scopes.insert(client.clone());
            }
            None => anonymous += 1,
        }
    }
    assert_eq!(scopes.len(), SCOPES);
    assert_eq!(anonymous, SCOPES);
}
