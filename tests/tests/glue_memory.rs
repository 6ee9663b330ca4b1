//! Submit → run through `memory://` stores: what the worker sees, task-local isolation under load,
//! child tasks, owning-server resolution, and the FailOpen / FailClosed matrix.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use glue_common::{
    Server, Session, caller, runtime, scope, scope_text, server, session, submit, submit_key,
    task_for, token,
};
use taskctx_worker_glue::{
    Codec, DecodeError, FernetKey, KeyRing, KeySpace, KeySuffix, Leg, RedisStore, RestoreError,
    RestoreOutcome, RestorePolicy, SealingKey, StoreConfig, SubmitError, TaskContextSnapshot,
    TaskGlue, TaskId, Ttl, access_token, current, current_task, headers, key_ttl, session_id,
    spawn_with_context, trace_context, with_current,
};

type Glue = TaskGlue<Session, Server>;

fn glue(store: &str) -> Glue {
    TaskGlue::builder().store_url(store).build().unwrap()
}

#[test]
fn worker_sees_the_submitters_context() {
    runtime().block_on(async {
        let glue = glue("memory://glue-e2e");
        let live = session("alice");
        let owner = server("weather");
        let snapshot = caller("client-a", "user-1", "session-1");
        let task = task_for(&snapshot, "T-e2e");
        // The connection layer registers the session once, for its caller's scope.
        let registration = glue
            .sessions()
            .register(scope(&snapshot).as_ref(), "session-1", &live);
        let submitted = glue
            .submit(
                submit(&snapshot, "T-e2e")
                    .leg(Leg::new(3))
                    .server(&owner)
                    .extra(KeySuffix::Args, b"[1,2]")
                    .extra(KeySuffix::CreatedAt, b"1700000000"),
            )
            .await
            .unwrap();
        assert_eq!(submitted.execution_key(), task.execution_key(Leg::new(3)));
        assert_eq!(submitted.task(), task);
        assert_eq!(submitted.leg(), Leg::new(3));
        let shown = format!("{submitted:?} {registration:?} {:?}", glue.sessions());
        assert!(shown.contains("T-e2e"), "{shown}");
        for hidden in ["client-a", "user-1", "session-1"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }

        // One write: snapshot and extras share the TTL (execution 900 s + 900 s).
        let keys = KeySpace::default();
        let args_key = format!(
            "{}:args",
            keys.task_key(task.scope(), task.task_id(), KeySuffix::Meta)
        );
        let created = keys.task_key(task.scope(), task.task_id(), KeySuffix::CreatedAt);
        assert_eq!(
            glue.store().load(&created).await.unwrap().as_deref(),
            Some(b"1700000000".as_slice())
        );
        let args = glue
            .store()
            .load_with_ttl(&args_key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(args.value, b"[1,2]");
        assert!(args.ttl.unwrap().as_secs() > 1790, "{:?}", args.ttl);
        let snapshot_key = keys.snapshot_key(task.scope(), task.task_id());
        let stored = glue.store().load(&snapshot_key).await.unwrap().unwrap();
        assert_eq!(stored.first(), Some(&b'{'), "JSON form by default");

        let seen = glue
            .run(submitted.execution_key(), async {
                let (key, leg) = current_task().unwrap();
                let token = access_token().unwrap();
                let headers = headers().unwrap();
                (
                    key.task_id().to_string(),
                    key.scope().map(|scope| scope.to_str().into_owned()),
                    leg,
                    token.client_id().to_owned(),
                    token.token().to_owned(),
                    headers.get("x-request-id").map(str::to_owned),
                    session_id().map(|id| id.to_string()),
                    trace_context().unwrap().traceparent,
                    glue.live_session().map(|s| s.user.clone()),
                    glue.owning_server().map(|s| s.name.clone()),
                    current().unwrap().outcome(),
                )
            })
            .await
            .unwrap();
        assert_eq!(seen.0, "T-e2e");
        assert_eq!(seen.1, Some(scope_text("client-a", "user-1")));
        assert_eq!(seen.2, Leg::new(3));
        assert_eq!(seen.3, "client-a");
        assert_eq!(seen.4, "secret-token-of-client-a-user-1");
        assert_eq!(seen.5.as_deref(), Some("req-client-a-user-1"));
        assert_eq!(seen.6.as_deref(), Some("session-1"));
        assert_eq!(
            seen.7.as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(seen.8.as_deref(), Some("alice"));
        assert_eq!(seen.9.as_deref(), Some("weather"));
        assert_eq!(seen.10, RestoreOutcome::Restored);

        // The session goes: the worker no longer finds it; the registration's drop removes the
        // entry.
        drop(live);
        let after = glue
            .run(submitted.execution_key(), async {
                (
                    glue.live_session().is_none(),
                    session_id().as_deref().map(str::to_owned),
                )
            })
            .await
            .unwrap();
        assert_eq!(after, (true, Some("session-1".to_owned())));
        drop(registration);
        assert!(glue.sessions().is_empty());
        // Debug shows neither the token nor the caller's headers.
        let restored = glue.restore(&task.to_key()).await.unwrap().unwrap();
        let debug = format!("{restored:?} {glue:?}");
        assert!(!debug.contains("secret-token"), "{debug}");
    });
}

#[test]
fn nothing_outside_a_task() {
    assert!(current().is_none());
    assert!(current_task().is_none());
    assert!(access_token().is_none());
    assert!(session_id().is_none());
    assert!(headers().is_none());
    assert!(trace_context().is_none());
    assert!(with_current(|_| ()).is_none());
    let glue = glue("memory://glue-not-a-key");
    assert!(glue.live_session().is_none());
    assert!(glue.owning_server().is_none());
    runtime().block_on(async {
        assert!(current().is_none());
        // A key without the task tag runs the future with no context (FailOpen and FailClosed
        // alike); so does a malformed task key under FailOpen.
        for key in [
            "",
            "job-42",
            "authx:T1",
            "auth:x",
            "anon:T1:tool:c#leg1",
            "anon:T1:tool:c:extra",
        ] {
            assert_eq!(
                glue.restore(key).await.unwrap().map(|c| c.outcome()),
                None,
                "{key}"
            );
            let ran = glue.run(key, async { current().is_none() }).await.unwrap();
            assert!(ran, "{key}");
        }
    });
}

#[test]
fn one_thousand_interleaved_tasks_each_see_only_their_caller() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let glue = glue("memory://glue-isolation");
        let mut keys = Vec::new();
        for index in 0..1000_usize {
            let (client, user) = (
                format!("client-{}", index % 10),
                format!("user-{}", index % 100 / 10),
            );
            let snapshot = caller(&client, &user, &format!("session-{}", index % 100));
            let task = format!("T{index}");
            let submitted = glue.submit(submit(&snapshot, &task)).await.unwrap();
            keys.push((submitted.into_execution_key(), client, user, index));
        }
        let mut handles = Vec::new();
        for (key, client, user, index) in keys {
            let glue = glue.clone();
            handles.push(tokio::spawn(async move {
                glue.run(&key, async move {
                    for round in 0..5 {
                        let token = access_token().unwrap();
                        assert_eq!(token.client_id(), client, "task {index} round {round}");
                        assert_eq!(
                            token.sub_claim().and_then(|sub| sub.as_str()),
                            Some(user.as_str())
                        );
                        assert_eq!(
                            session_id().as_deref(),
                            Some(format!("session-{}", index % 100).as_str())
                        );
                        let (task, _) = current_task().unwrap();
                        assert_eq!(task.task_id().as_str(), format!("T{index}"));
                        assert_eq!(
                            task.scope().map(|scope| scope.to_str().into_owned()),
                            Some(scope_text(&client, &user))
                        );
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .unwrap();
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
}

#[test]
fn anonymous_after_authenticated_sees_no_identity() {
    runtime().block_on(async {
        let glue = glue("memory://glue-anon-after");
        let authenticated = caller("client-a", "user-1", "session-1");
        let auth_key = submit_key(&glue, &authenticated, "T-auth").await;
        let anonymous = TaskContextSnapshot::new();
        let anon_key = submit_key(&glue, &anonymous, "T-anon").await;
        assert!(anon_key.starts_with("anon:"));
        assert!(
            glue.run(&auth_key, async { access_token().is_some() })
                .await
                .unwrap()
        );
        let seen = glue
            .run(&anon_key, async {
                (
                    access_token().is_none(),
                    session_id().is_none(),
                    headers().is_none(),
                    current_task().is_some(),
                )
            })
            .await
            .unwrap();
        assert_eq!(seen, (true, true, true, true));
        // A task run inside another task's scope sees its own context, not the outer one.
        let nested = glue
            .run(
                &auth_key,
                glue.run(&anon_key, async { access_token().is_none() }),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(nested);
        let nested_non_task = glue
            .run(
                &auth_key,
                glue.run("not-a-task", async { current().is_none() }),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(nested_non_task);
    });
}

#[test]
fn child_tasks_keep_the_context_only_through_spawn_with_context() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let glue = glue("memory://glue-children");
        let snapshot = caller("client-a", "user-1", "session-1");
        let key = submit_key(&glue, &snapshot, "T-child").await;
        let (with, plain) = glue
            .run(&key, async {
                let with = spawn_with_context(async { session_id() }).await.unwrap();
                let plain = tokio::spawn(async { session_id() }).await.unwrap();
                (with, plain)
            })
            .await
            .unwrap();
        assert_eq!(with.as_deref(), Some("session-1"));
        assert_eq!(plain, None);
        // Synchronous code on the task sees it too.
        fn sync_reader() -> Option<String> {
            session_id().map(|id| id.to_string())
        }
        let sync = glue.run(&key, async { sync_reader() }).await.unwrap();
        assert_eq!(sync.as_deref(), Some("session-1"));
    });
}

#[test]
fn owning_server_from_registry_then_resolver_then_root() {
    runtime().block_on(async {
        let root = server("root");
        let mounted = server("weather-v2");
        let resolver_server = Arc::clone(&mounted);
        let sessions = taskctx_worker_glue::Sessions::new();
        let connection = session("bob");
        let snapshot = caller("client-a", "user-1", "session-1");
        let _registration = sessions.register(scope(&snapshot).as_ref(), "session-1", &connection);
        let glue: Glue = TaskGlue::builder()
            .store_url("memory://glue-owners")
            .sessions(sessions)
            .server_resolver(move |name, version| {
                (name == "weather" && version == Some("2")).then(|| Arc::clone(&resolver_server))
            })
            .root_server(Arc::clone(&root))
            .build()
            .unwrap();
        // Without a registered server: the resolver finds it from the tool name and version.
        let submitted = glue.submit(submit(&snapshot, "T-owner")).await.unwrap();
        let found = glue
            .run(submitted.execution_key(), async {
                (
                    glue.owning_server().map(|s| s.name.clone()),
                    glue.live_session().map(|s| s.user.clone()),
                )
            })
            .await
            .unwrap();
        assert_eq!(found, (Some("weather-v2".into()), Some("bob".into())));
        assert!(
            glue.servers().get(&submitted.task()).is_some(),
            "resolved server is registered for the task's scope and id"
        );
        // An unknown tool: the root server.
        let other = TaskContextSnapshot::builder()
            .access_token(token("client-a", "user-1", None))
            .owning_tool_name("unknown")
            .build();
        let key = submit_key(&glue, &other, "T-root").await;
        let name = glue
            .run(&key, async { glue.owning_server().map(|s| s.name.clone()) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("root"));
    });
}

#[test]
fn ttl_and_configuration() {
    assert_eq!(key_ttl(0), Ttl::from_secs(900));
    assert_eq!(key_ttl(900), Ttl::from_secs(1800));
    assert_eq!(key_ttl(u64::MAX), None);
    let glue = glue("memory://glue-config");
    assert_eq!(glue.ttl().secs(), 1800);
    assert_eq!(glue.policy(), RestorePolicy::FailOpen);
    assert_eq!(glue.keys().queue_prefix(), "fastmcp");
    let zero: Glue = TaskGlue::builder()
        .store_url("memory://glue-config")
        .execution_ttl_secs(0)
        .build()
        .unwrap();
    assert_eq!(zero.ttl().secs(), 900);
    let encrypted: Glue = TaskGlue::builder()
        .store_url("memory://glue-config")
        .fernet_key(FernetKey::from_bytes([1; 32]))
        .build()
        .unwrap();
    assert_eq!(encrypted.policy(), RestorePolicy::FailClosed);
    let cluster: Glue = TaskGlue::builder()
        .store(
            RedisStore::open_with(
                "redis+cluster://127.0.0.1:1,127.0.0.1:2",
                &StoreConfig::default(),
            )
            .unwrap(),
        )
        .queue_name("docket")
        .build()
        .unwrap();
    assert_eq!(cluster.keys().queue_prefix(), "{docket}");
    assert!(TaskGlue::<(), ()>::builder().build().is_err());
    assert!(
        TaskGlue::<(), ()>::builder()
            .store_url("memory://x")
            .queue_name("a{b}")
            .build()
            .is_err()
    );
    let error = TaskGlue::<(), ()>::builder()
        .store_url("redis://:hunter2@127.0.0.1:1/0?bogus")
        .build();
    if let Err(error) = error {
        assert!(!error.to_string().contains("hunter2"));
    }
}

#[test]
fn submit_refuses_a_token_without_a_scope() {
    runtime().block_on(async {
        let glue = glue("memory://glue-submit-scope");
        let bad = TaskContextSnapshot::builder()
            .access_token(token("client|a", "alice", None))
            .build();
        let error = glue.submit(submit(&bad, "T1")).await.unwrap_err();
        assert!(matches!(error, SubmitError::Scope(_)), "{error}");
        let source = std::error::Error::source(&error).expect("the key error is the source");
        assert!(!error.to_string().contains(&source.to_string()), "{error}");
        assert!(
            glue.store()
                .load(&glue.keys().snapshot_key(None, &TaskId::new("T1").unwrap()))
                .await
                .unwrap()
                .is_none()
        );
    });
}

/// What a FailOpen and a FailClosed worker do with one broken situation.
async fn check_matrix(
    case: &str,
    open: &Glue,
    closed: &Glue,
    key: &str,
    open_outcome: RestoreOutcome,
    closed_error: fn(&RestoreError) -> bool,
) {
    let ran = AtomicBool::new(false);
    let seen = open
        .run(key, async {
            ran.store(true, Ordering::SeqCst);
            (
                access_token().is_none(),
                current().map(|c| c.outcome()),
                current_task().is_some(),
            )
        })
        .await
        .unwrap_or_else(|error| panic!("{case}: FailOpen refused: {error}"));
    assert!(ran.swap(false, Ordering::SeqCst));
    assert_eq!(seen, (true, Some(open_outcome), true), "{case}");
    let result = closed
        .run(key, async {
            ran.store(true, Ordering::SeqCst);
        })
        .await;
    let error = result.expect_err(case);
    assert!(closed_error(&error), "{case}: {error:?}");
    assert!(
        !ran.load(Ordering::SeqCst),
        "{case}: the task ran under FailClosed"
    );
    let message = error.to_string();
    assert!(!message.contains("secret-token"), "{case}: {message}");
}

fn with_codec(store: &str, codec: Codec, policy: RestorePolicy) -> Glue {
    TaskGlue::builder()
        .store_url(store)
        .codec(codec)
        .restore_policy(policy)
        .build()
        .unwrap()
}

#[test]
fn fail_open_and_fail_closed_matrix() {
    runtime().block_on(async {
        let store = "memory://glue-matrix";
        let plain_open = with_codec(store, Codec::json(), RestorePolicy::FailOpen);
        let plain_closed = with_codec(store, Codec::json(), RestorePolicy::FailClosed);
        let key_a = FernetKey::from_bytes([1; 32]);
        let key_b = FernetKey::from_bytes([2; 32]);
        let fernet_a = |policy| with_codec(store, Codec::json_fernet(key_a.clone()), policy);
        let fernet_b = |policy| with_codec(store, Codec::json_fernet(key_b.clone()), policy);
        let ring = KeyRing::new(SealingKey::new("k1", [7; 32]).unwrap());
        let sealed = |policy| with_codec(store, Codec::native_sealed(ring.clone()), policy);
        let snapshot = caller("client-a", "user-1", "session-1");

        // Missing.
        let missing = task_for(&snapshot, "T-missing").to_key();
        check_matrix(
            "missing",
            &plain_open,
            &plain_closed,
            &missing,
            RestoreOutcome::Missing,
            |e| matches!(e, RestoreError::Missing { .. }),
        )
        .await;

        // Corrupt bytes.
        let corrupt = task_for(&snapshot, "T-corrupt");
        let snapshot_key = plain_open
            .keys()
            .snapshot_key(corrupt.scope(), corrupt.task_id());
        plain_open
            .store()
            .save(
                &[(&snapshot_key, b"{\"access_token_json\": 7".as_slice())],
                Ttl::from_secs(60).unwrap(),
            )
            .await
            .unwrap();
        check_matrix(
            "corrupt",
            &plain_open,
            &plain_closed,
            &corrupt.to_key(),
            RestoreOutcome::Undecodable,
            |e| matches!(e, RestoreError::Decode(_)),
        )
        .await;

        // Written under key A, read with key B.
        let written = fernet_a(RestorePolicy::FailClosed)
            .submit(submit(&snapshot, "T-fernet"))
            .await
            .unwrap()
            .into_execution_key();
        check_matrix(
            "wrong key",
            &fernet_b(RestorePolicy::FailOpen),
            &fernet_b(RestorePolicy::FailClosed),
            &written,
            RestoreOutcome::Undecodable,
            |e| matches!(e, RestoreError::Decode(_)),
        )
        .await;
        // The right key reads it.
        let client = fernet_a(RestorePolicy::FailClosed)
            .run(&written, async {
                access_token().map(|t| t.client_id().to_owned())
            })
            .await
            .unwrap();
        assert_eq!(client.as_deref(), Some("client-a"));

        // A keyless reader given ciphertext (Fernet and sealed).
        check_matrix(
            "keyless/fernet",
            &plain_open,
            &plain_closed,
            &written,
            RestoreOutcome::Undecodable,
            |e| matches!(e, RestoreError::Decode(DecodeError::MissingKey { .. })),
        )
        .await;
        let sealed_key = sealed(RestorePolicy::FailClosed)
            .submit(submit(&snapshot, "T-sealed"))
            .await
            .unwrap()
            .into_execution_key();
        check_matrix(
            "keyless/sealed",
            &plain_open,
            &plain_closed,
            &sealed_key,
            RestoreOutcome::Undecodable,
            |e| matches!(e, RestoreError::Decode(DecodeError::MissingKey { .. })),
        )
        .await;

        // Plaintext read by a keyed reader.
        let plain_key = submit_key(&plain_open, &snapshot, "T-plain").await;
        check_matrix(
            "plaintext under key",
            &fernet_a(RestorePolicy::FailOpen),
            &fernet_a(RestorePolicy::FailClosed),
            &plain_key,
            RestoreOutcome::Undecodable,
            |e| matches!(e, RestoreError::Decode(DecodeError::Plaintext { .. })),
        )
        .await;

        // A sealed value copied onto another task's key does not open there.
        let moved = task_for(&snapshot, "T-moved");
        let from = plain_open
            .keys()
            .snapshot_key(moved.scope(), &TaskId::new("T-sealed").unwrap());
        let value = plain_open.store().load(&from).await.unwrap().unwrap();
        let to = plain_open
            .keys()
            .snapshot_key(moved.scope(), moved.task_id());
        plain_open
            .store()
            .save(&[(&to, &value)], Ttl::from_secs(60).unwrap())
            .await
            .unwrap();
        check_matrix(
            "sealed value moved",
            &sealed(RestorePolicy::FailOpen),
            &sealed(RestorePolicy::FailClosed),
            &moved.to_key(),
            RestoreOutcome::Undecodable,
            |e| matches!(e, RestoreError::Decode(_)),
        )
        .await;

        // A snapshot of another caller under this task's key (a forged plaintext value).
        let other = caller("client-a", "mallory", "session-9");
        let forged = task_for(&snapshot, "T-forged");
        let forged_key = plain_open
            .keys()
            .snapshot_key(forged.scope(), forged.task_id());
        let bytes = taskctx_snapshot::json::to_json(&other);
        plain_open
            .store()
            .save(
                &[(&forged_key, bytes.as_bytes())],
                Ttl::from_secs(60).unwrap(),
            )
            .await
            .unwrap();
        check_matrix(
            "scope mismatch",
            &plain_open,
            &plain_closed,
            &forged.to_key(),
            RestoreOutcome::ScopeMismatch,
            |e| matches!(e, RestoreError::ScopeMismatch { .. }),
        )
        .await;

        // An expired token: never installed; FailClosed refuses, FailOpen keeps the rest.
        let expired = TaskContextSnapshot::builder()
            .access_token(token("client-a", "user-1", Some(1_000)))
            .session_id("session-exp")
            .build();
        let expired_key = submit_key(&plain_open, &expired, "T-expired").await;
        check_matrix(
            "expired",
            &plain_open,
            &plain_closed,
            &expired_key,
            RestoreOutcome::ExpiredToken,
            |e| matches!(e, RestoreError::ExpiredToken { .. }),
        )
        .await;
        let kept = plain_open
            .run(&expired_key, async {
                session_id().map(|id| id.to_string())
            })
            .await
            .unwrap();
        assert_eq!(kept.as_deref(), Some("session-exp"));
        // A token that has not expired yet is installed.
        let fresh = TaskContextSnapshot::builder()
            .access_token(token("client-a", "user-1", Some(i64::MAX)))
            .build();
        let fresh_key = submit_key(&plain_closed, &fresh, "T-fresh").await;
        assert!(
            plain_closed
                .run(&fresh_key, async { access_token().is_some() })
                .await
                .unwrap()
        );
    });
}
