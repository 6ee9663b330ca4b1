//! [`TaskGlue`]: one queue's task-context glue, and what its clones share.

use std::fmt;
use std::sync::Arc;

use taskctx_scope::{KeySpace, Scope};
use taskctx_snapshot::{HeaderPolicy, SnapshotCodec};

use crate::config::{RestorePolicy, RestoreSpanHook, ServerResolver, TaskGlueBuilder};
use crate::fingerprint::{FingerprintKey, ScopeFingerprint};
use crate::records::TaskRecords;
use crate::refresh::Refresher;
use crate::registries::{Servers, Sessions};
use crate::{Store, Ttl};

/// One queue's task-context glue: submit ([`TaskGlue::submit`]) on the server side, restore and
/// run ([`TaskGlue::run`], [`TaskGlue::restore`]) on the worker side, and the typed lookups of a
/// running task's live session ([`TaskGlue::live_session`]) and owning server
/// ([`TaskGlue::owning_server`]).
///
/// `Se` is the application's session type and `Sv` its server type (both `()` when unused): they
/// are fixed by the glue, so asking for the wrong type is a compile error, not a `None`. Cheap to
/// clone: clones share one configuration, store and registries.
pub struct TaskGlue<Se = (), Sv = ()> {
    pub(crate) inner: Arc<Inner<Se, Sv>>,
}

pub(crate) struct Inner<Se, Sv> {
    pub(crate) id: u64,
    pub(crate) keys: KeySpace,
    pub(crate) store: Store,
    pub(crate) records: Option<TaskRecords>,
    pub(crate) codec: Arc<dyn SnapshotCodec>,
    pub(crate) policy: RestorePolicy,
    pub(crate) ttl: Ttl,
    pub(crate) header_policy: HeaderPolicy,
    pub(crate) fingerprints: FingerprintKey,
    pub(crate) refresher: Option<Refresher>,
    pub(crate) span_hook: Option<Box<RestoreSpanHook>>,
    pub(crate) sessions: Sessions<Se>,
    pub(crate) servers: Servers<Sv>,
    pub(crate) resolver: Option<Box<ServerResolver<Sv>>>,
    pub(crate) root: Option<Arc<Sv>>,
}

impl<Se, Sv> Clone for TaskGlue<Se, Sv> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Se, Sv> fmt::Debug for TaskGlue<Se, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGlue")
            .field("keys", &self.inner.keys)
            .field("store", &self.inner.store)
            .field("codec", &self.inner.codec)
            .field("policy", &self.inner.policy)
            .field("ttl", &self.inner.ttl)
            .field("refresher", &self.inner.refresher)
            .field("restore_span_hook", &self.inner.span_hook.is_some())
            .finish_non_exhaustive()
    }
}

impl<Se, Sv> TaskGlue<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// A builder with the defaults: queue `fastmcp`, JSON codec, FailOpen, execution TTL 900 s.
    #[must_use]
    pub fn builder() -> TaskGlueBuilder<Se, Sv> {
        TaskGlueBuilder::default()
    }

    /// The queue's Redis keyspace.
    #[must_use]
    pub fn keys(&self) -> &KeySpace {
        &self.inner.keys
    }

    /// The snapshot store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The queue's task records, when its store keeps them ([`SnapshotStore::task_records`]:
    /// every `memory://` and Redis store does; an application's own store when it implements
    /// [`TaskRecordStore`](crate::records::TaskRecordStore)). They share the glue's store,
    /// keyspace, codec and fingerprint key.
    ///
    /// [`SnapshotStore::task_records`]: crate::SnapshotStore::task_records
    #[must_use]
    pub fn records(&self) -> Option<&TaskRecords> {
        self.inner.records.as_ref()
    }

    /// The codec snapshots are written and read with.
    #[must_use]
    pub fn codec(&self) -> &dyn SnapshotCodec {
        &*self.inner.codec
    }

    /// The restore policy.
    #[must_use]
    pub fn policy(&self) -> RestorePolicy {
        self.inner.policy
    }

    /// The TTL of a task's keys.
    #[must_use]
    pub fn ttl(&self) -> Ttl {
        self.inner.ttl
    }

    /// The policy to capture request headers with at submission; restore re-applies its secret
    /// marks.
    #[must_use]
    pub fn header_policy(&self) -> &HeaderPolicy {
        &self.inner.header_policy
    }

    /// The live sessions, by (scope, session id): the connection layer registers each session
    /// here once, and keeps the registration while the connection lives.
    #[must_use]
    pub fn sessions(&self) -> &Sessions<Se> {
        &self.inner.sessions
    }

    /// The owning servers, by (scope, task id).
    #[must_use]
    pub fn servers(&self) -> &Servers<Sv> {
        &self.inner.servers
    }

    /// The fingerprint of `scope` in this glue's logs (`anon` for `None`).
    #[must_use]
    pub fn scope_fingerprint(&self, scope: Option<&Scope<'_>>) -> ScopeFingerprint {
        self.inner.fingerprints.fingerprint(scope)
    }
}
