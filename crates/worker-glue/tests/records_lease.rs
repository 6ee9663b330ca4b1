//! `TaskRecords::run_leased` on the in-process store: two glues on one `memory://` name stand
//! for two replicas of one process.

mod records_common;

mod lease_common;

use records_common::records_on;
use taskctx_worker_glue::{MemoryStore, Store};

#[tokio::test]
async fn memory_store_keeps_the_run_leased_contract() {
    let name = "records-lease-contract";
    let (_, records) = records_on(Store::new(MemoryStore::shared(name)));
    let (_, second) = records_on(Store::new(MemoryStore::shared(name)));
    lease_common::run_leased_contract(&records, &second).await;
}
