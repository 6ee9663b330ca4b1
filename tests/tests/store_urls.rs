//! Opening stores from URLs: unknown schemes and malformed URLs are typed errors that list the
//! accepted forms, and passwords never show in errors or `Debug` output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::time::Duration;

use taskctx_worker_glue::store::{Deployment, ServerAddr, StoreUrl, UrlKind};
use taskctx_worker_glue::{
    ACCEPTED_URL_FORMS, RedisStore, StoreConfig, StoreError, UrlProblem, open, open_with,
    redact_url,
};

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
        let redis = RedisStore::open_with(&url, &StoreConfig::default()).unwrap();
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

/// Every URL form with `?`, `&`, `#`, `@`, `%` and `/` inside the user name and the password,
/// written raw (unescaped): whatever the URL parses to, the password (both halves around the odd
/// character) never shows in an error, a `Debug` of the store or the parsed URL, the redacted
/// URL, or the error of a call that cannot connect.
#[tokio::test]
async fn no_password_shows_for_any_scheme_or_odd_character() {
    const ODD: [char; 6] = ['?', '&', '#', '@', '%', '/'];
    let halves = ["hunter2", "s3cret"];
    let config = StoreConfig::default()
        .with_connect_timeout(Duration::from_millis(300))
        .with_response_timeout(Duration::from_millis(300))
        .with_pool_wait_timeout(Duration::from_millis(300));
    let mut urls = Vec::new();
    for odd in ODD {
        let password = format!("hunter2{odd}s3cret");
        let user = format!("us{odd}er");
        for userinfo in [
            format!(":{password}"),
            format!("app:{password}"),
            format!("{user}:{password}"),
        ] {
            // Port 1 on loopback: nothing listens, so a call fails at once.
            urls.push(format!("redis://{userinfo}@127.0.0.1:1/0"));
            urls.push(format!("rediss://{userinfo}@127.0.0.1:1#insecure"));
            urls.push(format!("rediss://{userinfo}@127.0.0.1:1"));
            urls.push(format!(
                "redis+cluster://{userinfo}@127.0.0.1:1,127.0.0.1:2"
            ));
            urls.push(format!("rediss+cluster://{userinfo}@127.0.0.1:1#insecure"));
            urls.push(format!(
                "redis+sentinel://{userinfo}@127.0.0.1:1/mymaster/2"
            ));
            for scheme in ["unix", "redis+unix"] {
                urls.push(format!("{scheme}://{userinfo}@/tmp/taskctx-none.sock"));
                urls.push(format!(
                    "{scheme}://{userinfo}@localhost/tmp/taskctx-none.sock"
                ));
            }
        }
        for scheme in ["unix", "redis+unix"] {
            urls.push(format!(
                "{scheme}:///tmp/taskctx-none.sock?user={user}&pass={password}"
            ));
            urls.push(format!(
                "{scheme}:///tmp/taskctx-none.sock?pass={password}&db=1"
            ));
            urls.push(format!(
                "{scheme}:///tmp/taskctx-none.sock?password={password}&x=1"
            ));
        }
        // Malformed around the credentials too.
        urls.push(format!("redis://:{password}@127.0.0.1:notaport"));
        urls.push(format!("redis://:{password}@a,b"));
        urls.push(format!("http://u:{password}@h"));
        urls.push(format!("redis+sentinel://:{password}@s"));
    }
    let leaks = |shown: &str| halves.iter().any(|half| shown.contains(half));
    for url in &urls {
        let redacted = redact_url(url);
        assert!(!leaks(redacted.as_str()), "{url} → {redacted}");
        match StoreUrl::parse(url) {
            Ok(parsed) => {
                for shown in [format!("{parsed:?}"), parsed.to_string()] {
                    assert!(!leaks(&shown), "{url} → {shown}");
                }
            }
            Err(error) => {
                for shown in [error.to_string(), format!("{error:?}")] {
                    assert!(!leaks(&shown), "{url} → {shown}");
                }
            }
        }
        let store = match open_with(url, &config) {
            Ok(store) => store,
            Err(error) => {
                for shown in [error.to_string(), format!("{error:?}")] {
                    assert!(!leaks(&shown), "{url} → {shown}");
                }
                continue;
            }
        };
        assert!(!leaks(&format!("{store:?}")), "{url} → {store:?}");
        let error = store.load("k").await.unwrap_err();
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!leaks(&shown), "{url} → {shown}");
        }
    }
}

#[test]
fn odd_characters_in_a_password_stay_in_the_password() {
    for odd in ['?', '&', '#', '@', '/'] {
        let password = format!("hunter2{odd}s3cret");
        for url in [
            format!("redis://app:{password}@127.0.0.1:6459/3"),
            format!("rediss://app:{password}@127.0.0.1:6459/3#insecure"),
            format!("redis+cluster://app:{password}@127.0.0.1:6459,127.0.0.1:6460"),
            format!("redis+sentinel://app:{password}@127.0.0.1:6459/mymaster/3"),
        ] {
            let parsed = StoreUrl::parse(&url).unwrap_or_else(|error| panic!("{url}: {error}"));
            assert_eq!(parsed.password(), Some(password.as_str()), "{url}");
            assert_eq!(parsed.username(), Some("app"), "{url}");
            assert_eq!(
                parsed.servers().first(),
                Some(&ServerAddr::Tcp {
                    host: "127.0.0.1",
                    port: 6459
                }),
                "{url}"
            );
        }
    }
    let parsed = StoreUrl::parse("unix:///run/r.sock?pass=a%26b&db=2").unwrap();
    assert_eq!(parsed.password(), Some("a&b"));
    assert_eq!(parsed.database(), 2);
    assert_eq!(parsed.kind(), UrlKind::Unix);
}

#[test]
fn one_parser_names_the_deployment() {
    for (url, deployment, kind) in [
        ("memory://", Deployment::Standalone, UrlKind::Memory),
        ("redis://h:1/0", Deployment::Standalone, UrlKind::Server),
        ("unix:///s.sock", Deployment::Standalone, UrlKind::Unix),
        (
            "redis+cluster://h:7000/0",
            Deployment::Cluster,
            UrlKind::Cluster,
        ),
        (
            "REDISS+CLUSTER://h:7000",
            Deployment::Cluster,
            UrlKind::Cluster,
        ),
        (
            "redis+sentinel://s/m",
            Deployment::Standalone,
            UrlKind::Sentinel,
        ),
    ] {
        let parsed = StoreUrl::parse(url).unwrap();
        assert_eq!(parsed.deployment(), deployment, "{url}");
        assert_eq!(parsed.kind(), kind, "{url}");
        let store = open(url).unwrap();
        assert_eq!(store.deployment(), deployment, "{url}");
    }
}
