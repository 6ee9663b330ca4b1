//! `TaskRecords::run_leased` on real Redis, standalone and cluster, with two `RedisStore`s
//! standing for two replicas.

#![allow(clippy::panic, reason = "tests fail loudly on a broken assumption")]

#[path = "../../crates/worker-glue/tests/records_common/mod.rs"]
mod records_common;

#[path = "../../crates/worker-glue/tests/lease_common/mod.rs"]
mod lease_common;

use records_common::records_on;
use taskctx_tests::redis::{RedisCluster, RedisServer};
use taskctx_worker_glue::{RedisStore, Store, StoreConfig};

fn store(url: &str) -> Store {
    match RedisStore::open_with(url, &StoreConfig::default()) {
        Ok(store) => Store::new(store),
        Err(error) => panic!("a Redis store for {url}: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_redis_keeps_the_run_leased_contract() {
    let server = RedisServer::start();
    let (_, records) = records_on(store(&server.url()));
    let (_, second) = records_on(store(&server.url()));
    lease_common::run_leased_contract(&records, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_keeps_the_run_leased_contract() {
    let cluster = RedisCluster::start(3);
    let (_, records) = records_on(store(&cluster.url()));
    let (_, second) = records_on(store(&cluster.node_url(1)));
    lease_common::run_leased_contract(&records, &second).await;
}
