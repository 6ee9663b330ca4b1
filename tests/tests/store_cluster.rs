//! The Redis store against a real three-master Redis Cluster: the shared store contract, keys under
//! one hash tag saved in one `MULTI` and read back through another seed node, and cross-slot calls
//! refused with a typed error before anything is written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

#[path = "../../crates/worker-glue/tests/store_common/mod.rs"]
mod store_common;

use std::time::{Duration, Instant};

use store_common::{TaskKeys, ttl};
use taskctx_tests::redis::{RedisCluster, RedisServer, Reply};
use taskctx_worker_glue::{Operation, RedisStore, SnapshotStore, StoreConfig, StoreError};

fn cluster_store(url: &str) -> RedisStore {
    RedisStore::open_with(url, &StoreConfig::default()).unwrap()
}

fn calls(info: &str, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn cluster_store_keeps_the_contract() {
    let cluster = RedisCluster::start(3);
    let store = cluster_store(&cluster.url());
    assert!(store.is_cluster());
    store_common::full_contract(&store).await;
}

#[tokio::test]
async fn a_task_saved_together_reads_back_through_another_node() {
    let cluster = RedisCluster::start(3);
    let keys = TaskKeys::new("cluster-task");
    let names = ["", "created_at", "args", "snapshot"].map(|suffix| keys.key(suffix));
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|key| (key.as_str(), key.as_bytes()))
        .collect();
    let owner = cluster.node_for_key(&names[0]);
    let owner_index = cluster
        .nodes()
        .iter()
        .position(|node| node.port() == owner.port())
        .unwrap();
    let writer_index = (owner_index + 1) % 3;
    let reader_index = (owner_index + 2) % 3;

    // Seeded with a node that does not own the slot: the store follows the cluster's slot map.
    let writer = cluster_store(&cluster.node_url(writer_index));
    writer.load(&keys.key("warm-up")).await.unwrap();
    owner.command(&["CONFIG", "RESETSTAT"]);
    writer.save(&entries, ttl(900)).await.unwrap();
    let stats = owner.command(&["INFO", "commandstats"]).text();
    assert_eq!(calls(&stats, "multi"), 1, "{stats}");
    assert_eq!(calls(&stats, "exec"), 1, "{stats}");
    assert_eq!(calls(&stats, "set"), 4, "{stats}");

    // Every key sits on the owning node, with its TTL.
    for key in &names {
        assert_eq!(
            owner.command(&["GET", key]).bytes(),
            Some(key.as_bytes().to_vec())
        );
        let left = owner.command(&["TTL", key]).integer();
        assert!((895..=900).contains(&left), "TTL {left}");
    }

    let reader = cluster_store(&cluster.node_url(reader_index));
    for key in &names {
        assert_eq!(
            reader.load(key).await.unwrap(),
            Some(key.as_bytes().to_vec())
        );
    }
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(reader.refresh(&keys, ttl(5000)).await.unwrap(), 4);
    assert!(owner.command(&["TTL", &names[2]]).integer() > 4990);
    assert_eq!(reader.delete(&keys).await.unwrap(), 4);
    assert_eq!(owner.command(&["EXISTS", &names[0]]).integer(), 0);
}

#[tokio::test]
async fn cross_slot_calls_are_refused_before_anything_is_written() {
    let cluster = RedisCluster::start(3);
    let store = cluster_store(&cluster.url());
    // Without a shared hash tag these two keys land in different slots.
    let (first, other) = ("task:T1:snapshot", "task:T2:snapshot");
    let slot = |key: &str| {
        cluster.nodes()[0]
            .command(&["CLUSTER", "KEYSLOT", key])
            .integer()
    };
    assert_ne!(slot(first), slot(other));

    let error = store
        .save(&[(first, b"a".as_slice()), (other, b"b")], ttl(60))
        .await
        .unwrap_err();
    match &error {
        StoreError::CrossSlot {
            operation,
            first_key,
            first_slot,
            other_key,
            other_slot,
        } => {
            assert_eq!(*operation, Operation::Save);
            assert_eq!(first_key, first);
            assert_eq!(other_key, other);
            assert_eq!(
                i64::from(*first_slot),
                slot(first),
                "slots agree with CLUSTER KEYSLOT"
            );
            assert_eq!(i64::from(*other_slot), slot(other));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("hash tag"), "{error}");
    for node in cluster.nodes() {
        assert_eq!(
            node.command(&["DBSIZE"]).integer(),
            0,
            "nothing was written"
        );
    }

    for error in [
        store.refresh(&[first, other], ttl(60)).await.unwrap_err(),
        store.delete(&[first, other]).await.unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::CrossSlot { .. }), "{error:?}");
    }
    // One key alone is always fine, and keys under one tag are fine whatever else they hold.
    store
        .save(&[(first, b"a".as_slice())], ttl(60))
        .await
        .unwrap();
    store
        .save(
            &[("{T9}:x", b"1".as_slice()), ("other{T9}:y", b"2")],
            ttl(60),
        )
        .await
        .unwrap();
    assert_eq!(
        store.load("other{T9}:y").await.unwrap(),
        Some(b"2".to_vec())
    );
}

#[tokio::test]
async fn slot_agreement_over_many_keys() {
    let cluster = RedisCluster::start(3);
    let store = cluster_store(&cluster.url());
    let node = &cluster.nodes()[0];
    // Every pair of differently-slotted keys is reported with the server's own slot numbers.
    let keys: Vec<String> = (0..40)
        .map(|n| format!("fastmcp:task:anon:T{n}:snapshot"))
        .collect();
    let base = &keys[0];
    let base_slot = node.command(&["CLUSTER", "KEYSLOT", base]).integer();
    for key in &keys[1..] {
        let server_slot = node.command(&["CLUSTER", "KEYSLOT", key]).integer();
        match store.delete(&[base, key]).await {
            Err(StoreError::CrossSlot {
                other_slot,
                first_slot,
                ..
            }) => {
                assert_eq!(i64::from(first_slot), base_slot);
                assert_eq!(i64::from(other_slot), server_slot, "{key}");
            }
            Ok(deleted) => {
                assert_eq!(server_slot, base_slot, "{key}");
                assert_eq!(deleted, 0);
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(matches!(node.command(&["PING"]), Reply::Status(pong) if pong == "PONG"));
}

#[tokio::test]
async fn a_stopped_cluster_fails_within_the_timeout() {
    let mut cluster = RedisCluster::start(3);
    let config = StoreConfig::default()
        .with_connect_timeout(Duration::from_millis(300))
        .with_response_timeout(Duration::from_millis(300))
        .with_pool_wait_timeout(Duration::from_millis(300));
    let store = RedisStore::open_with(&cluster.url(), &config).unwrap();
    let key = TaskKeys::new("stopped").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    cluster.stop();
    let started = Instant::now();
    let error = store.load(&key).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < config.call_deadline() * 10, "took {took:?}");
    assert!(
        matches!(
            error,
            StoreError::Connect { .. }
                | StoreError::ConnectionLost { .. }
                | StoreError::Timeout { .. }
                | StoreError::Command { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn cluster_calls_honour_the_store_timeouts() {
    let cluster = RedisCluster::start(3);
    store_common::frozen_calls_time_out_by_phase(
        &cluster.url(),
        || cluster.nodes().iter().for_each(RedisServer::freeze),
        || cluster.nodes().iter().for_each(RedisServer::thaw),
    )
    .await;
}
