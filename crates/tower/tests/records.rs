//! `TaskContextLayer::settle_records` around real tower services, on an in-memory store: jobs of
//! tasks with records run under the task's lease and settle the record; others run as before.

#![allow(clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskctx_tower::{RequestIsKey, SettleRecordsError, TaskContextError, TaskContextLayer};
use taskctx_worker_glue::prelude::*;
use taskctx_worker_glue::records::{Claim, NewRecord, Outcome, TaskRecords, TaskStatus};
use taskctx_worker_glue::{
    Deployment, MemoryStore, Scope, SnapshotStore, StoreFuture, StoredValue, Ttl, scope_of,
};
use tower::{Layer, ServiceExt, service_fn};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn glue(store: &str) -> TaskGlue {
    TaskGlue::builder()
        .store_url(store)
        .restore_policy(RestorePolicy::FailClosed)
        .build()
        .expect("glue")
}

fn records(glue: &TaskGlue) -> TaskRecords {
    glue.records().expect("memory stores keep records").clone()
}

fn snapshot(client: &str) -> TaskContextSnapshot {
    TaskContextSnapshot::builder()
        .access_token(AccessToken::builder(format!("token-{client}"), client).build())
        .build()
}

/// Creates task `id` of `client` with a record (as `OwnedTasks::spawn_remote` does) and returns
/// its key.
async fn create(records: &TaskRecords, client: &str, id: &str) -> TaskKey<'static> {
    let snapshot = snapshot(client);
    let scope = scope_of(&snapshot).expect("a scope").map(Scope::into_owned);
    let key = TaskKey::new(
        scope,
        TaskId::new(id.to_owned()).expect("task id"),
        TaskType::TOOL,
        Component::new("job"),
    );
    let ttl = Ttl::from_secs(60).expect("ttl");
    records
        .create(NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1)))
        .await
        .expect("created");
    key
}

/// The outcome map: the caller's client id as a tool result, an error as an error object.
fn outcome(served: &Result<String, String>) -> Outcome {
    match served {
        Ok(text) => Outcome::Completed(format!(r#"{{"text":"{text}"}}"#)),
        Err(error) => Outcome::Failed(format!(r#"{{"message":"{error}"}}"#)),
    }
}

/// A worker whose service answers with its caller's client id (or fails for `fail`), counting
/// its calls in `runs`.
fn worker(
    glue: TaskGlue,
    runs: &Arc<AtomicUsize>,
) -> impl tower::Service<
    String,
    Response = String,
    Error = TaskContextError<String>,
    Future = taskctx_tower::TaskContextFuture<String, String>,
> + Clone {
    let runs = Arc::clone(runs);
    TaskContextLayer::new(glue, RequestIsKey)
        .settle_records(outcome)
        .expect("records")
        .lease(Duration::from_millis(300))
        .layer(service_fn(move |job: String| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                let client = access_token().map(|token| token.client_id().to_owned());
                if job.contains(":fail:") {
                    return Err("the job failed".to_owned());
                }
                Ok(client.unwrap_or_default())
            }
        }))
}

async fn status(records: &TaskRecords, key: &TaskKey<'_>) -> (TaskStatus, Option<Outcome>) {
    let record = records
        .get(key.scope(), key.task_id())
        .await
        .expect("store")
        .expect("a record");
    (record.status(), record.outcome().cloned())
}

#[test]
fn a_jobs_result_and_error_settle_its_tasks_record() {
    runtime().block_on(async {
        let glue = glue("memory://tower-records-settle");
        let records = records(&glue);
        let runs = Arc::new(AtomicUsize::new(0));
        let worker = worker(glue, &runs);

        let done = create(&records, "client-a", "done").await;
        let served = worker.clone().oneshot(done.to_key()).await.expect("served");
        assert_eq!(served, "client-a");
        assert_eq!(
            status(&records, &done).await,
            (
                TaskStatus::Completed,
                Some(Outcome::Completed(r#"{"text":"client-a"}"#.to_owned()))
            )
        );

        let failing = create(&records, "client-a", "fail").await;
        let error = worker.oneshot(failing.to_key()).await.expect_err("failed");
        assert!(matches!(error, TaskContextError::Service(ref e) if e == "the job failed"));
        assert_eq!(
            status(&records, &failing).await,
            (
                TaskStatus::Failed,
                Some(Outcome::Failed(
                    r#"{"message":"the job failed"}"#.to_owned()
                ))
            )
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_task_cancelled_before_its_job_runs_is_not_run() {
    runtime().block_on(async {
        let glue = glue("memory://tower-records-cancelled");
        let records = records(&glue);
        let runs = Arc::new(AtomicUsize::new(0));
        let key = create(&records, "client-a", "cancelled").await;
        records
            .cancel(key.scope(), key.task_id())
            .await
            .expect("cancelled");

        let error = worker(glue, &runs)
            .oneshot(key.to_key())
            .await
            .expect_err("not run");
        assert!(matches!(
            error,
            TaskContextError::Settled {
                status: TaskStatus::Cancelled
            }
        ));
        assert_eq!(
            error.to_string(),
            "the job's task has already settled as cancelled: job not run"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(
            status(&records, &key).await,
            (TaskStatus::Cancelled, Some(Outcome::Cancelled))
        );
    });
}

#[test]
fn a_task_another_worker_holds_is_not_run_and_a_second_delivery_of_a_settled_one_neither() {
    runtime().block_on(async {
        let glue = glue("memory://tower-records-held");
        let records = records(&glue);
        let runs = Arc::new(AtomicUsize::new(0));
        let worker = worker(glue, &runs);
        let key = create(&records, "client-a", "held").await;
        let claim = records
            .claim(key.scope(), key.task_id(), "other", Duration::from_secs(60))
            .await
            .expect("claimed");
        assert!(matches!(claim, Some(Claim::Claimed(_))));

        let error = worker
            .clone()
            .oneshot(key.to_key())
            .await
            .expect_err("held");
        assert!(matches!(error, TaskContextError::Held));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(status(&records, &key).await.0, TaskStatus::Working);

        let other = create(&records, "client-a", "twice").await;
        worker
            .clone()
            .oneshot(other.to_key())
            .await
            .expect("first delivery");
        let again = worker.oneshot(other.to_key()).await.expect_err("second");
        assert!(matches!(
            again,
            TaskContextError::Settled {
                status: TaskStatus::Completed
            }
        ));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn two_scopes_sharing_a_task_id_settle_their_own_records() {
    runtime().block_on(async {
        let glue = glue("memory://tower-records-scopes");
        let records = records(&glue);
        let runs = Arc::new(AtomicUsize::new(0));
        let worker = worker(glue, &runs);
        let a = create(&records, "client-a", "shared").await;
        let b = create(&records, "client-b", "shared").await;

        worker.clone().oneshot(a.to_key()).await.expect("a ran");
        assert_eq!(status(&records, &a).await.0, TaskStatus::Completed);
        assert_eq!(status(&records, &b).await, (TaskStatus::Working, None));

        records.cancel(a.scope(), a.task_id()).await.expect("store");
        assert_eq!(worker.oneshot(b.to_key()).await.expect("b ran"), "client-b");
        assert_eq!(
            status(&records, &b).await,
            (
                TaskStatus::Completed,
                Some(Outcome::Completed(r#"{"text":"client-b"}"#.to_owned()))
            )
        );
        assert_eq!(
            status(&records, &a).await.1,
            Some(Outcome::Completed(r#"{"text":"client-a"}"#.to_owned()))
        );
    });
}

#[test]
fn a_job_without_a_record_runs_as_without_the_option() {
    runtime().block_on(async {
        let glue = glue("memory://tower-records-none");
        let records = records(&glue);
        let snapshot = snapshot("client-a");
        let task = Submit::new(
            &snapshot,
            TaskId::new("plain").expect("task id"),
            TaskType::TOOL,
            Component::new("job"),
        );
        let key = glue
            .submit(task)
            .await
            .expect("submit")
            .into_execution_key();
        let runs = Arc::new(AtomicUsize::new(0));
        let worker = worker(glue, &runs);
        assert_eq!(
            worker.clone().oneshot(key.clone()).await.expect("ran"),
            "client-a"
        );
        assert_eq!(
            worker.clone().oneshot(key).await.expect("ran again"),
            "client-a"
        );
        // A request that is not a task key runs with no context, as without records.
        assert_eq!(worker.oneshot(String::new()).await.expect("ran"), "");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let scope = scope_of(&snapshot).expect("scope");
        let id = TaskId::new("plain").expect("task id");
        assert!(
            records
                .get(scope.as_ref(), &id)
                .await
                .expect("store")
                .is_none()
        );
    });
}

#[test]
fn a_refused_context_settles_the_task_as_failed_without_calling_the_service() {
    runtime().block_on(async {
        let glue = glue("memory://tower-records-refused");
        let records = records(&glue);
        let key = create(&records, "client-a", "refused").await;
        let snapshot_key = glue.keys().snapshot_key(key.scope(), key.task_id());
        glue.store()
            .delete(&[snapshot_key.as_str()])
            .await
            .expect("deleted");

        let runs = Arc::new(AtomicUsize::new(0));
        let error = worker(glue, &runs)
            .oneshot(key.to_key())
            .await
            .expect_err("refused");
        assert!(matches!(error, TaskContextError::Restore(_)));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        let (status, outcome) = status(&records, &key).await;
        assert_eq!(status, TaskStatus::Failed);
        assert_eq!(
            outcome,
            Some(Outcome::Failed(
                r#"{"code":-32603,"message":"the task's caller could not be restored"}"#.to_owned()
            ))
        );
    });
}

#[test]
fn a_glue_whose_store_keeps_no_records_cannot_settle_them() {
    /// A store of snapshots only: it keeps no task records.
    #[derive(Debug)]
    struct SnapshotsOnly(MemoryStore);

    impl SnapshotStore for SnapshotsOnly {
        fn deployment(&self) -> Deployment {
            self.0.deployment()
        }
        fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
            self.0.save(entries, ttl)
        }
        fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
            self.0.load(key)
        }
        fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredValue>> {
            self.0.load_with_ttl(key)
        }
        fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize> {
            self.0.refresh(keys, ttl)
        }
        fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> {
            self.0.delete(keys)
        }
    }

    let glue: TaskGlue = TaskGlue::builder()
        .store(SnapshotsOnly(MemoryStore::new()))
        .build()
        .expect("glue");
    let refused = TaskContextLayer::new(glue, RequestIsKey).settle_records(outcome);
    assert!(matches!(refused, Err(SettleRecordsError::NoTaskRecords)));
}
