//! Timeouts and connection count for Redis-backed stores.

use std::time::Duration;

use crate::ConfigError;

/// Timeouts and connection count of a [`RedisStore`](super::RedisStore); a
/// [`MemoryStore`](super::MemoryStore) ignores them.
///
/// Defaults: connect 2 s, response 2 s, pool wait 2 s, 4 connections. Each phase of a call is
/// bounded by its own timeout, and a timeout error names the phase and limit that ended the call,
/// so a call returns within about [`StoreConfig::call_deadline`] (their sum).
///
/// Ranges: each timeout 1 ms to 1 hour ([`StoreConfig::MIN_TIMEOUT`],
/// [`StoreConfig::MAX_TIMEOUT`]), the pool 1 to 1024 connections
/// ([`StoreConfig::MAX_POOL_SIZE`]); a setter given a value outside its range returns
/// [`ConfigError::OutOfRange`].
///
/// ```
/// use std::time::Duration;
/// use taskctx_worker_glue::StoreConfig;
///
/// let config = StoreConfig::default()
///     .with_connect_timeout(Duration::from_millis(500))?
///     .with_pool_size(4)?;
/// assert_eq!(config.connect_timeout(), Duration::from_millis(500));
/// assert_eq!(config.call_deadline(), Duration::from_millis(4500));
/// assert!(StoreConfig::default().with_pool_size(usize::MAX).is_err());
/// # Ok::<(), taskctx_worker_glue::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    connect_timeout: Duration,
    response_timeout: Duration,
    pool_wait_timeout: Duration,
    pool_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            pool_wait_timeout: Duration::from_secs(2),
            pool_size: 4,
        }
    }
}

impl StoreConfig {
    /// The largest pool: 1024 connections.
    pub const MAX_POOL_SIZE: usize = 1024;

    /// The shortest timeout: 1 ms.
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

    /// The longest timeout: 1 hour.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

    /// The most time spent opening one connection (TCP or socket connect, TLS, `AUTH`, `SELECT`).
    #[must_use]
    pub const fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The most time spent waiting for the reply to one request.
    #[must_use]
    pub const fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The most time spent waiting while another call opens the connection this call is to use.
    #[must_use]
    pub const fn pool_wait_timeout(&self) -> Duration {
        self.pool_wait_timeout
    }

    /// How many connections the store keeps open. Each is multiplexed: it carries any number of
    /// concurrent calls, their requests pipelined on one socket.
    #[must_use]
    pub const fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// The longest one call may take: pool wait + connect + response timeouts.
    #[must_use]
    pub fn call_deadline(&self) -> Duration {
        self.pool_wait_timeout
            .saturating_add(self.connect_timeout)
            .saturating_add(self.response_timeout)
    }

    /// Sets the connect timeout.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 ms to 1 hour.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.connect_timeout = timeout_in_range("with_connect_timeout", timeout)?;
        Ok(self)
    }

    /// Sets the response timeout.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 ms to 1 hour.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.response_timeout = timeout_in_range("with_response_timeout", timeout)?;
        Ok(self)
    }

    /// Sets the pool wait timeout.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 ms to 1 hour.
    pub fn with_pool_wait_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.pool_wait_timeout = timeout_in_range("with_pool_wait_timeout", timeout)?;
        Ok(self)
    }

    /// Sets the pool size.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 to [`StoreConfig::MAX_POOL_SIZE`] (1024).
    pub fn with_pool_size(mut self, size: usize) -> Result<Self, ConfigError> {
        if !(1..=Self::MAX_POOL_SIZE).contains(&size) {
            return Err(ConfigError::OutOfRange {
                option: "with_pool_size",
                value: size.to_string(),
                range: "1..=1024",
            });
        }
        self.pool_size = size;
        Ok(self)
    }
}

/// `timeout` when within [`StoreConfig::MIN_TIMEOUT`]..=[`StoreConfig::MAX_TIMEOUT`].
fn timeout_in_range(option: &'static str, timeout: Duration) -> Result<Duration, ConfigError> {
    if (StoreConfig::MIN_TIMEOUT..=StoreConfig::MAX_TIMEOUT).contains(&timeout) {
        Ok(timeout)
    } else {
        Err(ConfigError::OutOfRange {
            option,
            value: format!("{timeout:?}"),
            range: "1ms..=1h",
        })
    }
}
