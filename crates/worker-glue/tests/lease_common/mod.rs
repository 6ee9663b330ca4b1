//! What [`TaskRecords::run_leased`] must do on every task-record store, checked against each
//! store by `records_lease` (memory) and the workspace's `records_lease_redis` (Redis standalone
//! and cluster). Uses `records_common` for creating tasks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on a broken assumption"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskctx_worker_glue::records::{self, Claim, Leased, Outcome, Settle, TaskRecords, TaskStatus};
use taskctx_worker_glue::{Scope, TaskId};

use crate::records_common::create;

const LEASE: Duration = Duration::from_secs(30);

fn completed(text: &str) -> Outcome {
    Outcome::Completed(format!(r#"{{"text":"{text}"}}"#))
}

/// Runs task `id` of `scope` through `run_leased` as `worker`, with code answering `text`;
/// counts the code's runs in `runs`.
async fn run(
    records: &TaskRecords,
    scope: Option<&str>,
    id: &TaskId<'static>,
    worker: &str,
    text: &str,
    runs: &AtomicUsize,
) -> Leased<String> {
    let scope = scope.map(|scope| Scope::new(scope.to_owned()));
    records
        .run_leased(
            scope.as_ref(),
            id,
            worker,
            LEASE,
            |record| {
                assert_eq!(record.lease().map(records::Lease::worker), Some(worker));
                runs.fetch_add(1, Ordering::SeqCst);
                async move { text.to_owned() }
            },
            |text| completed(text),
        )
        .await
        .unwrap()
}

async fn status(records: &TaskRecords, scope: Option<&str>, id: &TaskId<'_>) -> TaskStatus {
    let scope = scope.map(|scope| Scope::new(scope.to_owned()));
    records
        .get(scope.as_ref(), id)
        .await
        .unwrap()
        .unwrap()
        .status()
}

/// The whole contract; `second` stands for another replica's records over the same store.
pub(crate) async fn run_leased_contract(records: &TaskRecords, second: &TaskRecords) {
    settles_once_and_never_runs_a_settled_task(records, second).await;
    skips_held_cancelled_and_missing_tasks(records).await;
    scopes_sharing_an_id_never_cross(records).await;
    a_cancel_during_the_run_wins(records, second).await;
    renewal_keeps_the_lease_past_its_length(records, second).await;
}

async fn settles_once_and_never_runs_a_settled_task(records: &TaskRecords, second: &TaskRecords) {
    let runs = AtomicUsize::new(0);
    let id = records::new_task_id().unwrap();
    create(records, Some("client-a|user-1"), &id, 60, 0)
        .await
        .unwrap();
    let ran = run(records, Some("client-a|user-1"), &id, "w-1", "done", &runs).await;
    assert!(ran.settled_here(), "{ran:?}");
    let Leased::Ran { output, settled } = ran else {
        panic!("not run");
    };
    assert_eq!(output, "done");
    let Ok(Some(Settle::Settled(record))) = settled else {
        panic!("{settled:?}");
    };
    assert_eq!(record.outcome(), Some(&completed("done")));
    assert_eq!(record.claims(), 1);
    assert!(record.lease().is_none());

    // Another delivery, on another replica and worker: not run.
    let again = run(second, Some("client-a|user-1"), &id, "w-2", "again", &runs).await;
    let Leased::Settled(record) = again else {
        panic!("{again:?}");
    };
    assert_eq!(record.outcome(), Some(&completed("done")));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn skips_held_cancelled_and_missing_tasks(records: &TaskRecords) {
    let runs = AtomicUsize::new(0);
    let scope = Some("client-a|user-1");
    let held = records::new_task_id().unwrap();
    create(records, scope, &held, 60, 0).await.unwrap();
    let owner = Scope::new("client-a|user-1");
    let claim = records
        .claim(Some(&owner), &held, "other", LEASE)
        .await
        .unwrap();
    assert!(matches!(claim, Some(Claim::Claimed(_))), "{claim:?}");
    let ran = run(records, scope, &held, "w-1", "held", &runs).await;
    assert!(matches!(&ran, Leased::Held(record) if record.lease().unwrap().worker() == "other"));
    assert_eq!(status(records, scope, &held).await, TaskStatus::Working);

    let cancelled = records::new_task_id().unwrap();
    create(records, scope, &cancelled, 60, 0).await.unwrap();
    records.cancel(Some(&owner), &cancelled).await.unwrap();
    let ran = run(records, scope, &cancelled, "w-1", "cancelled", &runs).await;
    assert!(
        matches!(&ran, Leased::Settled(record) if record.status() == TaskStatus::Cancelled),
        "{ran:?}"
    );

    // Never created, and a task of another scope (anonymous here): no record, not run.
    let unknown = records::new_task_id().unwrap();
    let ran = run(records, scope, &unknown, "w-1", "unknown", &runs).await;
    assert!(matches!(ran, Leased::Missing), "{ran:?}");
    let ran = run(records, None, &held, "w-1", "anonymous", &runs).await;
    assert!(matches!(ran, Leased::Missing), "{ran:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

async fn scopes_sharing_an_id_never_cross(records: &TaskRecords) {
    let runs = AtomicUsize::new(0);
    let (a, b) = (Some("client-a|user-1"), Some("client-b|user-2"));
    let id = records::new_task_id().unwrap();
    create(records, a, &id, 60, 0).await.unwrap();
    create(records, b, &id, 60, 0).await.unwrap();

    assert!(run(records, a, &id, "w-1", "a", &runs).await.settled_here());
    assert_eq!(status(records, b, &id).await, TaskStatus::Working);
    assert!(run(records, b, &id, "w-1", "b", &runs).await.settled_here());
    for (scope, text) in [(a, "a"), (b, "b")] {
        let scope = scope.map(|scope| Scope::new(scope.to_owned()));
        let record = records.get(scope.as_ref(), &id).await.unwrap().unwrap();
        assert_eq!(record.outcome(), Some(&completed(text)));
        assert_eq!(record.claims(), 1);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn a_cancel_during_the_run_wins(records: &TaskRecords, second: &TaskRecords) {
    let id = records::new_task_id().unwrap();
    create(records, None, &id, 60, 0).await.unwrap();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let (records, id) = (records.clone(), id.clone());
        tokio::spawn(async move {
            records
                .run_leased(
                    None,
                    &id,
                    "w-1",
                    LEASE,
                    |_record| async move {
                        started.send(()).unwrap();
                        released.await.unwrap();
                        "finished"
                    },
                    |text| completed(text),
                )
                .await
                .unwrap()
        })
    };
    running.await.unwrap();
    second.cancel(None, &id).await.unwrap();
    release.send(()).unwrap();
    let ran = worker.await.unwrap();
    assert!(!ran.settled_here());
    let Leased::Ran {
        output: "finished",
        settled: Ok(Some(Settle::AlreadySettled(record))),
    } = ran
    else {
        panic!("{ran:?}");
    };
    assert_eq!(record.status(), TaskStatus::Cancelled);
    assert_eq!(record.outcome(), Some(&Outcome::Cancelled));
}

async fn renewal_keeps_the_lease_past_its_length(records: &TaskRecords, second: &TaskRecords) {
    let id = records::new_task_id().unwrap();
    create(records, None, &id, 60, 0).await.unwrap();
    let lease = Duration::from_millis(1500);
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let (records, id) = (records.clone(), id.clone());
        tokio::spawn(async move {
            records
                .run_leased(
                    None,
                    &id,
                    "w-1",
                    lease,
                    |_record| async move { released.await.unwrap() },
                    |()| completed("long"),
                )
                .await
                .unwrap()
        })
    };
    // Past the lease's length, the running worker still holds it: it renews every third.
    tokio::time::sleep(lease + Duration::from_millis(500)).await;
    let claim = second.claim(None, &id, "w-2", lease).await.unwrap();
    assert!(
        matches!(&claim, Some(Claim::Held(record)) if record.lease().unwrap().worker() == "w-1"),
        "{claim:?}"
    );
    release.send(()).unwrap();
    assert!(worker.await.unwrap().settled_here());
    let record = records.get(None, &id).await.unwrap().unwrap();
    assert_eq!(record.outcome(), Some(&completed("long")));
    assert_eq!(record.claims(), 1);
}
