//! The Redis store against a real master watched by Redis Sentinel: the shared store contract,
//! writes landing on the master the Sentinel names, the master's password and database from the
//! URL, and a stopped then restarted master.

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
use taskctx_tests::redis::{RedisSentinel, RedisServer};
use taskctx_worker_glue::{RedisStore, SnapshotStore, StoreConfig, StoreError};

fn sentinel_store(url: &str) -> RedisStore {
    RedisStore::open_with(url, &StoreConfig::default()).unwrap()
}

#[tokio::test]
async fn sentinel_store_keeps_the_contract() {
    let sentinel = RedisSentinel::start();
    let url = sentinel.url();
    assert!(url.starts_with("redis+sentinel://"), "{url}");
    store_common::full_contract(&sentinel_store(&url)).await;
}

#[tokio::test]
async fn writes_land_on_the_master_the_sentinel_names() {
    let sentinel = RedisSentinel::start();
    let store = sentinel_store(&sentinel.url());
    let key = TaskKeys::new("sentinel").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(900))
        .await
        .unwrap();
    assert_eq!(
        sentinel.master().command(&["GET", &key]).bytes(),
        Some(b"v".to_vec())
    );
    let left = sentinel.master().command(&["TTL", &key]).integer();
    assert!((895..=900).contains(&left), "TTL {left}");
}

#[tokio::test]
async fn the_master_password_and_database_come_from_the_url() {
    let sentinel = RedisSentinel::start_with(RedisServer::builder().password("master-s3cret"));
    let url = format!("{}/3", sentinel.url());
    let store = sentinel_store(&url);
    assert!(!format!("{store:?}").contains("master-s3cret"));
    let key = TaskKeys::new("sentinel-auth").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(b"v".to_vec()));
    let keyspace = sentinel.master().command(&["INFO", "keyspace"]).text();
    assert!(keyspace.contains("db3:keys=1,"), "{keyspace}");

    let wrong = sentinel_store(&url.replace("master-s3cret", "wrong-s3cret"));
    let error = wrong.load(&key).await.unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

#[tokio::test]
async fn a_stopped_master_fails_within_the_timeout_and_a_restarted_one_works_again() {
    let mut sentinel = RedisSentinel::start();
    let config = StoreConfig::default()
        .with_connect_timeout(Duration::from_millis(300))
        .with_response_timeout(Duration::from_millis(300))
        .with_pool_wait_timeout(Duration::from_millis(300));
    let store = RedisStore::open_with(&sentinel.url(), &config).unwrap();
    let key = TaskKeys::new("sentinel-restart").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();

    sentinel.master_mut().stop();
    let started = Instant::now();
    let error = store.load(&key).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < config.call_deadline() * 10, "took {took:?}");
    assert!(
        matches!(
            error,
            StoreError::Connect { .. } | StoreError::Timeout { .. }
        ),
        "{error:?}"
    );

    sentinel.master_mut().restart();
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "nothing was persisted"
    );
    store
        .save(&[(&key, b"again".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(b"again".to_vec()));
}

#[tokio::test]
async fn an_unknown_master_name_is_a_connect_error() {
    let sentinel = RedisSentinel::start();
    let url = sentinel.url().replace("/mymaster", "/no-such-master");
    let error = sentinel_store(&url).load("k").await.unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn sentinel_calls_honour_the_store_timeouts() {
    let sentinel = RedisSentinel::start();
    // A new store asks the Sentinel, then cannot set up its connection to the frozen master.
    store_common::frozen_calls_time_out_by_phase(
        &sentinel.url(),
        || sentinel.master().freeze(),
        || sentinel.master().thaw(),
    )
    .await;
}
