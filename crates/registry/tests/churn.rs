//! A million sessions come and go (and a million task registrations pass through a bounded
//! server registry): afterwards nothing is left and the maps' memory stayed bounded throughout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread;

use taskctx_registry::{ServerRegistry, SessionGuard, SessionRegistry};

const TOTAL: usize = 1_000_000;
const THREADS: usize = 2;
/// Sessions each thread keeps open at once.
const OPEN_PER_THREAD: usize = 64;
/// The most slots the session map may ever have: far below what a million entries would need,
/// so a map that kept dead or removed entries would fail this.
const CAPACITY_BOUND: usize = 8_192;

struct Session {
    _serial: usize,
}

#[test]
fn a_million_sessions_come_and_go_leaving_nothing_behind() {
    let sessions = SessionRegistry::<String, _>::new();
    thread::scope(|scope| {
        for thread in 0..THREADS {
            let sessions = sessions.clone();
            scope.spawn(move || {
                let mut open: VecDeque<(Arc<Session>, SessionGuard<String, Session>)> =
                    VecDeque::with_capacity(OPEN_PER_THREAD + 1);
                let mut id = String::new();
                for serial in (thread..TOTAL).step_by(THREADS) {
                    id.clear();
                    write!(id, "{serial:x}").unwrap();
                    let session = Arc::new(Session { _serial: serial });
                    let guard = sessions.register(id.as_str(), &session);
                    open.push_back((session, guard));
                    if open.len() > OPEN_PER_THREAD {
                        let (session, guard) = open.pop_front().unwrap();
                        // Alternate which goes first: the session, or its connection's guard.
                        if serial % 2 == 0 {
                            drop(session);
                            drop(guard);
                        } else {
                            drop(guard);
                            drop(session);
                        }
                    }
                    if serial % 65_536 < THREADS {
                        let capacity = sessions.capacity();
                        assert!(capacity <= CAPACITY_BOUND, "capacity grew to {capacity}");
                    }
                }
            });
        }
    });
    assert_eq!(sessions.len(), 0);
    assert_eq!(sessions.sweep(), 0);
    let capacity = sessions.capacity();
    assert!(capacity <= CAPACITY_BOUND, "capacity grew to {capacity}");
    sessions.shrink_to_fit();
    assert!(sessions.capacity() <= capacity);
}

#[test]
fn a_million_dead_sessions_are_swept_and_their_memory_returned() {
    // Here the guards outlive their sessions, so the entries stay until a sweep.
    let sessions = SessionRegistry::<String, _>::new();
    let mut guards = Vec::with_capacity(TOTAL / 10);
    let mut high_water = 0;
    for round in 0..10 {
        for serial in 0..TOTAL / 10 {
            let session = Arc::new(Session { _serial: serial });
            guards.push(sessions.register(format!("{round}-{serial:x}"), &session));
        }
        // Every session is gone already; the sweep removes all their entries.
        assert_eq!(sessions.len(), TOTAL / 10);
        assert_eq!(sessions.sweep(), TOTAL / 10);
        assert!(sessions.is_empty());
        high_water = high_water.max(sessions.capacity());
        guards.clear();
    }
    sessions.shrink_to_fit();
    let after = sessions.capacity();
    assert!(
        after < high_water / 100,
        "capacity {after} after shrinking from {high_water}"
    );
}

#[test]
fn a_million_task_registrations_keep_the_server_registry_bounded() {
    const CAPACITY: usize = 1_000;
    let servers = ServerRegistry::<String, _>::with_capacity(NonZeroUsize::new(CAPACITY).unwrap());
    let server = Arc::new(Session { _serial: 0 });
    thread::scope(|scope| {
        for thread in 0..THREADS {
            let servers = servers.clone();
            let server = Arc::clone(&server);
            scope.spawn(move || {
                for serial in (thread..TOTAL).step_by(THREADS) {
                    servers.register(format!("{serial:x}"), &server);
                    if serial % 4_096 < THREADS {
                        assert!(servers.len() <= CAPACITY);
                    }
                }
            });
        }
    });
    assert_eq!(servers.len(), CAPACITY);
    drop(server);
    assert_eq!(servers.sweep(), CAPACITY);
    assert!(servers.is_empty());
}
