//! `SessionRegistry` behaviour on one thread: weak holding, guard-owned removal, identity of
//! registrations, sweeping, and what `Debug` shows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::sync::{Arc, Mutex};

use taskctx_registry::{SessionGuard, SessionRegistry};

#[derive(Debug)]
struct Session {
    id: &'static str,
}

fn session(id: &'static str) -> Arc<Session> {
    Arc::new(Session { id })
}

#[test]
fn get_finds_the_registered_session_while_it_lives() {
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let guard = sessions.register("alice", &alice);
    let found = sessions.get("alice").unwrap();
    assert!(Arc::ptr_eq(&found, &alice));
    assert_eq!(guard.id(), "alice");
    assert!(guard.is_current());
    assert!(sessions.get("bob").is_none());
    assert!(sessions.get("alic").is_none());
    assert!(sessions.get("alice ").is_none());
    assert!(sessions.get("").is_none());
    assert_eq!(sessions.len(), 1);
    drop(guard);
}

#[test]
fn registry_never_keeps_a_session_alive() {
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let guard = sessions.register("alice", &alice);
    assert_eq!(Arc::strong_count(&alice), 1);
    let weak = Arc::downgrade(&alice);
    drop(alice);
    assert!(
        weak.upgrade().is_none(),
        "the session was freed while registered"
    );
    // The entry is still there (its guard lives), dead, until a lookup finds it.
    assert_eq!(sessions.len(), 1);
    assert!(sessions.get("alice").is_none());
    assert_eq!(sessions.len(), 0);
    assert!(!guard.is_current());
    assert!(
        !guard.unregister(),
        "the lookup already removed the dead entry"
    );
}

#[test]
fn sweep_removes_only_dead_entries() {
    let sessions = SessionRegistry::<String, _>::new();
    let live = session("live");
    let dead = session("dead");
    let other_dead = session("other-dead");
    let _live_guard = sessions.register("live", &live);
    let _dead_guard = sessions.register("dead", &dead);
    let _other_dead_guard = sessions.register("other-dead", &other_dead);
    drop(dead);
    drop(other_dead);
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.sweep(), 2);
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions.sweep(), 0);
    assert!(Arc::ptr_eq(&sessions.get("live").unwrap(), &live));
}

#[test]
fn dropping_the_guard_removes_the_entry() {
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let guard = sessions.register("alice", &alice);
    drop(guard);
    assert!(sessions.is_empty());
    assert!(sessions.get("alice").is_none());
    // The session itself is untouched.
    assert_eq!(alice.id, "alice");
}

#[test]
fn unregister_reports_whether_it_removed() {
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let guard = sessions.register("alice", &alice);
    assert!(guard.unregister());
    assert!(sessions.is_empty());
}

#[test]
fn an_old_guard_never_removes_a_newer_registration() {
    let sessions = SessionRegistry::<String, _>::new();
    let first = session("first");
    let second = session("second");
    let old_guard = sessions.register("same-id", &first);
    let new_guard = sessions.register("same-id", &second);
    assert!(!old_guard.is_current());
    assert!(new_guard.is_current());
    assert_eq!(sessions.len(), 1);

    drop(old_guard);
    assert!(Arc::ptr_eq(&sessions.get("same-id").unwrap(), &second));

    drop(new_guard);
    assert!(sessions.get("same-id").is_none());
}

#[test]
fn the_same_session_registered_twice_is_two_registrations() {
    // Pointer identity alone could not tell these apart; generations do.
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let first = sessions.register("alice", &alice);
    let second = sessions.register("alice", &alice);
    assert!(!first.unregister());
    assert!(Arc::ptr_eq(&sessions.get("alice").unwrap(), &alice));
    assert!(second.unregister());
    assert!(sessions.is_empty());
}

#[test]
fn a_dead_lookup_never_removes_a_newer_live_registration() {
    let sessions = SessionRegistry::<String, _>::new();
    let first = session("first");
    let _first_guard = sessions.register("id", &first);
    drop(first);
    let second = session("second");
    let _second_guard = sessions.register("id", &second);
    assert_eq!(sessions.sweep(), 0);
    assert!(Arc::ptr_eq(&sessions.get("id").unwrap(), &second));
}

#[test]
fn re_registering_after_the_old_session_died_is_found() {
    let sessions = SessionRegistry::<String, _>::new();
    let first = session("first");
    let old_guard = sessions.register("id", &first);
    drop(first);
    // The allocation of `first` may be reused for `second`; identity is by registration.
    let second = session("second");
    let new_guard = sessions.register("id", &second);
    drop(old_guard);
    assert!(Arc::ptr_eq(&sessions.get("id").unwrap(), &second));
    drop(new_guard);
    assert!(sessions.is_empty());
}

#[test]
fn ids_of_every_owned_form_and_lookup_by_str() {
    let sessions = SessionRegistry::<String, _>::new();
    let a = session("a");
    let from_str = sessions.register("s1", &a);
    let from_string = sessions.register(String::from("s2"), &a);
    let from_arc = sessions.register(Box::<str>::from("s3"), &a);
    let key = String::from("s2");
    assert!(sessions.get(&key).is_some());
    assert!(sessions.get("s1").is_some());
    assert!(sessions.get("s3").is_some());
    assert_eq!(sessions.len(), 3);
    drop((from_str, from_string, from_arc));
    assert!(sessions.is_empty());
}

#[test]
fn clones_share_one_registry() {
    let sessions = SessionRegistry::<String, _>::new();
    let other_handle = sessions.clone();
    let alice = session("alice");
    let guard = sessions.register("alice", &alice);
    assert!(other_handle.get("alice").is_some());
    drop(sessions);
    assert!(guard.is_current());
    drop(guard);
    assert!(other_handle.is_empty());
}

#[test]
fn a_guard_outliving_its_registry_is_harmless() {
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let guard = sessions.register("alice", &alice);
    drop(sessions);
    assert!(!guard.is_current());
    assert!(!guard.unregister());
}

/// A session that owns its own registration, as a connection object would.
#[derive(Debug)]
struct SelfRegistered {
    guard: Mutex<Option<SessionGuard<String, SelfRegistered>>>,
}

#[test]
fn a_session_may_own_its_guard_and_drop_it_in_its_own_drop() {
    let sessions = SessionRegistry::<String, _>::new();
    let connection = Arc::new(SelfRegistered {
        guard: Mutex::new(None),
    });
    let guard = sessions.register("conn", &connection);
    *connection.guard.lock().unwrap() = Some(guard);
    assert!(sessions.get("conn").is_some());
    // The registry does not keep it alive, so dropping the last handle runs its Drop, which
    // drops the guard, which removes the entry.
    drop(connection);
    assert!(sessions.is_empty());
}

#[test]
fn debug_shows_counts_not_ids() {
    let sessions = SessionRegistry::<String, _>::new();
    let secret = session("secret");
    let guard = sessions.register("secret-session-id-123", &secret);
    let registry_debug = format!("{sessions:?}");
    let guard_debug = format!("{guard:?}");
    assert!(registry_debug.contains("len: 1"), "{registry_debug}");
    for shown in [&registry_debug, &guard_debug] {
        assert!(!shown.contains("secret"), "{shown}");
    }
}

#[test]
fn shrink_to_fit_returns_memory_after_a_burst() {
    let sessions = SessionRegistry::<String, _>::new();
    let alice = session("alice");
    let guards: Vec<_> = (0..20_000)
        .map(|i| sessions.register(format!("burst-{i}"), &alice))
        .collect();
    let grown = sessions.capacity();
    assert!(grown >= 20_000);
    drop(guards);
    assert!(sessions.is_empty());
    sessions.shrink_to_fit();
    assert!(
        sessions.capacity() < grown / 10,
        "capacity {} after shrinking from {grown}",
        sessions.capacity()
    );
}

#[test]
fn registries_and_guards_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SessionRegistry<String, Session>>();
    assert_send_sync::<SessionGuard<String, Session>>();
}

/// A session key as the glue uses it: the scope the session serves and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionIdentity {
    scope: Option<&'static str>,
    id: &'static str,
}

#[test]
fn sessions_of_two_scopes_sharing_an_id_are_never_mixed() {
    let sessions = SessionRegistry::<SessionIdentity, Session>::new();
    let a = SessionIdentity {
        scope: Some("client-a|user-1"),
        id: "session-1",
    };
    let b = SessionIdentity {
        scope: Some("client-b|user-2"),
        id: "session-1",
    };
    let (session_a, session_b) = (session("a"), session("b"));
    let guard_a = sessions.register(a.clone(), &session_a);
    let guard_b = sessions.register(b.clone(), &session_b);
    assert!(Arc::ptr_eq(&sessions.get(&a).unwrap(), &session_a));
    assert!(Arc::ptr_eq(&sessions.get(&b).unwrap(), &session_b));
    assert!(
        sessions
            .get(&SessionIdentity {
                scope: None,
                id: "session-1"
            })
            .is_none()
    );
    // One scope's guard removes only its own entry.
    drop(guard_a);
    assert!(sessions.get(&a).is_none());
    assert!(Arc::ptr_eq(&sessions.get(&b).unwrap(), &session_b));
    drop(guard_b);
    assert!(sessions.is_empty());
}
