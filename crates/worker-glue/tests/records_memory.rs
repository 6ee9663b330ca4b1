//! The task-record contract on the in-process store: two glues on one `memory://` name stand
//! for two replicas of one process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod records_common;

use records_common::records_on;
use taskctx_worker_glue::{MemoryStore, Store, TaskGlue};

#[tokio::test]
async fn memory_store_keeps_the_record_contract() {
    let name = "records-contract";
    let (glue, records) = records_on(Store::new(MemoryStore::shared(name)));
    let (_, second) = records_on(Store::new(MemoryStore::shared(name)));
    records_common::full_contract(&glue, &records, &second).await;
}

#[test]
fn a_store_without_records_gives_a_glue_without_records() {
    #[derive(Debug)]
    struct SnapshotsOnly(MemoryStore);

    impl taskctx_worker_glue::SnapshotStore for SnapshotsOnly {
        fn deployment(&self) -> taskctx_worker_glue::Deployment {
            self.0.deployment()
        }
        fn save<'a>(
            &'a self,
            entries: &'a [(&'a str, &'a [u8])],
            ttl: taskctx_worker_glue::Ttl,
        ) -> taskctx_worker_glue::StoreFuture<'a, ()> {
            self.0.save(entries, ttl)
        }
        fn load<'a>(
            &'a self,
            key: &'a str,
        ) -> taskctx_worker_glue::StoreFuture<'a, Option<Vec<u8>>> {
            self.0.load(key)
        }
        fn load_with_ttl<'a>(
            &'a self,
            key: &'a str,
        ) -> taskctx_worker_glue::StoreFuture<'a, Option<taskctx_worker_glue::StoredValue>>
        {
            self.0.load_with_ttl(key)
        }
        fn refresh<'a>(
            &'a self,
            keys: &'a [&'a str],
            ttl: taskctx_worker_glue::Ttl,
        ) -> taskctx_worker_glue::StoreFuture<'a, usize> {
            self.0.refresh(keys, ttl)
        }
        fn delete<'a>(
            &'a self,
            keys: &'a [&'a str],
        ) -> taskctx_worker_glue::StoreFuture<'a, usize> {
            self.0.delete(keys)
        }
    }

    let glue: TaskGlue = TaskGlue::builder()
        .store(SnapshotsOnly(MemoryStore::new()))
        .build()
        .unwrap();
    assert!(glue.records().is_none());
    let glue: TaskGlue = TaskGlue::builder()
        .store(MemoryStore::new())
        .build()
        .unwrap();
    assert!(glue.records().is_some());
}

/// A record store of an application's own that keeps no job list (the trait's default): a
/// queued create fails and writes nothing, and taking a job fails, both with `NoJobQueue`.
#[tokio::test]
async fn a_store_without_a_job_list_refuses_to_queue() {
    use std::sync::Arc;
    use std::time::Duration;

    use taskctx_worker_glue::records::{
        Change, CreateError, Creation, Effect, NewRecord, RecordError, RecordFuture, RecordInit,
        TaskRecord, TaskRecordStore, TaskRef,
    };
    use taskctx_worker_glue::{SnapshotStore, StoreFuture, StoredValue, Ttl};

    #[derive(Debug)]
    struct NoJobs(MemoryStore);

    impl SnapshotStore for NoJobs {
        fn deployment(&self) -> taskctx_worker_glue::Deployment {
            self.0.deployment()
        }
        fn task_records(self: Arc<Self>) -> Option<Arc<dyn TaskRecordStore>> {
            Some(self)
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

    impl TaskRecordStore for NoJobs {
        fn create_record<'a>(
            &'a self,
            task: TaskRef<'a>,
            init: RecordInit<'a>,
            snapshot: &'a [(&'a str, &'a [u8])],
        ) -> RecordFuture<'a, Creation> {
            self.0.create_record(task, init, snapshot)
        }
        fn get_record<'a>(&'a self, task: TaskRef<'a>) -> RecordFuture<'a, Option<TaskRecord>> {
            self.0.get_record(task)
        }
        fn change_record<'a>(
            &'a self,
            task: TaskRef<'a>,
            change: Change<'a>,
        ) -> RecordFuture<'a, Option<(Effect, TaskRecord)>> {
            self.0.change_record(task, change)
        }
    }

    let (_, records) = records_on(Store::new(NoJobs(MemoryStore::new())));
    let id = taskctx_worker_glue::records::new_task_id().unwrap();
    let snapshot = records_common::snapshot_of(Some("client-a|user-1"));
    let key = records_common::key_of(Some("client-a|user-1"), &id);
    let new = || {
        NewRecord::new(
            &snapshot,
            &key,
            records_common::ttl(60),
            Duration::from_secs(1),
        )
    };
    let queued = records.create(new().job("run me")).await;
    assert!(
        matches!(queued, Err(CreateError::Record(RecordError::NoJobQueue))),
        "{queued:?}"
    );
    assert!(records.get(key.scope(), &id).await.unwrap().is_none());
    let taken = records.next_job(Duration::from_millis(10)).await;
    assert!(matches!(taken, Err(RecordError::NoJobQueue)), "{taken:?}");
    // Unqueued tasks are kept as before.
    records.create(new()).await.unwrap();
    assert!(records.get(key.scope(), &id).await.unwrap().is_some());
}
