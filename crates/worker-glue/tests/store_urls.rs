//! Store URLs: what each form names, which malformed URLs fail with which problem, and what
//! redaction shows of them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_worker_glue::store::{ServerAddr, StoreUrl};
use taskctx_worker_glue::{StoreError, UrlProblem as P, UrlProblem, redact_url};

fn problem(url: &str) -> Option<UrlProblem> {
    match StoreUrl::parse(url) {
        Err(StoreError::InvalidUrl { reason, .. }) => Some(reason),
        _ => None,
    }
}

/// What `url` names, through the public accessors, in one line.
fn read(url: &str) -> String {
    let parsed = StoreUrl::parse(url).unwrap_or_else(|error| panic!("{url}: {error}"));
    let servers: Vec<String> = (parsed.servers().iter())
        .map(|server| match server {
            ServerAddr::Tcp { host, port } => format!("{host}:{port}"),
            ServerAddr::Unix(path) => path.display().to_string(),
            other => panic!("{url}: {other:?}"),
        })
        .collect();
    let (user, pass, tls) = (parsed.username(), parsed.password(), parsed.tls());
    let (kind, db) = (parsed.kind(), parsed.database());
    format!(
        "{kind:?} {} db={db} user={user:?} pass={pass:?} tls={tls:?}",
        servers.join(",")
    )
}

#[test]
fn every_form_reads_its_servers_database_and_credentials() {
    #[rustfmt::skip]
    let cases = [
        ("memory://", "Memory  db=0 user=None pass=None tls=None"),
        ("redis://cache.internal", "Server cache.internal:6379 db=0 user=None pass=None tls=None"),
        ("REDIS://app:p%40ss%3Aw0rd@10.0.0.5:7000/3", r#"Server 10.0.0.5:7000 db=3 user=Some("app") pass=Some("p@ss:w0rd") tls=None"#),
        ("redis://:only-password@[::1]:6380/", r#"Server ::1:6380 db=0 user=None pass=Some("only-password") tls=None"#),
        ("redis://default@h", r#"Server h:6379 db=0 user=Some("default") pass=None tls=None"#),
        ("redis://:pa?ss&w#rd@h:1/2", r#"Server h:1 db=2 user=None pass=Some("pa?ss&w#rd") tls=None"#),
        ("rediss://h", "Server h:6379 db=0 user=None pass=None tls=Some(Verified)"),
        ("rediss://h:6380/1#insecure", "Server h:6380 db=1 user=None pass=None tls=Some(Insecure)"),
        ("rediss://u:p#q@h#insecure", r#"Server h:6379 db=0 user=Some("u") pass=Some("p#q") tls=Some(Insecure)"#),
        ("unix:///run/redis/redis.sock?db=2&user=u&pass=p%26q", r#"Unix /run/redis/redis.sock db=2 user=Some("u") pass=Some("p&q") tls=None"#),
        ("redis+unix:///run/r.sock?user=a+b&password=c%2Bd", r#"Unix /run/r.sock db=0 user=Some("a b") pass=Some("c+d") tls=None"#),
        ("unix://localhost/tmp/r.sock", "Unix /tmp/r.sock db=0 user=None pass=None tls=None"),
        ("redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001,node-c", r#"Cluster 127.0.0.1:7000,127.0.0.1:7001,node-c:6379 db=0 user=None pass=Some("pw") tls=None"#),
        ("rediss+cluster://a:1,b:2#insecure", "Cluster a:1,b:2 db=0 user=None pass=None tls=Some(Insecure)"),
        ("redis+sentinel://s1,s2:26380/mymaster/4", "Sentinel s1:26379,s2:26380 db=4 user=None pass=None tls=None"),
    ];
    for (url, expected) in cases {
        assert_eq!(read(url), expected, "{url}");
    }
}

#[test]
fn malformed_urls_are_typed_errors() {
    let unknown = |scheme: &str| P::UnknownScheme {
        scheme: scheme.into(),
    };
    let query = |name: &str| P::UnsupportedQuery { name: name.into() };
    #[rustfmt::skip]
    let cases = [
        ("", P::MissingScheme),
        ("memory://a/b", P::InvalidMemoryName),
        ("localhost:6379", P::MissingScheme),
        ("://h", P::MissingScheme),
        ("http://h", unknown("http")),
        ("redis://", P::MissingHost),
        ("redis://:6379", P::MissingHost),
        ("redis://h:0", P::InvalidPort),
        ("redis://h:65536", P::InvalidPort),
        ("redis://h:x", P::InvalidPort),
        ("redis://h:", P::InvalidPort),
        ("redis://[::1", P::InvalidHost),
        ("redis://[zz]", P::InvalidHost),
        ("redis://h st", P::InvalidHost),
        ("redis://a,b", P::SeveralHosts),
        ("redis://h/x", P::InvalidDatabase),
        ("redis://h/-1", P::InvalidDatabase),
        ("redis://h/1/2", P::InvalidDatabase),
        ("redis://h?protocol=resp3", P::UnexpectedQuery),
        ("redis://:pw?x", P::UnexpectedQuery),
        ("redis://u:%zz@h", P::InvalidPercentEncoding),
        ("redis://u:%ff@h", P::InvalidPercentEncoding),
        ("rediss://h#other", P::UnsupportedFragment),
        ("redis://h#insecure", P::UnsupportedFragment),
        ("unix://", P::MissingSocketPath),
        ("unix://relative.sock", P::MissingSocketPath),
        ("unix://u:p@/tmp/r.sock", P::UnixCredentials),
        ("unix:///tmp/r.sock?timeout=3", query("timeout")),
        // After a password, an unknown name may be part of it.
        ("unix:///s.sock?pass=se&cret", query("***")),
        ("unix:///s.sock?cret&pass=x", query("cret")),
        ("redis+cluster://a:1/2", P::ClusterDatabase),
        ("redis+cluster://", P::MissingHost),
        ("redis+cluster://a:1,,b:2", P::MissingHost),
        ("redis+sentinel://s1", P::MissingMasterName),
        ("redis+sentinel://s1/", P::MissingMasterName),
        ("redis+sentinel://s1/m/1/x", P::UnexpectedPath),
        ("redis+sentinel://s1/m/x", P::InvalidDatabase),
    ];
    for (url, expected) in cases {
        assert_eq!(problem(url), Some(expected), "{url}");
    }
    let long = format!("{}://h", "x".repeat(100));
    assert_eq!(problem(&long), Some(unknown(&"x".repeat(32))));
}

#[test]
fn redaction_hides_passwords_in_every_form() {
    #[rustfmt::skip]
    let cases = [
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://user:secret@h:1/0", "redis://user:***@h:1/0"),
        ("redis://:secret@h", "redis://:***@h"),
        ("redis://secret@h", "redis://***@h"),
        ("redis://u:se@cr/et#x@h", "redis://u:***@h"),
        ("rediss://u:secret@h#insecure", "rediss://u:***@h#insecure"),
        ("rediss://u:secret@h#secret", "rediss://…"),
        ("redis+cluster://:secret@a:1,b:2", "redis+cluster://:***@a:1,b:2"),
        ("redis+sentinel://:secret@s:1/m/2", "redis+sentinel://:***@s:1/m/2"),
        ("unix:///s.sock?db=3&pass=se@cret&user=u", "unix:///s.sock?db=3&pass=***&user=***"),
        ("unix:///s.sock?pass=a&b&db=x", "unix://…"),
        ("unix:///s.sock?db=1&&user=u", "unix:///s.sock?db=1&&user=***"),
        ("no-scheme:secret@h", "…"),
        ("unix://:secret@/tmp/x.sock", "unix://…"),
        ("redis+unix://u:se?cret@/tmp/x.sock", "redis+unix://…"),
        ("unix://:se/cret@/tmp/x.sock?db=1", "unix://…"),
        ("unix://:secret/tmp/x.sock", "unix://…"),
        ("unix://localhost/tmp/x.sock?db=1", "unix://localhost/tmp/x.sock?db=1"),
        ("redis://:pa?secret@h:1", "redis://:***@h:1"),
        ("rediss://:pa#secret@h#insecure", "rediss://:***@h#insecure"),
    ];
    for (url, expected) in cases {
        let redacted = redact_url(url);
        assert_eq!(redacted.as_str(), expected, "{url}");
        assert!(
            !format!("{redacted} {redacted:?}").contains("secret"),
            "{url}"
        );
    }
}

/// A URL that does not parse shows its scheme, its host only when read and the URL has no
/// `@`, and nothing else: not even text the parser took for a host, port, query or path.
#[test]
fn a_url_that_does_not_parse_shows_only_its_scheme_and_a_safe_host() {
    #[rustfmt::skip]
    let cases = [
        ("redis://:secret", "redis://…", P::MissingHost),
        ("redis://app:secret", "redis://…", P::InvalidPort),
        ("redis://:secret?x", "redis://…", P::UnexpectedQuery),
        ("redis://:pw?secret", "redis://…", P::UnexpectedQuery),
        ("redis://u:se@cret@", "redis://…", P::MissingHost),
        ("redis://u:se@cret:", "redis://…", P::InvalidPort),
        ("redis://u:se@cret/x", "redis://…", P::InvalidDatabase),
        ("redis://u:se#cret", "redis://…", P::UnsupportedFragment),
        ("redis://u:secret@[::1", "redis://…", P::InvalidHost),
        ("unix://?pass=hun/secret", "unix://…", P::MissingSocketPath),
        ("redis+sentinel://u:secret@s", "redis+sentinel://…", P::MissingMasterName),
        // No `@`: the host read may be shown.
        ("redis://cache:6380/x", "redis://cache:6380…", P::InvalidDatabase),
        ("redis://[::1]/x", "redis://[::1]:6379…", P::InvalidDatabase),
        ("redis+sentinel://s1,s2", "redis+sentinel://s1:26379…", P::MissingMasterName),
        ("redis+cluster://a:1/5", "redis+cluster://a:1…", P::ClusterDatabase),
        ("redis://a,b", "redis://a:6379…", P::SeveralHosts),
        ("redis://cache:0", "redis://…", P::InvalidPort),
        ("HTTP://u:secret@h", "http://…", P::UnknownScheme { scheme: "http".into() }),
        ("secret@h", "…", P::MissingScheme),
    ];
    for (url, shown, expected) in cases {
        assert_eq!(problem(url), Some(expected), "{url}");
        assert_eq!(redact_url(url).as_str(), shown, "{url}");
        let error = StoreUrl::parse(url).err().map(|e| format!("{e} {e:?}"));
        let error = error.unwrap_or_default();
        assert!(error.contains(shown), "{url}: {error}");
        assert!(!error.contains("cret"), "{url}: {error}");
    }
}

#[test]
fn redaction_bounds_the_length() {
    let redacted = redact_url(&format!("redis://{}", "h".repeat(1000)));
    assert_eq!(redacted.as_str().chars().count(), 200 + 1);
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_urls_need_the_tls_feature() {
    for url in ["rediss://:pw@h:6380/0", "rediss+cluster://a:1,b:2#insecure"] {
        let error = taskctx_worker_glue::open(url).err();
        assert!(
            matches!(error, Some(StoreError::TlsNotEnabled { .. })),
            "{url}: {error:?}"
        );
        let message = error.map(|error| error.to_string()).unwrap_or_default();
        assert!(message.contains("`tls` cargo feature"), "{message}");
        assert!(!message.contains("pw@"), "{message}");
    }
}
