//! [`TaskGlue`]: one queue's store, keyspace, codec, restore policy, TTL and registries, built
//! with [`TaskGlueBuilder`].

use std::fmt;
use std::sync::Arc;

use taskctx_registry::{ServerRegistry, SessionRegistry};
use taskctx_scope::{DEFAULT_QUEUE_NAME, KeySpace};
use taskctx_snapshot::{Codec, FernetKey, HeaderPolicy, KeyRing, SnapshotCodec};

use crate::context::{AnyArc, Owners};
use crate::{AnyStore, ConfigError, SnapshotStore, StoreConfig, Ttl, open_with};

/// The default execution TTL of a queue, in seconds.
pub const DEFAULT_EXECUTION_TTL_SECS: u64 = 900;

/// How long a task's keys outlive its execution TTL, in seconds.
pub const TTL_GRACE_SECS: u64 = 900;

/// What a worker does when a task's context cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Log a warning and run the task with no caller (the default without encryption).
    FailOpen,
    /// Fail the task before its code runs (the default with encryption).
    FailClosed,
}

/// The TTL of a task's keys for a queue whose execution TTL is `execution_ttl_secs`:
/// `execution_ttl_secs + 900`, and 900 s for an execution TTL of 0. `None` when too long.
#[must_use]
pub fn key_ttl(execution_ttl_secs: u64) -> Option<Ttl> {
    Ttl::from_secs(execution_ttl_secs.checked_add(TTL_GRACE_SECS)?)
}

/// Resolves a task's owning server from its owning tool's name and version.
pub type ServerResolver<Sv> = dyn Fn(&str, Option<&str>) -> Option<Arc<Sv>> + Send + Sync;

/// The registries and resolvers behind [`live_session`](crate::live_session) and
/// [`owning_server`](crate::owning_server).
pub(crate) struct Registries<Se, Sv> {
    pub(crate) sessions: SessionRegistry<Se>,
    pub(crate) servers: ServerRegistry<Sv>,
    resolver: Option<Box<ServerResolver<Sv>>>,
    root: Option<Arc<Sv>>,
}

impl<Se, Sv> Owners for Registries<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    fn session(&self, session_id: &str) -> Option<AnyArc> {
        self.sessions
            .get(session_id)
            .map(|session| session as AnyArc)
    }

    fn server(&self, task_id: &str, tool: Option<&str>, version: Option<&str>) -> Option<AnyArc> {
        if let Some(server) = self.servers.get(task_id) {
            return Some(server);
        }
        let resolved = tool.and_then(|tool| self.resolver.as_ref()?(tool, version));
        if let Some(server) = resolved {
            self.servers.register(task_id, &server);
            return Some(server);
        }
        self.root.clone().map(|root| root as AnyArc)
    }
}

/// One queue's task-context glue: submit ([`TaskGlue::submit`]) on the server side, restore and
/// run ([`TaskGlue::run`], [`TaskGlue::restore`]) on the worker side.
///
/// `Se` is the application's session type and `Sv` its server type (both `()` when unused). Cheap
/// to clone: clones share one configuration, store and registries.
pub struct TaskGlue<Se = (), Sv = ()> {
    pub(crate) inner: Arc<Inner<Se, Sv>>,
}

pub(crate) struct Inner<Se, Sv> {
    pub(crate) keys: KeySpace,
    pub(crate) store: AnyStore,
    pub(crate) codec: Codec,
    pub(crate) policy: RestorePolicy,
    pub(crate) ttl: Ttl,
    pub(crate) header_policy: HeaderPolicy,
    pub(crate) registries: Arc<Registries<Se, Sv>>,
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
    pub fn store(&self) -> &AnyStore {
        &self.inner.store
    }

    /// The codec snapshots are written and read with.
    #[must_use]
    pub fn codec(&self) -> &Codec {
        &self.inner.codec
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

    /// The policy to capture request headers with at submission.
    #[must_use]
    pub fn header_policy(&self) -> &HeaderPolicy {
        &self.inner.header_policy
    }

    /// The session registry (shared with clones and with the builder's
    /// [`sessions`](TaskGlueBuilder::sessions)).
    #[must_use]
    pub fn sessions(&self) -> &SessionRegistry<Se> {
        &self.inner.registries.sessions
    }

    /// The server registry.
    #[must_use]
    pub fn servers(&self) -> &ServerRegistry<Sv> {
        &self.inner.registries.servers
    }
}

/// Builds a [`TaskGlue`]. Only a store is required.
pub struct TaskGlueBuilder<Se, Sv> {
    queue_name: String,
    store_url: Option<String>,
    store: Option<AnyStore>,
    store_config: StoreConfig,
    codec: Option<Codec>,
    native: bool,
    fernet: Option<FernetKey>,
    sealing: Option<KeyRing>,
    policy: Option<RestorePolicy>,
    execution_ttl_secs: u64,
    header_policy: HeaderPolicy,
    sessions: SessionRegistry<Se>,
    servers: ServerRegistry<Sv>,
    resolver: Option<Box<ServerResolver<Sv>>>,
    root: Option<Arc<Sv>>,
}

impl<Se, Sv> Default for TaskGlueBuilder<Se, Sv> {
    fn default() -> Self {
        Self {
            queue_name: DEFAULT_QUEUE_NAME.to_owned(),
            store_url: None,
            store: None,
            store_config: StoreConfig::default(),
            codec: None,
            native: false,
            fernet: None,
            sealing: None,
            policy: None,
            execution_ttl_secs: DEFAULT_EXECUTION_TTL_SECS,
            header_policy: HeaderPolicy::default(),
            sessions: SessionRegistry::new(),
            servers: ServerRegistry::new(),
            resolver: None,
            root: None,
        }
    }
}

impl<Se, Sv> fmt::Debug for TaskGlueBuilder<Se, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGlueBuilder")
            .field("queue_name", &self.queue_name)
            .field(
                "store_url",
                &self.store_url.as_deref().map(crate::redact_url),
            )
            .field("native", &self.native)
            .field(
                "encrypted",
                &(self.fernet.is_some() || self.sealing.is_some()),
            )
            .field("policy", &self.policy)
            .field("execution_ttl_secs", &self.execution_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl<Se, Sv> TaskGlueBuilder<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// The queue name (default `fastmcp`).
    #[must_use]
    pub fn queue_name(mut self, name: impl Into<String>) -> Self {
        self.queue_name = name.into();
        self
    }

    /// The store, opened from `url` at [`build`](Self::build); a `redis+cluster` or
    /// `rediss+cluster` URL also puts the queue's keys under one hash tag.
    #[must_use]
    pub fn store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = Some(url.into());
        self.store = None;
        self
    }

    /// Timeouts and pool size for a store opened from a URL.
    #[must_use]
    pub fn store_config(mut self, config: StoreConfig) -> Self {
        self.store_config = config;
        self
    }

    /// An already opened store; its [`deployment`](SnapshotStore::deployment) decides whether
    /// the queue's keys go under one hash tag.
    #[must_use]
    pub fn store(mut self, store: impl Into<AnyStore>) -> Self {
        self.store = Some(store.into());
        self.store_url = None;
        self
    }

    /// Writes the native stored form instead of the reference's JSON (only where every reader
    /// is taskctx).
    #[must_use]
    pub fn native(mut self, native: bool) -> Self {
        self.native = native;
        self
    }

    /// Encrypts snapshots with Fernet, as the reference does (JSON form); also reads Fernet
    /// values alongside a sealing key ring.
    #[must_use]
    pub fn fernet_key(mut self, key: FernetKey) -> Self {
        self.fernet = Some(key);
        self
    }

    /// Seals snapshots in the native form with `ring` (takes precedence over Fernet for writing).
    #[must_use]
    pub fn sealing_keys(mut self, ring: KeyRing) -> Self {
        self.sealing = Some(ring);
        self
    }

    /// A codec of your own, overriding [`native`](Self::native), [`fernet_key`](Self::fernet_key)
    /// and [`sealing_keys`](Self::sealing_keys).
    #[must_use]
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// The restore policy (default: FailClosed when the codec encrypts, else FailOpen).
    #[must_use]
    pub fn restore_policy(mut self, policy: RestorePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The queue's execution TTL in seconds (default 900); keys live 900 s longer.
    #[must_use]
    pub fn execution_ttl_secs(mut self, secs: u64) -> Self {
        self.execution_ttl_secs = secs;
        self
    }

    /// The policy for capturing request headers at submission.
    #[must_use]
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.header_policy = policy;
        self
    }

    /// Shares a session registry (for example the one the connection layer registers into).
    #[must_use]
    pub fn sessions(mut self, sessions: SessionRegistry<Se>) -> Self {
        self.sessions = sessions;
        self
    }

    /// Shares a server registry.
    #[must_use]
    pub fn servers(mut self, servers: ServerRegistry<Sv>) -> Self {
        self.servers = servers;
        self
    }

    /// Resolves a task's owning server from its tool name and version when the registry has no
    /// entry (a worker in another process); a resolved server is then registered for the task.
    #[must_use]
    pub fn server_resolver(
        mut self,
        resolver: impl Fn(&str, Option<&str>) -> Option<Arc<Sv>> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = Some(Box::new(resolver));
        self
    }

    /// The server returned when neither the registry nor the resolver finds one.
    #[must_use]
    pub fn root_server(mut self, server: Arc<Sv>) -> Self {
        self.root = Some(server);
        self
    }

    /// Builds the glue.
    ///
    /// # Errors
    /// [`ConfigError::NoStore`], [`ConfigError::Store`] for a URL that cannot be opened,
    /// [`ConfigError::QueueName`] for an empty queue name or one with `{` or `}`,
    /// [`ConfigError::TtlTooLong`].
    pub fn build(self) -> Result<TaskGlue<Se, Sv>, ConfigError> {
        let store = match (self.store, self.store_url) {
            (Some(store), _) => store,
            (None, Some(url)) => open_with(&url, &self.store_config)?,
            (None, None) => return Err(ConfigError::NoStore),
        };
        let keys =
            KeySpace::new(&self.queue_name, store.deployment()).map_err(ConfigError::QueueName)?;
        let codec = self
            .codec
            .unwrap_or_else(|| match (self.sealing, self.fernet) {
                (Some(ring), Some(fernet)) => Codec::native_sealed(ring).reading_fernet(fernet),
                (Some(ring), None) => Codec::native_sealed(ring),
                (None, Some(fernet)) => Codec::json_fernet(fernet),
                (None, None) if self.native => Codec::native(),
                (None, None) => Codec::json(),
            });
        let policy = self.policy.unwrap_or(if codec.protected() {
            RestorePolicy::FailClosed
        } else {
            RestorePolicy::FailOpen
        });
        let ttl = key_ttl(self.execution_ttl_secs).ok_or(ConfigError::TtlTooLong {
            secs: self.execution_ttl_secs,
        })?;
        Ok(TaskGlue {
            inner: Arc::new(Inner {
                keys,
                store,
                codec,
                policy,
                ttl,
                header_policy: self.header_policy,
                registries: Arc::new(Registries {
                    sessions: self.sessions,
                    servers: self.servers,
                    resolver: self.resolver,
                    root: self.root,
                }),
            }),
        })
    }
}
