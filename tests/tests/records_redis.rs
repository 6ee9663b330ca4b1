//! Task records on real Redis, standalone and cluster: the shared record contract with two
//! `RedisStore`s standing for two replicas (isolation of scopes sharing an id, create atomic with
//! the snapshot, settle exactly once under concurrent cancel, the per-owner limit under
//! concurrent creates from both replicas, TTL sliding, leases), plus the key layout and TTLs as
//! Redis itself reports them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

#[path = "../../crates/worker-glue/tests/records_common/mod.rs"]
mod records_common;

use records_common::{create, records_on};
use taskctx_scope::hash_slot;
use taskctx_tests::redis::{RedisCluster, RedisServer, Reply};
use taskctx_worker_glue::records::{self, Outcome};
use taskctx_worker_glue::{RedisStore, Scope, Store, StoreConfig};

fn store(url: &str) -> Store {
    Store::new(RedisStore::open_with(url, &StoreConfig::default()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_redis_keeps_the_record_contract() {
    let server = RedisServer::start();
    let (glue, records) = records_on(store(&server.url()));
    let (_, second) = records_on(store(&server.url()));
    records_common::full_contract(&glue, &records, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_keeps_the_record_contract() {
    let cluster = RedisCluster::start(3);
    let (glue, records) = records_on(store(&cluster.url()));
    // The second replica knows the cluster through another seed node.
    let (_, second) = records_on(store(&cluster.node_url(1)));
    records_common::full_contract(&glue, &records, &second).await;
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server.command(&["PTTL", key]).integer()
}

#[tokio::test]
async fn keys_and_ttls_as_redis_sees_them() {
    let server = RedisServer::start();
    let (glue, records) = records_on(store(&server.url()));
    let id = records::new_task_id().unwrap();
    create(&records, Some("client-a|user-1"), &id, 120, 3)
        .await
        .unwrap();

    let record_key = format!("fastmcp:fastmcp:task:auth:client-a%7Cuser-1:{id}:record");
    let snapshot_key = format!("fastmcp:fastmcp:task:auth:client-a%7Cuser-1:{id}:snapshot");
    let unfinished_key = "fastmcp:taskctx:unfinished:auth:client-a%7Cuser-1";
    assert_eq!(server.command(&["TYPE", &record_key]).text(), "hash");
    assert_eq!(server.command(&["TYPE", &snapshot_key]).text(), "string");
    assert_eq!(server.command(&["TYPE", unfinished_key]).text(), "zset");
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        let left = pttl(&server, key);
        assert!((115_000..=120_000).contains(&left), "{key}: {left}");
    }
    assert_eq!(
        server.command(&["HGET", &record_key, "status"]).text(),
        "working"
    );
    assert_eq!(
        glue.keys()
            .snapshot_key(Some(&Scope::new("client-a|user-1")), &id),
        snapshot_key
    );

    // Shorten every TTL by hand, then poll: all of them get the full TTL again.
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        server.command(&["PEXPIRE", key, "5000"]);
    }
    let scope = Scope::new("client-a|user-1");
    records.get(Some(&scope), &id).await.unwrap().unwrap();
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        let left = pttl(&server, key);
        assert!((115_000..=120_000).contains(&left), "{key}: {left}");
    }

    // Within a second of that slide a poll slides nothing; a second later, everything again.
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        server.command(&["PEXPIRE", key, "119500"]);
    }
    records.get(Some(&scope), &id).await.unwrap().unwrap();
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        let left = pttl(&server, key);
        assert!((110_000..=119_500).contains(&left), "{key}: {left}");
    }
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        server.command(&["PEXPIRE", key, "118900"]);
    }
    records.get(Some(&scope), &id).await.unwrap().unwrap();
    for key in [record_key.as_str(), snapshot_key.as_str(), unfinished_key] {
        let left = pttl(&server, key);
        assert!((119_000..=120_000).contains(&left), "{key}: {left}");
    }

    // Settling releases the scope's slot: its set (now empty) is gone.
    records
        .settle(Some(&scope), &id, &Outcome::Completed("{}".to_owned()))
        .await
        .unwrap();
    assert_eq!(server.command(&["EXISTS", unfinished_key]).integer(), 0);
    assert_eq!(
        server.command(&["HGET", &record_key, "result"]).text(),
        "{}"
    );
}

#[tokio::test]
async fn a_poll_is_two_reads_and_a_change_one_script_call() {
    let server = RedisServer::start();
    let (_, records) = records_on(store(&server.url()));
    let id = records::new_task_id().unwrap();
    // The first call loads the script; afterwards every change is one EVALSHA, and a poll whose
    // slide is not due is HGETALL and PTTL, without the script.
    create(&records, None, &id, 60, 0).await.unwrap();
    server.command(&["CONFIG", "RESETSTAT"]);
    records.get(None, &id).await.unwrap().unwrap();
    records.cancel(None, &id).await.unwrap().unwrap();
    let stats = server.command(&["INFO", "commandstats"]).text();
    let calls = |command: &str| {
        stats
            .lines()
            .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .map_or(0, |rest| {
                rest.split(',').next().unwrap().parse::<u64>().unwrap()
            })
    };
    assert_eq!(calls("evalsha"), 1, "{stats}");
    assert_eq!(calls("eval"), 0, "{stats}");
    assert_eq!(calls("multi"), 0, "{stats}");
    // The script's own HGETALL (its reply) and the poll's.
    assert_eq!(calls("hgetall"), 2, "{stats}");
    assert_eq!(calls("expire"), 0, "{stats}");
}

#[tokio::test]
async fn every_key_of_a_task_shares_its_slot_in_cluster_mode() {
    let cluster = RedisCluster::start(3);
    let (glue, records) = records_on(store(&cluster.url()));
    let id = records::new_task_id().unwrap();
    create(&records, Some("client-{b}|u"), &id, 60, 1)
        .await
        .unwrap();
    let scope = Scope::new("client-{b}|u");
    let snapshot_key = glue.keys().snapshot_key(Some(&scope), &id);
    let slot = hash_slot("fastmcp");
    assert_eq!(hash_slot(&snapshot_key), slot);
    let owner = cluster.node_for_key(&snapshot_key);
    let record_key = format!("{{fastmcp}}:fastmcp:task:auth:client-%7Bb%7D%7Cu:{id}:record");
    let unfinished_key = "{fastmcp}:taskctx:unfinished:auth:client-%7Bb%7D%7Cu";
    assert_eq!(owner.command(&["EXISTS", &record_key]).integer(), 1);
    assert_eq!(owner.command(&["ZCARD", unfinished_key]).integer(), 1);
    assert!(matches!(
        owner.command(&["GET", &snapshot_key]),
        Reply::Bulk(Some(_))
    ));
}

/// A worker's wait for a job has a connection of its own: a pop answers within its wait and the
/// response timeout when the server hangs (a typed timeout), a pop dropped midway takes no job
/// afterwards, and after a restart the next pop reconnects and takes the jobs queued since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taking_a_job_survives_a_hung_and_a_restarted_server() {
    use std::time::{Duration, Instant};
    use taskctx_worker_glue::StoreError;
    use taskctx_worker_glue::records::{NewRecord, RecordError};

    let mut server = RedisServer::start();
    let config = StoreConfig::default()
        .with_response_timeout(Duration::from_millis(300))
        .unwrap();
    let store = Store::new(RedisStore::open_with(&server.url(), &config).unwrap());
    let (_, records) = records_on(store);
    let queue = |payload: &'static str| {
        let records = records.clone();
        async move {
            let id = records::new_task_id().unwrap();
            let snapshot = records_common::snapshot_of(Some("client-a|user-1"));
            let key = records_common::key_of(Some("client-a|user-1"), &id);
            let ttl = records_common::ttl(60);
            records
                .create(NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1)).job(payload))
                .await
                .unwrap();
            id
        }
    };

    // Waiting with nothing queued: none, after about the wait (at most half the response
    // timeout).
    let started = Instant::now();
    assert!(
        records
            .next_job(Duration::from_secs(5))
            .await
            .unwrap()
            .is_none()
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
    assert!(waited < Duration::from_millis(1000), "{waited:?}");

    // A pop dropped while it waits takes nothing afterwards: the job queued next is still there
    // for the next pop.
    let dropped = tokio::time::timeout(
        Duration::from_millis(30),
        records.next_job(Duration::from_secs(1)),
    )
    .await;
    assert!(dropped.is_err(), "nothing was queued: {dropped:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let id = queue("after a dropped pop").await;
    let job = records
        .next_job(Duration::from_millis(100))
        .await
        .unwrap()
        .expect("the job queued after a dropped pop");
    assert_eq!(job.task().task_id(), &id);

    // A hung server: a typed timeout, not a pop that never returns.
    server.freeze();
    let started = Instant::now();
    let hung = records.next_job(Duration::from_millis(100)).await;
    server.thaw();
    assert!(
        matches!(hung, Err(RecordError::Store(StoreError::Timeout { .. }))),
        "{hung:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // A restarted server (it keeps nothing): the pops reconnect and take what is queued since.
    server.restart();
    let mut taken = None;
    for _ in 0..3 {
        match records.next_job(Duration::from_millis(50)).await {
            Ok(job) => {
                taken = Some(job);
                break;
            }
            Err(RecordError::Store(
                StoreError::ConnectionLost { .. } | StoreError::Connect { .. },
            )) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(taken.expect("a pop after the restart").is_none());
    let id = queue("after the restart").await;
    let job = records
        .next_job(Duration::from_millis(100))
        .await
        .unwrap()
        .expect("the job queued after the restart");
    assert_eq!(job.task().task_id(), &id);
    assert_eq!(job.payload(), "after the restart");
}
