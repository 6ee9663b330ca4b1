//! Opening stores from URLs: unknown schemes and malformed URLs are typed errors that list the
//! accepted forms, and passwords never show in errors or `Debug` output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_worker_glue::{ACCEPTED_URL_FORMS, AnyStore, StoreError, UrlProblem, open, redact_url};

const PASSWORD: &str = "hunter2-s3cret";

fn open_error(url: &str) -> StoreError {
    match open(url) {
        Ok(store) => panic!("{url} opened {store:?}"),
        Err(error) => error,
    }
}

#[test]
fn unknown_schemes_are_refused_with_the_accepted_forms() {
    for (url, scheme) in [
        ("http://localhost:6379", "http"),
        ("valkey://localhost", "valkey"),
        ("sentinel://h/m", "sentinel"),
        ("Memcached://h", "memcached"),
    ] {
        let error = open_error(url);
        match &error {
            StoreError::InvalidUrl {
                reason: UrlProblem::UnknownScheme { scheme: found },
                ..
            } => assert_eq!(found, scheme),
            other => panic!("{url}: {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains(ACCEPTED_URL_FORMS), "{message}");
        for form in [
            "memory://",
            "redis://",
            "unix://",
            "redis+cluster://",
            "redis+sentinel://",
        ] {
            assert!(message.contains(form), "{form} missing from: {message}");
        }
    }
}

#[test]
fn malformed_urls_are_typed_errors() {
    let cases = [
        ("localhost:6379", UrlProblem::MissingScheme),
        ("redis://", UrlProblem::MissingHost),
        ("redis://h:99999", UrlProblem::InvalidPort),
        ("redis://a:1,b:2", UrlProblem::SeveralHosts),
        ("redis://h/db0", UrlProblem::InvalidDatabase),
        ("redis+cluster://a:1/3", UrlProblem::ClusterDatabase),
        ("redis+sentinel://s:26379", UrlProblem::MissingMasterName),
        ("unix://", UrlProblem::MissingSocketPath),
        ("memory://a b", UrlProblem::InvalidMemoryName),
    ];
    for (url, expected) in cases {
        match open_error(url) {
            StoreError::InvalidUrl { reason, .. } => assert_eq!(reason, expected, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn passwords_never_appear_in_url_errors() {
    let urls = [
        format!("http://user:{PASSWORD}@h"),
        format!("redis://user:{PASSWORD}@h:notaport"),
        format!("redis://:{PASSWORD}@a,b"),
        format!("redis+sentinel://:{PASSWORD}@s"),
        format!("redis+cluster://:{PASSWORD}@a:1/9"),
        format!("unix:///tmp/s.sock?pass={PASSWORD}&bogus=1"),
        format!("redis://u:{PASSWORD}@h#fragment"),
        format!("redis://u:{PASSWORD}@h?x=1"),
    ];
    for url in &urls {
        let error = open_error(url);
        let display = error.to_string();
        let debug = format!("{error:?}");
        assert!(!display.contains(PASSWORD), "{display}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(
            display.contains("***"),
            "the URL is shown redacted: {display}"
        );
    }
}

#[test]
fn opened_redis_stores_hide_the_password_in_debug() {
    // Opening makes no connection, so no server is needed.
    for url in [
        format!("redis://app:{PASSWORD}@127.0.0.1:1/2"),
        format!("redis+cluster://:{PASSWORD}@127.0.0.1:1,127.0.0.1:2"),
        format!("redis+sentinel://:{PASSWORD}@127.0.0.1:1/mymaster"),
        format!("unix:///tmp/none.sock?pass={PASSWORD}"),
    ] {
        let store = open(&url).unwrap();
        let AnyStore::Redis(redis) = &store else {
            panic!("{url} is a Redis URL");
        };
        let debug = format!("{store:?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(redis.url().as_str().contains("***"), "{}", redis.url());
    }
}

#[test]
fn redact_url_is_public_and_safe_for_logs() {
    let redacted = redact_url(&format!("redis://app:{PASSWORD}@cache:6379/0"));
    assert_eq!(redacted.to_string(), "redis://app:***@cache:6379/0");
    assert!(!format!("{redacted:?}").contains(PASSWORD));
}
