//! The glue's API contract: typed extra keys that cannot overwrite the snapshot, a malformed task
//! key refused before user code under FailClosed, contradictory builder options refused, the
//! application's own store and codec through submit and run, errors that show their cause once,
//! and the token refresh hook.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use glue_common::{caller, runtime, submit, submit_key, task_for, token};
use taskctx_worker_glue::{
    AccessToken, Codec, ConfigError, DecodeError, Deployment, EncodeError, FernetKey, KeyRing,
    KeySuffix, MemoryStore, RestoreError, RestoreOutcome, RestorePolicy, SealingKey, SnapshotCodec,
    SnapshotStore, StoreFuture, StoredForm, StoredValue, SubmitError, TaskContextSnapshot,
    TaskGlue, Ttl, access_token, current, headers,
};

fn glue(store: &str, policy: RestorePolicy) -> TaskGlue {
    TaskGlue::builder()
        .store_url(store)
        .restore_policy(policy)
        .build()
        .unwrap()
}

/// `snapshot`, `record` and the meta key are reserved; a suffix given twice is refused; nothing is written
/// when submit refuses.
#[test]
fn extra_keys_cannot_overwrite_the_snapshot_or_the_meta_key() {
    runtime().block_on(async {
        let glue = glue("memory://glue-api-extras", RestorePolicy::FailOpen);
        let snapshot = caller("client-a", "user-1", "session-1");
        let task = task_for(&snapshot, "T-extra");
        let snapshot_key = glue.keys().snapshot_key(task.scope(), task.task_id());
        for (suffix, refused) in [
            (KeySuffix::Snapshot, KeySuffix::Snapshot),
            (KeySuffix::Meta, KeySuffix::Meta),
            (KeySuffix::Record, KeySuffix::Record),
        ] {
            let error = glue
                .submit(
                    submit(&snapshot, "T-extra")
                        .extra(KeySuffix::Args, b"[]")
                        .extra(suffix, b"{\"access_token_json\": null}"),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(error, SubmitError::ReservedSuffix { suffix } if suffix == refused),
                "{error:?}"
            );
        }
        let error = glue
            .submit(
                submit(&snapshot, "T-extra")
                    .extra(KeySuffix::Args, b"[1]")
                    .extra(KeySuffix::Args, b"[2]"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, SubmitError::DuplicateSuffix { .. }),
            "{error:?}"
        );
        assert_eq!(glue.store().load(&snapshot_key).await.unwrap(), None);
        let args = glue
            .keys()
            .task_key(task.scope(), task.task_id(), KeySuffix::Args);
        assert_eq!(glue.store().load(&args).await.unwrap(), None);
        // Allowed suffixes, input legs included, are written beside the snapshot.
        let leg = taskctx_worker_glue::Leg::new(2);
        let submitted = glue
            .submit(
                submit(&snapshot, "T-extra")
                    .extra(KeySuffix::Args, b"[]")
                    .extra(KeySuffix::InputRequests(leg), b"{}"),
            )
            .await
            .unwrap();
        let requests =
            glue.keys()
                .task_key(task.scope(), task.task_id(), KeySuffix::InputRequests(leg));
        assert!(
            requests.ends_with(":T-extra:input:2:requests"),
            "{requests}"
        );
        assert_eq!(
            glue.store().load(&requests).await.unwrap().as_deref(),
            Some(b"{}".as_slice())
        );
        let restored = glue
            .run(submitted.execution_key(), async {
                access_token().map(|t| t.client_id().to_owned())
            })
            .await
            .unwrap();
        assert_eq!(restored.as_deref(), Some("client-a"));
    });
}

/// A key with the task tag that does not parse: FailClosed refuses it before user code runs;
/// FailOpen runs it with no context. A key without the tag is not a task key under both.
#[test]
fn a_malformed_task_key_fails_closed_before_user_code() {
    runtime().block_on(async {
        let closed = glue("memory://glue-api-malformed", RestorePolicy::FailClosed);
        let open = glue("memory://glue-api-malformed", RestorePolicy::FailOpen);
        for key in [
            "auth:x",
            "anon:T1:tool",
            "anon:T1:tool:c:extra",
            "anon:T1:tool:c#leg1",
            "auth:a%ZZ:T1:tool:c",
            "anon:T 1:tool:c",
        ] {
            let ran = AtomicBool::new(false);
            let error = closed
                .run(key, async { ran.store(true, Ordering::SeqCst) })
                .await
                .unwrap_err();
            assert!(
                matches!(error, RestoreError::MalformedKey(_)),
                "{key}: {error:?}"
            );
            assert!(!ran.load(Ordering::SeqCst), "{key}: user code ran");
            assert!(error.source().is_some(), "{key}");
            let no_context = open.run(key, async { current().is_none() }).await.unwrap();
            assert!(no_context, "{key}");
        }
        for key in ["", "job-42", "authx:T1:tool:c", "anon", "ANON:T1:tool:c"] {
            for glue in [&closed, &open] {
                let no_context = glue.run(key, async { current().is_none() }).await.unwrap();
                assert!(no_context, "{key}");
            }
        }
    });
}

#[test]
fn contradictory_builder_options_are_refused() {
    fn conflict(result: Result<TaskGlue, ConfigError>) -> (&'static str, &'static str) {
        match result {
            Err(ConfigError::Conflict { first, second }) => (first, second),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    let fernet = FernetKey::from_bytes([1; 32]);
    let ring = KeyRing::new(SealingKey::new("k1", [7; 32]).unwrap());
    let base = || TaskGlue::<(), ()>::builder().store_url("memory://glue-api-config");
    assert_eq!(
        conflict(base().native(true).fernet_key(fernet.clone()).build()),
        ("native", "fernet_key")
    );
    assert_eq!(
        conflict(base().codec(Codec::json()).native(true).build()),
        ("codec", "native")
    );
    assert_eq!(
        conflict(
            base()
                .codec(Codec::json())
                .fernet_key(fernet.clone())
                .build()
        ),
        ("codec", "fernet_key")
    );
    assert_eq!(
        conflict(
            base()
                .codec(Codec::json())
                .sealing_keys(ring.clone())
                .build()
        ),
        ("codec", "sealing_keys")
    );
    assert_eq!(
        conflict(base().native(false).sealing_keys(ring.clone()).build()),
        ("native", "sealing_keys")
    );
    assert_eq!(
        conflict(base().store(MemoryStore::new()).build()),
        ("store", "store_url")
    );
    assert_eq!(
        conflict(
            TaskGlue::builder()
                .store(MemoryStore::new())
                .store_config(taskctx_worker_glue::StoreConfig::default())
                .build()
        ),
        ("store", "store_config")
    );
    assert!(matches!(
        base().refresh_margin(Duration::from_secs(5)).build(),
        Err(ConfigError::Requires {
            option: "refresh_margin",
            needs: "token_refresher"
        })
    ));
    // Consistent combinations build: a sealing ring that still reads Fernet (a migration).
    let migrating = base()
        .sealing_keys(ring)
        .fernet_key(fernet)
        .native(true)
        .build()
        .unwrap();
    assert_eq!(migrating.codec().form(), StoredForm::NativeSealed);
    assert_eq!(migrating.policy(), RestorePolicy::FailClosed);
    // Errors with a cause show it once, as their source.
    let error = base().queue_name("a{b}").build().unwrap_err();
    assert!(matches!(error, ConfigError::QueueName(_)), "{error:?}");
    let source = error
        .source()
        .expect("the key error is the source")
        .to_string();
    assert!(!error.to_string().contains(&source), "{error}");
    let error = TaskGlue::<(), ()>::builder()
        .store_url("bogus://x")
        .build()
        .unwrap_err();
    let source = error
        .source()
        .expect("the store error is the source")
        .to_string();
    assert!(!error.to_string().contains(&source), "{error}");
}

/// An application's own store: a memory store that counts every call.
#[derive(Debug, Clone, Default)]
struct CountingStore {
    inner: MemoryStore,
    saves: Arc<AtomicUsize>,
    loads: Arc<AtomicUsize>,
}

impl SnapshotStore for CountingStore {
    fn deployment(&self) -> Deployment {
        Deployment::Cluster
    }
    fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(entries, ttl)
    }
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            self.loads.fetch_add(1, Ordering::SeqCst);
            self.inner.load(key).await
        })
    }
    fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredValue>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_with_ttl(key)
    }
    fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize> {
        self.inner.refresh(keys, ttl)
    }
    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> {
        self.inner.delete(keys)
    }
}

/// An application's own codec: the reference's JSON behind a `custom:` prefix.
#[derive(Debug)]
struct PrefixedJson {
    encodes: Arc<AtomicUsize>,
}

const PREFIX: &[u8] = b"custom:";

impl SnapshotCodec for PrefixedJson {
    fn protected(&self) -> bool {
        false
    }
    fn form(&self) -> StoredForm {
        StoredForm::Json
    }
    fn encode(
        &self,
        snapshot: &TaskContextSnapshot,
        redis_key: &str,
    ) -> Result<Vec<u8>, EncodeError> {
        self.encodes.fetch_add(1, Ordering::SeqCst);
        let mut out = PREFIX.to_vec();
        out.extend(Codec::json().encode(snapshot, redis_key)?);
        Ok(out)
    }
    fn decode(&self, stored: &[u8], redis_key: &str) -> Result<TaskContextSnapshot, DecodeError> {
        let body = stored.strip_prefix(PREFIX).unwrap_or(b"not prefixed");
        Codec::json().decode(body, redis_key)
    }
}

#[test]
fn an_applications_own_store_and_codec_plug_into_the_builder() {
    runtime().block_on(async {
        let store = CountingStore::default();
        let encodes = Arc::new(AtomicUsize::new(0));
        let glue: TaskGlue = TaskGlue::builder()
            .store(store.clone())
            .codec(PrefixedJson {
                encodes: Arc::clone(&encodes),
            })
            .build()
            .unwrap();
        // The deployment comes from the store: a cluster puts the queue under a hash tag.
        assert_eq!(glue.keys().queue_prefix(), "{fastmcp}");
        let snapshot = caller("client-a", "user-1", "session-1");
        let submitted = glue.submit(submit(&snapshot, "T-custom")).await.unwrap();
        assert_eq!(store.saves.load(Ordering::SeqCst), 1);
        assert_eq!(encodes.load(Ordering::SeqCst), 1);
        let task = submitted.task();
        let stored = store
            .inner
            .load(&glue.keys().snapshot_key(task.scope(), task.task_id()))
            .await
            .unwrap()
            .unwrap();
        assert!(stored.starts_with(PREFIX));
        let loads_before = store.loads.load(Ordering::SeqCst);
        let seen = glue
            .run(submitted.execution_key(), async {
                (
                    access_token().map(|t| t.client_id().to_owned()),
                    headers().and_then(|h| h.get("x-request-id").map(str::to_owned)),
                )
            })
            .await
            .unwrap();
        assert_eq!(store.loads.load(Ordering::SeqCst), loads_before + 1);
        assert_eq!(seen.0.as_deref(), Some("client-a"));
        assert_eq!(seen.1.as_deref(), Some("req-client-a-user-1"));
        // The glue's store is the application's store.
        assert!(format!("{:?}", glue.store()).contains("CountingStore"));
    });
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A glue whose refresher answers with `answer` (called with the expiring token) and counts its
/// calls.
fn refreshing_glue(
    store: &str,
    policy: RestorePolicy,
    calls: &Arc<AtomicUsize>,
    answer: fn(&AccessToken) -> Result<AccessToken, String>,
) -> TaskGlue {
    let calls = Arc::clone(calls);
    TaskGlue::builder()
        .store_url(store)
        .restore_policy(policy)
        .token_refresher(move |request| {
            calls.fetch_add(1, Ordering::SeqCst);
            let answer = answer(request.token());
            async move { answer }
        })
        .refresh_margin(Duration::from_secs(300))
        .build()
        .unwrap()
}

fn fresh_token(client: &str, sub: &str) -> AccessToken {
    AccessToken::builder(format!("refreshed-token-of-{client}-{sub}"), client)
        .claim("sub", sub)
        .expires_at(unix_now() + 3600)
        .build()
}

#[test]
fn the_refresher_renews_an_expired_or_expiring_token_for_that_task_only() {
    runtime().block_on(async {
        let store = "memory://glue-api-refresh";
        let calls = Arc::new(AtomicUsize::new(0));
        let glue = refreshing_glue(store, RestorePolicy::FailClosed, &calls, |old| {
            assert!(old.token().starts_with("secret-token-of-"));
            Ok(fresh_token("client-a", "user-1"))
        });
        // Expired, and expiring within the margin: both refreshed before user code runs.
        for (task_id, expires_at) in [("T-expired", 1_000), ("T-expiring", unix_now() + 60)] {
            let snapshot = TaskContextSnapshot::builder()
                .access_token(token("client-a", "user-1", Some(expires_at)))
                .header("authorization", "Bearer secret-token-of-client-a-user-1")
                .header("x-request-id", "req-1")
                .build();
            let key = submit_key(&glue, &snapshot, task_id).await;
            let seen = glue
                .run(&key, async {
                    let context = current().unwrap();
                    let headers = headers().unwrap();
                    (
                        access_token().map(|t| t.token().to_owned()),
                        context.outcome(),
                        headers.get("authorization").is_none(),
                        headers.get("x-request-id").map(str::to_owned),
                    )
                })
                .await
                .unwrap();
            assert_eq!(
                seen.0.as_deref(),
                Some("refreshed-token-of-client-a-user-1"),
                "{task_id}"
            );
            assert_eq!(seen.1, RestoreOutcome::Refreshed);
            assert!(
                seen.2,
                "{task_id}: the old credential header is not handed out"
            );
            assert_eq!(seen.3.as_deref(), Some("req-1"));
            // Installed for that task only: the store still holds the old token.
            let again = glue.restore(&key).await.unwrap().unwrap().outcome();
            assert_eq!(
                again,
                RestoreOutcome::Refreshed,
                "refreshed again, not stored"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // A token valid beyond the margin is not refreshed.
        let snapshot = caller("client-a", "user-1", "session-1");
        let key = submit_key(&glue, &snapshot, "T-valid").await;
        let outcome = glue
            .run(&key, async { current().unwrap().outcome() })
            .await
            .unwrap();
        assert_eq!(outcome, RestoreOutcome::Restored);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn a_refused_or_foreign_refresh_fails_closed_and_degrades_open() {
    runtime().block_on(async {
        let store = "memory://glue-api-refresh-refused";
        let calls = Arc::new(AtomicUsize::new(0));
        let refusing = |policy| {
            refreshing_glue(store, policy, &calls, |_| {
                Err("refresh token revoked: secret-refresh-material".to_owned())
            })
        };
        let other_scope = |policy| {
            refreshing_glue(store, policy, &calls, |_| {
                Ok(fresh_token("client-a", "mallory"))
            })
        };
        let still_expired = |policy| {
            refreshing_glue(store, policy, &calls, |_| {
                Ok(AccessToken::builder("refreshed-but-expired", "client-a")
                    .claim("sub", "user-1")
                    .expires_at(1_000)
                    .build())
            })
        };
        let expired = TaskContextSnapshot::builder()
            .access_token(token("client-a", "user-1", Some(1_000)))
            .build();
        let expiring = TaskContextSnapshot::builder()
            .access_token(token("client-a", "user-1", Some(unix_now() + 60)))
            .build();
        let plain = glue(store, RestorePolicy::FailOpen);
        let expired_key = submit_key(&plain, &expired, "T-r-expired").await;
        let expiring_key = submit_key(&plain, &expiring, "T-r-expiring").await;

        type Check = fn(&RestoreError) -> bool;
        let glues: [(&str, TaskGlue, TaskGlue, Check); 3] = [
            (
                "refused",
                refusing(RestorePolicy::FailClosed),
                refusing(RestorePolicy::FailOpen),
                |e| matches!(e, RestoreError::Refresh { .. }),
            ),
            (
                "scope change",
                other_scope(RestorePolicy::FailClosed),
                other_scope(RestorePolicy::FailOpen),
                |e| matches!(e, RestoreError::RefreshedScopeMismatch { .. }),
            ),
            (
                "still expired",
                still_expired(RestorePolicy::FailClosed),
                still_expired(RestorePolicy::FailOpen),
                |e| matches!(e, RestoreError::RefreshedExpired { .. }),
            ),
        ];
        for (case, closed, open, check) in &glues {
            for key in [&expired_key, &expiring_key] {
                let ran = AtomicBool::new(false);
                let error = closed
                    .run(key, async { ran.store(true, Ordering::SeqCst) })
                    .await
                    .unwrap_err();
                assert!(check(&error), "{case}: {error:?}");
                assert!(!ran.load(Ordering::SeqCst), "{case}: user code ran");
                let shown = format!("{error} {error:?}");
                assert!(!shown.contains("secret-token"), "{case}: {shown}");
            }
            // FailOpen: an expired token is not installed; an expiring one stays installed.
            let seen = open
                .run(&expired_key, async {
                    (access_token().is_none(), current().unwrap().outcome())
                })
                .await
                .unwrap();
            assert_eq!(seen, (true, RestoreOutcome::ExpiredToken), "{case}");
            let seen = open
                .run(&expiring_key, async {
                    access_token().map(|t| t.token().to_owned())
                })
                .await
                .unwrap();
            assert_eq!(
                seen.as_deref(),
                Some("secret-token-of-client-a-user-1"),
                "{case}"
            );
        }
        // The refresher's error is the restore error's source, shown once.
        let error = glues[0].1.restore(&expired_key).await.unwrap_err();
        let source = error.source().unwrap().to_string();
        assert!(source.contains("revoked"), "{source}");
        assert!(!error.to_string().contains(&source), "{error}");
    });
}
