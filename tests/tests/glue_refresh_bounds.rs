//! A token refresher that never answers or panics: the refresh is bounded by the glue's refresh
//! timeout, a panic fails that task's refresh only, and either is handled by the restore policy
//! (FailClosed refuses the task with a typed error, FailOpen runs it as without a refresher).
//! Tokio's paused clock makes the 5 s default timeout pass at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use glue_common::{submit_key, token};
use taskctx_worker_glue::{
    AccessToken, ConfigError, DEFAULT_REFRESH_TIMEOUT, RestoreError, RestoreOutcome, RestorePolicy,
    TaskContextSnapshot, TaskGlue, access_token, current,
};
use tokio::time::Instant;

/// How a broken refresher misbehaves.
#[derive(Clone, Copy, Debug)]
enum Broken {
    /// Its future never completes.
    Hangs,
    /// Its future panics when polled.
    PanicsInFuture,
    /// The call itself panics before returning a future.
    PanicsOnCall,
}

fn glue(store: &str, policy: RestorePolicy, broken: Broken, timeout: Option<Duration>) -> TaskGlue {
    let builder = TaskGlue::builder()
        .store_url(store)
        .restore_policy(policy)
        .token_refresher(move |_request| {
            if matches!(broken, Broken::PanicsOnCall) {
                panic!("refresher bug on call");
            }
            async move {
                match broken {
                    Broken::Hangs => std::future::pending::<Result<AccessToken, String>>().await,
                    Broken::PanicsInFuture | Broken::PanicsOnCall => {
                        panic!("refresher bug in its future")
                    }
                }
            }
        })
        .refresh_margin(Duration::from_secs(300));
    match timeout {
        Some(timeout) => builder.refresh_timeout(timeout),
        None => builder,
    }
    .build()
    .unwrap()
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Far beyond any refresh timeout: on the paused clock, a run still waiting then is hung.
const HUNG: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn a_hanging_or_panicking_refresher_is_a_refresh_failure_under_each_policy() {
    let store = "memory://glue-refresh-bounds";
    let plain: TaskGlue = TaskGlue::builder().store_url(store).build().unwrap();
    let expired = TaskContextSnapshot::builder()
        .access_token(token("client-a", "user-1", Some(1_000)))
        .build();
    let expiring = TaskContextSnapshot::builder()
        .access_token(token("client-a", "user-1", Some(unix_now() + 60)))
        .build();
    let expired_key = submit_key(&plain, &expired, "T-expired").await;
    let expiring_key = submit_key(&plain, &expiring, "T-expiring").await;

    for broken in [Broken::Hangs, Broken::PanicsInFuture, Broken::PanicsOnCall] {
        for timeout in [None, Some(Duration::from_millis(250))] {
            let limit = timeout.unwrap_or(DEFAULT_REFRESH_TIMEOUT);
            let closed = glue(store, RestorePolicy::FailClosed, broken, timeout);
            let open = glue(store, RestorePolicy::FailOpen, broken, timeout);
            for (case, key) in [("expired", &expired_key), ("expiring", &expiring_key)] {
                let case = format!("{broken:?}, {timeout:?}, {case}");

                // FailClosed: refused with a typed error before user code runs.
                let ran = AtomicBool::new(false);
                let started = Instant::now();
                let refused = tokio::time::timeout(
                    HUNG,
                    closed.run(key, async { ran.store(true, Ordering::SeqCst) }),
                )
                .await
                .unwrap_or_else(|_| panic!("{case}: FailClosed run hung"))
                .unwrap_err();
                let waited = started.elapsed();
                match broken {
                    Broken::Hangs => {
                        assert!(
                            matches!(&refused, RestoreError::RefreshTimedOut { after, .. } if *after == limit),
                            "{case}: {refused:?}"
                        );
                        assert_eq!(waited, limit, "{case}");
                    }
                    Broken::PanicsInFuture | Broken::PanicsOnCall => {
                        assert!(
                            matches!(refused, RestoreError::RefreshPanicked { .. }),
                            "{case}: {refused:?}"
                        );
                        assert_eq!(waited, Duration::ZERO, "{case}");
                    }
                }
                assert!(!ran.load(Ordering::SeqCst), "{case}: user code ran");
                assert!(!format!("{refused} {refused:?}").contains("secret-token"));

                // FailOpen: the task runs as without a refresher: an expired token is not
                // installed, a still valid one is.
                let seen = tokio::time::timeout(
                    HUNG,
                    open.run(key, async {
                        (
                            access_token().map(|t| t.token().to_owned()),
                            current().unwrap().outcome(),
                        )
                    }),
                )
                .await
                .unwrap_or_else(|_| panic!("{case}: FailOpen run hung"))
                .unwrap();
                if key == &expired_key {
                    assert_eq!(seen, (None, RestoreOutcome::ExpiredToken), "{case}");
                } else {
                    assert_eq!(
                        seen,
                        (
                            Some("secret-token-of-client-a-user-1".to_owned()),
                            RestoreOutcome::Restored
                        ),
                        "{case}"
                    );
                }
            }
        }
    }
}

/// After a refresher panicked, the same glue (and the runtime) go on running tasks.
#[tokio::test(start_paused = true)]
async fn a_panicking_refresher_does_not_take_the_worker_down() {
    let store = "memory://glue-refresh-panic";
    let glue = glue(store, RestorePolicy::FailOpen, Broken::PanicsInFuture, None);
    let valid = TaskContextSnapshot::builder()
        .access_token(token("client-a", "user-1", Some(unix_now() + 3600)))
        .build();
    let expired = TaskContextSnapshot::builder()
        .access_token(token("client-a", "user-1", Some(1_000)))
        .build();
    let expired_key = submit_key(&glue, &expired, "T-1").await;
    let valid_key = submit_key(&glue, &valid, "T-2").await;
    for _ in 0..3 {
        let outcome = glue
            .run(&expired_key, async { current().unwrap().outcome() })
            .await
            .unwrap();
        assert_eq!(outcome, RestoreOutcome::ExpiredToken);
        let outcome = glue
            .run(&valid_key, async { current().unwrap().outcome() })
            .await
            .unwrap();
        assert_eq!(outcome, RestoreOutcome::Restored);
    }
}

#[test]
fn the_refresh_timeout_has_a_range_and_needs_a_refresher() {
    let with = |timeout: Duration| {
        TaskGlue::<(), ()>::builder()
            .store_url("memory://glue-refresh-range")
            .token_refresher(|_| async { Err::<AccessToken, _>("never called") })
            .refresh_timeout(timeout)
            .build()
    };
    for timeout in [
        Duration::ZERO,
        Duration::from_micros(999),
        Duration::from_secs(601),
        Duration::MAX,
    ] {
        assert!(
            matches!(
                with(timeout),
                Err(ConfigError::OutOfRange {
                    option: "refresh_timeout",
                    ..
                })
            ),
            "{timeout:?}"
        );
    }
    for timeout in [Duration::from_millis(1), Duration::from_secs(600)] {
        assert!(with(timeout).is_ok(), "{timeout:?}");
    }
    let margin = TaskGlue::<(), ()>::builder()
        .store_url("memory://glue-refresh-range")
        .token_refresher(|_| async { Err::<AccessToken, _>("never called") })
        .refresh_margin(Duration::from_secs(24 * 3600 + 1))
        .build();
    assert!(matches!(
        margin,
        Err(ConfigError::OutOfRange {
            option: "refresh_margin",
            ..
        })
    ));
    let alone = TaskGlue::<(), ()>::builder()
        .store_url("memory://glue-refresh-range")
        .refresh_timeout(Duration::from_secs(1))
        .build();
    assert!(matches!(
        alone,
        Err(ConfigError::Requires {
            option: "refresh_timeout",
            needs: "token_refresher"
        })
    ));
}
