//! The Redis store against real standalone `redis-server` processes, over TCP and a unix socket:
//! the shared store contract, the exact commands sent, passwords, and fault injection (a stopped,
//! frozen and restarted server).

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

use store_common::{TaskKeys, assert_timeout, assert_ttl_near, distinct_config, ttl};
use taskctx_tests::redis::{RedisServer, Reply};
use taskctx_worker_glue::{RedisStore, SnapshotStore, StoreConfig, StoreError, TimeoutPhase};

fn redis_store(url: &str) -> RedisStore {
    RedisStore::open_with(url, &StoreConfig::default()).unwrap()
}

/// Short timeouts, so fault tests finish quickly.
fn quick_config() -> StoreConfig {
    StoreConfig::default()
        .with_connect_timeout(Duration::from_millis(300))
        .unwrap()
        .with_response_timeout(Duration::from_millis(300))
        .unwrap()
        .with_pool_wait_timeout(Duration::from_millis(300))
        .unwrap()
}

/// The `calls=` count of `command` in `INFO commandstats`, 0 when never called.
fn calls(server: &RedisServer, command: &str) -> u64 {
    let info = server.command(&["INFO", "commandstats"]).text();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn save_many_then_load() {
    let server = RedisServer::start();
    store_common::save_many_then_load(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn binary_and_empty_values_round_trip() {
    let server = RedisServer::start();
    store_common::binary_and_empty_values_round_trip(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn save_sets_the_ttl() {
    let server = RedisServer::start();
    store_common::save_sets_the_ttl(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn overwrite_replaces_value_and_ttl() {
    let server = RedisServer::start();
    store_common::overwrite_replaces_value_and_ttl(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn refresh_moves_every_ttl() {
    let server = RedisServer::start();
    store_common::refresh_moves_every_ttl(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn delete_removes_only_named_keys() {
    let server = RedisServer::start();
    store_common::delete_removes_only_named_keys(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn keys_expire() {
    let server = RedisServer::start();
    store_common::keys_expire(&redis_store(&server.url())).await;
}

#[tokio::test]
async fn unix_socket_store_keeps_the_contract() {
    let server = RedisServer::start_unix();
    let url = server.url();
    assert!(url.starts_with("unix:///"), "{url}");
    store_common::full_contract(&redis_store(&url)).await;
    // redis+unix:// is the same form.
    let alias = url.replacen("unix://", "redis+unix://", 1);
    let key = TaskKeys::new("alias").key("snapshot");
    let store = redis_store(&alias);
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(server.command(&["GET", &key]).bytes(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn saves_are_what_redis_sees() {
    let server = RedisServer::start();
    let store = redis_store(&server.url());
    let key = TaskKeys::new("seen").key("snapshot");
    store
        .save(&[(&key, b"{\"a\": 1}".as_slice())], ttl(1800))
        .await
        .unwrap();
    assert_eq!(
        server.command(&["GET", &key]).bytes(),
        Some(b"{\"a\": 1}".to_vec())
    );
    let left = server.command(&["TTL", &key]).integer();
    assert!((1780..=1800).contains(&left), "TTL {left}");
    // A value written by another client (for example the reference) loads as is.
    let foreign = TaskKeys::new("seen").key("args");
    server.command(&["SET", &foreign, "written elsewhere", "EX", "50"]);
    let stored = store.load_with_ttl(&foreign).await.unwrap().unwrap();
    assert_eq!(stored.value, b"written elsewhere");
    assert_ttl_near(stored.ttl, 50);
    // A key without expiry reports no TTL.
    let forever = TaskKeys::new("seen").key("forever");
    server.command(&["SET", &forever, "x"]);
    assert_eq!(
        store.load_with_ttl(&forever).await.unwrap().unwrap().ttl,
        None
    );
}

#[tokio::test]
async fn one_save_is_one_multi_exec_of_set_ex() {
    let server = RedisServer::start();
    let store = redis_store(&server.url());
    let keys = TaskKeys::new("atomic");
    let names = ["", "created_at", "args", "snapshot", "poll_interval"].map(|s| keys.key(s));
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|key| (key.as_str(), b"v".as_slice()))
        .collect();
    // Warm the pool so that connection set-up commands are not counted.
    store.load(&keys.key("warm-up")).await.unwrap();
    server.command(&["CONFIG", "RESETSTAT"]);
    store.save(&entries, ttl(900)).await.unwrap();
    assert_eq!(calls(&server, "multi"), 1);
    assert_eq!(calls(&server, "exec"), 1);
    assert_eq!(calls(&server, "set"), 5);
    assert_eq!(calls(&server, "setex"), 0, "SPEC: SET key value EX ttl");

    server.command(&["CONFIG", "RESETSTAT"]);
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(store.refresh(&keys, ttl(1900)).await.unwrap(), 5);
    assert_eq!(calls(&server, "multi"), 1);
    assert_eq!(calls(&server, "expire"), 5);
    // One DEL of every key is atomic by itself.
    assert_eq!(store.delete(&keys).await.unwrap(), 5);
    assert_eq!(calls(&server, "multi"), 1);
    assert_eq!(calls(&server, "del"), 1);
}

#[tokio::test]
async fn databases_are_selected_from_the_url() {
    let server = RedisServer::start();
    let store = redis_store(&format!("{}/5", server.url()));
    let key = TaskKeys::new("db").key("snapshot");
    store
        .save(&[(&key, b"in db 5".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(server.command(&["GET", &key]).bytes(), None, "not in db 0");
    let keyspace = server.command(&["INFO", "keyspace"]).text();
    assert!(keyspace.contains("db5:keys=1,"), "{keyspace}");
    assert_eq!(
        store.load(&key).await.unwrap().as_deref(),
        Some(b"in db 5".as_slice())
    );
}

#[tokio::test]
async fn passwords_authenticate_and_never_leak() {
    let password = "pa ss:w@rd/s3cret";
    let server = RedisServer::builder().password(password).start();
    let encoded = "pa%20ss%3Aw%40rd%2Fs3cret";
    let store = redis_store(&format!("redis://:{encoded}@127.0.0.1:{}", server.port()));
    let key = TaskKeys::new("auth").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(
        store.load(&key).await.unwrap().as_deref(),
        Some(b"v".as_slice())
    );
    assert!(!format!("{store:?}").contains("s3cret"));

    let wrong = redis_store(&format!(
        "redis://:wrong-s3cret@127.0.0.1:{}",
        server.port()
    ));
    let error = wrong.load(&key).await.unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    // The server's own URL carries the password percent-encoded.
    assert!(server.url().contains(encoded), "{}", server.url());
    let anonymous = redis_store(&format!("redis://127.0.0.1:{}", server.port()));
    let error = anonymous.load(&key).await.unwrap_err();
    assert!(!error.to_string().contains("s3cret"), "{error}");
    // A password written without percent-encoding still splits at the last `@`.
    let raw = redis_store(&format!("redis://:{password}@127.0.0.1:{}", server.port()));
    assert_eq!(
        raw.load(&key).await.unwrap().as_deref(),
        Some(b"v".as_slice())
    );
    assert!(!format!("{raw:?}").contains("s3cret"), "{raw:?}");
}

#[tokio::test]
async fn unix_socket_passwords_come_from_the_query() {
    let server = RedisServer::builder()
        .unix_socket()
        .password("sock-s3cret")
        .start();
    let store = redis_store(&server.url());
    let key = TaskKeys::new("unix-auth").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(
        store.load(&key).await.unwrap().as_deref(),
        Some(b"v".as_slice())
    );
    assert!(!format!("{store:?}").contains("sock-s3cret"));
}

#[tokio::test]
async fn a_stopped_redis_fails_fast_with_a_typed_error() {
    let mut server = RedisServer::start();
    let config = quick_config();
    let store = RedisStore::open_with(&server.url(), &config).unwrap();
    let key = TaskKeys::new("stopped").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    server.stop();
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
        ),
        "{error:?}"
    );
    // A store that never connected fails the same way.
    let fresh = RedisStore::open_with(&server.url(), &config).unwrap();
    let started = Instant::now();
    let error = fresh
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap_err();
    assert!(started.elapsed() < config.call_deadline() * 10);
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn a_frozen_redis_times_out_instead_of_hanging() {
    let server = RedisServer::start();
    let config = quick_config();
    let store = RedisStore::open_with(&server.url(), &config).unwrap();
    let key = TaskKeys::new("frozen").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();

    server.freeze();
    let started = Instant::now();
    let error = store.load(&key).await.unwrap_err();
    let took = started.elapsed();
    // A fresh store connects to the frozen server: the TCP handshake succeeds, the reply never comes.
    let fresh = RedisStore::open_with(&server.url(), &config).unwrap();
    let fresh_started = Instant::now();
    let fresh_error = fresh.load(&key).await.unwrap_err();
    let fresh_took = fresh_started.elapsed();
    server.thaw();

    assert!(took < config.call_deadline() * 10, "took {took:?}");
    assert!(
        fresh_took < config.call_deadline() * 10,
        "took {fresh_took:?}"
    );
    for error in [&error, &fresh_error] {
        assert!(matches!(error, StoreError::Timeout { .. }), "{error:?}");
        assert!(error.to_string().contains("timed out"), "{error}");
    }
    assert!(
        matches!(
            fresh_error,
            StoreError::Timeout {
                phase: TimeoutPhase::Connect,
                ..
            }
        ),
        "{fresh_error:?}"
    );
    // Once the server answers again, so does the store.
    assert_eq!(
        store.load(&key).await.unwrap().as_deref(),
        Some(b"v".as_slice())
    );
}

#[tokio::test]
async fn a_restarted_redis_works_on_the_next_call() {
    let mut server = RedisServer::start();
    let store = RedisStore::open_with(&server.url(), &quick_config()).unwrap();
    let key = TaskKeys::new("restart").key("snapshot");
    // Several pooled connections, all broken by the restart.
    let warm: Vec<_> = (0..4).map(|_| store.load(&key)).collect();
    for load in warm {
        load.await.unwrap();
    }
    store
        .save(&[(&key, b"before".as_slice())], ttl(60))
        .await
        .unwrap();
    let port = server.port();
    server.restart();
    assert_eq!(server.port(), port, "same port");
    // Nothing was persisted, so the key is gone, and the very next call succeeds.
    assert_eq!(store.load(&key).await.unwrap(), None);
    store
        .save(&[(&key, b"after".as_slice())], ttl(60))
        .await
        .unwrap();
    assert_eq!(
        store.load(&key).await.unwrap().as_deref(),
        Some(b"after".as_slice())
    );
    assert_eq!(
        server.command(&["GET", &key]),
        Reply::Bulk(Some(b"after".to_vec()))
    );
}

#[tokio::test]
async fn wrong_type_is_a_command_error() {
    let server = RedisServer::start();
    let store = redis_store(&server.url());
    let key = TaskKeys::new("wrongtype").key("snapshot");
    server.command(&["LPUSH", &key, "x"]);
    let error = store.load(&key).await.unwrap_err();
    assert!(matches!(error, StoreError::Command { .. }), "{error:?}");
    assert!(error.to_string().contains("WRONGTYPE"), "{error}");
}

#[tokio::test]
async fn timeouts_name_the_phase_and_limit_that_ended_the_call() {
    let server = RedisServer::start();
    let config = distinct_config();
    let store = RedisStore::open_with(&server.url(), &config.with_pool_size(1).unwrap()).unwrap();
    let key = TaskKeys::new("phases").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();

    server.freeze();
    // A held connection: the request is written, the reply never comes.
    let started = Instant::now();
    let error = store.load(&key).await.unwrap_err();
    let response = (error, started.elapsed());
    // A new store: the TCP handshake succeeds, the connection set-up never completes.
    let fresh = RedisStore::open_with(&server.url(), &config).unwrap();
    let started = Instant::now();
    let error = fresh.load(&key).await.unwrap_err();
    let connect = (error, started.elapsed());
    // Two calls on one slot of a new store: the second waits for the first one's connect.
    let waiting = RedisStore::open_with(
        &server.url(),
        &config
            .with_pool_size(1)
            .unwrap()
            .with_pool_wait_timeout(Duration::from_millis(600))
            .unwrap(),
    )
    .unwrap();
    let started = Instant::now();
    let (first, second) = tokio::join!(waiting.load(&key), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        (waiting.load(&key).await, started.elapsed())
    });
    let first = (first.unwrap_err(), started.elapsed());
    server.thaw();

    assert_timeout(
        &response.0,
        response.1,
        TimeoutPhase::Response,
        config.response_timeout(),
    );
    assert!(response.0.to_string().contains("waiting for the reply"));
    assert_timeout(
        &connect.0,
        connect.1,
        TimeoutPhase::Connect,
        config.connect_timeout(),
    );
    assert!(connect.0.to_string().contains("connecting"));
    assert_timeout(
        &first.0,
        first.1,
        TimeoutPhase::Connect,
        config.connect_timeout(),
    );
    assert_timeout(
        &second.0.unwrap_err(),
        second.1,
        TimeoutPhase::PoolWait,
        Duration::from_millis(600),
    );
    // The timed-out connection was replaced: the store answers again.
    assert_eq!(store.load(&key).await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn every_call_is_one_round_trip_on_a_few_shared_connections() {
    let server = RedisServer::start();
    let store = RedisStore::open_with(
        &server.url(),
        &StoreConfig::default().with_pool_size(3).unwrap(),
    )
    .unwrap();
    let key = TaskKeys::new("round-trips").key("snapshot");
    store
        .save(&[(&key, b"v".as_slice())], ttl(60))
        .await
        .unwrap();
    // Warm every slot, so connection set-up commands are not counted.
    for _ in 0..3 {
        store.load(&key).await.unwrap();
    }
    let connections_before = store_connections(&server);
    assert_eq!(connections_before.len(), 3, "{connections_before:?}");
    server.command(&["CONFIG", "RESETSTAT"]);

    // 200 calls, 64 at a time.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        let (store, key) = (store.clone(), key.clone());
        tasks.spawn(async move {
            if n % 2 == 0 {
                store.load(&key).await.map(|_| ())
            } else {
                store.save(&[(&key, b"v".as_slice())], ttl(60)).await
            }
        });
        if tasks.len() >= 64 {
            tasks.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    // One command per call: no PING, no MULTI for a single key.
    assert_eq!(calls(&server, "get"), 100);
    assert_eq!(calls(&server, "set"), 100);
    assert_eq!(calls(&server, "ping"), 0);
    assert_eq!(calls(&server, "multi"), 0);
    assert_eq!(
        store_connections(&server),
        connections_before,
        "the same three connections carried every call"
    );
}

/// The ids of the store's clients: those whose last command was a GET or SET (the harness's own
/// connections send other commands, one each).
fn store_connections(server: &RedisServer) -> Vec<String> {
    let clients = server.command(&["CLIENT", "LIST"]).text();
    let mut ids: Vec<String> = clients
        .lines()
        .filter(|line| line.contains(" cmd=get ") || line.contains(" cmd=set "))
        .filter_map(|line| line.split(' ').next())
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}
