//! The layer taskctx servers and workers call to keep a task's context between submission and
//! execution.
//!
//! Today this crate provides the [`store`] layer: where a task's snapshot and companion keys live
//! between the server that submits a task and the worker that runs it. A store is chosen at run
//! time from a URL with [`open`] (or [`open_with`] and a [`StoreConfig`]):
//!
//! - `memory://[name]` — an in-process [`MemoryStore`], shared by every worker of the process that
//!   opens the same name;
//! - `redis://`, `unix://` / `redis+unix://`, `rediss://` (cargo feature `tls`),
//!   `redis+cluster://` / `rediss+cluster://` and `redis+sentinel://` — a [`RedisStore`] on a
//!   deadpool-redis connection pool.
//!
//! Every store implements [`SnapshotStore`]: save several keys with one TTL atomically, load one
//! key (optionally with its remaining TTL), refresh the TTL of a task's keys, delete keys.
//!
//! # Example
//!
//! ```
//! use taskctx_worker_glue::{SnapshotStore, Ttl, open};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let store = open("memory://example")?;
//!     let ttl = Ttl::from_secs(1800).ok_or("a TTL is at least one second")?;
//!     let key = "fastmcp:fastmcp:task:anon:T1:snapshot";
//!     store.save(&[(key, b"{}".as_slice())], ttl).await?;
//!     assert_eq!(store.load(key).await?.as_deref(), Some(b"{}".as_slice()));
//!     let stored = store.load_with_ttl(key).await?.ok_or("just saved")?;
//!     assert!(stored.ttl.is_some_and(|left| left.as_secs() <= 1800));
//!     assert_eq!(store.delete(&[key]).await?, 1);
//!     assert_eq!(store.load(key).await?, None);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Guarantees
//!
//! - One [`SnapshotStore::save`] writes all of its keys or none, with one TTL: on Redis as one
//!   `MULTI`/`EXEC` of `SET key value EX ttl`, sent in one pipeline. In cluster mode the keys of one
//!   call must share a hash slot (taskctx puts a task's keys under one hash tag); otherwise the call
//!   fails with [`StoreError::CrossSlot`] before anything is sent.
//! - No call hangs on a dead or frozen Redis: waiting for a pooled connection, connecting and each
//!   response are bounded by [`StoreConfig`] timeouts, and the whole call by their sum.
//! - A restarted Redis is used again on the next call: broken pooled connections are dropped.
//! - Passwords in store URLs never appear in errors or `Debug` output ([`redact_url`]); stored
//!   values are never printed either.
//! - Library code never panics on any input; every failure is a typed [`StoreError`].
//!
//! # Cargo features
//!
//! - `tls` (off by default): `rediss://` and `rediss+cluster://` URLs, through rustls with the
//!   ring provider and the system's root certificates; a `#insecure` fragment skips certificate
//!   checks. Without it those URLs fail with [`StoreError::TlsNotEnabled`].

pub mod store;

pub use store::{
    ACCEPTED_URL_FORMS, AnyStore, MemoryStore, Operation, RedactedUrl, RedisStore, SnapshotStore,
    StoreConfig, StoreError, StoredValue, TimeoutPhase, Ttl, UrlProblem, open, open_with,
    redact_url,
};
