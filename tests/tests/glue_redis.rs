//! Submit → run through real `redis-server` processes: what a worker in another "process" (a
//! separate glue with its own registries) sees, that a non-task key reads nothing, cluster hash
//! tags, and a stopped, frozen then restarted Redis under both restore policies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use std::time::{Duration, Instant};

use glue_common::{Server, Session, caller, scope, server, session, submit, submit_key, task_for};
use taskctx_tests::redis::{RedisCluster, RedisServer};
use taskctx_worker_glue::{
    Codec, KeyRing, KeySpace, KeySuffix, RestoreError, RestoreOutcome, RestorePolicy, SealingKey,
    StoreConfig, TaskGlue, access_token, current, headers, session_id,
};

type Glue = TaskGlue<Session, Server>;

fn quick_config() -> StoreConfig {
    StoreConfig::default()
        .with_connect_timeout(Duration::from_millis(300))
        .unwrap()
        .with_response_timeout(Duration::from_millis(300))
        .unwrap()
        .with_pool_wait_timeout(Duration::from_millis(300))
        .unwrap()
}

fn glue(url: &str, policy: RestorePolicy) -> Glue {
    TaskGlue::builder()
        .store_url(url)
        .store_config(quick_config())
        .restore_policy(policy)
        .server_resolver(|name, _| (name == "weather").then(|| server("resolved-weather")))
        .build()
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
async fn remote_worker_sees_the_submitters_caller() {
    let redis = RedisServer::start();
    let submitter = glue(&redis.url(), RestorePolicy::FailOpen);
    let worker = glue(&redis.url(), RestorePolicy::FailOpen);
    let live = session("alice");
    let owner = server("weather");
    let snapshot = caller("client-a", "user-1", "session-1");
    let task = task_for(&snapshot, "T-redis");
    let _registration =
        submitter
            .sessions()
            .register(scope(&snapshot).as_ref(), "session-1", &live);
    let submitted = submitter
        .submit(
            submit(&snapshot, "T-redis")
                .server(&owner)
                .extra(KeySuffix::Args, b"[]"),
        )
        .await
        .unwrap();

    // Stored under the reference's key, with the queue's TTL.
    let snapshot_key = KeySpace::default().snapshot_key(task.scope(), task.task_id());
    assert_eq!(
        snapshot_key,
        "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T-redis:snapshot"
    );
    let ttl = redis.command(&["TTL", &snapshot_key]).integer();
    assert!((1700..=1800).contains(&ttl), "{ttl}");
    let args_ttl = redis
        .command(&[
            "TTL",
            "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T-redis:args",
        ])
        .integer();
    assert!((1700..=1800).contains(&args_ttl), "{args_ttl}");

    // The submitting process finds the live session and server.
    let local = submitter
        .run(submitted.execution_key(), async {
            (
                submitter.live_session().map(|s| s.user.clone()),
                submitter.owning_server().map(|s| s.name.clone()),
            )
        })
        .await
        .unwrap();
    assert_eq!(local, (Some("alice".into()), Some("weather".into())));

    // Another worker: the caller, headers and session id, no live session, a resolved server.
    let remote = worker
        .run(submitted.execution_key(), async {
            (
                access_token().map(|t| t.token().to_owned()),
                headers().and_then(|h| h.get("x-request-id").map(str::to_owned)),
                session_id().map(|id| id.to_string()),
                worker.live_session().is_none(),
                worker.owning_server().map(|s| s.name.clone()),
            )
        })
        .await
        .unwrap();
    assert_eq!(remote.0.as_deref(), Some("secret-token-of-client-a-user-1"));
    assert_eq!(remote.1.as_deref(), Some("req-client-a-user-1"));
    assert_eq!(remote.2.as_deref(), Some("session-1"));
    assert!(remote.3);
    assert_eq!(remote.4.as_deref(), Some("resolved-weather"));
}

#[tokio::test]
async fn a_key_that_is_not_a_task_key_reads_nothing() {
    let redis = RedisServer::start();
    let worker = glue(&redis.url(), RestorePolicy::FailClosed);
    let before = calls(&redis, "get");
    for key in ["job-1", "", "authx:T1:tool:c"] {
        assert!(
            worker
                .run(key, async { current().is_none() })
                .await
                .unwrap()
        );
    }
    // A malformed task key fails closed before anything is read.
    for key in ["anon:T1:tool", "auth:a:T1:tool:c#leg0"] {
        let error = worker
            .run(key, async { panic!("must not run") })
            .await
            .unwrap_err();
        assert!(matches!(error, RestoreError::MalformedKey(_)), "{error:?}");
    }
    assert_eq!(calls(&redis, "get"), before);
    // A task key does read.
    let _ = worker.run("anon:T1:tool:c", async {}).await;
    assert_eq!(calls(&redis, "get"), before + 1);
}

#[tokio::test]
async fn stopped_redis_fails_closed_quickly_then_recovers_after_restart() {
    let mut redis = RedisServer::start();
    let ring = KeyRing::new(SealingKey::new("k1", [9; 32]).unwrap());
    let closed: Glue = TaskGlue::builder()
        .store_url(redis.url())
        .store_config(quick_config())
        .codec(Codec::native_sealed(ring))
        .build()
        .unwrap();
    assert_eq!(closed.policy(), RestorePolicy::FailClosed);
    let open = glue(&redis.url(), RestorePolicy::FailOpen);
    let snapshot = caller("client-a", "user-1", "session-1");
    let key = submit_key(&closed, &snapshot, "T-fault").await;
    assert!(
        closed
            .run(&key, async { access_token().is_some() })
            .await
            .unwrap()
    );

    redis.stop();
    let started = Instant::now();
    let error = closed
        .run(&key, async { panic!("must not run") })
        .await
        .unwrap_err();
    assert!(matches!(error, RestoreError::Store(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let degraded = open
        .run(&key, async {
            (access_token().is_none(), current().map(|c| c.outcome()))
        })
        .await
        .unwrap();
    assert_eq!(degraded, (true, Some(RestoreOutcome::StoreFailed)));

    // Frozen (accepts connections, never answers): refused within the store's timeouts.
    redis.restart();
    let key = submit_key(&closed, &snapshot, "T-fault").await;
    redis.freeze();
    let started = Instant::now();
    let error = closed
        .run(&key, async { panic!("must not run") })
        .await
        .unwrap_err();
    assert!(matches!(error, RestoreError::Store(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    redis.thaw();
    redis.stop();

    // Restarted (empty): the next submission and run succeed on the same glue.
    redis.restart();
    let key = submit_key(&closed, &snapshot, "T-fault").await;
    let seen = closed
        .run(&key, async {
            access_token().map(|t| t.client_id().to_owned())
        })
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some("client-a"));
}

#[tokio::test]
async fn cluster_keeps_a_tasks_keys_in_one_slot() {
    let cluster = RedisCluster::start(3);
    let url = cluster.url();
    assert!(url.starts_with("redis+cluster://"), "{url}");
    let glue = glue(&url, RestorePolicy::FailClosed);
    assert_eq!(glue.keys().queue_prefix(), "{fastmcp}");
    let snapshot = caller("client-a", "user-1", "session-1");
    let task = task_for(&snapshot, "T-cluster");
    let key = glue
        .submit(
            submit(&snapshot, "T-cluster")
                .extra(KeySuffix::Args, b"[]")
                .extra(KeySuffix::CreatedAt, b"1700000000")
                .extra(KeySuffix::PollInterval, b"5"),
        )
        .await
        .unwrap()
        .into_execution_key();
    let snapshot_key = glue.keys().snapshot_key(task.scope(), task.task_id());
    assert!(
        snapshot_key.starts_with("{fastmcp}:fastmcp:task:auth:"),
        "{snapshot_key}"
    );
    let node = cluster.node_for_key(&snapshot_key);
    assert_eq!(node.command(&["EXISTS", &snapshot_key]).integer(), 1);
    let seen = glue
        .run(&key, async {
            access_token().map(|t| t.client_id().to_owned())
        })
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some("client-a"));
}
