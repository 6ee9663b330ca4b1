//! Timeouts and connection count for Redis-backed stores.

use std::time::Duration;

/// Timeouts and connection count of a [`RedisStore`](super::RedisStore); a
/// [`MemoryStore`](super::MemoryStore) ignores them.
///
/// Defaults: connect 2 s, response 2 s, pool wait 2 s, 4 connections. Each phase of a call is
/// bounded by its own timeout, and a timeout error names the phase and limit that ended the call,
/// so a call returns within about [`StoreConfig::call_deadline`] (their sum).
///
/// ```
/// use std::time::Duration;
/// use taskctx_worker_glue::StoreConfig;
///
/// let config = StoreConfig::default()
///     .with_connect_timeout(Duration::from_millis(500))
///     .with_pool_size(4);
/// assert_eq!(config.connect_timeout(), Duration::from_millis(500));
/// assert_eq!(config.call_deadline(), Duration::from_millis(4500));
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

    /// Sets the connect timeout (a zero duration is raised to 1 ms).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = at_least_1ms(timeout);
        self
    }

    /// Sets the response timeout (a zero duration is raised to 1 ms).
    #[must_use]
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = at_least_1ms(timeout);
        self
    }

    /// Sets the pool wait timeout (a zero duration is raised to 1 ms).
    #[must_use]
    pub fn with_pool_wait_timeout(mut self, timeout: Duration) -> Self {
        self.pool_wait_timeout = at_least_1ms(timeout);
        self
    }

    /// Sets the pool size (0 is raised to 1).
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }
}

fn at_least_1ms(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(1))
}
