//! `rediss://` stores (cargo feature `tls`, which this test package enables) against a real
//! `redis-server` listening for TLS with a self-signed certificate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

#[path = "../../crates/worker-glue/tests/store_common/mod.rs"]
mod store_common;

use store_common::{TaskKeys, ttl};
use taskctx_tests::redis::RedisServer;
use taskctx_worker_glue::{RedisStore, SnapshotStore, StoreConfig, StoreError};

fn tls_store(url: &str) -> RedisStore {
    RedisStore::open_with(url, &StoreConfig::default()).unwrap()
}

#[tokio::test]
async fn rediss_store_keeps_the_contract_over_tls() {
    let server = RedisServer::builder().tls().start();
    let url = server.url();
    assert!(
        url.starts_with("rediss://") && url.ends_with("#insecure"),
        "{url}"
    );
    let store = tls_store(&url);
    store_common::full_contract(&store).await;
    // The traffic really went through the TLS port.
    let clients = server.command(&["CLIENT", "LIST"]).text();
    let tls_port = format!("laddr=127.0.0.1:{}", server.tls_port().unwrap());
    assert!(clients.contains(&tls_port), "{clients}");
}

#[tokio::test]
async fn certificates_are_verified_unless_the_url_says_insecure() {
    let server = RedisServer::builder().tls().start();
    let verified_url = server.url().replace("#insecure", "");
    let store = tls_store(&verified_url);
    let key = TaskKeys::new("tls-verify").key("snapshot");
    let error = store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains("certificate"), "{error}");
    assert_eq!(server.command(&["EXISTS", &key]).integer(), 0);
}

#[tokio::test]
async fn passwords_travel_over_tls_and_never_leak() {
    let server = RedisServer::builder().tls().password("tls-s3cret").start();
    let store = tls_store(&server.url());
    let key = TaskKeys::new("tls-auth").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(b"v".to_vec()));
    assert!(!format!("{store:?}").contains("tls-s3cret"));
    let wrong = tls_store(&server.url().replace("tls-s3cret", "bad-s3cret"));
    let error = wrong.load(&key).await.unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}
