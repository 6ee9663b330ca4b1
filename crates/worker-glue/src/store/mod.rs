//! Snapshot stores: where a task's keys live between submission and execution.
//!
//! [`SnapshotStore`] is the interface; [`MemoryStore`] and [`RedisStore`] implement it, and
//! [`AnyStore`] is whichever of them [`open`] picked from a URL at run time. Keys are plain
//! strings (built by the key layer), values are bytes (encoded by the snapshot layer).
//!
//! # Store URLs
//!
//! [`StoreUrl::parse`] is the one parser of store URLs ([`ACCEPTED_URL_FORMS`]): [`open`] uses it,
//! and so does anything else that needs to know what a URL names (its [`Deployment`], servers,
//! database). User-info runs to the last `@`, so `?`, `&`, `#`, `/` and `@` inside a password stay
//! in the password. No password, in any URL form, appears in an error, a `Debug` output or a
//! [`RedactedUrl`].
//!
//! # Redis: one round trip per call
//!
//! A [`RedisStore`] keeps [`StoreConfig::pool_size`] connections (4 by default) and spreads calls
//! over them round robin. Each is a redis-rs multiplexed connection (a `ClusterConnection` in
//! cluster mode): every caller shares it, and concurrent requests are pipelined on its socket.
//! A call is one request — a single command when it touches one key (`SET key value EX ttl`,
//! `GET`, `EXPIRE`, `DEL`), one `MULTI … EXEC` when it touches several — and one round trip: no
//! connection is checked out or tested (`PING`) first. Connections are made through a deadpool
//! pool on first use; one that fails at the connection level (I/O error, closed, timed out) is
//! taken out of the pool and replaced by the next call that needs it. A call on a connection
//! found closed (a restarted or stopped server) is sent again once on a new connection when that
//! cannot apply it twice (the request was never written, or the call is idempotent: all but
//! [`SnapshotStore::delete`]), so a restarted Redis is used again on the very next call.
//!
//! # Timeouts
//!
//! Every phase of a call is bounded by its own [`StoreConfig`] limit — waiting while another call
//! opens the connection (pool wait), opening one (connect: TCP or socket, TLS, `AUTH`, `SELECT`,
//! and for Sentinel the master lookup), and the reply — for standalone, unix, TLS, cluster and
//! sentinel stores alike, and a [`StoreError::Timeout`] names the phase and the limit that ended
//! the call.

mod config;
mod error;
mod memory;
mod redis;
mod url;

use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::time::Duration;

pub use taskctx_scope::Deployment;

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
        if secs > Self::MAX_SECS {
            return None;
        }
        match NonZeroU64::new(secs) {
            Some(secs) => Some(Self(secs)),
            None => None,
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

/// A place to keep a task's keys between submission and execution.
///
/// Implementations are cheap to clone (clones share one store) and safe to use from many tasks at
/// once. Every method is one request: on Redis one pipeline, sent as one write.
pub trait SnapshotStore: Clone + fmt::Debug + Send + Sync + 'static {
    /// Where the keys live: a Redis Cluster (the keys of one [`save`](Self::save) must share a
    /// hash slot, so a queue's keys go under one hash tag) or anything else
    /// ([`Deployment::Standalone`]).
    fn deployment(&self) -> Deployment;

    /// Stores every `(key, value)` pair with the same `ttl`, atomically: afterwards either all of
    /// them are set or none is. An existing key is overwritten, its TTL replaced. An empty slice
    /// does nothing.
    fn save(
        &self,
        entries: &[(&str, &[u8])],
        ttl: Ttl,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The value under `key`, or `None` when it is missing or expired.
    fn load(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// The value under `key` with its remaining TTL, or `None` when it is missing or expired.
    fn load_with_ttl(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredValue>, StoreError>> + Send;

    /// Gives every existing key in `keys` the TTL `ttl` (Redis `EXPIRE`), in one atomic request.
    /// Returns how many of the keys existed.
    fn refresh(
        &self,
        keys: &[&str],
        ttl: Ttl,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Deletes `keys` in one atomic request. Returns how many of them existed.
    fn delete(&self, keys: &[&str]) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// The store [`open`] picked from a URL: an in-process [`MemoryStore`] or a [`RedisStore`].
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// `memory://[name]`.
    Memory(MemoryStore),
    /// `redis://`, `rediss://`, `unix://`, `redis+unix://`, `redis+cluster://`,
    /// `rediss+cluster://` or `redis+sentinel://`.
    Redis(RedisStore),
}

impl From<MemoryStore> for AnyStore {
    fn from(store: MemoryStore) -> Self {
        Self::Memory(store)
    }
}

impl From<RedisStore> for AnyStore {
    fn from(store: RedisStore) -> Self {
        Self::Redis(store)
    }
}

impl SnapshotStore for AnyStore {
    fn deployment(&self) -> Deployment {
        match self {
            Self::Memory(store) => store.deployment(),
            Self::Redis(store) => store.deployment(),
        }
    }

    async fn save(&self, entries: &[(&str, &[u8])], ttl: Ttl) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => store.save(entries, ttl).await,
            Self::Redis(store) => store.save(entries, ttl).await,
        }
    }

    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Memory(store) => store.load(key).await,
            Self::Redis(store) => store.load(key).await,
        }
    }

    async fn load_with_ttl(&self, key: &str) -> Result<Option<StoredValue>, StoreError> {
        match self {
            Self::Memory(store) => store.load_with_ttl(key).await,
            Self::Redis(store) => store.load_with_ttl(key).await,
        }
    }

    async fn refresh(&self, keys: &[&str], ttl: Ttl) -> Result<usize, StoreError> {
        match self {
            Self::Memory(store) => store.refresh(keys, ttl).await,
            Self::Redis(store) => store.refresh(keys, ttl).await,
        }
    }

    async fn delete(&self, keys: &[&str]) -> Result<usize, StoreError> {
        match self {
            Self::Memory(store) => store.delete(keys).await,
            Self::Redis(store) => store.delete(keys).await,
        }
    }
}

/// Opens the store named by `url` with the default [`StoreConfig`]. See [`open_with`].
///
/// # Errors
/// As [`open_with`].
pub fn open(url: &str) -> Result<AnyStore, StoreError> {
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
pub fn open_with(url: &str, config: &StoreConfig) -> Result<AnyStore, StoreError> {
    match StoreUrl::parse(url)?.into_parts() {
        (url::Target::Memory { name }, _) => Ok(AnyStore::Memory(MemoryStore::shared(&name))),
        (url::Target::Redis(target), redacted) => {
            RedisStore::from_target(target, redacted, config).map(AnyStore::Redis)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds() {
        assert_eq!(Ttl::from_secs(0), None);
        assert_eq!(Ttl::from_secs(Ttl::MAX_SECS + 1), None);
        assert_eq!(Ttl::from_secs(1800).map(Ttl::secs), Some(1800));
        assert_eq!(
            Ttl::from_secs(Ttl::MAX_SECS).map(Ttl::as_duration),
            Some(Duration::from_secs(Ttl::MAX_SECS))
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_urls_need_the_tls_feature() {
        for url in ["rediss://:pw@h:6380/0", "rediss+cluster://a:1,b:2#insecure"] {
            let error = open(url).err();
            assert!(
                matches!(error, Some(StoreError::TlsNotEnabled { .. })),
                "{url}: {error:?}"
            );
            let message = error.map(|error| error.to_string()).unwrap_or_default();
            assert!(message.contains("`tls` cargo feature"), "{message}");
            assert!(!message.contains("pw@"), "{message}");
        }
    }
}
