//! Both registries under concurrent registration, lookup, guard drops and session drops from
//! several threads: no lost entries, no stale entries, no entry handed out under another id, and
//! the races between an old registration's removal and a newer registration always keep the newer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::num::NonZeroUsize;
use std::sync::{Arc, Barrier};
use std::thread;

use taskctx_registry::{ServerRegistry, SessionRegistry};

/// A live value that knows the id it was registered under.
#[derive(Debug)]
struct Tagged {
    id: String,
}

fn tagged(id: &str) -> Arc<Tagged> {
    Arc::new(Tagged { id: id.to_owned() })
}

/// Rounds of each two-thread race; each round lines both threads up on a barrier.
const RACE_ROUNDS: usize = 3_000;

/// Runs `rounds` rounds of `first` and `second` started together, then `check` once both are done.
fn race<Ctx: Sync>(
    rounds: usize,
    setup: impl Fn(usize) -> Ctx + Sync,
    first: impl Fn(&Ctx) + Sync,
    second: impl Fn(&Ctx) + Sync,
    check: impl Fn(Ctx) + Sync,
) {
    let start = Barrier::new(2);
    let done = Barrier::new(2);
    let mut contexts: Vec<Ctx> = (0..rounds).map(&setup).collect();
    let shared: &[Ctx] = &contexts;
    thread::scope(|scope| {
        scope.spawn(|| {
            for ctx in shared {
                start.wait();
                second(ctx);
                done.wait();
            }
        });
        for ctx in shared {
            start.wait();
            first(ctx);
            done.wait();
        }
    });
    for ctx in contexts.drain(..) {
        check(ctx);
    }
}

#[test]
fn old_guard_drop_racing_a_new_registration_keeps_the_new_one() {
    let sessions = SessionRegistry::<String, _>::new();
    let newest = tagged("id");
    race(
        RACE_ROUNDS,
        |round| {
            let id = format!("id-{round}");
            let old = tagged(&id);
            let old_guard = std::sync::Mutex::new(Some(sessions.register(id.as_str(), &old)));
            let new_guard = std::sync::Mutex::new(None);
            (id, old, old_guard, new_guard)
        },
        // The old connection closes...
        |(_, _, old_guard, _)| drop(old_guard.lock().unwrap().take()),
        // ...while a new one registers under the same id.
        |(id, _, _, new_guard)| {
            *new_guard.lock().unwrap() = Some(sessions.register(id.as_str(), &newest));
        },
        |(id, _, _, new_guard)| {
            let found = sessions
                .get(&id)
                .expect("the newer registration was removed");
            assert!(Arc::ptr_eq(&found, &newest));
            drop(new_guard);
            assert!(sessions.get(&id).is_none());
        },
    );
    assert!(sessions.is_empty());
}

#[test]
fn dead_entry_removal_racing_a_new_registration_keeps_the_new_one() {
    let sessions = SessionRegistry::<String, _>::new();
    let newest = tagged("id");
    race(
        RACE_ROUNDS,
        |round| {
            let id = format!("id-{round}");
            let gone = tagged(&id);
            let old_guard = sessions.register(id.as_str(), &gone);
            drop(gone);
            let new_guard = std::sync::Mutex::new(None);
            (id, old_guard, new_guard)
        },
        // A lookup (odd rounds) or a sweep (even rounds) finds the dead entry...
        |(id, _, _)| {
            let round_is_odd = id.bytes().last().is_some_and(|digit| digit % 2 == 1);
            if round_is_odd {
                assert!(
                    sessions
                        .get(id)
                        .is_none_or(|found| Arc::ptr_eq(&found, &newest))
                );
            } else {
                sessions.sweep();
            }
        },
        // ...while a live session registers under the same id.
        |(id, _, new_guard)| {
            *new_guard.lock().unwrap() = Some(sessions.register(id.as_str(), &newest));
        },
        |(id, old_guard, new_guard)| {
            let found = sessions
                .get(&id)
                .expect("the live registration was removed");
            assert!(Arc::ptr_eq(&found, &newest));
            drop(old_guard);
            assert!(sessions.get(&id).is_some());
            drop(new_guard);
            assert!(sessions.get(&id).is_none());
        },
    );
    assert!(sessions.is_empty());
}

/// Threads that each own some ids and share others, registering, looking up, dropping guards and
/// dropping sessions in every order.
#[test]
fn many_threads_register_get_and_drop_without_lost_or_stale_entries() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 4_000;
    const SHARED_IDS: usize = 8;
    let sessions = SessionRegistry::<String, _>::new();
    thread::scope(|scope| {
        for thread in 0..THREADS {
            let sessions = sessions.clone();
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    // An id only this thread uses: always found while its guard and session live.
                    let own_id = format!("own-{thread}-{}", round % 16);
                    let own = tagged(&own_id);
                    let own_guard = sessions.register(own_id.as_str(), &own);

                    // An id every thread uses: whatever is found was registered under it.
                    let shared_id = format!("shared-{}", (round + thread) % SHARED_IDS);
                    let shared = tagged(&shared_id);
                    let shared_guard = sessions.register(shared_id.as_str(), &shared);
                    if let Some(found) = sessions.get(&shared_id) {
                        assert_eq!(found.id, shared_id, "handed another id's session");
                    }

                    let found = sessions.get(&own_id).expect("a live registration was lost");
                    assert!(Arc::ptr_eq(&found, &own));
                    drop(found);

                    match round % 4 {
                        // The connection closes first.
                        0 => {
                            drop(own_guard);
                            drop(own);
                        }
                        // The session goes first; a lookup clears the entry.
                        1 => {
                            drop(own);
                            assert!(
                                sessions.get(&own_id).is_none(),
                                "a dead session was returned"
                            );
                            drop(own_guard);
                        }
                        // The session goes first; a sweep clears the entry.
                        2 => {
                            drop(own);
                            sessions.sweep();
                            assert!(
                                sessions.get(&own_id).is_none(),
                                "a dead entry survived a sweep"
                            );
                            drop(own_guard);
                        }
                        // The session goes first, then its guard.
                        _ => {
                            drop(own);
                            drop(own_guard);
                            assert!(sessions.get(&own_id).is_none());
                        }
                    }
                    if round % 3 == 0 {
                        drop(shared);
                        drop(shared_guard);
                    } else {
                        drop(shared_guard);
                        drop(shared);
                    }
                }
            });
        }
        // A reader that only looks things up and sweeps, alongside the writers.
        let sessions = sessions.clone();
        scope.spawn(move || {
            for round in 0..ROUNDS {
                let id = format!("shared-{}", round % SHARED_IDS);
                if let Some(found) = sessions.get(&id) {
                    assert_eq!(found.id, id);
                }
                if round % 64 == 0 {
                    sessions.sweep();
                }
            }
        });
    });
    // Every guard is gone, so every entry is gone: none was left behind by a lost removal.
    assert_eq!(sessions.len(), 0);
    assert_eq!(sessions.sweep(), 0);
}

#[test]
fn server_registry_under_concurrent_use_stays_bounded_and_exact() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 5_000;
    const CAPACITY: usize = 64;
    let servers = ServerRegistry::<String, _>::with_capacity(NonZeroUsize::new(CAPACITY).unwrap());
    thread::scope(|scope| {
        for thread in 0..THREADS {
            let servers = servers.clone();
            scope.spawn(move || {
                let mut kept = Vec::new();
                for round in 0..ROUNDS {
                    let id = format!("task-{}", (round * 7 + thread * 13) % 200);
                    let server = tagged(&id);
                    servers.register(id.as_str(), &server);
                    if let Some(found) = servers.get(&id) {
                        assert_eq!(found.id, id, "handed another task's server");
                    }
                    let other = format!("task-{}", (round * 11 + thread) % 200);
                    if let Some(found) = servers.get(&other) {
                        assert_eq!(found.id, other, "handed another task's server");
                    }
                    assert!(servers.len() <= CAPACITY);
                    match round % 3 {
                        0 => kept.push(server),
                        1 => {
                            servers.remove(&id, &server);
                        }
                        _ => drop(server),
                    }
                    if kept.len() > 32 {
                        kept.clear();
                        servers.sweep();
                    }
                }
            });
        }
    });
    assert!(servers.len() <= CAPACITY);
    // Every server has gone, so a sweep empties the registry.
    servers.sweep();
    assert!(servers.is_empty());
}
