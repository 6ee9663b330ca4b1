//! The behaviour every snapshot store must show, checked against each store by the `store_*`
//! test files.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "shared by several test files, each using part of it; tests fail loudly"
)]

use std::time::{Duration, Instant};

use taskctx_worker_glue::{RedisStore, SnapshotStore, StoreConfig, StoreError, TimeoutPhase, Ttl};

/// A task's keys under one hash tag, as taskctx builds them for Redis Cluster.
pub(crate) struct TaskKeys {
    base: String,
}

impl TaskKeys {
    /// Keys for a test called `label` (distinct labels never share keys).
    pub(crate) fn new(label: &str) -> Self {
        Self {
            base: format!("{{fastmcp}}:fastmcp:task:anon:{label}"),
        }
    }

    /// The key with `suffix`, e.g. `snapshot`.
    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.base)
    }
}

pub(crate) fn ttl(secs: u64) -> Ttl {
    Ttl::from_secs(secs).unwrap()
}

/// How far a TTL may run down between being set and being read on a loaded machine; the TTLs the
/// tests set differ by far more, so they stay distinguishable.
pub(crate) const TTL_SLACK_SECS: u64 = 20;

/// Asserts that `left` is within `(expected - TTL_SLACK_SECS, expected]`.
pub(crate) fn assert_ttl_near(left: Option<Duration>, expected: u64) {
    let left = left.expect("the key has a TTL");
    assert!(
        left <= Duration::from_secs(expected)
            && left > Duration::from_secs(expected - TTL_SLACK_SECS),
        "TTL {left:?}, expected about {expected} s"
    );
}

pub(crate) async fn save_many_then_load(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("save-many");
    let (snapshot, args, meta) = (keys.key("snapshot"), keys.key("args"), keys.key("meta"));
    store
        .save(
            &[
                (&snapshot, b"{\"origin_request_id\": null}".as_slice()),
                (&args, b"[1, 2]"),
                (&meta, b"m"),
            ],
            ttl(600),
        )
        .await
        .unwrap();
    assert_eq!(
        store.load(&snapshot).await.unwrap().as_deref(),
        Some(b"{\"origin_request_id\": null}".as_slice())
    );
    assert_eq!(
        store.load(&args).await.unwrap().as_deref(),
        Some(b"[1, 2]".as_slice())
    );
    assert_eq!(
        store.load(&meta).await.unwrap().as_deref(),
        Some(b"m".as_slice())
    );
    assert_eq!(store.load(&keys.key("missing")).await.unwrap(), None);
    assert_eq!(
        store.load_with_ttl(&keys.key("missing")).await.unwrap(),
        None
    );
    // Saving nothing is allowed and changes nothing.
    store.save(&[], ttl(1)).await.unwrap();
    assert_eq!(
        store.load(&meta).await.unwrap().as_deref(),
        Some(b"m".as_slice())
    );
}

pub(crate) async fn binary_and_empty_values_round_trip(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("binary");
    let all_bytes: Vec<u8> = (0..=255).collect();
    let native = b"\x00tcx\x01\xff\xfe\r\n".to_vec();
    let (a, b, c) = (keys.key("a"), keys.key("b"), keys.key("c"));
    store
        .save(&[(&a, &all_bytes), (&b, b""), (&c, &native)], ttl(60))
        .await
        .unwrap();
    assert_eq!(store.load(&a).await.unwrap(), Some(all_bytes));
    assert_eq!(store.load(&b).await.unwrap(), Some(Vec::new()));
    assert_eq!(store.load(&c).await.unwrap(), Some(native));
}

pub(crate) async fn save_sets_the_ttl(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("ttl");
    let (snapshot, args) = (keys.key("snapshot"), keys.key("args"));
    store
        .save(&[(&snapshot, b"s".as_slice()), (&args, b"a")], ttl(1800))
        .await
        .unwrap();
    for key in [&snapshot, &args] {
        let stored = store.load_with_ttl(key).await.unwrap().expect("saved");
        assert_ttl_near(stored.ttl, 1800);
    }
    let stored = store.load_with_ttl(&snapshot).await.unwrap().unwrap();
    assert_eq!(stored.value, b"s");
}

pub(crate) async fn overwrite_replaces_value_and_ttl(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("overwrite");
    let key = keys.key("snapshot");
    store
        .save(&[(&key, b"first".as_slice())], ttl(100))
        .await
        .unwrap();
    store
        .save(&[(&key, b"second".as_slice())], ttl(5000))
        .await
        .unwrap();
    let stored = store.load_with_ttl(&key).await.unwrap().unwrap();
    assert_eq!(stored.value, b"second");
    assert_ttl_near(stored.ttl, 5000);
}

pub(crate) async fn refresh_moves_every_ttl(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("refresh");
    let names = ["", "created_at", "args", "snapshot"].map(|suffix| keys.key(suffix));
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|key| (key.as_str(), b"v".as_slice()))
        .collect();
    store.save(&entries, ttl(100)).await.unwrap();
    let untouched = keys.key("untouched");
    store
        .save(&[(&untouched, b"u".as_slice())], ttl(100))
        .await
        .unwrap();

    let mut to_refresh: Vec<&str> = names.iter().map(String::as_str).collect();
    let missing = keys.key("never-saved");
    to_refresh.push(&missing);
    let refreshed = store.refresh(&to_refresh, ttl(7200)).await.unwrap();
    assert_eq!(
        refreshed,
        names.len(),
        "every existing key counts, the missing one does not"
    );
    for key in &names {
        let stored = store.load_with_ttl(key).await.unwrap().unwrap();
        assert_ttl_near(stored.ttl, 7200);
        assert_eq!(stored.value, b"v", "refresh keeps the value");
    }
    assert_ttl_near(
        store.load_with_ttl(&untouched).await.unwrap().unwrap().ttl,
        100,
    );
    assert_eq!(
        store.load(&missing).await.unwrap(),
        None,
        "refresh creates nothing"
    );
    assert_eq!(store.refresh(&[], ttl(1)).await.unwrap(), 0);
}

pub(crate) async fn delete_removes_only_named_keys(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("delete");
    let (a, b, c) = (keys.key("a"), keys.key("b"), keys.key("c"));
    store
        .save(&[(&a, b"1".as_slice()), (&b, b"2"), (&c, b"3")], ttl(60))
        .await
        .unwrap();
    let missing = keys.key("missing");
    assert_eq!(store.delete(&[&a, &b, &missing]).await.unwrap(), 2);
    assert_eq!(store.load(&a).await.unwrap(), None);
    assert_eq!(store.load(&b).await.unwrap(), None);
    assert_eq!(
        store.load(&c).await.unwrap().as_deref(),
        Some(b"3".as_slice())
    );
    assert_eq!(store.delete(&[&a]).await.unwrap(), 0);
    assert_eq!(store.delete(&[]).await.unwrap(), 0);
}

pub(crate) async fn keys_expire(store: &dyn SnapshotStore) {
    let keys = TaskKeys::new("expiry");
    let (short, long) = (keys.key("short"), keys.key("long"));
    store
        .save(&[(&short, b"s".as_slice())], ttl(1))
        .await
        .unwrap();
    store
        .save(&[(&long, b"l".as_slice())], ttl(60))
        .await
        .unwrap();
    assert!(store.load(&short).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        store.load(&short).await.unwrap(),
        None,
        "expired after its 1 s TTL"
    );
    assert_eq!(store.load_with_ttl(&short).await.unwrap(), None);
    assert_eq!(
        store.refresh(&[&short], ttl(60)).await.unwrap(),
        0,
        "an expired key is not revived"
    );
    assert_eq!(
        store.delete(&[&short]).await.unwrap(),
        0,
        "an expired key is not counted"
    );
    assert_eq!(
        store.load(&long).await.unwrap().as_deref(),
        Some(b"l".as_slice())
    );
}

/// Runs every check above on `store`.
pub(crate) async fn full_contract(store: &dyn SnapshotStore) {
    save_many_then_load(store).await;
    binary_and_empty_values_round_trip(store).await;
    save_sets_the_ttl(store).await;
    overwrite_replaces_value_and_ttl(store).await;
    refresh_moves_every_ttl(store).await;
    delete_removes_only_named_keys(store).await;
    keys_expire(store).await;
}

/// Limits apart from each other and above redis-rs's own defaults (1 s connect, 500 ms response),
/// so an error naming the wrong phase, or a default ending the call early, shows.
pub(crate) fn distinct_config() -> StoreConfig {
    StoreConfig::default()
        .with_connect_timeout(Duration::from_millis(1300))
        .with_response_timeout(Duration::from_millis(1100))
        .with_pool_wait_timeout(Duration::from_millis(1700))
}

/// Asserts `error` is a timeout of `phase` after `limit`, and that the call really lasted that
/// long (`took`), so the limit named is the one that ended it.
pub(crate) fn assert_timeout(
    error: &StoreError,
    took: Duration,
    phase: TimeoutPhase,
    limit: Duration,
) {
    match error {
        StoreError::Timeout {
            phase: found,
            after,
            ..
        } => {
            assert_eq!(*found, phase, "{error}");
            assert_eq!(*after, limit, "{error}");
        }
        other => panic!("expected a {phase:?} timeout, got {other:?}"),
    }
    assert!(took >= limit, "{error} after only {took:?}");
    assert!(
        took < limit + Duration::from_secs(5),
        "{error} after {took:?}"
    );
}

/// Against the deployment at `url`, frozen by `freeze` (and thawed by `thaw`): a call on a held
/// connection ends on the response limit, a new store's first call on the connect limit (each
/// error naming that phase and limit, after really waiting that long), and once thawed the store
/// answers again.
pub(crate) async fn frozen_calls_time_out_by_phase(url: &str, freeze: impl Fn(), thaw: impl Fn()) {
    let config = distinct_config();
    let store = RedisStore::open_with(url, &config.with_pool_size(1)).unwrap();
    let key = TaskKeys::new("frozen-phases").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    freeze();
    let started = Instant::now();
    let held = store.load(&key).await.unwrap_err();
    let held_took = started.elapsed();
    let fresh = RedisStore::open_with(url, &config).unwrap();
    let started = Instant::now();
    let fresh_error = fresh.load(&key).await.unwrap_err();
    let fresh_took = started.elapsed();
    thaw();
    assert_timeout(
        &held,
        held_took,
        TimeoutPhase::Response,
        config.response_timeout(),
    );
    assert_timeout(
        &fresh_error,
        fresh_took,
        TimeoutPhase::Connect,
        config.connect_timeout(),
    );
    assert_eq!(store.load(&key).await.unwrap(), Some(b"v".to_vec()));
}
