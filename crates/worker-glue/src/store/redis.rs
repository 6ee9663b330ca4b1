//! The Redis store: standalone servers (TCP, TLS or unix socket), Redis Cluster and Redis
//! Sentinel, each over a few held multiplexed connections made through a deadpool pool.
//!
//! # How a call reaches Redis
//!
//! The store keeps [`StoreConfig::pool_size`] connection slots. A call picks the next slot (round
//! robin), clones the slot's connection (a redis-rs `MultiplexedConnection` or `ClusterConnection`:
//! clones share one socket, and concurrent requests on it are pipelined) and sends its one
//! request: one round trip, no health check first. A slot is filled on first use from the deadpool
//! pool, and emptied (its connection taken out of the pool and dropped) when a call on it fails at
//! the connection level (I/O error, closed connection, timeout); the next call on that slot opens
//! a new one. A request on a connection already known to be closed never reaches the socket: it
//! is sent again, once, on a new connection, so a restarted Redis is used again on the very next
//! call.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;
use std::{fmt, future};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult, TimeoutType};
use deadpool_redis::Runtime;
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::{ClusterClient, ClusterClientBuilder};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue,
    IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisError, RedisFuture, Value,
};
use taskctx_scope::hash_slot;

use super::error::excerpt;
use super::url::{Credentials, HostPort, RedisTarget, Target, TlsCheck, Topology};
use super::{
    Deployment, Operation, RedactedUrl, SnapshotStore, StoreConfig, StoreError, StoreFuture,
    StoreUrl, StoredValue, TimeoutPhase, Ttl, UrlProblem,
};

/// A [`SnapshotStore`] on Redis: a standalone server over TCP, TLS or a unix socket, a Redis
/// Cluster, or the master named by Redis Sentinel.
///
/// Open one with [`open`](super::open) / [`open_with`](super::open_with) or
/// [`RedisStore::open_with`]. Nothing is connected until the first call. Every call is one
/// request (one round trip): the store holds a few multiplexed connections that every caller
/// shares, replaced when they fail rather than tested before use (see the module notes in
/// [`store`](crate::store)). Clones share the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: managed::Pool<Connector>,
    slots: Box<[Slot]>,
    /// The slot the next call uses (round robin).
    next_slot: AtomicUsize,
    /// Tells connections apart, so a failed call empties its slot only if the slot still holds the
    /// connection it failed on.
    next_generation: AtomicU64,
    config: StoreConfig,
    url: RedactedUrl,
    deployment: Deployment,
    mode: &'static str,
    /// The URL's password, scrubbed from any server or client message before it is kept.
    password: Option<String>,
}

/// One held connection, and the lock that lets only one call at a time open it.
#[derive(Default)]
struct Slot {
    held: Mutex<Option<Held>>,
    opening: tokio::sync::Mutex<()>,
}

struct Held {
    generation: u64,
    object: Object<Connector>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The held connection, if any.
    fn current(&self) -> Option<(u64, Conn)> {
        self.lock()
            .as_ref()
            .map(|held| (held.generation, Conn::clone(&held.object)))
    }

    /// Empties the slot if it still holds connection `generation`.
    fn forget(&self, generation: u64) {
        let mut held = self.lock();
        if held.as_ref().is_some_and(|h| h.generation == generation)
            && let Some(held) = held.take()
        {
            discard(held);
        }
    }
}

/// Takes a connection out of the pool for good (it is closed when its last clone goes): it must
/// never be handed out again.
fn discard(held: Held) {
    drop(Object::take(held.object));
}

/// A connection of any deployment; clones share it.
#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Opens connections for the pool, with the store's connect timeout.
enum Connector {
    /// A standalone server: deadpool-redis's own manager (a redis-rs client and its connection
    /// settings).
    Single(deadpool_redis::Manager),
    Cluster(ClusterClient),
    /// Asks each sentinel in turn for the master's address, then connects to the master; every
    /// connection with the store's connect timeout (redis-rs's own sentinel client connects with
    /// its fixed defaults).
    Sentinel {
        sentinels: Vec<redis::Client>,
        master: String,
        settings: RedisConnectionInfo,
        config: AsyncConnectionConfig,
    },
}

impl managed::Manager for Connector {
    type Type = Conn;
    type Error = RedisError;

    async fn create(&self) -> Result<Conn, RedisError> {
        match self {
            Self::Single(manager) => managed::Manager::create(manager).await.map(Conn::Single),
            Self::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            Self::Sentinel {
                sentinels,
                master,
                settings,
                config,
            } => sentinel_master(sentinels, master, settings, config)
                .await
                .map(Conn::Single),
        }
    }

    /// Never called with a live connection: the store holds its connections and takes failed
    /// ones out of the pool, so nothing is checked before reuse.
    async fn recycle(&self, _: &mut Conn, _: &Metrics) -> RecycleResult<RedisError> {
        Ok(())
    }
}

/// One request: a single command or a pipeline (`MULTI … EXEC` when atomic).
enum Request {
    One(Cmd),
    Many(Pipeline),
}

impl Request {
    async fn send<T: FromRedisValue>(&self, conn: &mut Conn) -> Result<T, RedisError> {
        match self {
            Self::One(cmd) => cmd.query_async(conn).await,
            Self::Many(pipeline) => pipeline.query_async(conn).await,
        }
    }
}

/// How a request on a connection failed.
struct Failure {
    error: StoreError,
    /// The connection is unusable (I/O error, closed, timed out): take it out of its slot.
    broken: bool,
    /// It failed before anything was written: the connection had already closed.
    unsent: bool,
    /// The connection closed (not timed out) while the request was pending.
    lost: bool,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("mode", &self.inner.mode)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Opens a Redis store from a `redis`, `rediss`, `unix`, `redis+unix`, `redis+cluster`,
    /// `rediss+cluster` or `redis+sentinel` URL with `config`. Nothing is connected yet.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] for a malformed URL or one naming a `memory://` store,
    /// [`StoreError::TlsNotEnabled`], [`StoreError::PoolSetup`].
    pub fn open_with(url: &str, config: &StoreConfig) -> Result<Self, StoreError> {
        match StoreUrl::parse(url)?.into_parts() {
            (Target::Redis(target), redacted) => Self::from_target(target, redacted, config),
            (Target::Memory { .. }, redacted) => Err(StoreError::InvalidUrl {
                url: redacted,
                reason: UrlProblem::UnknownScheme {
                    scheme: "memory".to_owned(),
                },
            }),
        }
    }

    /// The store's URL, redacted.
    #[must_use]
    pub fn url(&self) -> &RedactedUrl {
        &self.inner.url
    }

    /// The timeouts and connection count in use.
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Whether this store talks to a Redis Cluster (so the keys of one call must share a slot).
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        self.inner.deployment == Deployment::Cluster
    }

    pub(crate) fn from_target(
        target: RedisTarget,
        url: RedactedUrl,
        config: &StoreConfig,
    ) -> Result<Self, StoreError> {
        if target.tls.is_some() {
            if !cfg!(feature = "tls") {
                return Err(StoreError::TlsNotEnabled { url });
            }
            install_tls_provider();
        }
        let setup_error = |error: &RedisError| StoreError::PoolSetup {
            url: url.clone(),
            message: excerpt(&scrub(
                &error.to_string(),
                target.credentials.password.as_deref(),
            )),
        };
        let (connector, deployment, mode) =
            connector(&target, config).map_err(|error| setup_error(&error))?;
        let pool = managed::Pool::builder(connector)
            .max_size(config.pool_size())
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.pool_wait_timeout()))
            .create_timeout(Some(config.connect_timeout()))
            .build()
            .map_err(|error| StoreError::PoolSetup {
                url: url.clone(),
                message: excerpt(&error.to_string()),
            })?;
        let slots = (0..config.pool_size()).map(|_| Slot::default()).collect();
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                slots,
                next_slot: AtomicUsize::new(0),
                next_generation: AtomicU64::new(0),
                config: *config,
                url,
                deployment,
                mode,
                password: target.credentials.password,
            }),
        })
    }

    /// Sends `request` on the next slot's connection: one round trip. A held connection found
    /// closed is replaced and the request sent again, once, when that cannot apply it twice (see
    /// the retry rule below).
    async fn query<T: FromRedisValue>(
        &self,
        operation: Operation,
        request: &Request,
    ) -> Result<T, StoreError> {
        let inner = &self.inner;
        let index = inner.next_slot.fetch_add(1, Ordering::Relaxed) % inner.slots.len();
        let Some(slot) = inner.slots.get(index) else {
            return Err(StoreError::PoolSetup {
                url: inner.url.clone(),
                message: "the store has no connection slots".to_owned(),
            });
        };
        let (generation, mut conn, fresh) = match slot.current() {
            Some((generation, conn)) => (generation, conn, false),
            None => {
                let (generation, conn) = Box::pin(self.open_slot(operation, slot, None)).await?;
                (generation, conn, true)
            }
        };
        let failure = match self.send(operation, &mut conn, request).await {
            Ok(reply) => return Ok(reply),
            Err(failure) => failure,
        };
        // A held connection that turns out closed (a restarted or stopped server) is replaced and
        // the request sent once more when that cannot apply it twice: it was never written, or it
        // is idempotent (everything but DEL, whose count would be wrong) and the connection was
        // lost rather than timed out.
        let retry = !fresh && (failure.unsent || (failure.lost && operation.is_idempotent()));
        if !retry {
            if failure.broken {
                slot.forget(generation);
            }
            return Err(failure.error);
        }
        let (generation, mut conn) =
            Box::pin(self.open_slot(operation, slot, Some(generation))).await?;
        self.send(operation, &mut conn, request)
            .await
            .map_err(|failure| {
                if failure.broken {
                    slot.forget(generation);
                }
                failure.error
            })
    }

    /// Fills `slot` with a new connection, unless another call did meanwhile (and its connection
    /// is not `stale`). Waits at most the pool wait timeout for another call's attempt, and opens
    /// within the connect timeout.
    async fn open_slot(
        &self,
        operation: Operation,
        slot: &Slot,
        stale: Option<u64>,
    ) -> Result<(u64, Conn), StoreError> {
        let inner = &self.inner;
        let wait = inner.config.pool_wait_timeout();
        let _opening = tokio::time::timeout(wait, slot.opening.lock())
            .await
            .map_err(|_| self.timeout(operation, TimeoutPhase::PoolWait, wait))?;
        {
            let mut held = slot.lock();
            match held.as_ref() {
                Some(current) if Some(current.generation) != stale => {
                    return Ok((current.generation, Conn::clone(&current.object)));
                }
                Some(_) => {
                    if let Some(old) = held.take() {
                        discard(old);
                    }
                }
                None => {}
            }
        }
        let object = inner
            .pool
            .get()
            .await
            .map_err(|error| self.pool_error(operation, error))?;
        let generation = inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let conn = Conn::clone(&object);
        if let Some(old) = slot.lock().replace(Held { generation, object }) {
            discard(old);
        }
        Ok((generation, conn))
    }

    /// Sends `request` on `conn` and waits at most the response timeout for the reply.
    async fn send<T: FromRedisValue>(
        &self,
        operation: Operation,
        conn: &mut Conn,
        request: &Request,
    ) -> Result<T, Failure> {
        let limit = self.inner.config.response_timeout();
        let mut reply = pin!(request.send::<T>(conn));
        // The first poll only queues the request for the connection's writer; it completes with an
        // error at once only when the connection has already closed.
        let first = future::poll_fn(|cx| Poll::Ready(reply.as_mut().poll(cx))).await;
        let result = match first {
            Poll::Ready(Err(error)) if is_connection_failure(&error) => {
                return Err(Failure {
                    error: self.redis_error(operation, &error),
                    broken: true,
                    unsent: true,
                    lost: true,
                });
            }
            Poll::Ready(result) => result,
            Poll::Pending => match tokio::time::timeout(limit, reply).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(Failure {
                        error: self.timeout(operation, TimeoutPhase::Response, limit),
                        broken: true,
                        unsent: false,
                        lost: false,
                    });
                }
            },
        };
        result.map_err(|error| Failure {
            error: self.redis_error(operation, &error),
            broken: is_connection_failure(&error),
            unsent: false,
            lost: is_connection_failure(&error) && !error.is_timeout(),
        })
    }

    fn timeout(&self, operation: Operation, phase: TimeoutPhase, after: Duration) -> StoreError {
        StoreError::Timeout {
            operation,
            url: self.inner.url.clone(),
            phase,
            after,
        }
    }

    fn message(&self, text: &str) -> String {
        excerpt(&scrub(text, self.inner.password.as_deref()))
    }

    fn pool_error(&self, operation: Operation, error: PoolError<RedisError>) -> StoreError {
        let config = &self.inner.config;
        match error {
            PoolError::Timeout(TimeoutType::Wait) => self.timeout(
                operation,
                TimeoutPhase::PoolWait,
                config.pool_wait_timeout(),
            ),
            PoolError::Timeout(TimeoutType::Create) => {
                self.timeout(operation, TimeoutPhase::Connect, config.connect_timeout())
            }
            PoolError::Backend(error) if error.is_timeout() => {
                self.timeout(operation, TimeoutPhase::Connect, config.connect_timeout())
            }
            PoolError::Backend(error) => StoreError::Connect {
                operation,
                url: self.inner.url.clone(),
                message: self.message(&error.to_string()),
            },
            other => StoreError::Connect {
                operation,
                url: self.inner.url.clone(),
                message: self.message(&other.to_string()),
            },
        }
    }

    fn redis_error(&self, operation: Operation, error: &RedisError) -> StoreError {
        let url = self.inner.url.clone();
        if error.is_timeout() {
            return self.timeout(
                operation,
                TimeoutPhase::Response,
                self.inner.config.response_timeout(),
            );
        }
        let message = self.message(&error.to_string());
        if error.is_connection_refusal() {
            StoreError::Connect {
                operation,
                url,
                message,
            }
        } else if is_connection_failure(error) {
            StoreError::ConnectionLost {
                operation,
                url,
                message,
            }
        } else {
            StoreError::Command {
                operation,
                url,
                message,
            }
        }
    }

    /// In cluster mode, every key of one call must be in the slot of the first.
    fn check_one_slot<'k>(
        &self,
        operation: Operation,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<(), StoreError> {
        if !self.is_cluster() {
            return Ok(());
        }
        let mut keys = keys.into_iter();
        let Some(first_key) = keys.next() else {
            return Ok(());
        };
        let first_slot = hash_slot(first_key);
        for other_key in keys {
            let other_slot = hash_slot(other_key);
            if other_slot != first_slot {
                return Err(StoreError::CrossSlot {
                    operation,
                    first_key: excerpt(first_key),
                    first_slot,
                    other_key: excerpt(other_key),
                    other_slot,
                });
            }
        }
        Ok(())
    }

    /// `command` (with `ttl` as its second argument, if any) on every key of one slot, as one
    /// command when there is one key, else in one `MULTI … EXEC`; the integer replies.
    async fn per_key(
        &self,
        operation: Operation,
        keys: &[&str],
        command: &str,
        ttl: Option<Ttl>,
    ) -> Result<Vec<i64>, StoreError> {
        self.check_one_slot(operation, keys.iter().copied())?;
        let build = |key: &str| {
            let mut cmd = redis::cmd(command);
            cmd.arg(key).arg(ttl.map(Ttl::secs));
            cmd
        };
        match keys {
            [] => Ok(Vec::new()),
            [key] => Ok(vec![
                self.query(operation, &Request::One(build(key))).await?,
            ]),
            keys => {
                let mut pipeline = redis::pipe();
                pipeline.atomic();
                for key in keys {
                    pipeline.add_command(build(key));
                }
                self.query(operation, &Request::Many(pipeline)).await
            }
        }
    }
}

/// An error that leaves the connection unusable.
fn is_connection_failure(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

impl SnapshotStore for RedisStore {
    fn deployment(&self) -> Deployment {
        self.inner.deployment
    }

    fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let set = |&(key, value): &(&str, &[u8])| {
                let mut set = redis::cmd("SET");
                set.arg(key).arg(value).arg("EX").arg(ttl.secs());
                set
            };
            let request = match entries {
                [] => return Ok(()),
                // One SET is atomic by itself.
                [entry] => Request::One(set(entry)),
                entries => {
                    self.check_one_slot(Operation::Save, entries.iter().map(|(key, _)| *key))?;
                    let mut pipeline = redis::pipe();
                    pipeline.atomic();
                    for entry in entries {
                        pipeline.add_command(set(entry)).ignore();
                    }
                    Request::Many(pipeline)
                }
            };
            self.query(Operation::Save, &request).await
        })
    }

    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let mut get = redis::cmd("GET");
        get.arg(key);
        Box::pin(async move { self.query(Operation::Load, &Request::One(get)).await })
    }

    fn load_with_ttl<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<StoredValue>> {
        Box::pin(async move {
            let mut pipeline = redis::pipe();
            pipeline.atomic().cmd("GET").arg(key).cmd("PTTL").arg(key);
            let (value, pttl): (Option<Vec<u8>>, i64) = self
                .query(Operation::LoadWithTtl, &Request::Many(pipeline))
                .await?;
            // PTTL: -1 for no expiry, -2 when the key vanished in between (not possible inside
            // MULTI), otherwise milliseconds left.
            let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
            Ok(value.map(|value| StoredValue::new(value, ttl)))
        })
    }

    fn refresh<'a>(&'a self, keys: &'a [&'a str], ttl: Ttl) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let replies = self
                .per_key(Operation::Refresh, keys, "EXPIRE", Some(ttl))
                .await?;
            Ok(replies.iter().filter(|&&reply| reply == 1).count())
        })
    }

    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let replies = self.per_key(Operation::Delete, keys, "DEL", None).await?;
            Ok(replies.iter().filter(|&&reply| reply > 0).count())
        })
    }
}

/// The connector for `target`, its deployment and a name for `Debug`.
fn connector(
    target: &RedisTarget,
    config: &StoreConfig,
) -> Result<(Connector, Deployment, &'static str), RedisError> {
    // Responses are timed by the store itself (so that a timeout names its phase); connecting is
    // bounded here and by the pool.
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout()))
        .set_response_timeout(None);
    Ok(match &target.topology {
        Topology::Tcp(node) => {
            let info = connection_info(tcp_addr(node, target.tls), target)?;
            let manager = deadpool_redis::Manager::new_with_config(info, connection_config)?;
            (
                Connector::Single(manager),
                Deployment::Standalone,
                "standalone",
            )
        }
        Topology::Unix(path) => {
            let info = connection_info(ConnectionAddr::Unix(path.clone()), target)?;
            let manager = deadpool_redis::Manager::new_with_config(info, connection_config)?;
            (Connector::Single(manager), Deployment::Standalone, "unix")
        }
        Topology::Cluster(nodes) => {
            let infos = nodes
                .iter()
                .map(|node| connection_info(tcp_addr(node, target.tls), target))
                .collect::<Result<Vec<_>, _>>()?;
            let client = ClusterClientBuilder::new(infos)
                .connection_timeout(config.connect_timeout())
                .response_timeout(config.response_timeout())
                .overall_response_timeout(Some(config.response_timeout()))
                .build()?;
            (Connector::Cluster(client), Deployment::Cluster, "cluster")
        }
        Topology::Sentinel { sentinels, master } => {
            // The sentinels are asked without credentials; the URL's credentials and database are
            // for the master they name.
            let sentinels = sentinels
                .iter()
                .map(|node| redis::Client::open(ConnectionAddr::Tcp(node.host.clone(), node.port)))
                .collect::<Result<Vec<_>, _>>()?;
            (
                Connector::Sentinel {
                    sentinels,
                    master: master.clone(),
                    settings: redis_settings(&target.credentials, target.db),
                    config: connection_config,
                },
                Deployment::Standalone,
                "sentinel",
            )
        }
    })
}

/// A connection to the master `master` as the first sentinel that knows it names it, checked to
/// be a master (`ROLE`).
async fn sentinel_master(
    sentinels: &[redis::Client],
    master: &str,
    settings: &RedisConnectionInfo,
    config: &AsyncConnectionConfig,
) -> Result<MultiplexedConnection, RedisError> {
    let mut last_error = RedisError::from((
        ErrorKind::EmptySentinelList,
        "no sentinel to ask for the master",
    ));
    for sentinel in sentinels {
        let address = async {
            let mut conn = sentinel
                .get_multiplexed_async_connection_with_config(config)
                .await?;
            redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(master)
                .query_async::<Option<(String, u16)>>(&mut conn)
                .await
        };
        let (host, port) = match address.await {
            Ok(Some(address)) => address,
            Ok(None) => {
                last_error = RedisError::from((
                    ErrorKind::MasterNameNotFoundBySentinel,
                    "the sentinel knows no master of that name",
                    excerpt(master),
                ));
                continue;
            }
            Err(error) => {
                last_error = error;
                continue;
            }
        };
        let info = ConnectionAddr::Tcp(host, port)
            .into_connection_info()?
            .set_redis_settings(settings.clone());
        let mut conn = redis::Client::open(info)?
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        match role.first() {
            Some(Value::BulkString(role)) if role.as_slice() == b"master" => return Ok(conn),
            _ => {
                last_error = RedisError::from((
                    ErrorKind::MasterNameNotFoundBySentinel,
                    "the server the sentinel names is not a master",
                ));
            }
        }
    }
    Err(last_error)
}

/// Makes ring rustls's process-wide crypto provider, unless the application installed one first
/// (then that one is kept).
#[cfg(feature = "tls")]
fn install_tls_provider() {
    // An error only says a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(not(feature = "tls"))]
fn install_tls_provider() {}

/// `text` with every occurrence of `password` replaced by `***`.
fn scrub(text: &str, password: Option<&str>) -> String {
    match password {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text.to_owned(),
    }
}

fn tcp_addr(node: &HostPort, tls: Option<TlsCheck>) -> ConnectionAddr {
    match tls {
        None => ConnectionAddr::Tcp(node.host.clone(), node.port),
        Some(tls) => ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: tls == TlsCheck::Insecure,
            tls_params: None,
        },
    }
}

fn redis_settings(credentials: &Credentials, db: i64) -> RedisConnectionInfo {
    let mut settings = RedisConnectionInfo::default().set_db(db);
    if let Some(username) = &credentials.username {
        settings = settings.set_username(username);
    }
    if let Some(password) = &credentials.password {
        settings = settings.set_password(password);
    }
    settings
}

fn connection_info(
    addr: ConnectionAddr,
    target: &RedisTarget,
) -> Result<ConnectionInfo, RedisError> {
    Ok(addr
        .into_connection_info()?
        .set_redis_settings(redis_settings(&target.credentials, target.db)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_password_everywhere() {
        assert_eq!(
            scrub("auth s3cret failed: s3cret", Some("s3cret")),
            "auth *** failed: ***"
        );
        assert_eq!(scrub("nothing", None), "nothing");
        assert_eq!(scrub("nothing", Some("")), "nothing");
    }
}
