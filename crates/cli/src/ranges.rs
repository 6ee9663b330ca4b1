//! The ranges of the numeric options. clap checks them while parsing, so a value outside its
//! range exits 2 with a one-line message before anything runs (and never reaches an allocation
//! sized by it).

use clap::builder::RangedU64ValueParser;

/// `--tasks` of `demo` and `submit`: 0 to 1,000,000.
pub(crate) fn tasks() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(0..=1_000_000)
}

/// `--tasks` of `bench` (operations per measurement): 1 to 1,000,000.
pub(crate) fn operations() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=1_000_000)
}

/// `--callers`: 1 to 10,000.
pub(crate) fn callers() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=10_000)
}

/// `--workers` and `bench --concurrency`: 1 to 1024.
pub(crate) fn workers() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=1024)
}

/// `--connections`: 1 to 1024, the store's own range
/// ([`StoreConfig::MAX_POOL_SIZE`](taskctx_worker_glue::StoreConfig::MAX_POOL_SIZE)).
pub(crate) fn connections() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=1024)
}

/// `--threads`: 1 to 256.
pub(crate) fn threads() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=256)
}

/// `work --idle-secs`: 1 to 3600.
pub(crate) fn idle_secs() -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::new().range(1..=3600)
}

/// `work --lease-secs`: 1 to 3600.
pub(crate) fn lease_secs() -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::new().range(1..=3600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connection_range_is_the_stores() {
        let store = taskctx_worker_glue::StoreConfig::MAX_POOL_SIZE;
        assert!(
            taskctx_worker_glue::StoreConfig::default()
                .with_pool_size(store)
                .is_ok()
        );
        assert!(
            taskctx_worker_glue::StoreConfig::default()
                .with_pool_size(store + 1)
                .is_err()
        );
    }
}
