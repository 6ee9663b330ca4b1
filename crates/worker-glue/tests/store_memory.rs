//! The in-process `memory://` store: the shared store contract, sharing by name, and concurrency.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod store_common;

use store_common::{TaskKeys, ttl};
use taskctx_worker_glue::{MemoryStore, SnapshotStore, open};

#[tokio::test]
async fn save_many_then_load() {
    store_common::save_many_then_load(&MemoryStore::new()).await;
}

#[tokio::test]
async fn binary_and_empty_values_round_trip() {
    store_common::binary_and_empty_values_round_trip(&MemoryStore::new()).await;
}

#[tokio::test]
async fn save_sets_the_ttl() {
    store_common::save_sets_the_ttl(&MemoryStore::new()).await;
}

#[tokio::test]
async fn overwrite_replaces_value_and_ttl() {
    store_common::overwrite_replaces_value_and_ttl(&MemoryStore::new()).await;
}

#[tokio::test]
async fn refresh_moves_every_ttl() {
    store_common::refresh_moves_every_ttl(&MemoryStore::new()).await;
}

#[tokio::test]
async fn delete_removes_only_named_keys() {
    store_common::delete_removes_only_named_keys(&MemoryStore::new()).await;
}

#[tokio::test]
async fn keys_expire() {
    store_common::keys_expire(&MemoryStore::new()).await;
}

#[tokio::test]
async fn open_memory_url_gives_a_working_store() {
    let store = open("memory://contract").unwrap();
    assert!(format!("{store:?}").starts_with("MemoryStore"), "{store:?}");
    store_common::full_contract(&*store).await;
}

#[tokio::test]
async fn memory_urls_with_one_name_share_one_store() {
    let server = open("memory://shared-by-name").unwrap();
    let worker = open("memory://shared-by-name").unwrap();
    let other = open("memory://another-name").unwrap();
    let key = TaskKeys::new("shared").key("snapshot");
    server
        .save(&[(&key, b"from the server".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(
        worker.load(&key).await.unwrap().as_deref(),
        Some(b"from the server".as_slice())
    );
    assert_eq!(
        other.load(&key).await.unwrap(),
        None,
        "another name is another store"
    );
    let named = MemoryStore::shared("shared-by-name");
    assert!(named.same_store(&MemoryStore::shared("shared-by-name")));
    assert_eq!(named.name(), Some("shared-by-name"));
    assert_eq!(
        named.load(&key).await.unwrap().as_deref(),
        Some(b"from the server".as_slice())
    );
}

#[tokio::test]
async fn bare_memory_url_is_the_store_named_empty() {
    let key = TaskKeys::new("bare").key("snapshot");
    let store = open("memory://").unwrap();
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    let named = MemoryStore::shared("").load(&key).await.unwrap();
    assert_eq!(named.as_deref(), Some(b"v".as_slice()));
}

#[tokio::test]
async fn private_stores_share_only_with_their_clones() {
    let store = MemoryStore::new();
    let clone = store.clone();
    let stranger = MemoryStore::new();
    let key = TaskKeys::new("private").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(
        clone.load(&key).await.unwrap().as_deref(),
        Some(b"v".as_slice())
    );
    assert_eq!(stranger.load(&key).await.unwrap(), None);
    assert_eq!(store.len(), 1);
    assert!(stranger.is_empty());
    assert_eq!(store.name(), None);
}

#[tokio::test]
async fn len_counts_only_live_keys() {
    let store = MemoryStore::new();
    let keys = TaskKeys::new("len");
    let (short, long) = (keys.key("short"), keys.key("long"));
    store
        .save(&[(&short, b"s".as_slice())], ttl(1))
        .await
        .unwrap();
    store
        .save(&[(&long, b"l".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(store.len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(store.len(), 1);
}

#[test]
fn concurrent_saves_from_many_threads_all_land() {
    let store = MemoryStore::new();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    for task in 0..200 {
                        let keys = TaskKeys::new(&format!("t{thread}-{task}"));
                        let (a, b) = (keys.key("a"), keys.key("b"));
                        store
                            .save(&[(&a, b"1".as_slice()), (&b, b"2")], ttl(60))
                            .await
                            .unwrap();
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.len(), 8 * 200 * 2);
}

#[test]
fn debug_never_shows_values() {
    let store = MemoryStore::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let key = TaskKeys::new("debug").key("snapshot");
    runtime.block_on(async {
        store
            .save(&[(&key, b"token-s3cret".as_slice())], ttl(60))
            .await
            .unwrap();
        let stored = store.load_with_ttl(&key).await.unwrap().unwrap();
        assert!(!format!("{stored:?}").contains("s3cret"), "{stored:?}");
    });
    assert!(!format!("{store:?}").contains("s3cret"));
}
