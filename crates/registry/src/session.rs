//! [`SessionRegistry`]: live sessions by key, held weakly, each entry owned by the
//! [`SessionGuard`] that registered it.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use dashmap::DashMap;

/// Session key → weak reference to the live session, shared by cheap clones.
///
/// `K` is the key a session is known by. Session ids are unique only within a scope, so the key
/// should carry the scope the session was opened for alongside its id; the registry hands an
/// entry out only for the exact key it was registered under (`K`'s `Eq`).
///
/// [`register`](Self::register) returns a [`SessionGuard`]; dropping the guard removes the entry,
/// but only if the entry is still the one that guard registered. Each registration takes a fresh
/// 64-bit generation from a per-registry counter, and removal compares generations under the
/// map's shard lock, so a guard (or a lookup that found a dead entry) never removes a newer
/// registration under the same key, however the threads interleave. Generations are never reused
/// (wrapping would take centuries at a billion registrations a second), so there is no ABA.
///
/// The registry holds only [`Weak`] references: it never keeps a session alive. An entry whose
/// session has gone is removed by its guard, by the first [`get`](Self::get) that finds it, or by
/// [`sweep`](Self::sweep).
///
/// No user code runs while a shard lock is held: the registry only creates `Arc<S>` (upgrading) and
/// drops `Weak<S>`, never drops an `Arc<S>`, so `S`'s `Drop` may itself drop a guard or call the
/// registry.
///
/// Keys are hashed with the standard library's randomly keyed SipHash, so no choice of keys can
/// degrade the map; the map is split into at least 64 independently locked shards.
///
/// `Debug` shows only the number of entries: session keys can be sensitive.
pub struct SessionRegistry<K, S> {
    shared: Arc<Shared<K, S>>,
}

/// The state shared by a registry's clones; guards hold it weakly.
struct Shared<K, S> {
    sessions: DashMap<K, Entry<S>>,
    next_generation: AtomicU64,
}

/// One registration: the session, and which registration this is.
struct Entry<S> {
    session: Weak<S>,
    generation: u64,
}

impl<K: Hash + Eq, S> Shared<K, S> {
    /// Removes `id`'s entry if it is still registration `generation`. Returns whether it did.
    fn remove_registration<Q>(&self, id: &Q, generation: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // The removed entry is returned out of the shard lock and dropped after it is released.
        self.sessions
            .remove_if(id, |_, entry| entry.generation == generation)
            .is_some()
    }
}

/// How many independently locked shards the session map has: at least 64, so that two threads
/// looking up different sessions rarely touch the same shard lock, and 4 per available CPU beyond
/// that, up to 1,024. A power of two, as the map requires.
fn shard_amount() -> usize {
    const MIN_SHARDS: usize = 64;
    const MAX_SHARDS: usize = 1_024;
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .saturating_mul(4)
        .clamp(MIN_SHARDS, MAX_SHARDS)
        .next_power_of_two()
}

impl<K: Hash + Eq + Clone, S> SessionRegistry<K, S> {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                sessions: DashMap::with_shard_amount(shard_amount()),
                next_generation: AtomicU64::new(0),
            }),
        }
    }

    /// Registers `session` under `id`, replacing any earlier registration of that key, and
    /// returns the guard that owns the entry. Keep the guard as long as the session should be
    /// found (for example in the connection that serves the session); dropping it removes the
    /// entry.
    ///
    /// The registry keeps only a weak reference to `session`.
    pub fn register(&self, id: impl Into<K>, session: &Arc<S>) -> SessionGuard<K, S> {
        let id = id.into();
        let generation = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
        let replaced = self.shared.sessions.insert(
            id.clone(),
            Entry {
                session: Arc::downgrade(session),
                generation,
            },
        );
        drop(replaced);
        SessionGuard {
            registry: Arc::downgrade(&self.shared),
            id,
            generation,
        }
    }

    /// The live session registered under `id`, if any. An entry whose session has gone is removed
    /// (only if it is still that same entry) and `None` is returned. Does not allocate.
    pub fn get<Q>(&self, id: &Q) -> Option<Arc<S>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (session, generation) = {
            let entry = self.shared.sessions.get(id)?;
            (entry.session.upgrade(), entry.generation)
        };
        if session.is_none() {
            self.shared.remove_registration(id, generation);
        }
        session
    }

    /// Removes every entry whose session has gone, returning how many it removed.
    pub fn sweep(&self) -> usize {
        let mut removed = 0_usize;
        self.shared.sessions.retain(|_, entry| {
            let alive = entry.session.strong_count() > 0;
            if !alive {
                removed = removed.saturating_add(1);
            }
            alive
        });
        removed
    }

    /// The number of entries, including any whose session has gone but that no guard, lookup or
    /// sweep has removed yet.
    pub fn len(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.shared.sessions.is_empty()
    }

    /// How many entries the map can hold before it next allocates.
    pub fn capacity(&self) -> usize {
        self.shared.sessions.capacity()
    }

    /// Releases memory the map no longer needs, for example after a burst of sessions has gone.
    pub fn shrink_to_fit(&self) {
        self.shared.sessions.shrink_to_fit();
    }
}

impl<K: Hash + Eq + Clone, S> Default for SessionRegistry<K, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, S> Clone for SessionRegistry<K, S> {
    /// Another handle to the same registry.
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: Hash + Eq + Clone, S> fmt::Debug for SessionRegistry<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRegistry")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Owns one registration in a [`SessionRegistry`]; dropping it removes that registration, unless
/// a newer registration has replaced it since.
///
/// The guard holds the registry weakly and the session not at all: it keeps neither alive.
/// `Debug` shows neither the id nor the session.
#[must_use = "dropping the guard unregisters the session at once"]
pub struct SessionGuard<K: Hash + Eq, S> {
    registry: Weak<Shared<K, S>>,
    id: K,
    generation: u64,
}

impl<K: Hash + Eq, S> SessionGuard<K, S> {
    /// The key this guard registered.
    pub fn id(&self) -> &K {
        &self.id
    }

    /// Whether the registry still holds this guard's registration (not replaced, not removed, and
    /// the registry still exists).
    pub fn is_current(&self) -> bool {
        self.registry.upgrade().is_some_and(|shared| {
            shared
                .sessions
                .get(&self.id)
                .is_some_and(|entry| entry.generation == self.generation)
        })
    }

    /// Removes this guard's registration now, returning whether it was still there to remove.
    /// Dropping the guard does the same.
    pub fn unregister(mut self) -> bool {
        self.release()
    }

    fn release(&mut self) -> bool {
        std::mem::take(&mut self.registry)
            .upgrade()
            .is_some_and(|shared| shared.remove_registration(&self.id, self.generation))
    }
}

impl<K: Hash + Eq, S> Drop for SessionGuard<K, S> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<K: Hash + Eq, S> fmt::Debug for SessionGuard<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionGuard")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}
