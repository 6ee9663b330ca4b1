//! The Redis store: standalone servers (TCP or unix socket), Redis Cluster and Redis Sentinel,
//! each through a deadpool-redis connection pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, FromRedisValue,
    IntoConnectionInfo, Pipeline, RedisConnectionInfo, RedisError, aio::ConnectionLike,
};
use deadpool_redis::{PoolError, Runtime, TimeoutType};

use super::error::excerpt;
use super::slot::key_slot;
use super::url::{Credentials, HostPort, RedisTarget, Tls, Topology};
use super::{
    Deployment, Operation, RedactedUrl, SnapshotStore, StoreConfig, StoreError, StoredValue,
    TimeoutPhase, Ttl,
};

/// A [`SnapshotStore`] on Redis: a standalone server over TCP or a unix socket, a Redis Cluster, or
/// the master named by Redis Sentinel.
///
/// Open one with [`open`](super::open) / [`open_with`](super::open_with) or
/// [`RedisStore::open_with`]. Connections are pooled (deadpool-redis) and made on first use; a
/// broken connection is dropped when next checked out (the pool sends `PING` first), so a
/// restarted Redis is used again on the next call. Clones share the pool.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: StoreConfig,
    url: RedactedUrl,
    /// The URL's password, scrubbed from any server or client message before it is kept.
    password: Option<String>,
}

enum Pool {
    Standalone(deadpool_redis::Pool),
    Cluster(deadpool_redis::cluster::Pool),
    Sentinel(deadpool_redis::sentinel::Pool),
}

impl Pool {
    fn mode(&self) -> &'static str {
        match self {
            Self::Standalone(_) => "standalone",
            Self::Cluster(_) => "cluster",
            Self::Sentinel(_) => "sentinel",
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("mode", &self.inner.pool.mode())
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
        match super::open_with(url, config)? {
            super::AnyStore::Redis(store) => Ok(store),
            super::AnyStore::Memory(_) => Err(StoreError::InvalidUrl {
                url: super::redact_url(url),
                reason: super::UrlProblem::UnknownScheme {
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

    /// The timeouts and pool size in use.
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Whether this store talks to a Redis Cluster (so the keys of one call must share a slot).
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.pool, Pool::Cluster(_))
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
        let setup_error = |message: String| StoreError::PoolSetup {
            url: url.clone(),
            message: scrub(&message, target.credentials.password.as_deref()),
        };
        let pool = match &target.topology {
            Topology::Tcp(node) => {
                let info = connection_info(tcp_addr(node, target.tls), &target)
                    .map_err(|error| setup_error(error.to_string()))?;
                standalone_pool(info, config).map_err(setup_error)?
            }
            Topology::Unix(path) => {
                let info = connection_info(ConnectionAddr::Unix(path.clone()), &target)
                    .map_err(|error| setup_error(error.to_string()))?;
                standalone_pool(info, config).map_err(setup_error)?
            }
            Topology::Cluster(nodes) => {
                cluster_pool(nodes, &target, config).map_err(setup_error)?
            }
            Topology::Sentinel { sentinels, master } => {
                sentinel_pool(sentinels, master, &target, config).map_err(setup_error)?
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                config: *config,
                url,
                password: target.credentials.password,
            }),
        })
    }

    /// Runs `pipeline` on a pooled connection, bounded by the call deadline.
    async fn query<T: FromRedisValue>(
        &self,
        operation: Operation,
        pipeline: &Pipeline,
    ) -> Result<T, StoreError> {
        let deadline = self.inner.config.call_deadline();
        // The pool's checkout future is large (about 20 KiB), so it is boxed rather than inlined
        // into every caller's future.
        let call = async {
            match &self.inner.pool {
                Pool::Standalone(pool) => {
                    let mut connection = Box::pin(pool.get())
                        .await
                        .map_err(|error| self.pool_error(operation, error))?;
                    self.send(operation, &mut connection, pipeline).await
                }
                Pool::Cluster(pool) => {
                    let mut connection = Box::pin(pool.get())
                        .await
                        .map_err(|error| self.pool_error(operation, error))?;
                    self.send(operation, &mut connection, pipeline).await
                }
                Pool::Sentinel(pool) => {
                    let mut connection = Box::pin(pool.get())
                        .await
                        .map_err(|error| self.pool_error(operation, error))?;
                    self.send(operation, &mut connection, pipeline).await
                }
            }
        };
        tokio::time::timeout(deadline, call)
            .await
            .unwrap_or_else(|_| Err(self.timeout(operation, TimeoutPhase::Call, deadline)))
    }

    async fn send<C: ConnectionLike + Send, T: FromRedisValue>(
        &self,
        operation: Operation,
        connection: &mut C,
        pipeline: &Pipeline,
    ) -> Result<T, StoreError> {
        let limit = self.inner.config.response_timeout();
        match tokio::time::timeout(limit, pipeline.query_async::<T>(connection)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(self.redis_error(operation, &error)),
            Err(_) => Err(self.timeout(operation, TimeoutPhase::Response, limit)),
        }
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

    fn pool_error(&self, operation: Operation, error: PoolError) -> StoreError {
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
            PoolError::Timeout(TimeoutType::Recycle) => {
                self.timeout(operation, TimeoutPhase::Response, config.response_timeout())
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
        let message = self.message(&error.to_string());
        if error.is_timeout() {
            self.timeout(
                operation,
                TimeoutPhase::Response,
                self.inner.config.response_timeout(),
            )
        } else if error.is_connection_refusal() {
            StoreError::Connect {
                operation,
                url,
                message,
            }
        } else if error.is_io_error() || error.is_connection_dropped() {
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
        let first_slot = key_slot(first_key.as_bytes());
        for other_key in keys {
            let other_slot = key_slot(other_key.as_bytes());
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
}

impl SnapshotStore for RedisStore {
    fn deployment(&self) -> Deployment {
        if self.is_cluster() {
            Deployment::Cluster
        } else {
            Deployment::Standalone
        }
    }

    async fn save(&self, entries: &[(&str, &[u8])], ttl: Ttl) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.check_one_slot(Operation::Save, entries.iter().map(|(key, _)| *key))?;
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for (key, value) in entries {
            pipeline
                .cmd("SET")
                .arg(*key)
                .arg(*value)
                .arg("EX")
                .arg(ttl.secs())
                .ignore();
        }
        self.query::<()>(Operation::Save, &pipeline).await
    }

    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("GET").arg(key);
        let (value,) = self
            .query::<(Option<Vec<u8>>,)>(Operation::Load, &pipeline)
            .await?;
        Ok(value)
    }

    async fn load_with_ttl(&self, key: &str) -> Result<Option<StoredValue>, StoreError> {
        let mut pipeline = redis::pipe();
        pipeline.atomic().cmd("GET").arg(key).cmd("PTTL").arg(key);
        let (value, pttl) = self
            .query::<(Option<Vec<u8>>, i64)>(Operation::LoadWithTtl, &pipeline)
            .await?;
        Ok(value.map(|value| {
            // PTTL: -1 for no expiry, -2 when the key vanished in between (not possible inside
            // MULTI), otherwise milliseconds left.
            let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
            StoredValue::new(value, ttl)
        }))
    }

    async fn refresh(&self, keys: &[&str], ttl: Ttl) -> Result<usize, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.check_one_slot(Operation::Refresh, keys.iter().copied())?;
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for key in keys {
            pipeline.cmd("EXPIRE").arg(*key).arg(ttl.secs());
        }
        let replies = self
            .query::<Vec<i64>>(Operation::Refresh, &pipeline)
            .await?;
        Ok(replies.iter().filter(|&&reply| reply == 1).count())
    }

    async fn delete(&self, keys: &[&str]) -> Result<usize, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.check_one_slot(Operation::Delete, keys.iter().copied())?;
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for key in keys {
            pipeline.cmd("DEL").arg(*key);
        }
        let replies = self.query::<Vec<i64>>(Operation::Delete, &pipeline).await?;
        Ok(replies.iter().filter(|&&reply| reply > 0).count())
    }
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

fn tcp_addr(node: &HostPort, tls: Option<Tls>) -> ConnectionAddr {
    match tls {
        None => ConnectionAddr::Tcp(node.host.clone(), node.port),
        Some(tls) => ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: tls == Tls::Insecure,
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

fn standalone_pool(info: ConnectionInfo, config: &StoreConfig) -> Result<Pool, String> {
    let connection_config = AsyncConnectionConfig::default()
        .set_connection_timeout(Some(config.connect_timeout()))
        .set_response_timeout(Some(config.response_timeout()));
    let manager = deadpool_redis::Manager::new_with_config(info, connection_config)
        .map_err(|error| error.to_string())?;
    deadpool_redis::Pool::builder(manager)
        .max_size(config.pool_size())
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.pool_wait_timeout()))
        .create_timeout(Some(config.connect_timeout()))
        .recycle_timeout(Some(config.response_timeout()))
        .build()
        .map(Pool::Standalone)
        .map_err(|error| error.to_string())
}

fn cluster_pool(
    nodes: &[HostPort],
    target: &RedisTarget,
    config: &StoreConfig,
) -> Result<Pool, String> {
    let infos = nodes
        .iter()
        .map(|node| connection_info(tcp_addr(node, target.tls), target))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.to_string())?;
    let manager =
        deadpool_redis::cluster::Manager::new(infos, false).map_err(|error| error.to_string())?;
    deadpool_redis::cluster::Pool::builder(manager)
        .max_size(config.pool_size())
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.pool_wait_timeout()))
        .create_timeout(Some(config.connect_timeout()))
        .recycle_timeout(Some(config.response_timeout()))
        .build()
        .map(Pool::Cluster)
        .map_err(|error| error.to_string())
}

fn sentinel_pool(
    sentinels: &[HostPort],
    master: &str,
    target: &RedisTarget,
    config: &StoreConfig,
) -> Result<Pool, String> {
    use deadpool_redis::sentinel::{Manager, SentinelNodeConnectionInfo, SentinelServerType};
    // The sentinels are asked without credentials; the URL's credentials and database are for the
    // master they name.
    let sentinel_infos = sentinels
        .iter()
        .map(|node| ConnectionAddr::Tcp(node.host.clone(), node.port).into_connection_info())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.to_string())?;
    let master_info = SentinelNodeConnectionInfo {
        tls_mode: None,
        redis_connection_info: Some(deadpool_redis::RedisConnectionInfo {
            db: target.db,
            username: target.credentials.username.clone(),
            password: target.credentials.password.clone(),
            protocol: deadpool_redis::ProtocolVersion::default(),
        }),
    };
    let manager = Manager::new(
        sentinel_infos,
        master.to_owned(),
        Some(master_info),
        SentinelServerType::Master,
    )
    .map_err(|error| error.to_string())?;
    deadpool_redis::sentinel::Pool::builder(manager)
        .max_size(config.pool_size())
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.pool_wait_timeout()))
        .create_timeout(Some(config.connect_timeout()))
        .recycle_timeout(Some(config.response_timeout()))
        .build()
        .map(Pool::Sentinel)
        .map_err(|error| error.to_string())
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
