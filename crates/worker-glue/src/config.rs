//! [`TaskGlueBuilder`]: one queue's store, keyspace, codec, restore policy, TTL and registries,
//! checked and built into a [`TaskGlue`].

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskctx_scope::{DEFAULT_QUEUE_NAME, KeySpace};
use taskctx_snapshot::{AccessToken, Codec, FernetKey, HeaderPolicy, KeyRing, SnapshotCodec};

use crate::context::TraceContext;
use crate::fingerprint::FingerprintKey;
use crate::glue::{Inner, TaskGlue};
use crate::records::TaskRecords;
use crate::refresh::{
    MAX_REFRESH_MARGIN, MAX_REFRESH_TIMEOUT, MIN_REFRESH_TIMEOUT, RefreshRequest, Refresher,
};
use crate::registries::{Servers, Sessions};
use crate::{BoxError, ConfigError, Store, StoreConfig, Ttl, open_with};

/// The default execution TTL of a queue, in seconds.
pub const DEFAULT_EXECUTION_TTL_SECS: u64 = 900;

/// How long a task's keys outlive its execution TTL, in seconds.
pub const TTL_GRACE_SECS: u64 = 900;

/// What a worker does when a task's context cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// Resolves a task's owning server from its owning tool's name and version (a worker in another
/// process, where the registry has no entry).
pub(crate) type ServerResolver<Sv> = dyn Fn(&str, Option<&str>) -> Option<Arc<Sv>> + Send + Sync;

/// Called with a task's restore span and its snapshot's trace context (see
/// [`TaskGlueBuilder::restore_span_hook`]).
pub(crate) type RestoreSpanHook = dyn Fn(&tracing::Span, &TraceContext) + Send + Sync;

/// Tells glues apart, so a context is served only by the glue that restored it.
static NEXT_GLUE_ID: AtomicU64 = AtomicU64::new(1);

/// Builds a [`TaskGlue`]. Only a store is required; options that contradict each other are a
/// [`ConfigError`] from [`build`](Self::build), never a silent choice.
pub struct TaskGlueBuilder<Se, Sv> {
    queue_name: String,
    store_url: Option<String>,
    store: Option<Store>,
    store_config: Option<StoreConfig>,
    codec: Option<Arc<dyn SnapshotCodec>>,
    native: Option<bool>,
    fernet: Option<FernetKey>,
    sealing: Option<KeyRing>,
    policy: Option<RestorePolicy>,
    execution_ttl_secs: u64,
    header_policy: HeaderPolicy,
    fingerprints: Option<FingerprintKey>,
    refresher: Option<Refresher>,
    refresh_margin: Option<Duration>,
    refresh_timeout: Option<Duration>,
    span_hook: Option<Box<RestoreSpanHook>>,
    sessions: Option<Sessions<Se>>,
    server_capacity: Option<NonZeroUsize>,
    servers: Option<Servers<Sv>>,
    resolver: Option<Box<ServerResolver<Sv>>>,
    root: Option<Arc<Sv>>,
}

impl<Se, Sv> Default for TaskGlueBuilder<Se, Sv> {
    fn default() -> Self {
        Self {
            queue_name: DEFAULT_QUEUE_NAME.to_owned(),
            store_url: None,
            store: None,
            store_config: None,
            codec: None,
            native: None,
            fernet: None,
            sealing: None,
            policy: None,
            execution_ttl_secs: DEFAULT_EXECUTION_TTL_SECS,
            header_policy: HeaderPolicy::default(),
            fingerprints: None,
            refresher: None,
            refresh_margin: None,
            refresh_timeout: None,
            span_hook: None,
            sessions: None,
            server_capacity: None,
            servers: None,
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
    /// `rediss+cluster` URL also puts the queue's keys under one hash tag. Conflicts with
    /// [`store`](Self::store).
    #[must_use]
    pub fn store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = Some(url.into());
        self
    }

    /// Timeouts and pool size for a store opened from a URL (only with
    /// [`store_url`](Self::store_url)).
    #[must_use]
    pub fn store_config(mut self, config: StoreConfig) -> Self {
        self.store_config = Some(config);
        self
    }

    /// An already opened store: a [`Store`], a [`MemoryStore`](crate::MemoryStore), a
    /// [`RedisStore`](crate::RedisStore) or the application's own
    /// [`SnapshotStore`](crate::SnapshotStore). Its
    /// [`deployment`](crate::SnapshotStore::deployment) decides whether the queue's keys go under one
    /// hash tag. Conflicts with [`store_url`](Self::store_url).
    #[must_use]
    pub fn store(mut self, store: impl Into<Store>) -> Self {
        self.store = Some(store.into());
        self
    }

    /// Writes the native stored form instead of the reference's JSON (only where every reader
    /// is taskctx). Conflicts with [`fernet_key`](Self::fernet_key) (Fernet writes JSON) and
    /// [`codec`](Self::codec).
    #[must_use]
    pub fn native(mut self, native: bool) -> Self {
        self.native = Some(native);
        self
    }

    /// Encrypts snapshots with Fernet, as the reference does (JSON form). With
    /// [`sealing_keys`](Self::sealing_keys) too, the sealed native form is written and Fernet
    /// values are still read (a migration from Fernet).
    #[must_use]
    pub fn fernet_key(mut self, key: FernetKey) -> Self {
        self.fernet = Some(key);
        self
    }

    /// Seals snapshots in the native form with `ring`.
    #[must_use]
    pub fn sealing_keys(mut self, ring: KeyRing) -> Self {
        self.sealing = Some(ring);
        self
    }

    /// A codec of your own (any [`SnapshotCodec`], or a configured [`Codec`]). Conflicts with
    /// [`native`](Self::native), [`fernet_key`](Self::fernet_key) and
    /// [`sealing_keys`](Self::sealing_keys).
    #[must_use]
    pub fn codec(mut self, codec: impl SnapshotCodec + 'static) -> Self {
        self.codec = Some(Arc::new(codec));
        self
    }

    /// The restore policy (default: FailClosed when the codec encrypts, else FailOpen).
    #[must_use]
    pub fn restore_policy(mut self, policy: RestorePolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The queue's execution TTL in seconds (default 900); keys live 900 s longer. Range: 0 to
    /// [`Ttl::MAX_SECS`] − 900 ([`ConfigError::TtlTooLong`] above).
    #[must_use]
    pub fn execution_ttl_secs(mut self, secs: u64) -> Self {
        self.execution_ttl_secs = secs;
        self
    }

    /// The policy for capturing request headers at submission. Restore re-applies its secret
    /// marks to the headers it hands out, whatever stored form they travelled in.
    #[must_use]
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.header_policy = policy;
        self
    }

    /// The key scope fingerprints in logs are computed with (default: a random key per glue, so
    /// fingerprints agree only within one glue). Give every process the same key for fleet-wide
    /// fingerprints.
    #[must_use]
    pub fn fingerprint_key(mut self, key: FingerprintKey) -> Self {
        self.fingerprints = Some(key);
        self
    }

    /// A token refresher, called before a task's code runs when its restored token has expired
    /// or expires within the [`refresh_margin`](Self::refresh_margin) (default 60 s). The
    /// refreshed token must be of the task's scope; it is installed for that task only (never
    /// written back, never logged). Each call is bounded by the
    /// [`refresh_timeout`](Self::refresh_timeout), and a panic in it fails that task's refresh
    /// only; the timer needs a tokio runtime with time enabled.
    #[must_use]
    pub fn token_refresher<F, Fut, E>(mut self, refresher: F) -> Self
    where
        F: Fn(RefreshRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AccessToken, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.refresher = Some(Refresher::new(refresher));
        self
    }

    /// How long before its expiry a token is refreshed (only with
    /// [`token_refresher`](Self::token_refresher); default 60 s, range 0 to 1 day).
    #[must_use]
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = Some(margin);
        self
    }

    /// How long the token refresher may take for one task (only with
    /// [`token_refresher`](Self::token_refresher); default 5 s, range 1 ms to 10 minutes). When
    /// it runs out, the refresh has failed ([`RestoreError::RefreshTimedOut`](crate::RestoreError::RefreshTimedOut)):
    /// FailClosed refuses the task, FailOpen runs it without an expired token (with a token that
    /// is still valid, with that one).
    #[must_use]
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = Some(timeout);
        self
    }

    /// A hook called with each task's `taskctx.restore` span and the trace context of its
    /// snapshot, once the snapshot is decoded and before the span is first entered: the place to
    /// join the span to the submitter's trace (as parent or as link, for example through
    /// `tracing-opentelemetry`; `taskctx-tower`'s `otel` feature ships such a hook). It is not
    /// called when no snapshot was decoded.
    #[must_use]
    pub fn restore_span_hook(
        mut self,
        hook: impl Fn(&tracing::Span, &TraceContext) + Send + Sync + 'static,
    ) -> Self {
        self.span_hook = Some(Box::new(hook));
        self
    }

    /// Shares a session registry with another glue (for example one per queue, one connection
    /// layer).
    #[must_use]
    pub fn sessions(mut self, sessions: Sessions<Se>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Shares a server registry with another glue. Conflicts with
    /// [`server_capacity`](Self::server_capacity).
    #[must_use]
    pub fn servers(mut self, servers: Servers<Sv>) -> Self {
        self.servers = Some(servers);
        self
    }

    /// How many owning servers the registry keeps (default 10,000, least recently used
    /// evicted).
    #[must_use]
    pub fn server_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.server_capacity = Some(capacity);
        self
    }

    /// Resolves a task's owning server from its tool name and version when the registry has no
    /// entry (a worker in another process); a resolved server is then registered for the task
    /// (its scope and id).
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
    /// [`ConfigError::NoStore`]; [`ConfigError::Conflict`] for `store` with `store_url` or
    /// `store_config`, `codec` with `native`, `fernet_key` or `sealing_keys`, `native(true)` with
    /// `fernet_key` alone, `servers` with `server_capacity`; [`ConfigError::Requires`] for
    /// `refresh_margin` or `refresh_timeout` without `token_refresher`;
    /// [`ConfigError::OutOfRange`] for a refresh margin or timeout outside its range;
    /// [`ConfigError::Store`] for a URL that cannot
    /// be opened; [`ConfigError::QueueName`] for an empty queue name or one with `{` or `}`;
    /// [`ConfigError::TtlTooLong`]; [`ConfigError::Randomness`].
    pub fn build(self) -> Result<TaskGlue<Se, Sv>, ConfigError> {
        let conflict = |first, second| Err(ConfigError::Conflict { first, second });
        if self.codec.is_some() {
            if self.native.is_some() {
                return conflict("codec", "native");
            }
            if self.fernet.is_some() {
                return conflict("codec", "fernet_key");
            }
            if self.sealing.is_some() {
                return conflict("codec", "sealing_keys");
            }
        }
        if self.native == Some(true) && self.fernet.is_some() && self.sealing.is_none() {
            return conflict("native", "fernet_key");
        }
        if self.native == Some(false) && self.sealing.is_some() {
            return conflict("native", "sealing_keys");
        }
        if self.servers.is_some() && self.server_capacity.is_some() {
            return conflict("servers", "server_capacity");
        }
        for (option, given) in [
            ("refresh_margin", self.refresh_margin.is_some()),
            ("refresh_timeout", self.refresh_timeout.is_some()),
        ] {
            if given && self.refresher.is_none() {
                return Err(ConfigError::Requires {
                    option,
                    needs: "token_refresher",
                });
            }
        }
        if let Some(margin) = self
            .refresh_margin
            .filter(|margin| *margin > MAX_REFRESH_MARGIN)
        {
            return Err(ConfigError::OutOfRange {
                option: "refresh_margin",
                value: format!("{margin:?}"),
                range: "0s..=24h",
            });
        }
        if let Some(timeout) = self
            .refresh_timeout
            .filter(|timeout| !(MIN_REFRESH_TIMEOUT..=MAX_REFRESH_TIMEOUT).contains(timeout))
        {
            return Err(ConfigError::OutOfRange {
                option: "refresh_timeout",
                value: format!("{timeout:?}"),
                range: "1ms..=10min",
            });
        }
        let store = match (self.store, self.store_url) {
            (Some(_), Some(_)) => return conflict("store", "store_url"),
            (Some(_), None) if self.store_config.is_some() => {
                return conflict("store", "store_config");
            }
            (Some(store), None) => store,
            (None, Some(url)) => open_with(&url, &self.store_config.unwrap_or_default())
                .map_err(ConfigError::Store)?,
            (None, None) => return Err(ConfigError::NoStore),
        };
        let keys =
            KeySpace::new(&self.queue_name, store.deployment()).map_err(ConfigError::QueueName)?;
        let codec: Arc<dyn SnapshotCodec> = match self.codec {
            Some(codec) => codec,
            None => Arc::new(match (self.sealing, self.fernet) {
                (Some(ring), Some(fernet)) => Codec::native_sealed(ring).reading_fernet(fernet),
                (Some(ring), None) => Codec::native_sealed(ring),
                (None, Some(fernet)) => Codec::json_fernet(fernet),
                (None, None) if self.native == Some(true) => Codec::native(),
                (None, None) => Codec::json(),
            }),
        };
        let policy = self.policy.unwrap_or(if codec.protected() {
            RestorePolicy::FailClosed
        } else {
            RestorePolicy::FailOpen
        });
        let ttl = key_ttl(self.execution_ttl_secs).ok_or(ConfigError::TtlTooLong {
            secs: self.execution_ttl_secs,
        })?;
        let fingerprints = match self.fingerprints {
            Some(key) => key,
            None => FingerprintKey::random()?,
        };
        let refresher = self.refresher.map(|mut refresher| {
            if let Some(margin) = self.refresh_margin {
                refresher.margin = margin;
            }
            if let Some(timeout) = self.refresh_timeout {
                refresher.timeout = timeout;
            }
            refresher
        });
        let servers = match (self.servers, self.server_capacity) {
            (Some(servers), _) => servers,
            (None, Some(capacity)) => Servers::with_capacity(capacity),
            (None, None) => Servers::default(),
        };
        let records = store.task_records().map(|records| {
            TaskRecords::new(
                records,
                keys.clone(),
                Arc::clone(&codec),
                fingerprints.clone(),
            )
        });
        Ok(TaskGlue {
            inner: Arc::new(Inner {
                id: NEXT_GLUE_ID.fetch_add(1, Ordering::Relaxed),
                keys,
                store,
                records,
                codec,
                policy,
                ttl,
                header_policy: self.header_policy,
                fingerprints,
                refresher,
                span_hook: self.span_hook,
                sessions: self.sessions.unwrap_or_default(),
                servers,
                resolver: self.resolver,
                root: self.root,
            }),
        })
    }
}
