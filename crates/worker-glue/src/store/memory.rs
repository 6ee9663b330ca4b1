//! The in-process store behind `memory://`: a map guarded by a mutex, with TTLs.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use super::{Deployment, SnapshotStore, StoreFuture, StoredValue, Ttl};
use crate::records::{TaskRecord, TaskRecordStore};

/// Expired entries are purged once the writes since the last purge reach the number of stored
/// entries, and at least this many (reads drop expired entries they meet): a purge visits every
/// entry, so this keeps its cost at O(1) per write however large the store grows.
const PURGE_EVERY_WRITES: usize = 1024;

/// An in-process [`SnapshotStore`]: the default for `memory://` URLs, for a server and its workers
/// running in one process, and for tests.
///
/// TTLs are honoured: an expired key reads as missing (it is dropped on read) and expired keys are
/// purged every 1024 writes, or every N writes once the store holds N > 1024 keys. Clones share
/// one map.
///
/// [`MemoryStore::shared`] returns the process-wide store of a name, which is what
/// `open("memory://name")` does, so every worker of the process that opens the same URL sees the
/// same keys. Named stores live until the process exits. [`MemoryStore::new`] makes a private one.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    name: Option<String>,
    map: Mutex<Map>,
    /// Wakes the callers waiting for a job when one is pushed.
    job_pushed: tokio::sync::Notify,
}

#[derive(Default)]
pub(crate) struct Map {
    pub(crate) entries: HashMap<String, Entry>,
    /// Task records ([`TaskRecordStore`](crate::records::TaskRecordStore)), by record key.
    pub(crate) records: HashMap<String, StoredRecord>,
    /// Each scope's unfinished tasks (by the scope's unfinished key): task id to expiry.
    pub(crate) unfinished: HashMap<String, HashMap<String, Option<Instant>>>,
    /// Job lists ([`TaskRecordStore::next_job`]), by key: entries in the order pushed.
    pub(crate) jobs: HashMap<String, VecDeque<String>>,
    writes_since_purge: usize,
}

pub(crate) struct Entry {
    pub(crate) value: Vec<u8>,
    /// `None`: never expires (a TTL too far ahead for the clock).
    pub(crate) expires_at: Option<Instant>,
}

/// A task record with the keys of its snapshot entries (whose TTL slides with it).
pub(crate) struct StoredRecord {
    pub(crate) record: TaskRecord,
    pub(crate) snapshot_keys: Vec<String>,
    pub(crate) expires_at: Option<Instant>,
}

pub(crate) fn is_live(expires_at: Option<Instant>, now: Instant) -> bool {
    expires_at.is_none_or(|at| at > now)
}

pub(crate) fn expiry(now: Instant, ttl: Ttl) -> Option<Instant> {
    now.checked_add(ttl.as_duration())
}

impl Map {
    /// The live entry under `key`, dropping it when expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self
            .entries
            .get(key)
            .is_some_and(|entry| !is_live(entry.expires_at, now))
        {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// The live record under `key`, dropping it when expired.
    pub(crate) fn live_record(&mut self, key: &str, now: Instant) -> Option<&mut StoredRecord> {
        if self
            .records
            .get(key)
            .is_some_and(|stored| !is_live(stored.expires_at, now))
        {
            self.records.remove(key);
        }
        self.records.get_mut(key)
    }

    /// Counts a write and purges expired entries once the writes since the last purge reach
    /// the number of entries (at least [`PURGE_EVERY_WRITES`]).
    pub(crate) fn note_write(&mut self, now: Instant) {
        self.writes_since_purge = self.writes_since_purge.saturating_add(1);
        let stored = self.entries.len().saturating_add(self.records.len());
        if self.writes_since_purge >= stored.max(PURGE_EVERY_WRITES) {
            self.writes_since_purge = 0;
            self.entries
                .retain(|_, entry| is_live(entry.expires_at, now));
            self.records
                .retain(|_, stored| is_live(stored.expires_at, now));
            self.unfinished.retain(|_, tasks| {
                tasks.retain(|_, expires_at| is_live(*expires_at, now));
                !tasks.is_empty()
            });
        }
    }
}

impl MemoryStore {
    /// A new, empty store that only its clones share.
    #[must_use]
    pub fn new() -> Self {
        Self::with_name(None)
    }

    /// The process-wide store called `name`, created empty on first use. `memory://name` opens
    /// this store; `memory://` opens `shared("")`.
    #[must_use]
    pub fn shared(name: &str) -> Self {
        static SHARED: OnceLock<Mutex<HashMap<String, MemoryStore>>> = OnceLock::new();
        let mut stores = SHARED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        stores
            .entry(name.to_owned())
            .or_insert_with(|| Self::with_name(Some(name.to_owned())))
            .clone()
    }

    fn with_name(name: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                map: Mutex::default(),
                job_pushed: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The name given to [`MemoryStore::shared`], or `None` for a private store.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// How many keys are stored and not yet expired.
    #[must_use]
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let map = self.map();
        map.entries
            .values()
            .filter(|entry| is_live(entry.expires_at, now))
            .count()
    }

    /// Whether no key is stored (or all have expired).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `self` and `other` are the same store (clones, or the same shared name).
    #[must_use]
    pub fn same_store(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Wakes the callers waiting for a job when one is pushed.
    pub(crate) fn job_pushed(&self) -> &tokio::sync::Notify {
        &self.inner.job_pushed
    }

    /// The map; no code that holds it can panic midway through an update (no indexing, no
    /// unwrapping), so a poisoned lock is still used.
    pub(crate) fn map(&self) -> MutexGuard<'_, Map> {
        self.inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl SnapshotStore for MemoryStore {
    fn deployment(&self) -> Deployment {
        Deployment::Standalone
    }

    fn task_records(self: Arc<Self>) -> Option<Arc<dyn TaskRecordStore>> {
        Some(self)
    }

    fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            let expires_at = expiry(now, ttl);
            let mut map = self.map();
            for &(key, value) in entries {
                let value = value.to_vec();
                map.entries
                    .insert(key.to_owned(), Entry { value, expires_at });
            }
            map.note_write(now);
            Ok(())
        })
    }

    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut map = self.map();
            Ok(map
                .live(key, Instant::now())
                .map(|entry| entry.value.clone()))
        })
    }

    fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredValue>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut map = self.map();
            Ok(map.live(key, now).map(|entry| {
                let ttl = entry.expires_at.map(|at| at.saturating_duration_since(now));
                StoredValue::new(entry.value.clone(), ttl)
            }))
        })
    }

    fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let now = Instant::now();
            let expires_at = expiry(now, ttl);
            let mut map = self.map();
            let mut refreshed = 0_usize;
            for key in keys {
                if let Some(entry) = map.live(key, now) {
                    entry.expires_at = expires_at;
                    refreshed = refreshed.saturating_add(1);
                }
            }
            Ok(refreshed)
        })
    }

    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let now = Instant::now();
            let mut map = self.map();
            let deleted = keys
                .iter()
                .filter(|key| {
                    map.entries
                        .remove(**key)
                        .is_some_and(|entry| is_live(entry.expires_at, now))
                })
                .count();
            map.note_write(now);
            Ok(deleted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    fn ttl(secs: u64) -> Ttl {
        Ttl::from_secs(secs).unwrap_or_else(|| unreachable!("a valid TTL"))
    }

    fn stored_entries(store: &MemoryStore) -> usize {
        store.map().entries.len()
    }

    #[tokio::test]
    async fn expired_entries_are_purged_by_later_writes() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        let expired: Vec<String> = (0..10).map(|n| format!("short:{n}")).collect();
        for key in &expired {
            store.save(&[(key, b"v".as_slice())], ttl(1)).await?;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(stored_entries(&store), 10, "nothing read them yet");
        // Enough writes to reach a purge, all to one other key.
        for _ in 0..PURGE_EVERY_WRITES {
            store.save(&[("live", b"v".as_slice())], ttl(60)).await?;
        }
        assert_eq!(stored_entries(&store), 1, "only the live key is kept");
        Ok(())
    }

    #[tokio::test]
    async fn a_large_store_purges_less_often() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        let count = PURGE_EVERY_WRITES * 2;
        for n in 0..count {
            let key = format!("short:{n}");
            store.save(&[(&key, b"v".as_slice())], ttl(1)).await?;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        // The first purge came at 1024 writes, when nothing had expired; the next is due once the
        // writes reach the 2048 entries.
        for _ in 0..PURGE_EVERY_WRITES {
            store.save(&[("live", b"v".as_slice())], ttl(60)).await?;
        }
        assert_eq!(stored_entries(&store), count + 1, "not yet due");
        for _ in 0..count {
            store.save(&[("live", b"v".as_slice())], ttl(60)).await?;
        }
        assert_eq!(stored_entries(&store), 1, "purged once due");
        Ok(())
    }

    #[tokio::test]
    async fn reading_an_expired_key_drops_it() -> Result<(), StoreError> {
        let store = MemoryStore::new();
        store.save(&[("k", b"v".as_slice())], ttl(1)).await?;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(store.load("k").await?, None);
        assert_eq!(stored_entries(&store), 0);
        Ok(())
    }
}
