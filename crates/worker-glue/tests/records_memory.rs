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

use std::sync::Arc;
use std::time::Duration;

use records_common::records_on;
use taskctx_worker_glue::records::{
    Change, CreateError, Creation, Effect, NewRecord, RecordError, RecordFuture, RecordInit,
    TaskRecord, TaskRecordStore, TaskRef,
};
use taskctx_worker_glue::{
    Deployment, MemoryStore, SnapshotStore, Store, StoreFuture, StoredValue, TaskGlue, Ttl,
};

#[tokio::test]
async fn memory_store_keeps_the_record_contract() {
    let name = "records-contract";
    let (glue, records) = records_on(Store::new(MemoryStore::shared(name)));
    let (_, second) = records_on(Store::new(MemoryStore::shared(name)));
    records_common::full_contract(&glue, &records, &second).await;
}

/// A store of an application's own over a memory store: it keeps task records only when
/// `records` says so, and never a job list (the trait's defaults).
#[derive(Debug)]
struct Own {
    inner: MemoryStore,
    records: bool,
}

impl SnapshotStore for Own {
    fn deployment(&self) -> Deployment {
        self.inner.deployment()
    }
    fn task_records(self: Arc<Self>) -> Option<Arc<dyn TaskRecordStore>> {
        if self.records { Some(self) } else { None }
    }
    fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
        self.inner.save(entries, ttl)
    }
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.load(key)
    }
    fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredValue>> {
        self.inner.load_with_ttl(key)
    }
    fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize> {
        self.inner.refresh(keys, ttl)
    }
    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> {
        self.inner.delete(keys)
    }
}

impl TaskRecordStore for Own {
    fn create_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        init: RecordInit<'a>,
        snapshot: &'a [(&'a str, &'a [u8])],
    ) -> RecordFuture<'a, Creation> {
        self.inner.create_record(task, init, snapshot)
    }
    fn get_record<'a>(&'a self, task: TaskRef<'a>) -> RecordFuture<'a, Option<TaskRecord>> {
        self.inner.get_record(task)
    }
    fn change_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        change: Change<'a>,
    ) -> RecordFuture<'a, Option<(Effect, TaskRecord)>> {
        self.inner.change_record(task, change)
    }
}

#[test]
fn a_store_without_records_gives_a_glue_without_records() {
    let snapshots_only = Own {
        inner: MemoryStore::new(),
        records: false,
    };
    let glue: TaskGlue = TaskGlue::builder().store(snapshots_only).build().unwrap();
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
    let no_jobs = Own {
        inner: MemoryStore::new(),
        records: true,
    };
    let (_, records) = records_on(Store::new(no_jobs));
    let id = taskctx_worker_glue::records::new_task_id().unwrap();
    let snapshot = records_common::snapshot_of(Some("client-a|user-1"));
    let key = records_common::key_of(Some("client-a|user-1"), &id);
    let ttl = records_common::ttl(60);
    let new = || NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1));
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
