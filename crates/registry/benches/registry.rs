//! Lookups in warm registries of 1,024 live entries (32-hex-digit session ids, 43-character task
//! ids), on one thread and on two, against a `Mutex<HashMap<String, Weak<S>>>` baseline measured
//! in the same run; and the cost of one session registration and its removal.
//! Run with `cargo bench -p taskctx-registry`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark setup fails loudly on a broken assumption"
)]

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use divan::{Bencher, black_box};
use taskctx_registry::{ServerRegistry, SessionGuard, SessionRegistry};

fn main() {
    divan::main();
}

/// Entries in each warm map; a power of two so the next index is a mask.
const ENTRIES: usize = 1_024;

/// Stands in for a live session or server.
struct Live {
    _number: usize,
}

/// A session id shaped like the ones servers hand out (a UUID's 32 hex digits).
fn session_id(i: usize) -> String {
    format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

/// A task id shaped like the reference's (43 characters of url-safe base64).
fn task_id(i: usize) -> String {
    format!("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1a{i:08}")
}

/// The values and ids the maps are filled with; the values outlive every lookup.
struct Fixture {
    values: Vec<Arc<Live>>,
    ids: Vec<String>,
}

impl Fixture {
    fn new(id: fn(usize) -> String) -> Self {
        Self {
            values: (0..ENTRIES)
                .map(|i| Arc::new(Live { _number: i }))
                .collect(),
            ids: (0..ENTRIES).map(id).collect(),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&String, &Arc<Live>)> {
        self.ids.iter().zip(&self.values)
    }
}

/// The baseline: one mutex around a std hash map of weak references.
struct MutexMap {
    map: Mutex<HashMap<String, Weak<Live>>>,
}

impl MutexMap {
    fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.map.lock().unwrap().get(id).and_then(Weak::upgrade)
    }
}

// Lookups run in samples of 10,000 so that, with two threads, the threads' samples overlap (a
// short sample can finish before the other thread is even scheduled, which would hide contention).

thread_local! {
    /// Each benchmark thread walks the ids from its own starting point.
    static NEXT: Cell<usize> = Cell::new(START.fetch_add(ENTRIES / 2 + 7, Ordering::Relaxed));
}
static START: AtomicUsize = AtomicUsize::new(0);

/// The id this thread looks up next.
fn next_id(ids: &[String]) -> &str {
    NEXT.with(|next| {
        let at = next.get() & (ENTRIES - 1);
        next.set(at + 1);
        &ids[at]
    })
}

#[divan::bench(threads = [1, 2], sample_size = 10_000, sample_count = 100)]
fn session_get_hit(bencher: Bencher<'_, '_>) {
    let fixture = Fixture::new(session_id);
    let sessions = SessionRegistry::<Arc<str>, _>::new();
    let _guards: Vec<SessionGuard<Arc<str>, Live>> = fixture
        .entries()
        .map(|(id, value)| sessions.register(id.as_str(), value))
        .collect();
    bencher.bench(|| {
        let found = sessions.get(black_box(next_id(&fixture.ids)));
        assert!(found.is_some());
        found
    });
}

#[divan::bench(threads = [1, 2], sample_size = 10_000, sample_count = 100)]
fn mutex_hashmap_get_hit(bencher: Bencher<'_, '_>) {
    let fixture = Fixture::new(session_id);
    let baseline = MutexMap {
        map: Mutex::new(
            fixture
                .entries()
                .map(|(id, value)| (id.clone(), Arc::downgrade(value)))
                .collect(),
        ),
    };
    bencher.bench(|| {
        let found = baseline.get(black_box(next_id(&fixture.ids)));
        assert!(found.is_some());
        found
    });
}

#[divan::bench(threads = [1, 2], sample_size = 10_000, sample_count = 100)]
fn server_get_hit(bencher: Bencher<'_, '_>) {
    let fixture = Fixture::new(task_id);
    let servers = ServerRegistry::<Arc<str>, _>::new();
    for (id, value) in fixture.entries() {
        servers.register(id.as_str(), value);
    }
    bencher.bench(|| {
        let found = servers.get(black_box(next_id(&fixture.ids)));
        assert!(found.is_some());
        found
    });
}

#[divan::bench]
fn session_get_miss(bencher: Bencher<'_, '_>) {
    let fixture = Fixture::new(session_id);
    let sessions = SessionRegistry::<Arc<str>, _>::new();
    let _guards: Vec<SessionGuard<Arc<str>, Live>> = fixture
        .entries()
        .map(|(id, value)| sessions.register(id.as_str(), value))
        .collect();
    let absent = session_id(ENTRIES + 1);
    bencher.bench_local(|| sessions.get(black_box(absent.as_str())));
}

#[divan::bench]
fn session_register_and_drop_guard(bencher: Bencher<'_, '_>) {
    let fixture = Fixture::new(session_id);
    let sessions = SessionRegistry::<Arc<str>, _>::new();
    let value = Arc::new(Live { _number: 0 });
    bencher.bench_local(|| {
        let id: Arc<str> = Arc::from(next_id(&fixture.ids));
        drop(black_box(sessions.register(id, &value)));
    });
}

#[divan::bench]
fn server_register_evicting(bencher: Bencher<'_, '_>) {
    let fixture = Fixture::new(task_id);
    let servers = ServerRegistry::<Arc<str>, _>::with_capacity((ENTRIES / 2).try_into().unwrap());
    let value = Arc::new(Live { _number: 0 });
    bencher.bench_local(|| {
        let id: Arc<str> = Arc::from(next_id(&fixture.ids));
        servers.register(black_box(id), &value);
    });
}
