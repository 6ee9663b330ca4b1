//! The in-process store behind `memory://`: a map guarded by a mutex, with TTLs.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use super::{Deployment, SnapshotStore, StoreError, StoredValue, Ttl};

/// Expired entries are purged once the writes since the last purge reach the number of stored
/// entries, and at least this many (reads drop expired entries they meet): a purge visits every
/// entry, so this keeps its cost at O(1) per write however large the store grows.
const PURGE_EVERY_WRITES: u32 = 1024;

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
    entries: Mutex<Entries>,
    writes_since_purge: AtomicU32,
}

struct Entry {
    /// Shared, so that the glue reads it without copying it.
    value: Arc<Vec<u8>>,
    /// `None`: never expires (a TTL too far ahead for the clock).
    expires_at: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

fn expiry(now: Instant, ttl: Ttl) -> Option<Instant> {
    now.checked_add(ttl.as_duration())
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
                entries: Mutex::default(),
                writes_since_purge: AtomicU32::new(0),
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
        self.entries().count(|entry| entry.is_live(now))
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

    /// The map; a panic elsewhere while it was held cannot leave it half-written (every update is
    /// a single insert or remove), so a poisoned lock is still used.
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a write and purges expired entries once the writes since the last purge reach
    /// the number of entries (at least [`PURGE_EVERY_WRITES`]).
    fn note_write(&self, entries: &mut Entries, now: Instant) {
        let writes = self
            .inner
            .writes_since_purge
            .fetch_add(1, Ordering::Relaxed);
        let every = u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .max(PURGE_EVERY_WRITES);
        if writes.saturating_add(1) >= every {
            self.inner.writes_since_purge.store(0, Ordering::Relaxed);
            entries.retain(|entry| entry.is_live(now));
        }
    }

    /// Saves one key as [`SnapshotStore::save`] does, keeping `key` and `value` themselves rather
    /// than copies.
    pub(crate) fn save_owned(&self, key: String, value: Vec<u8>, ttl: Ttl) {
        let now = Instant::now();
        let expires_at = expiry(now, ttl);
        let mut map = self.entries();
        let hash = map.hash(&key);
        map.insert(
            hash,
            key,
            Entry {
                value: Arc::new(value),
                expires_at,
            },
        );
        self.note_write(&mut map, now);
    }

    /// The value under `key` as [`SnapshotStore::load`] reads it, shared rather than copied.
    pub(crate) fn load_shared(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        let now = Instant::now();
        let mut map = self.entries();
        let hash = map.hash(key);
        match map.get(hash, key) {
            Some(entry) if entry.is_live(now) => return Some(Arc::clone(&entry.value)),
            None => return None,
            Some(_) => {}
        }
        map.remove(hash, key);
        None
    }

    /// The live entry under `key`, dropping it when expired.
    fn live<'map>(entries: &'map mut Entries, key: &str, now: Instant) -> Option<&'map mut Entry> {
        let hash = entries.hash(key);
        if entries
            .get(hash, key)
            .is_some_and(|entry| !entry.is_live(now))
        {
            entries.remove(hash, key);
        }
        entries.get_mut(hash, key)
    }
}

/// The stored entries, by the SipHash of their key (with this map's own random keys), computed
/// once per call: growing the map moves entries without hashing their keys again.
struct Entries {
    map: HashMap<u64, Slot, BuildHasherDefault<HashIsKey>>,
    keys: RandomState,
}

/// The entries whose keys share one hash: almost always one.
enum Slot {
    One(String, Entry),
    Many(Vec<(String, Entry)>),
}

/// Hashes a `u64` key to itself (it is already a SipHash).
#[derive(Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; other input is still folded in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Default for Entries {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            keys: RandomState::new(),
        }
    }
}

impl Entries {
    fn hash(&self, key: &str) -> u64 {
        self.keys.hash_one(key)
    }

    fn get(&self, hash: u64, key: &str) -> Option<&Entry> {
        match self.map.get(&hash)? {
            Slot::One(stored, entry) => (stored == key).then_some(entry),
            Slot::Many(entries) => entries
                .iter()
                .find_map(|(stored, entry)| (stored == key).then_some(entry)),
        }
    }

    fn get_mut(&mut self, hash: u64, key: &str) -> Option<&mut Entry> {
        match self.map.get_mut(&hash)? {
            Slot::One(stored, entry) => (stored == key).then_some(entry),
            Slot::Many(entries) => entries
                .iter_mut()
                .find_map(|(stored, entry)| (stored == key).then_some(entry)),
        }
    }

    fn insert(&mut self, hash: u64, key: String, entry: Entry) {
        use std::collections::hash_map::Entry as MapEntry;
        match self.map.entry(hash) {
            MapEntry::Vacant(vacant) => {
                vacant.insert(Slot::One(key, entry));
            }
            MapEntry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                match slot {
                    Slot::One(stored, old) if *stored == key => *old = entry,
                    Slot::One(..) => {
                        let Slot::One(stored, old) =
                            std::mem::replace(slot, Slot::Many(Vec::with_capacity(2)))
                        else {
                            return;
                        };
                        *slot = Slot::Many(vec![(stored, old), (key, entry)]);
                    }
                    Slot::Many(entries) => {
                        match entries.iter_mut().find(|(stored, _)| *stored == key) {
                            Some((_, old)) => *old = entry,
                            None => entries.push((key, entry)),
                        }
                    }
                }
            }
        }
    }

    fn remove(&mut self, hash: u64, key: &str) -> Option<Entry> {
        let slot = self.map.get_mut(&hash)?;
        match slot {
            Slot::One(stored, _) if stored == key => match self.map.remove(&hash) {
                Some(Slot::One(_, entry)) => Some(entry),
                _ => None,
            },
            Slot::One(..) => None,
            Slot::Many(entries) => {
                let index = entries.iter().position(|(stored, _)| stored == key)?;
                let (_, entry) = entries.swap_remove(index);
                if entries.is_empty() {
                    self.map.remove(&hash);
                }
                Some(entry)
            }
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        self.map.retain(|_, slot| match slot {
            Slot::One(_, entry) => keep(entry),
            Slot::Many(entries) => {
                entries.retain(|(_, entry)| keep(entry));
                !entries.is_empty()
            }
        });
    }

    /// The number of distinct hashes: the number of entries but for SipHash collisions.
    fn len(&self) -> usize {
        self.map.len()
    }

    /// How many entries `matches`.
    fn count(&self, mut matches: impl FnMut(&Entry) -> bool) -> usize {
        self.map
            .values()
            .map(|slot| match slot {
                Slot::One(_, entry) => usize::from(matches(entry)),
                Slot::Many(entries) => entries.iter().filter(|(_, entry)| matches(entry)).count(),
            })
            .sum()
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

    async fn save(&self, entries: &[(&str, &[u8])], ttl: Ttl) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let expires_at = expiry(now, ttl);
        let mut map = self.entries();
        for (key, value) in entries {
            let hash = map.hash(key);
            map.insert(
                hash,
                (*key).to_owned(),
                Entry {
                    value: Arc::new(value.to_vec()),
                    expires_at,
                },
            );
        }
        self.note_write(&mut map, now);
        Ok(())
    }

    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        // An expired key is dropped.
        Ok(self.load_shared(key).map(|value| value.to_vec()))
    }

    async fn load_with_ttl(&self, key: &str) -> Result<Option<StoredValue>, StoreError> {
        let now = Instant::now();
        let mut map = self.entries();
        Ok(Self::live(&mut map, key, now).map(|entry| {
            StoredValue::new(
                entry.value.to_vec(),
                entry.expires_at.map(|at| at.saturating_duration_since(now)),
            )
        }))
    }

    async fn refresh(&self, keys: &[&str], ttl: Ttl) -> Result<usize, StoreError> {
        let now = Instant::now();
        let expires_at = expiry(now, ttl);
        let mut map = self.entries();
        let mut refreshed = 0_usize;
        for key in keys {
            if let Some(entry) = Self::live(&mut map, key, now) {
                entry.expires_at = expires_at;
                refreshed = refreshed.saturating_add(1);
            }
        }
        Ok(refreshed)
    }

    async fn delete(&self, keys: &[&str]) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut map = self.entries();
        let mut deleted = 0_usize;
        for key in keys {
            let hash = map.hash(key);
            if map
                .remove(hash, key)
                .is_some_and(|entry| entry.is_live(now))
            {
                deleted = deleted.saturating_add(1);
            }
        }
        self.note_write(&mut map, now);
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(secs: u64) -> Ttl {
        Ttl::from_secs(secs).unwrap_or_else(|| unreachable!("a valid TTL"))
    }

    fn stored_entries(store: &MemoryStore) -> usize {
        store.entries().len()
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
        let count = PURGE_EVERY_WRITES as usize * 2;
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

    #[test]
    fn keys_sharing_a_hash_are_kept_apart() {
        let mut entries = Entries::default();
        let entry = |n: u8| Entry {
            value: Arc::new(vec![n]),
            expires_at: None,
        };
        // Three keys forced into one hash, then replaced and removed one by one.
        for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
            entries.insert(7, key.to_owned(), entry(u8::try_from(n).unwrap_or(0)));
        }
        entries.insert(7, "b".to_owned(), entry(9));
        let value = |entries: &Entries, key| entries.get(7, key).map(|entry| entry.value[0]);
        assert_eq!(
            [
                value(&entries, "a"),
                value(&entries, "b"),
                value(&entries, "c")
            ],
            [Some(0), Some(9), Some(2)]
        );
        assert_eq!(entries.count(|_| true), 3);
        assert!(entries.remove(7, "x").is_none());
        assert_eq!(entries.remove(7, "a").map(|entry| entry.value[0]), Some(0));
        entries.retain(|entry| entry.value[0] != 2);
        assert_eq!(
            [value(&entries, "b"), value(&entries, "c")],
            [Some(9), None]
        );
        assert_eq!(entries.remove(7, "b").map(|entry| entry.value[0]), Some(9));
        assert_eq!(entries.len(), 0);
        // One key per hash: the common case.
        let hash = entries.hash("k");
        entries.insert(hash, "k".to_owned(), entry(1));
        entries.insert(hash, "k".to_owned(), entry(2));
        assert_eq!(entries.get(hash, "k").map(|entry| entry.value[0]), Some(2));
        assert!(entries.get(hash, "other").is_none());
        assert_eq!(entries.len(), 1);
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
