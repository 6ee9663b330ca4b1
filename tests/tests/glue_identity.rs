//! Identity is (scope, id): two callers whose tasks or sessions share an id never see each
//! other's owning server or live session, on one worker, interleaved; removing one's entry
//! leaves the other's; and a session stays registered exactly as long as its connection holds
//! the registration, whatever the caller does with submit's result.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use glue_common::{Server, Session, caller, scope, server, session, submit, submit_key, task_for};
use taskctx_worker_glue::{TaskContextSnapshot, TaskGlue, current};

type Glue = TaskGlue<Session, Server>;

fn glue(store: &str) -> Glue {
    TaskGlue::builder().store_url(store).build().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Two callers (scopes A and B) submit a task with the same id (`job-0`) and the same session
/// id, each with its own server and session; every run of either task, interleaved on one
/// worker, sees its own.
#[test]
fn tasks_of_two_scopes_sharing_an_id_each_see_their_own_server_and_session() {
    runtime().block_on(async {
        let glue = glue("memory://glue-identity");
        let alice = caller("client-a", "alice", "session-1");
        let bob = caller("client-b", "bob", "session-1");
        let (server_a, server_b) = (server("server-a"), server("server-b"));
        let (session_a, session_b) = (session("alice"), session("bob"));
        // The connection layer registers each connection's session for its caller's scope.
        let _registration_a =
            glue.sessions()
                .register(scope(&alice).as_ref(), "session-1", &session_a);
        let _registration_b =
            glue.sessions()
                .register(scope(&bob).as_ref(), "session-1", &session_b);
        // A submits first, B second: B's registration must not replace A's.
        let key_a = glue
            .submit(submit(&alice, "job-0").server(&server_a))
            .await
            .unwrap()
            .into_execution_key();
        let key_b = glue
            .submit(submit(&bob, "job-0").server(&server_b))
            .await
            .unwrap()
            .into_execution_key();
        assert_ne!(key_a, key_b);
        assert_eq!(glue.servers().len(), 2);

        let mut handles = Vec::new();
        for round in 0..200 {
            let (key, expected_server, expected_user) = if round % 2 == 0 {
                (key_a.clone(), "server-a", "alice")
            } else {
                (key_b.clone(), "server-b", "bob")
            };
            let glue = glue.clone();
            handles.push(tokio::spawn(async move {
                let inner = glue.clone();
                glue.run(&key, async move {
                    for _ in 0..3 {
                        let server = inner.owning_server().expect("the task's own server");
                        let session = inner.live_session().expect("the task's own session");
                        assert_eq!(server.name, expected_server, "round {round}");
                        assert_eq!(session.user, expected_user, "round {round}");
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

        // Removing A's entry leaves B's; removing with another server's handle removes nothing.
        let task_a = task_for(&alice, "job-0");
        let task_b = task_for(&bob, "job-0");
        assert!(!glue.servers().remove(&task_a, &server_b));
        assert!(glue.servers().remove(&task_a, &server_a));
        assert!(glue.servers().get(&task_a).is_none());
        assert_eq!(glue.servers().get(&task_b).unwrap().name, "server-b");
        let seen_b = glue
            .run(&key_b, async {
                glue.owning_server().map(|s| s.name.clone())
            })
            .await
            .unwrap();
        assert_eq!(seen_b.as_deref(), Some("server-b"));
        // A's task no longer has a registered server (no resolver, no root): none, not B's.
        let seen_a = glue
            .run(&key_a, async {
                glue.owning_server().map(|s| s.name.clone())
            })
            .await
            .unwrap();
        assert_eq!(seen_a, None);
    });
}

/// A session registered for one scope is never handed to a task of another scope whose snapshot
/// names the same session id, nor to an anonymous task.
#[test]
fn a_session_is_never_handed_to_another_scopes_task() {
    runtime().block_on(async {
        let glue = glue("memory://glue-session-scope");
        let alice = caller("client-a", "alice", "session-1");
        let mallory = caller("client-a", "mallory", "session-1");
        let anonymous = TaskContextSnapshot::builder()
            .session_id("session-1")
            .build();
        let session_a = session("alice");
        let _registration =
            glue.sessions()
                .register(scope(&alice).as_ref(), "session-1", &session_a);
        for (snapshot, expected) in [
            (&alice, Some("alice")),
            (&mallory, None),
            (&anonymous, None),
        ] {
            let key = submit_key(&glue, snapshot, "job-1").await;
            let seen = glue
                .run(&key, async { glue.live_session().map(|s| s.user.clone()) })
                .await
                .unwrap();
            assert_eq!(seen.as_deref(), expected, "{key}");
        }
    });
}

/// The registration belongs to the connection: dropping submit's result (or never binding it)
/// leaves the session registered; dropping the registration, or the session, ends it.
#[test]
fn the_session_lives_as_long_as_its_connection_not_submits_result() {
    runtime().block_on(async {
        let glue = glue("memory://glue-session-life");
        let alice = caller("client-a", "alice", "session-1");
        let live = session("alice");
        let registration = glue
            .sessions()
            .register(scope(&alice).as_ref(), "session-1", &live);
        // Only the execution key is kept; the rest of submit's result is dropped at once.
        let key = glue
            .submit(submit(&alice, "job-2"))
            .await
            .unwrap()
            .execution_key()
            .to_owned();
        let seen = glue
            .run(&key, async { glue.live_session().map(|s| s.user.clone()) })
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("alice"));
        assert!(registration.is_current());
        // A second registration of the same scope and id (a reconnect) replaces the first; the
        // old registration's drop does not remove the new one.
        let reconnected = session("alice-again");
        let newer = glue
            .sessions()
            .register(scope(&alice).as_ref(), "session-1", &reconnected);
        drop(registration);
        let seen = glue
            .run(&key, async { glue.live_session().map(|s| s.user.clone()) })
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("alice-again"));
        assert!(newer.unregister());
        let seen = glue
            .run(&key, async { glue.live_session().is_none() })
            .await
            .unwrap();
        assert!(seen);
        assert!(glue.sessions().is_empty());
    });
}

/// A context is served only by the glue that restored it: another glue (another queue, its
/// own registries) finds neither session nor server for it.
#[test]
fn another_glue_never_serves_a_context_it_did_not_restore() {
    runtime().block_on(async {
        let first = glue("memory://glue-two-glues");
        let second = glue("memory://glue-two-glues");
        let alice = caller("client-a", "alice", "session-1");
        let live = session("alice");
        let owner = server("owner");
        let _in_first = first
            .sessions()
            .register(scope(&alice).as_ref(), "session-1", &live);
        let _in_second = second
            .sessions()
            .register(scope(&alice).as_ref(), "session-1", &live);
        let key = first
            .submit(submit(&alice, "job-3").server(&owner))
            .await
            .unwrap()
            .into_execution_key();
        let seen = first
            .run(&key, async {
                let context = current().unwrap();
                (
                    first.live_session_of(&context).is_some(),
                    first.owning_server_of(&context).is_some(),
                    second.live_session_of(&context).is_none(),
                    second.owning_server_of(&context).is_none(),
                )
            })
            .await
            .unwrap();
        assert_eq!(seen, (true, true, true, true));
    });
}
