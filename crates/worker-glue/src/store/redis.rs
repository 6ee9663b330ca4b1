//! The Redis store: standalone servers (TCP, TLS or unix socket), Redis Cluster and Redis
//! Sentinel, each over a few held multiplexed connections (see the [`store`](super) notes).

use std::fmt;
use std::future::{self, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::{ClusterClient, ClusterClientBuilder};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue,
    IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisError, ServerErrorKind, Value,
};
use taskctx_scope::hash_slot;

use crate::records::TaskRecordStore;

use super::error::excerpt;
use super::url::HostPort;
use super::{
    Deployment, Operation, RedactedUrl, SnapshotStore, StoreConfig, StoreError, StoreFuture,
    StoreUrl, StoredValue, TimeoutPhase, TlsCheck, Ttl, UrlKind, UrlProblem,
};

/// A [`SnapshotStore`] on Redis: a standalone server over TCP, TLS or a unix socket, a Redis
/// Cluster, or the master named by Redis Sentinel.
///
/// Open one with [`open`](super::open) / [`open_with`](super::open_with) or
/// [`RedisStore::open_with`]. Nothing is connected until the first call; how calls reach Redis
/// is described in the [`store`](super) module. Clones share the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    slots: Box<[Slot]>,
    /// The slot the next call uses (round robin).
    next_slot: AtomicUsize,
    /// Tells connections apart, so a failed call empties its slot only if the slot still holds the
    /// connection it failed on.
    next_generation: AtomicU64,
    config: StoreConfig,
    url: RedactedUrl,
    kind: UrlKind,
    /// The URL's password, scrubbed from any server or client message before it is kept.
    password: Option<String>,
    /// The connection of [`RedisStore::blocking_pop`], opened on first use.
    popping: tokio::sync::Mutex<Option<Conn>>,
}

/// The shortest wait of [`RedisStore::blocking_pop`] (`BLPOP` with 0 would wait forever).
const MIN_POP_WAIT: Duration = Duration::from_millis(10);

/// One held connection (with its generation), and the lock that lets only one call at a time
/// open it.
#[derive(Default)]
struct Slot {
    held: Mutex<Option<(u64, Conn)>>,
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<(u64, Conn)>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Empties the slot if it still holds connection `generation`; the connection closes when
    /// its last clone goes.
    fn forget(&self, generation: u64) {
        let mut held = self.lock();
        if held.as_ref().is_some_and(|(held, _)| *held == generation) {
            *held = None;
        }
    }
}

/// A connection of any deployment; clones share it, and concurrent requests are pipelined.
#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    async fn send<T: FromRedisValue>(&mut self, request: &Request) -> Result<T, RedisError> {
        match self {
            Self::Single(conn) => request.send(conn).await,
            Self::Cluster(conn) => request.send(conn).await,
        }
    }
}

/// One request: a single command, a pipeline (`MULTI … EXEC` when atomic), or an `EVALSHA` of a
/// Lua script, which is loaded (`SCRIPT LOAD`, on every master in cluster mode) and called again
/// when the server does not know it yet.
pub(crate) enum Request {
    One(Cmd),
    Many(Pipeline),
    Script {
        /// `EVALSHA sha numkeys keys… args…`.
        call: Cmd,
        /// The script's source, for `SCRIPT LOAD`.
        source: &'static str,
    },
}

impl Request {
    async fn send<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> Result<T, RedisError> {
        match self {
            Self::One(cmd) => cmd.query_async(conn).await,
            Self::Many(pipeline) => pipeline.query_async(conn).await,
            Self::Script { call, source } => match call.query_async(conn).await {
                Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(*source)
                        .query_async::<Value>(conn)
                        .await?;
                    call.query_async(conn).await
                }
                other => other,
            },
        }
    }
}

/// Opens connections, with the store's connect timeout.
enum Connector {
    Single(redis::Client, AsyncConnectionConfig),
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

impl Connector {
    async fn connect(&self) -> Result<Conn, RedisError> {
        match self {
            Self::Single(client, config) => client
                .get_multiplexed_async_connection_with_config(config)
                .await
                .map(Conn::Single),
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
}

/// How a request on a connection failed.
enum Fault {
    /// The connection had already closed: nothing was written.
    Unsent,
    /// The connection closed while the request was pending.
    Lost,
    /// No reply within the response timeout.
    TimedOut,
    /// Redis answered with an error or an unexpected reply; the connection is fine.
    Command,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("kind", &self.inner.kind)
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
        let url = StoreUrl::parse(url)?;
        if url.kind == UrlKind::Memory {
            return Err(StoreError::InvalidUrl {
                url: url.redacted,
                reason: UrlProblem::UnknownScheme {
                    scheme: "memory".to_owned(),
                },
            });
        }
        Self::from_url(url, config)
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
        self.inner.kind == UrlKind::Cluster
    }

    pub(crate) fn from_url(url: StoreUrl, config: &StoreConfig) -> Result<Self, StoreError> {
        if url.tls.is_some() {
            if !cfg!(feature = "tls") {
                return Err(StoreError::TlsNotEnabled { url: url.redacted });
            }
            install_tls_provider();
        }
        let connector = connector(&url, config).map_err(|error| StoreError::PoolSetup {
            url: url.redacted.clone(),
            message: excerpt(&scrub(&error.to_string(), url.password.as_deref())),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                connector,
                slots: (0..config.pool_size()).map(|_| Slot::default()).collect(),
                next_slot: AtomicUsize::new(0),
                next_generation: AtomicU64::new(0),
                config: *config,
                url: url.redacted,
                kind: url.kind,
                password: url.password,
                popping: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Sends `request` on the next slot's connection: one round trip. A held connection found
    /// closed is replaced and the request sent again, once, when that cannot apply it twice.
    pub(crate) async fn query<T: FromRedisValue>(
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
        let held = slot.lock().clone();
        let ((generation, mut conn), fresh) = match held {
            Some(held) => (held, false),
            // Boxed: opening is rare, and its future would otherwise make every call's future
            // 2.9 KB instead of 0.6 KB.
            None => (Box::pin(self.open_slot(operation, slot, None)).await?, true),
        };
        let (error, fault) = match self.send(operation, &mut conn, request).await {
            Ok(reply) => return Ok(reply),
            Err(failure) => failure,
        };
        // A held connection that turns out closed (a restarted or stopped server) is replaced and
        // the request sent once more when that cannot apply it twice: it was never written, or it
        // is idempotent (everything but DEL, whose count would be wrong) and the connection was
        // lost rather than timed out.
        let retry = match fault {
            Fault::Unsent => !fresh,
            Fault::Lost => !fresh && operation.is_idempotent(),
            Fault::TimedOut | Fault::Command => false,
        };
        if !matches!(fault, Fault::Command) {
            slot.forget(generation);
        }
        if !retry {
            return Err(error);
        }
        let (generation, mut conn) =
            Box::pin(self.open_slot(operation, slot, Some(generation))).await?;
        self.send(operation, &mut conn, request)
            .await
            .map_err(|(error, fault)| {
                if !matches!(fault, Fault::Command) {
                    slot.forget(generation);
                }
                error
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
        let config = &self.inner.config;
        let wait = config.pool_wait_timeout();
        let _opening = tokio::time::timeout(wait, slot.opening.lock())
            .await
            .map_err(|_| self.timeout(operation, TimeoutPhase::PoolWait, wait))?;
        if let Some(held) = slot.lock().clone().filter(|(held, _)| Some(*held) != stale) {
            return Ok(held);
        }
        let conn = self.connect(operation).await?;
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        *slot.lock() = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// A new connection, within the connect timeout.
    async fn connect(&self, operation: Operation) -> Result<Conn, StoreError> {
        let connect = self.inner.config.connect_timeout();
        match tokio::time::timeout(connect, self.inner.connector.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) if !error.is_timeout() => Err(StoreError::Connect {
                operation,
                url: self.inner.url.clone(),
                message: self.message(&error.to_string()),
            }),
            Ok(Err(_)) | Err(_) => Err(self.timeout(operation, TimeoutPhase::Connect, connect)),
        }
    }

    /// Takes the first entry of `list`, waiting up to `wait` (at least [`MIN_POP_WAIT`], at most
    /// half the response timeout) for one: a `BLPOP` on a connection of its own, since a blocked
    /// pop holds up every request pipelined behind it on a shared one. One pop at a time per
    /// store. The connection is held only by the pop while it waits: a pop dropped before its
    /// reply (a caller's timeout or `select!`) closes it, so the server takes no entry for a reply
    /// nobody reads; so does a failure, and the next pop opens another.
    pub(crate) async fn blocking_pop(
        &self,
        operation: Operation,
        list: &str,
        wait: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let response = self.inner.config.response_timeout();
        let wait = wait.clamp(MIN_POP_WAIT, (response / 2).max(MIN_POP_WAIT));
        let mut held = self.inner.popping.lock().await;
        let mut conn = match held.take() {
            Some(conn) => conn,
            None => self.connect(operation).await?,
        };
        let mut pop = redis::cmd("BLPOP");
        pop.arg(list).arg(wait.as_secs_f64());
        let limit = wait.saturating_add(response);
        let popped = tokio::time::timeout(
            limit,
            conn.send::<Option<(Vec<u8>, Vec<u8>)>>(&Request::One(pop)),
        )
        .await;
        match popped {
            Ok(Ok(popped)) => {
                *held = Some(conn);
                Ok(popped.map(|(_, entry)| entry))
            }
            Ok(Err(error)) => {
                if !is_connection_failure(&error) {
                    *held = Some(conn);
                }
                Err(self.redis_error(operation, &error))
            }
            Err(_) => Err(self.timeout(operation, TimeoutPhase::Response, limit)),
        }
    }

    /// Sends `request` on `conn` and waits at most the response timeout for the reply.
    async fn send<T: FromRedisValue>(
        &self,
        operation: Operation,
        conn: &mut Conn,
        request: &Request,
    ) -> Result<T, (StoreError, Fault)> {
        let limit = self.inner.config.response_timeout();
        let mut reply = pin!(conn.send::<T>(request));
        // The first poll only queues the request for the connection's writer; it completes with an
        // error at once only when the connection has already closed.
        let result = match future::poll_fn(|cx| Poll::Ready(reply.as_mut().poll(cx))).await {
            Poll::Ready(Err(error)) if is_connection_failure(&error) => {
                return Err((self.redis_error(operation, &error), Fault::Unsent));
            }
            Poll::Ready(result) => result,
            Poll::Pending => tokio::time::timeout(limit, reply).await.map_err(|_| {
                let error = self.timeout(operation, TimeoutPhase::Response, limit);
                (error, Fault::TimedOut)
            })?,
        };
        result.map_err(|error| {
            let fault = match () {
                () if error.is_timeout() => Fault::TimedOut,
                () if is_connection_failure(&error) => Fault::Lost,
                () => Fault::Command,
            };
            (self.redis_error(operation, &error), fault)
        })
    }

    fn timeout(&self, operation: Operation, phase: TimeoutPhase, after: Duration) -> StoreError {
        let url = self.inner.url.clone();
        StoreError::Timeout {
            operation,
            url,
            phase,
            after,
        }
    }

    fn message(&self, text: &str) -> String {
        excerpt(&scrub(text, self.inner.password.as_deref()))
    }

    fn redis_error(&self, operation: Operation, error: &RedisError) -> StoreError {
        let (url, message) = (self.inner.url.clone(), self.message(&error.to_string()));
        if error.is_timeout() {
            let limit = self.inner.config.response_timeout();
            self.timeout(operation, TimeoutPhase::Response, limit)
        } else if error.is_connection_refusal() {
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
    pub(crate) fn check_one_slot<'k>(
        &self,
        operation: Operation,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Result<(), StoreError> {
        if !self.is_cluster() {
            return Ok(());
        }
        let mut slots = keys.into_iter().map(|key| (key, hash_slot(key)));
        let Some((first_key, first_slot)) = slots.next() else {
            return Ok(());
        };
        match slots.find(|&(_, slot)| slot != first_slot) {
            None => Ok(()),
            Some((other_key, other_slot)) => Err(StoreError::CrossSlot {
                operation,
                first_key: excerpt(first_key),
                first_slot,
                other_key: excerpt(other_key),
                other_slot,
            }),
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
        if self.is_cluster() {
            Deployment::Cluster
        } else {
            Deployment::Standalone
        }
    }

    fn task_records(self: Arc<Self>) -> Option<Arc<dyn TaskRecordStore>> {
        Some(self)
    }

    fn save<'a>(&'a self, entries: &'a [(&'a str, &'a [u8])], ttl: Ttl) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let set = |&(key, value): &(&str, &[u8])| {
                // Commands are sized up front (here and in `load`), so the value is copied in
                // once: unsized, `taskctx bench --concurrency 64` took about 5% more CPU
                // (2026-12-07).
                let mut set = Cmd::with_capacity(5, 25 + key.len() + value.len());
                set.arg("SET").arg(key).arg(value).arg("EX").arg(ttl.secs());
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
        Box::pin(async move {
            let mut get = Cmd::with_capacity(2, 3 + key.len());
            get.arg("GET").arg(key);
            self.query(Operation::Load, &Request::One(get)).await
        })
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
            let expire = |key: &str| {
                let mut expire = redis::cmd("EXPIRE");
                expire.arg(key).arg(ttl.secs());
                expire
            };
            let replies: Vec<i64> = match keys {
                [] => return Ok(0),
                [key] => vec![(self.query(Operation::Refresh, &Request::One(expire(key)))).await?],
                keys => {
                    self.check_one_slot(Operation::Refresh, keys.iter().copied())?;
                    let mut pipeline = redis::pipe();
                    pipeline.atomic();
                    for key in keys {
                        pipeline.add_command(expire(key));
                    }
                    self.query(Operation::Refresh, &Request::Many(pipeline))
                        .await?
                }
            };
            Ok(replies.iter().filter(|&&reply| reply == 1).count())
        })
    }

    fn delete<'a>(&'a self, keys: &'a [&'a str]) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(0);
            }
            // One `DEL` of every key is atomic, and counts the keys it deleted.
            self.check_one_slot(Operation::Delete, keys.iter().copied())?;
            let mut del = redis::cmd("DEL");
            del.arg(keys);
            self.query(Operation::Delete, &Request::One(del)).await
        })
    }
}

/// The connector for `url`.
fn connector(url: &StoreUrl, config: &StoreConfig) -> Result<Connector, RedisError> {
    // Responses are timed by the store itself (so that a timeout names its phase); connecting is
    // bounded here and by the pool.
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout()))
        .set_response_timeout(None);
    let mut settings = RedisConnectionInfo::default().set_db(url.db);
    if let Some(username) = &url.username {
        settings = settings.set_username(username);
    }
    if let Some(password) = &url.password {
        settings = settings.set_password(password);
    }
    let info = |addr: ConnectionAddr| -> Result<ConnectionInfo, RedisError> {
        Ok(addr
            .into_connection_info()?
            .set_redis_settings(settings.clone()))
    };
    let tcp = |node: &HostPort| match url.tls {
        None => ConnectionAddr::Tcp(node.host.clone(), node.port),
        Some(tls) => ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: tls == TlsCheck::Insecure,
            tls_params: None,
        },
    };
    let server = match (url.kind, url.hosts.first()) {
        (UrlKind::Cluster, _) => {
            let infos = url.hosts.iter().map(|node| info(tcp(node)));
            let client = ClusterClientBuilder::new(infos.collect::<Result<Vec<_>, _>>()?)
                .connection_timeout(config.connect_timeout())
                .response_timeout(config.response_timeout())
                .overall_response_timeout(Some(config.response_timeout()))
                .build()?;
            return Ok(Connector::Cluster(client));
        }
        (UrlKind::Sentinel, _) => {
            // The sentinels are asked without credentials; the URL's credentials and database are
            // for the master they name.
            let sentinels = (url.hosts.iter())
                .map(|node| redis::Client::open(ConnectionAddr::Tcp(node.host.clone(), node.port)))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Connector::Sentinel {
                sentinels,
                master: url.name.clone(),
                settings,
                config: connection_config,
            });
        }
        (UrlKind::Unix, _) => ConnectionAddr::Unix(url.name.clone().into()),
        (_, Some(node)) => tcp(node),
        (_, None) => return Err((ErrorKind::InvalidClientConfig, "no server named").into()),
    };
    let client = redis::Client::open(info(server)?)?;
    Ok(Connector::Single(client, connection_config))
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
