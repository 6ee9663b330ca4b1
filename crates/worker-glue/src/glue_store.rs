//! [`GlueStore`]: the store a glue holds, whichever [`SnapshotStore`] it was built with.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::store::Deployment;
use crate::{AnyStore, SnapshotStore, StoreError, StoredValue, Ttl};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An object-safe view of a [`SnapshotStore`] (whose methods return `impl Future`).
trait ErasedStore: fmt::Debug + Send + Sync {
    fn deployment(&self) -> Deployment;
    fn save<'a>(
        &'a self,
        entries: &'a [(&'a str, &'a [u8])],
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;
    fn load_with_ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredValue>, StoreError>>;
    fn refresh<'a>(
        &'a self,
        keys: &'a [&'a str],
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;
    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<usize, StoreError>>;
}

impl<T: SnapshotStore> ErasedStore for T {
    fn deployment(&self) -> Deployment {
        SnapshotStore::deployment(self)
    }
    fn save<'a>(
        &'a self,
        entries: &'a [(&'a str, &'a [u8])],
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SnapshotStore::save(self, entries, ttl))
    }
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(SnapshotStore::load(self, key))
    }
    fn load_with_ttl<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredValue>, StoreError>> {
        Box::pin(SnapshotStore::load_with_ttl(self, key))
    }
    fn refresh<'a>(
        &'a self,
        keys: &'a [&'a str],
        ttl: Ttl,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(SnapshotStore::refresh(self, keys, ttl))
    }
    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(SnapshotStore::delete(self, keys))
    }
}

#[derive(Clone)]
enum Inner {
    /// A built-in store, called without boxing.
    Builtin(AnyStore),
    /// The application's own store.
    Custom(Arc<dyn ErasedStore>),
}

/// The store a [`TaskGlue`](crate::TaskGlue) keeps snapshots in: one of the built-in stores
/// (opened from a URL, or an [`AnyStore`], [`MemoryStore`](crate::MemoryStore) or
/// [`RedisStore`](crate::RedisStore) given to the builder), or the application's own
/// [`SnapshotStore`]. It is itself a [`SnapshotStore`]. Built-in stores are called directly; an
/// application's store through one boxed future per call.
///
/// Cheap to clone: clones share one store.
#[derive(Clone)]
pub struct GlueStore {
    inner: Inner,
}

impl GlueStore {
    /// Wraps any store; the built-in ones are recognised and called without boxing.
    pub(crate) fn new<St: SnapshotStore>(store: St) -> Self {
        let any: Box<dyn std::any::Any> = Box::new(store.clone());
        let any = match any.downcast::<Self>() {
            Ok(glue_store) => return *glue_store,
            Err(any) => any,
        };
        let inner = match any.downcast::<AnyStore>() {
            Ok(any) => Inner::Builtin(*any),
            Err(any) => match any.downcast::<crate::MemoryStore>() {
                Ok(memory) => Inner::Builtin(AnyStore::Memory(*memory)),
                Err(any) => match any.downcast::<crate::RedisStore>() {
                    Ok(redis) => Inner::Builtin(AnyStore::Redis(*redis)),
                    Err(_) => Inner::Custom(Arc::new(store)),
                },
            },
        };
        Self { inner }
    }
}

/// A stored value as the glue reads it: shared with an in-process store, or the store's copy.
pub(crate) enum Loaded {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl std::ops::Deref for Loaded {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Owned(value) => value,
            Self::Shared(value) => value,
        }
    }
}

impl GlueStore {
    /// Saves one key (as [`SnapshotStore::save`]), handing an in-process store the key and value
    /// themselves.
    pub(crate) async fn save_one(
        &self,
        key: String,
        value: Vec<u8>,
        ttl: Ttl,
    ) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Builtin(AnyStore::Memory(store)) => {
                store.save_owned(key, value, ttl);
                Ok(())
            }
            _ => SnapshotStore::save(self, &[(key.as_str(), value.as_slice())], ttl).await,
        }
    }

    /// Loads one key (as [`SnapshotStore::load`]); an in-process store's value is shared, not
    /// copied.
    pub(crate) async fn load_value(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        match &self.inner {
            Inner::Builtin(AnyStore::Memory(store)) => {
                Ok(store.load_shared(key).map(Loaded::Shared))
            }
            _ => Ok(SnapshotStore::load(self, key).await?.map(Loaded::Owned)),
        }
    }
}

impl fmt::Debug for GlueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Builtin(store) => fmt::Debug::fmt(store, f),
            Inner::Custom(store) => fmt::Debug::fmt(store, f),
        }
    }
}

impl SnapshotStore for GlueStore {
    fn deployment(&self) -> Deployment {
        match &self.inner {
            Inner::Builtin(store) => SnapshotStore::deployment(store),
            Inner::Custom(store) => ErasedStore::deployment(&**store),
        }
    }

    async fn save(&self, entries: &[(&str, &[u8])], ttl: Ttl) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Builtin(store) => SnapshotStore::save(store, entries, ttl).await,
            Inner::Custom(store) => ErasedStore::save(&**store, entries, ttl).await,
        }
    }

    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.inner {
            Inner::Builtin(store) => SnapshotStore::load(store, key).await,
            Inner::Custom(store) => ErasedStore::load(&**store, key).await,
        }
    }

    async fn load_with_ttl(&self, key: &str) -> Result<Option<StoredValue>, StoreError> {
        match &self.inner {
            Inner::Builtin(store) => SnapshotStore::load_with_ttl(store, key).await,
            Inner::Custom(store) => ErasedStore::load_with_ttl(&**store, key).await,
        }
    }

    async fn refresh(&self, keys: &[&str], ttl: Ttl) -> Result<usize, StoreError> {
        match &self.inner {
            Inner::Builtin(store) => SnapshotStore::refresh(store, keys, ttl).await,
            Inner::Custom(store) => ErasedStore::refresh(&**store, keys, ttl).await,
        }
    }

    async fn delete(&self, keys: &[&str]) -> Result<usize, StoreError> {
        match &self.inner {
            Inner::Builtin(store) => SnapshotStore::delete(store, keys).await,
            Inner::Custom(store) => ErasedStore::delete(&**store, keys).await,
        }
    }
}
