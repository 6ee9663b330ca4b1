//! Snapshot stores: where a task's keys live between submission and execution.
//!
//! [`SnapshotStore`] is the interface; [`MemoryStore`] and [`RedisStore`] implement it, and so may
//! an application's own store. A [`Store`] holds any of them: [`open`] returns the one a URL names.
//! Keys are plain strings (built by the key layer), values are bytes (encoded by the snapshot
//! layer).
//!
//! # Store URLs
//!
//! [`StoreUrl::parse`] is the one parser of store URLs ([`ACCEPTED_URL_FORMS`]): [`open`] uses it,
//! and so does anything else that needs to know what a URL names (its [`Deployment`], servers,
//! database). User-info runs to the last `@`, so `?`, `&`, `#`, `/` and `@` inside a password stay
//! in the password. No password, in any URL form, appears in an error, a `Debug` output or a
//! [`RedactedUrl`].
//!
//! # Guarantees
//!
//! - **Atomic writes.** One [`SnapshotStore::save`] writes all of its keys or none, with one TTL:
//!   on Redis one `SET key value EX ttl`, or one `MULTI … EXEC` of them for several keys. In
//!   cluster mode the keys of one call must share a hash slot (taskctx puts a task's keys under one
//!   hash tag), else the call fails with [`StoreError::CrossSlot`] before anything is sent.
//! - **One round trip per call.** A [`RedisStore`] keeps [`StoreConfig::pool_size`] redis-rs
//!   multiplexed connections (4 by default; `ClusterConnection`s in cluster mode) that every
//!   caller shares, used round robin: a call is one request, with no connection checked out or
//!   `PING`ed first.
//! - **A restarted Redis is used again on the next call.** A connection that fails (I/O error,
//!   closed, timed out) is dropped and replaced by the next call that needs it; a call found on a
//!   closed connection is sent again, once, on a new one when that cannot apply it twice (it was
//!   never written, or it is idempotent: all but [`SnapshotStore::delete`]).
//! - **No call hangs.** Waiting while another call opens the connection (pool wait), connecting
//!   (TCP or socket, TLS, `AUTH`, `SELECT`, the Sentinel master lookup) and the reply are each
//!   bounded by a [`StoreConfig`] limit, for every deployment, and a [`StoreError::Timeout`]
//!   names the phase and the limit that ended the call.
//! - **No secrets out, no panics.** Passwords never appear in errors or `Debug` output, and stored
//!   values are never printed; every failure is a typed [`StoreError`].

mod config;
mod error;
pub(crate) mod memory;
pub(crate) mod redis;
mod url;

use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use taskctx_scope::Deployment;

use crate::records::TaskRecordStore;

pub use config::StoreConfig;
pub use error::{Operation, StoreError, TimeoutPhase};
pub use memory::MemoryStore;
pub use redis::RedisStore;
pub use url::{
    ACCEPTED_URL_FORMS, RedactedUrl, ServerAddr, StoreUrl, TlsCheck, UrlKind, UrlProblem,
    redact_url,
};

/// How long saved keys live, in whole seconds (Redis `SET … EX ttl`): at least 1 s, at most
/// [`Ttl::MAX_SECS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ttl(NonZeroU64);

impl Ttl {
    /// The longest TTL accepted: 2^40 s (about 34,800 years), far inside what Redis accepts.
    pub const MAX_SECS: u64 = 1 << 40;

    /// A TTL of `secs` seconds, or `None` when `secs` is 0 or above [`Ttl::MAX_SECS`].
    #[must_use]
    pub const fn from_secs(secs: u64) -> Option<Self> {
        match NonZeroU64::new(secs) {
            Some(secs) if secs.get() <= Self::MAX_SECS => Some(Self(secs)),
            _ => None,
        }
    }

    /// The TTL in seconds.
    #[must_use]
    pub const fn secs(self) -> u64 {
        self.0.get()
    }

    /// The TTL as a [`Duration`].
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0.get())
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

/// A loaded value with its remaining time to live, for inspection.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredValue {
    /// The stored bytes.
    pub value: Vec<u8>,
    /// Time left before the key expires; `None` when the key has no expiry.
    pub ttl: Option<Duration>,
}

impl StoredValue {
    /// A value with its remaining TTL.
    #[must_use]
    pub const fn new(value: Vec<u8>, ttl: Option<Duration>) -> Self {
        Self { value, ttl }
    }
}

impl fmt::Debug for StoredValue {
    /// Shows the length only: stored values carry access tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredValue")
            .field("value_len", &self.value.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The future a [`SnapshotStore`] method returns: boxed, so that stores can be used as `dyn
/// SnapshotStore` (the [`Store`] handle).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A place to keep a task's keys between submission and execution: [`MemoryStore`],
/// [`RedisStore`], or an application's own store, used through a [`Store`].
///
/// Implementations are safe to use from many tasks at once. Every method is one request: on
/// Redis one command or one `MULTI … EXEC`, sent as one write.
///
/// ```
/// use taskctx_worker_glue::store::{Deployment, MemoryStore, SnapshotStore, StoreFuture, Ttl};
///
/// /// Writes go to a memory store, and are counted.
/// #[derive(Debug, Default)]
/// struct Counting {
///     inner: MemoryStore,
///     saves: std::sync::atomic::AtomicUsize,
/// }
///
/// impl SnapshotStore for Counting {
///     fn deployment(&self) -> Deployment {
///         Deployment::Standalone
///     }
///     fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
///         self.saves.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         self.inner.save(entries, ttl)
///     }
///     fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
///         Box::pin(async move { self.inner.load(key).await })
///     }
///     # fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<taskctx_worker_glue::StoredValue>> { self.inner.load_with_ttl(key) }
///     # fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize> { self.inner.refresh(keys, ttl) }
///     # fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> { self.inner.delete(keys) }
///     // … and `load_with_ttl`, `refresh`, `delete` alike.
/// }
/// ```
pub trait SnapshotStore: fmt::Debug + Send + Sync + 'static {
    /// Where the keys live: a Redis Cluster (the keys of one [`save`](Self::save) must share a
    /// hash slot, so a queue's keys go under one hash tag) or anything else
    /// ([`Deployment::Standalone`]).
    fn deployment(&self) -> Deployment;

    /// Stores every `(key, value)` pair with the same `ttl`, atomically: afterwards either all of
    /// them are set or none is. An existing key is overwritten, its TTL replaced. An empty slice
    /// does nothing.
    fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()>;

    /// The value under `key`, or `None` when it is missing or expired.
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// The value under `key` with its remaining TTL, or `None` when it is missing or expired.
    fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredValue>>;

    /// Gives every existing key in `keys` the TTL `ttl` (Redis `EXPIRE`), in one atomic request.
    /// Returns how many of the keys existed.
    fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize>;

    /// Deletes `keys` in one atomic request. Returns how many of them existed.
    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize>;

    /// This store as a [`TaskRecordStore`], when it keeps task records too ([`MemoryStore`] and
    /// [`RedisStore`] do: they return `Some(self)`); `None` by default. A
    /// [`TaskGlue`](crate::TaskGlue) on such a store offers
    /// [`TaskGlue::records`](crate::TaskGlue::records).
    fn task_records(self: Arc<Self>) -> Option<Arc<dyn TaskRecordStore>> {
        None
    }
}

/// Any [`SnapshotStore`], shared: what [`open`] returns and a [`TaskGlue`](crate::TaskGlue)
/// keeps. Every [`SnapshotStore`] method is called on it directly (`store.load(key)`).
///
/// Cheap to clone: clones share one store.
#[derive(Clone)]
pub struct Store(Arc<dyn SnapshotStore>);

impl Store {
    /// Wraps `store`.
    pub fn new(store: impl SnapshotStore) -> Self {
        Self(Arc::new(store))
    }

    /// The store as a [`TaskRecordStore`], when it keeps task records
    /// ([`SnapshotStore::task_records`]).
    #[must_use]
    pub fn task_records(&self) -> Option<Arc<dyn TaskRecordStore>> {
        Arc::clone(&self.0).task_records()
    }
}

impl<S: SnapshotStore> From<S> for Store {
    fn from(store: S) -> Self {
        Self::new(store)
    }
}

impl Deref for Store {
    type Target = dyn SnapshotStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Opens the store named by `url` with the default [`StoreConfig`]. See [`open_with`].
///
/// # Errors
/// As [`open_with`].
pub fn open(url: &str) -> Result<Store, StoreError> {
    open_with(url, &StoreConfig::default())
}

/// Opens the store named by `url` (one of [`ACCEPTED_URL_FORMS`]) with `config`.
///
/// Nothing is connected yet: Redis connections are made on first use, so a worker may start
/// before its Redis does. `memory://name` returns the process-wide store of that name
/// ([`MemoryStore::shared`]); `memory://` is the one named `""`.
///
/// # Errors
/// [`StoreError::InvalidUrl`] for an unknown scheme or a malformed URL (the message lists the
/// accepted forms), [`StoreError::TlsNotEnabled`] for `rediss` URLs in a build without the `tls`
/// feature, [`StoreError::PoolSetup`] when the connection pool cannot be built.
pub fn open_with(url: &str, config: &StoreConfig) -> Result<Store, StoreError> {
    let url = StoreUrl::parse(url)?;
    match url.kind {
        UrlKind::Memory => Ok(Store::new(MemoryStore::shared(&url.name))),
        _ => RedisStore::from_url(url, config).map(Store::new),
    }
}
