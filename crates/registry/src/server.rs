//! [`ServerRegistry`]: the server that owns each task's tool, by the task's key, held weakly in a
//! bounded least-recently-used map.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::lru::Lru;

/// The number of entries a [`ServerRegistry::new`] keeps: 10,000.
pub const DEFAULT_SERVER_CAPACITY: NonZeroUsize = match NonZeroUsize::new(10_000) {
    Some(capacity) => capacity,
    None => NonZeroUsize::MIN,
};

/// Task key → weak reference to the (possibly mounted, child) server that owns the task's tool,
/// shared by cheap clones.
///
/// `K` is the key a task is known by. Task ids are unique only within a scope, so the key must
/// carry the task's whole identity (scope and task id, for example); the registry hands an entry
/// out only for the exact key it was registered under (`K`'s `Eq`).
///
/// Bounded: it keeps at most [`capacity`](Self::capacity) entries (10,000 by default) and, when a
/// registration would exceed that, evicts the least recently *used* entry, where both
/// [`get`](Self::get) and re-[`register`](Self::register) count as a use. The order is one true
/// global order: the map is a single O(1) LRU (hash map plus a doubly linked list threaded through
/// a slab) behind one mutex, held only for a few pointer updates and never while user code runs.
///
/// The capacity is a [`NonZeroUsize`]: a registry that kept nothing would make every in-process
/// lookup miss, which is what using no registry at all does, so a capacity of 0 cannot be
/// expressed.
///
/// The registry holds only [`Weak`] references: it never keeps a server alive. An entry whose
/// server has gone is removed by the first [`get`](Self::get) that finds it, by
/// [`sweep`](Self::sweep), or by eviction. Memory is bounded by the capacity: the slab and the
/// index never hold more than that many entries.
///
/// Keys are hashed with the standard library's randomly keyed SipHash, so no choice of keys can
/// degrade the map.
///
/// `Debug` shows only the number of entries and the capacity.
pub struct ServerRegistry<K, S> {
    shared: Arc<Mutex<Lru<K, Weak<S>>>>,
}

impl<K: Hash + Eq + Clone, S> ServerRegistry<K, S> {
    /// An empty registry that keeps at most [`DEFAULT_SERVER_CAPACITY`] (10,000) entries.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_SERVER_CAPACITY)
    }

    /// An empty registry that keeps at most `capacity` entries. Allocates nothing until used.
    pub fn with_capacity(capacity: NonZeroUsize) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Lru::new(capacity))),
        }
    }

    /// Registers `server` as the owner of the task `key`, replacing any earlier registration of
    /// that key and marking it most recently used. When the registry is full, the least recently
    /// used entry is evicted.
    ///
    /// The registry keeps only a weak reference to `server`.
    pub fn register(&self, key: impl Into<K>, server: &Arc<S>) {
        let server = Arc::downgrade(server);
        let displaced = self.lock().insert(key.into(), server);
        drop(displaced);
    }

    /// The live server that owns the task `key`, if any, marking the entry most recently used. An
    /// entry whose server has gone is removed and `None` is returned. Does not allocate.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<S>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut lru = self.lock();
        let slot = lru.find(key)?;
        match lru.value(slot).and_then(Weak::upgrade) {
            Some(server) => {
                lru.touch(slot);
                Some(server)
            }
            None => {
                let removed = lru.remove_slot(slot);
                drop(lru);
                drop(removed);
                None
            }
        }
    }

    /// Removes the task `key`'s entry (for example when the task has finished), but only if it
    /// is still `server`'s: an entry a later registration replaced with another server stays.
    /// Returns whether it removed one.
    pub fn remove<Q>(&self, key: &Q, server: &Arc<S>) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut lru = self.lock();
        let Some(slot) = lru.find(key) else {
            return false;
        };
        let same = lru
            .value(slot)
            .is_some_and(|entry| std::ptr::eq(entry.as_ptr(), Arc::as_ptr(server)));
        if !same {
            return false;
        }
        let removed = lru.remove_slot(slot);
        drop(lru);
        removed.is_some()
    }

    /// Removes every entry whose server has gone, returning how many it removed.
    pub fn sweep(&self) -> usize {
        let removed = self
            .lock()
            .remove_unless(|server| server.strong_count() > 0);
        removed.len()
    }

    /// The number of entries, including any whose server has gone but that no lookup, sweep or
    /// eviction has removed yet. Never more than [`capacity`](Self::capacity).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries this registry keeps.
    pub fn capacity(&self) -> NonZeroUsize {
        self.lock().capacity()
    }

    /// The map, whether or not another thread panicked while holding it: no code that runs under
    /// the lock can leave the map half-updated (it only allocates, hashes strings and relinks
    /// nodes), so a poisoned lock still guards a consistent map.
    fn lock(&self) -> MutexGuard<'_, Lru<K, Weak<S>>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone, S> Default for ServerRegistry<K, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, S> Clone for ServerRegistry<K, S> {
    /// Another handle to the same registry.
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K: Hash + Eq + Clone, S> fmt::Debug for ServerRegistry<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lru = self.lock();
        f.debug_struct("ServerRegistry")
            .field("len", &lru.len())
            .field("capacity", &lru.capacity())
            .finish_non_exhaustive()
    }
}
