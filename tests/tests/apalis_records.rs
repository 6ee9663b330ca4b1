//! An apalis worker on a real `redis-server` whose `TaskContextLayer` settles task records: the
//! records of MCP tasks (two scopes sharing task ids, and a task cancelled before its job runs)
//! are created on the harness Redis, one apalis job per task is pushed, and the worker settles
//! each record with its job's result; the cancelled task's job is not run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on a broken assumption"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{BoxDynError, Task, TaskSink, WorkerBuilder};
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};
use taskctx_tests::redis::RedisServer;
use taskctx_tower::{TaskContextError, TaskContextLayer};
use taskctx_worker_glue::prelude::*;
use taskctx_worker_glue::records::{NewRecord, Outcome, TaskRecords, TaskStatus};
use taskctx_worker_glue::{Scope, Ttl, scope_of};
use tower::ServiceBuilder;
use tower::util::MapResultLayer;

/// The apalis queue of the test's jobs.
const QUEUE: &str = "taskctx-apalis-records-test";

/// One apalis job: its task's execution key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    execution_key: String,
}

/// The job's code: answers with its caller's client id.
async fn handle(_job: Job) -> Result<String, BoxDynError> {
    let caller = access_token().map(|token| token.client_id().to_owned());
    Ok(caller.unwrap_or_default())
}

/// An MCP tool result holding `text`, and the error object of a failure.
fn outcome(served: &Result<String, BoxDynError>) -> Outcome {
    match served {
        Ok(text) => Outcome::Completed(
            serde_json::json!({"content": [{"type": "text", "text": text}], "isError": false})
                .to_string(),
        ),
        Err(error) => Outcome::Failed(
            serde_json::json!({"code": -32603, "message": error.to_string()}).to_string(),
        ),
    }
}

async fn create(records: &TaskRecords, client: &str, id: &str) -> TaskKey<'static> {
    let token = AccessToken::builder(format!("token-{client}"), client).build();
    let snapshot = TaskContextSnapshot::builder().access_token(token).build();
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
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apalis_worker_settles_each_tasks_record_and_skips_a_cancelled_one() {
    let redis = RedisServer::start();
    let url = redis.url();
    let glue: TaskGlue = TaskGlue::builder()
        .store_url(url.as_str())
        .restore_policy(RestorePolicy::FailClosed)
        .build()
        .unwrap();
    let records = glue.records().unwrap().clone();

    // Two scopes, each with the task ids "shared-0" and "shared-1", and a cancelled task.
    let mut keys = Vec::new();
    for client in ["client-a", "client-b"] {
        for index in 0..2 {
            keys.push((
                client,
                create(&records, client, &format!("shared-{index}")).await,
            ));
        }
    }
    let cancelled = create(&records, "client-a", "cancelled").await;
    records
        .cancel(cancelled.scope(), cancelled.task_id())
        .await
        .unwrap();

    let connection = apalis_redis::connect(url.as_str()).await.unwrap();
    let config = Config::default().queue(QUEUE);
    let mut storage = RedisStorage::<Job>::new(connection).with_config(config);
    for key in std::iter::once(&cancelled).chain(keys.iter().map(|(_, key)| key)) {
        storage
            .push(Job {
                execution_key: key.to_key(),
            })
            .await
            .unwrap();
    }

    // What the layer answered for each job: the caller's client id, or why it was not run.
    let answers: Arc<Mutex<Vec<Result<String, String>>>> = Arc::default();
    let layer = TaskContextLayer::new(glue, |task: &Task<Job>| {
        Some(task.args.execution_key.clone())
    })
    .settle_records(outcome)
    .unwrap();
    let seen = Arc::clone(&answers);
    let record_answer = MapResultLayer::new(
        move |answer: Result<String, TaskContextError<BoxDynError>>| {
            let shown = answer
                .as_ref()
                .map(Clone::clone)
                .map_err(ToString::to_string);
            seen.lock().unwrap().push(shown);
            answer
        },
    );
    let worker = WorkerBuilder::new("taskctx-apalis-records")
        .backend(storage)
        .layer(ServiceBuilder::new().layer(record_answer).layer(layer))
        .build(handle);
    // Every job answered: the four that ran, and the cancelled task's at least once (apalis
    // retries a failed job, and each retry is refused again).
    let ran = keys.len();
    let watched = Arc::clone(&answers);
    let run = worker.run_with_ctx(move |worker| {
        let watched = Arc::clone(&watched);
        async move {
            let answered = |answers: &[Result<String, String>]| {
                let ok = answers.iter().filter(|answer| answer.is_ok()).count();
                ok == ran && answers.len() > ran
            };
            while !answered(&watched.lock().unwrap()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            worker.stop()
        }
    });
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the worker took every job within 120 s")
        .unwrap();

    let mut answers = answers.lock().unwrap().clone();
    answers.sort();
    let refused = answers.split_off(ran);
    assert_eq!(
        answers,
        [
            Ok("client-a".to_owned()),
            Ok("client-a".to_owned()),
            Ok("client-b".to_owned()),
            Ok("client-b".to_owned()),
        ]
    );
    for answer in refused {
        assert_eq!(
            answer,
            Err("the job's task has already settled as cancelled: job not run".to_owned())
        );
    }
    // Every replica reads each task's own result: the scopes sharing task ids never cross.
    for (client, key) in &keys {
        let record = records
            .get(key.scope(), key.task_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status(), TaskStatus::Completed);
        let expected = serde_json::json!({
            "content": [{"type": "text", "text": client}], "isError": false,
        });
        let Some(Outcome::Completed(result)) = record.outcome() else {
            panic!("{key:?} has no result");
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(result).unwrap(),
            expected
        );
        assert_eq!(record.claims(), 1);
    }
    let record = records
        .get(cancelled.scope(), cancelled.task_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status(), TaskStatus::Cancelled);
    assert_eq!(record.claims(), 0);
}
