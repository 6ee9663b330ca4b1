//! Store settings: the bounds of every [`StoreConfig`] option and of [`Ttl`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::time::Duration;

use taskctx_worker_glue::{ConfigError, StoreConfig, Ttl};

#[test]
fn ttl_bounds() {
    assert_eq!(Ttl::from_secs(0), None);
    assert_eq!(Ttl::from_secs(Ttl::MAX_SECS + 1), None);
    assert_eq!(Ttl::from_secs(1800).map(Ttl::secs), Some(1800));
    assert_eq!(
        Ttl::from_secs(Ttl::MAX_SECS).map(Ttl::as_duration),
        Some(Duration::from_secs(Ttl::MAX_SECS))
    );
}

#[test]
fn values_outside_their_range_are_typed_errors() {
    let config = StoreConfig::default();
    for size in [0, StoreConfig::MAX_POOL_SIZE + 1, 1 << 40, usize::MAX] {
        let error = config.with_pool_size(size).err();
        let expected = format!("`with_pool_size` is {size}, outside its range 1..=1024");
        assert_eq!(error.as_ref().map(ToString::to_string), Some(expected));
        assert!(matches!(error, Some(ConfigError::OutOfRange { .. })));
    }
    for size in [1, StoreConfig::MAX_POOL_SIZE] {
        assert_eq!(
            config.with_pool_size(size).map(|c| c.pool_size()).ok(),
            Some(size)
        );
    }
    let too_short = Duration::from_micros(999);
    for t in [
        Duration::ZERO,
        too_short,
        Duration::from_secs(3601),
        Duration::MAX,
    ] {
        assert!(config.with_connect_timeout(t).is_err(), "{t:?}");
        assert!(config.with_response_timeout(t).is_err(), "{t:?}");
        assert!(config.with_pool_wait_timeout(t).is_err(), "{t:?}");
    }
    for t in [StoreConfig::MIN_TIMEOUT, StoreConfig::MAX_TIMEOUT] {
        let set = config.with_connect_timeout(t).map(|c| c.connect_timeout());
        assert_eq!(set.ok(), Some(t));
    }
}
