//! Store URLs: the one parser of every form ([`ACCEPTED_URL_FORMS`]), and redaction for errors
//! and logs. A URL that does not parse cannot say which of its text is a password: it is shown as
//! its scheme and, when it has no `@` and a host was read, that host.

use std::fmt;
use std::net::Ipv6Addr;
use std::num::NonZeroU16;
use std::path::Path;
use std::str::FromStr;

use super::error::cut;
use super::{Deployment, StoreError};

/// Every URL form [`open`](super::open) accepts, as quoted in [`StoreError::InvalidUrl`](super::StoreError::InvalidUrl).
pub const ACCEPTED_URL_FORMS: &str = "memory://[name] | \
redis://[[user]:password@]host[:port][/db] | \
rediss://[[user]:password@]host[:port][/db][#insecure] (feature `tls`) | \
unix:///path/to/redis.sock[?db=N&user=U&pass=P] (or redis+unix://) | \
redis+cluster://[[user]:password@]host:port[,host:port...] | \
rediss+cluster://... (feature `tls`) | \
redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master_name[/db]";

/// The longest redacted URL shown, in characters.
const REDACTED_URL_CHARS: usize = 200;
/// The longest scheme or query-parameter name quoted in a [`UrlProblem`].
const NAME_CHARS: usize = 32;

const REDIS_PORT: u16 = 6379;
const SENTINEL_PORT: u16 = 26379;

/// What is wrong with a store URL. Never quotes credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// No `scheme://` at the start.
    #[error("missing `scheme://`")]
    MissingScheme,
    /// The scheme is not one taskctx knows.
    #[error("unknown scheme `{scheme}`")]
    UnknownScheme {
        /// The scheme (at most 32 characters).
        scheme: String,
    },
    /// A `memory://` name with characters other than `A-Z a-z 0-9 - . _`.
    #[error("a memory store name may use only `A-Z a-z 0-9 - . _`")]
    InvalidMemoryName,
    /// No host where one is needed.
    #[error("missing host")]
    MissingHost,
    /// A host that is not a name, an IPv4 address or a bracketed IPv6 address.
    #[error("invalid host (use a name, an IPv4 address or a bracketed IPv6 address)")]
    InvalidHost,
    /// A port that is not a number from 1 to 65535.
    #[error("invalid port (expected 1-65535)")]
    InvalidPort,
    /// Several hosts in a single-server URL.
    #[error("several hosts are accepted only by redis+cluster:// and redis+sentinel://")]
    SeveralHosts,
    /// A database that is not a non-negative integer.
    #[error("invalid database number (expected a non-negative integer)")]
    InvalidDatabase,
    /// A database other than 0 in cluster mode.
    #[error("Redis Cluster has only database 0")]
    ClusterDatabase,
    /// A path where the form has none.
    #[error("unexpected path")]
    UnexpectedPath,
    /// A sentinel URL without `/master_name`.
    #[error("missing `/master_name` after the sentinel hosts")]
    MissingMasterName,
    /// A unix URL without an absolute socket path.
    #[error("missing the socket path (write unix:///absolute/path/to/redis.sock)")]
    MissingSocketPath,
    /// Credentials written in the authority of a unix URL.
    #[error("a unix socket URL takes credentials as `?user=…&pass=…`, not before `@`")]
    UnixCredentials,
    /// A query parameter a unix URL does not take.
    #[error("unsupported query parameter `{name}`")]
    UnsupportedQuery {
        /// The parameter's name (at most 32 characters; never its value), or `***` when it follows
        /// a password and may be part of it.
        name: String,
    },
    /// A query (`?…`) on a form that takes none (only unix URLs do). Not quoted: text after a
    /// `?` may be the rest of a password written without its `@`.
    #[error("unexpected query (`?…`); only unix:// URLs take one (`?db=N&user=U&pass=P`)")]
    UnexpectedQuery,
    /// A fragment other than `#insecure` on a TLS URL.
    #[error("unsupported fragment (only rediss URLs take one, `#insecure`)")]
    UnsupportedFragment,
    /// A `%` not followed by two hex digits, or an escape that is not UTF-8.
    #[error("invalid percent-encoding")]
    InvalidPercentEncoding,
}

/// A store URL with its password and any credential-bearing query values replaced by `***`, cut
/// to at most 200 characters. Safe to print.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// The redacted text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `url` made safe to show, cut to 200 characters.
///
/// A URL that parses is shown with its password (or a user-info without `:`, which some clients
/// read as a password) and the `user`/`pass` values of a unix query replaced by `***`. A URL that
/// does not parse is shown as its scheme and, when one was read and the URL has no `@` (so that
/// nothing of it can be user-info), its host, followed by `…`: none of its other text.
///
/// ```
/// use taskctx_worker_glue::redact_url;
///
/// assert_eq!(redact_url("redis://app:s3cret@cache:6379/2").as_str(), "redis://app:***@cache:6379/2");
/// assert_eq!(redact_url("unix:///run/redis.sock?db=1&pass=s3cret").as_str(), "unix:///run/redis.sock?db=1&pass=***");
/// // Malformed (no host): nothing after the scheme is shown.
/// assert_eq!(redact_url("redis://:s3cret").as_str(), "redis://…");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> RedactedUrl {
    match parse(url) {
        Ok(parsed) => parsed.redacted,
        Err((_, redacted)) => redacted,
    }
}

/// `url`, which parsed as a URL of `kind`, with its secrets replaced by `***`.
fn redact_parsed(url: &str, kind: UrlKind) -> RedactedUrl {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let shown = match kind {
        UrlKind::Memory => rest.to_owned(),
        // Unix credentials are query values (a bare name holds none); the path and `db` hold none.
        UrlKind::Unix => match rest.split_once('?') {
            None => rest.to_owned(),
            Some((path, query)) => {
                let pairs: Vec<String> = (query.split('&'))
                    .map(|pair| match pair.split_once('=') {
                        Some((name, _)) if name != "db" => format!("{name}=***"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", pairs.join("&"))
            }
        },
        // The user-info of the TCP forms runs to the last `@`.
        UrlKind::Server | UrlKind::Cluster | UrlKind::Sentinel => match rest.rsplit_once('@') {
            None => rest.to_owned(),
            Some((userinfo, after)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***@{after}"),
                None => format!("***@{after}"),
            },
        },
    };
    RedactedUrl(cut(&format!("{scheme}://{shown}"), REDACTED_URL_CHARS))
}

/// A parsed store URL: the one parser behind [`open`](super::open), for callers that need to know
/// what a URL names (its deployment, its servers, its credentials) without opening it. `Debug`
/// shows it redacted.
///
/// ```
/// use taskctx_worker_glue::store::{Deployment, ServerAddr, StoreUrl, UrlKind};
///
/// let url = StoreUrl::parse("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7000")?;
/// assert_eq!(url.kind(), UrlKind::Cluster);
/// assert_eq!(url.deployment(), Deployment::Cluster);
/// assert_eq!(url.servers()[0], ServerAddr::Tcp { host: "10.0.0.1", port: 7000 });
/// assert_eq!(url.password(), Some("s3cret"));
/// assert_eq!(url.redacted().as_str(), "redis+cluster://:***@10.0.0.1:7000,10.0.0.2:7000");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// # Ok::<(), taskctx_worker_glue::StoreError>(())
/// ```
#[derive(Clone)]
pub struct StoreUrl {
    pub(crate) kind: UrlKind,
    /// The TCP servers: the one server, the cluster's seed nodes or the sentinels.
    pub(crate) hosts: Vec<HostPort>,
    /// The memory store's name, the sentinel master's name or the unix socket's path.
    pub(crate) name: String,
    pub(crate) username: Option<String>,
    /// A secret: `Debug` shows the redacted URL alone.
    pub(crate) password: Option<String>,
    pub(crate) db: i64,
    pub(crate) tls: Option<TlsCheck>,
    pub(crate) redacted: RedactedUrl,
}

/// Which form a [`StoreUrl`] has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlKind {
    /// `memory://[name]`.
    Memory,
    /// `redis://` or `rediss://`: one server over TCP (TLS for `rediss`).
    Server,
    /// `unix://` or `redis+unix://`: one server on a unix socket.
    Unix,
    /// `redis+cluster://` or `rediss+cluster://`.
    Cluster,
    /// `redis+sentinel://`.
    Sentinel,
}

/// Where one server of a [`StoreUrl`] listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerAddr<'a> {
    /// A host name or IP address (IPv6 without brackets) and a port.
    Tcp {
        /// The host.
        host: &'a str,
        /// The port.
        port: u16,
    },
    /// A unix socket.
    Unix(&'a Path),
}

impl StoreUrl {
    /// Parses `url` (one of [`ACCEPTED_URL_FORMS`]).
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`], naming the URL's scheme (and its host, when one was read and
    /// the URL has no `@`) and what is wrong with it; no other text of the URL.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        parse(url).map_err(|(reason, url)| StoreError::InvalidUrl { url, reason })
    }

    /// The URL with its secrets hidden ([`redact_url`]).
    #[must_use]
    pub fn redacted(&self) -> &RedactedUrl {
        &self.redacted
    }

    /// Which form the URL has.
    #[must_use]
    pub fn kind(&self) -> UrlKind {
        self.kind
    }

    /// [`Deployment::Cluster`] for the cluster forms, else [`Deployment::Standalone`].
    #[must_use]
    pub fn deployment(&self) -> Deployment {
        match self.kind {
            UrlKind::Cluster => Deployment::Cluster,
            _ => Deployment::Standalone,
        }
    }

    /// The servers named: the one server, the cluster's seed nodes or the sentinels; none for
    /// `memory://`.
    #[must_use]
    pub fn servers(&self) -> Vec<ServerAddr<'_>> {
        if self.kind == UrlKind::Unix {
            return vec![ServerAddr::Unix(Path::new(&self.name))];
        }
        (self.hosts.iter())
            .map(|node| ServerAddr::Tcp {
                host: &node.host,
                port: node.port,
            })
            .collect()
    }

    /// How TLS checks the certificate, for the TLS forms; `None` without TLS.
    #[must_use]
    pub fn tls(&self) -> Option<TlsCheck> {
        self.tls
    }

    /// The database number (0 unless the URL names one).
    #[must_use]
    pub fn database(&self) -> i64 {
        self.db
    }

    /// The user name, decoded.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password, decoded. A secret: never print it.
    #[must_use]
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// A URL of `kind` naming `name`, with nothing else read yet.
    fn new(kind: UrlKind, name: String) -> Self {
        Self {
            kind,
            hosts: Vec::new(),
            name,
            username: None,
            password: None,
            db: 0,
            tls: None,
            redacted: RedactedUrl(String::new()),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for StoreUrl {
    /// The redacted URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.redacted, f)
    }
}

/// One `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPort {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// How a TLS URL (`rediss://`, `rediss+cluster://`) checks the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsCheck {
    /// Verify the server certificate and host name.
    Verified,
    /// `#insecure`: accept any certificate.
    Insecure,
}

/// A problem, with the first host read before it was found (shown when the URL has no `@`).
struct Problem(UrlProblem, Option<HostPort>);

impl From<UrlProblem> for Problem {
    fn from(problem: UrlProblem) -> Self {
        Self(problem, None)
    }
}

/// Parses a store URL; a failure comes with the URL as it may be shown.
fn parse(url: &str) -> Result<StoreUrl, (UrlProblem, RedactedUrl)> {
    let unnamed = |problem| (problem, RedactedUrl("…".to_owned()));
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| !scheme.is_empty() && only(scheme, "+-."))
        .ok_or_else(|| unnamed(UrlProblem::MissingScheme))?;
    let scheme: String = scheme
        .to_ascii_lowercase()
        .chars()
        .take(NAME_CHARS)
        .collect();
    match parse_rest(&scheme, rest) {
        Ok(parsed) => Ok(StoreUrl {
            redacted: redact_parsed(url, parsed.kind),
            ..parsed
        }),
        Err(Problem(problem, host)) => {
            // After an `@`, any text may be the end of a password that holds one.
            let host = match host.filter(|_| !rest.contains('@')) {
                Some(HostPort { host, port }) if host.contains(':') => format!("[{host}]:{port}"),
                Some(HostPort { host, port }) => format!("{host}:{port}"),
                None => String::new(),
            };
            Err((problem, RedactedUrl(format!("{scheme}://{host}…"))))
        }
    }
}

/// Parses the text after `scheme://`.
fn parse_rest(scheme: &str, rest: &str) -> Result<StoreUrl, Problem> {
    let tls = Some(TlsCheck::Verified);
    match scheme {
        "memory" if only(rest, "-._") => Ok(StoreUrl::new(UrlKind::Memory, rest.to_owned())),
        "memory" => Err(UrlProblem::InvalidMemoryName.into()),
        "unix" | "redis+unix" => Ok(parse_unix(rest)?),
        "redis" => parse_tcp(UrlKind::Server, rest, None),
        "rediss" => parse_tcp(UrlKind::Server, rest, tls),
        "redis+cluster" => parse_tcp(UrlKind::Cluster, rest, None),
        "rediss+cluster" => parse_tcp(UrlKind::Cluster, rest, tls),
        "redis+sentinel" => parse_tcp(UrlKind::Sentinel, rest, None),
        _ => Err(UrlProblem::UnknownScheme {
            scheme: scheme.to_owned(),
        }
        .into()),
    }
}

/// `[userinfo@]hosts[/path][?][#insecure]` for a server, a cluster or sentinels.
fn parse_tcp(kind: UrlKind, rest: &str, tls: Option<TlsCheck>) -> Result<StoreUrl, Problem> {
    // The user-info runs to the last `@`, so an unescaped `?`, `&`, `#`, `/` or `@` in a password
    // stays in it (and never reaches the checks below, which quote names).
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (userinfo, rest),
        None => ("", rest),
    };
    let (rest, tls) = match (rest.split_once('#'), tls) {
        (None, tls) => (rest, tls),
        (Some((rest, "insecure")), Some(_)) => (rest, Some(TlsCheck::Insecure)),
        (Some(_), _) => return Err(UrlProblem::UnsupportedFragment.into()),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !query.is_empty() {
        return Err(UrlProblem::UnexpectedQuery.into());
    }
    let (hosts, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `user[:password]`, each percent-encoded.
    let (username, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(percent_decode(password, false)?)),
        None => (userinfo, None),
    };
    let username = Some(percent_decode(username, false)?).filter(|user| !user.is_empty());
    let port = if kind == UrlKind::Sentinel {
        SENTINEL_PORT
    } else {
        REDIS_PORT
    };
    // No text, no host (`"".split(',')` gives one empty item).
    let hosts = (hosts.split(',').filter(|_| !hosts.is_empty()))
        .map(|item| parse_host_port(item, port))
        .collect::<Result<Vec<_>, _>>()?;
    let first = hosts.first().cloned().ok_or(UrlProblem::MissingHost)?;
    let (name, db) =
        read_path(kind, hosts.len(), path).map_err(|problem| Problem(problem, Some(first)))?;
    Ok(StoreUrl {
        hosts,
        username,
        password,
        db,
        tls,
        ..StoreUrl::new(kind, name)
    })
}

/// The master's name (empty but for sentinels) and the database, from the path of a URL of `kind`
/// naming `hosts` servers (at least one).
fn read_path(kind: UrlKind, hosts: usize, path: &str) -> Result<(String, i64), UrlProblem> {
    if kind == UrlKind::Sentinel {
        let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
        let master = percent_decode(segments.next().unwrap_or_default(), false)?;
        if master.is_empty() {
            return Err(UrlProblem::MissingMasterName);
        }
        let db = segments
            .next()
            .filter(|db| !db.is_empty())
            .map_or(Ok(0), parse_db)?;
        if segments.next().is_some() {
            return Err(UrlProblem::UnexpectedPath);
        }
        return Ok((master, db));
    }
    let db = path.trim_start_matches('/');
    if kind == UrlKind::Cluster {
        return match db {
            "" | "0" => Ok((String::new(), 0)),
            db => Err(parse_db(db).err().unwrap_or(UrlProblem::ClusterDatabase)),
        };
    }
    if hosts > 1 {
        return Err(UrlProblem::SeveralHosts);
    }
    let db = if db.is_empty() { 0 } else { parse_db(db)? };
    Ok((String::new(), db))
}

/// `unix://[localhost]/path[?db=N&user=U&pass=P]`.
fn parse_unix(rest: &str) -> Result<StoreUrl, UrlProblem> {
    if rest.contains('#') {
        return Err(UrlProblem::UnsupportedFragment);
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix("localhost").unwrap_or(path);
    if !path.starts_with('/') {
        return Err(if path.contains('@') {
            UrlProblem::UnixCredentials
        } else {
            UrlProblem::MissingSocketPath
        });
    }
    let path = percent_decode(path, false)?;
    if path.len() < 2 {
        return Err(UrlProblem::MissingSocketPath);
    }
    let mut url = StoreUrl::new(UrlKind::Unix, path);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "db" => url.db = parse_db(value)?,
            "user" => url.username = Some(percent_decode(value, true)?).filter(|u| !u.is_empty()),
            "pass" | "password" => url.password = Some(percent_decode(value, true)?),
            // After a password, an unknown name may be the rest of a password holding a raw `&`.
            _ if url.password.is_some() => {
                return Err(UrlProblem::UnsupportedQuery {
                    name: "***".to_owned(),
                });
            }
            _ => {
                return Err(UrlProblem::UnsupportedQuery {
                    name: name.chars().take(NAME_CHARS).collect(),
                });
            }
        }
    }
    Ok(url)
}

/// `host[:port]`, `[ipv6][:port]`.
fn parse_host_port(item: &str, default_port: u16) -> Result<HostPort, UrlProblem> {
    let (host, port) = match item.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or(UrlProblem::InvalidHost)?;
            let port = after.strip_prefix(':');
            if host.parse::<Ipv6Addr>().is_err() || (port.is_none() && !after.is_empty()) {
                return Err(UrlProblem::InvalidHost);
            }
            (host, port)
        }
        None => match item.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (item, None),
        },
    };
    if host.is_empty() {
        return Err(UrlProblem::MissingHost);
    }
    if !only(host, "-._:") {
        return Err(UrlProblem::InvalidHost);
    }
    let port = match port {
        None => default_port,
        Some(port) => digits::<NonZeroU16>(port)
            .ok_or(UrlProblem::InvalidPort)?
            .get(),
    };
    Ok(HostPort {
        host: host.to_owned(),
        port,
    })
}

/// Whether `text` is only ASCII letters, digits and `extra`.
fn only(text: &str, extra: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || extra.as_bytes().contains(&byte))
}

/// `text` as a number when it is only ASCII digits (`str::parse` also takes a leading `+`).
fn digits<T: FromStr>(text: &str) -> Option<T> {
    text.bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| text.parse().ok())?
}

fn parse_db(text: &str) -> Result<i64, UrlProblem> {
    digits(text).ok_or(UrlProblem::InvalidDatabase)
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query values); a malformed
/// escape or a result that is not UTF-8 is an error.
fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, UrlProblem> {
    let text = if plus_is_space {
        text.replace('+', " ")
    } else {
        text.to_owned()
    };
    let escapes_valid = text.split('%').skip(1).all(|after| {
        (after.as_bytes().get(..2)).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    match percent_encoding::percent_decode_str(&text).decode_utf8() {
        Ok(decoded) if escapes_valid => Ok(decoded.into_owned()),
        _ => Err(UrlProblem::InvalidPercentEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name a URL holds: a memory store's, or a sentinel master's (decoded). The other
    /// accessors are tested with the crate's tests.
    #[test]
    fn names_are_read_and_decoded() {
        let names = [
            "memory://",
            "memory://w-1.a_b",
            "redis+sentinel://s/my%2Dmaster",
            "redis+sentinel://s1,s2:26380/mymaster/4",
        ];
        let names = names.map(|url| parse(url).ok().map(|parsed| parsed.name));
        let expected = ["", "w-1.a_b", "my-master", "mymaster"];
        assert_eq!(names, expected.map(|name| Some(name.to_owned())));
    }
}
