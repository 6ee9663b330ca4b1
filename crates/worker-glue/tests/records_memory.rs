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
