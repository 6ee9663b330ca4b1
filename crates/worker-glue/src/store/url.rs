//! Store URLs: parsing into a connection target, and redaction for errors and logs.
//!
//! The single-server forms follow the redis-rs conventions (`redis://[user][:password@]host[:port][/db]`,
//! `unix:///path?db=&user=&pass=`); cluster and sentinel URLs list several `host:port` pairs
//! separated by commas.
//!
//! One parser ([`parse`]) reads every form, and redaction ([`redact_url`]) works from what it
//! read: a URL that parses is shown with its secrets (the password or a lone user-info, and the
//! credential values of a unix query) replaced by `***`; a URL that does not parse is shown as
//! its scheme and, when one was read and nothing of the URL can be user-info, its host; the rest
//! is hidden, since a URL that did not parse cannot say which of its text is a password.

use std::fmt;
use std::path::{Path, PathBuf};

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
#[derive(Clone, PartialEq, Eq, Hash)]
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

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
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
        Ok(target) => redact_parsed(url, &target),
        Err(failure) => failure.redacted,
    }
}

/// `url`, which parsed to `target`, with its secrets replaced by `***`.
fn redact_parsed(url: &str, target: &Target) -> RedactedUrl {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let mut out = String::with_capacity(url.len().min(REDACTED_URL_CHARS));
    out.push_str(scheme);
    out.push_str("://");
    match target {
        // A name of `A-Z a-z 0-9 - . _`.
        Target::Memory { .. } => out.push_str(rest),
        // The credentials are query values; the socket path holds none.
        Target::Redis(RedisTarget {
            topology: Topology::Unix(_),
            ..
        }) => {
            let (path, query) = match rest.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (rest, None),
            };
            out.push_str(path);
            if let Some(query) = query {
                out.push('?');
                for (index, pair) in query.split('&').enumerate() {
                    if index > 0 {
                        out.push('&');
                    }
                    match pair.split_once('=').unwrap_or((pair, "")) {
                        ("", "") | ("db", _) => out.push_str(pair),
                        (name @ ("user" | "pass" | "password"), _) => {
                            out.push_str(name);
                            out.push_str("=***");
                        }
                        _ => out.push_str("***"),
                    }
                }
            }
        }
        // The user-info runs to the last `@` (see `split_authority`); hosts, path and
        // `#insecure` follow it.
        Target::Redis(_) => match rest.rsplit_once('@') {
            Some((userinfo, after)) => {
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str("***"),
                }
                out.push('@');
                out.push_str(after);
            }
            None => out.push_str(rest),
        },
    }
    RedactedUrl(cut(out))
}

/// `out` cut to [`REDACTED_URL_CHARS`] characters, with `…` when cut.
fn cut(mut out: String) -> String {
    if let Some((end, _)) = out.char_indices().nth(REDACTED_URL_CHARS) {
        out.truncate(end);
        out.push('…');
    }
    out
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
    target: Target,
    redacted: RedactedUrl,
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
        match parse(url) {
            Ok(target) => Ok(Self {
                redacted: redact_parsed(url, &target),
                target,
            }),
            Err(failure) => Err(StoreError::InvalidUrl {
                url: failure.redacted,
                reason: failure.problem,
            }),
        }
    }

    /// The URL with its secrets hidden ([`redact_url`]).
    #[must_use]
    pub fn redacted(&self) -> &RedactedUrl {
        &self.redacted
    }

    /// Which form the URL has.
    #[must_use]
    pub fn kind(&self) -> UrlKind {
        match &self.target {
            Target::Memory { .. } => UrlKind::Memory,
            Target::Redis(redis) => match redis.topology {
                Topology::Tcp(_) => UrlKind::Server,
                Topology::Unix(_) => UrlKind::Unix,
                Topology::Cluster(_) => UrlKind::Cluster,
                Topology::Sentinel { .. } => UrlKind::Sentinel,
            },
        }
    }

    /// [`Deployment::Cluster`] for the cluster forms, else [`Deployment::Standalone`].
    #[must_use]
    pub fn deployment(&self) -> Deployment {
        match self.kind() {
            UrlKind::Cluster => Deployment::Cluster,
            _ => Deployment::Standalone,
        }
    }

    /// The servers named: the one server, the cluster's seed nodes or the sentinels; none for
    /// `memory://`.
    #[must_use]
    pub fn servers(&self) -> Vec<ServerAddr<'_>> {
        fn tcp(node: &HostPort) -> ServerAddr<'_> {
            ServerAddr::Tcp {
                host: node.host.as_str(),
                port: node.port,
            }
        }
        match &self.target {
            Target::Memory { .. } => Vec::new(),
            Target::Redis(redis) => match &redis.topology {
                Topology::Tcp(node) => vec![tcp(node)],
                Topology::Unix(path) => vec![ServerAddr::Unix(path)],
                Topology::Cluster(nodes)
                | Topology::Sentinel {
                    sentinels: nodes, ..
                } => nodes.iter().map(tcp).collect(),
            },
        }
    }

    /// How TLS checks the certificate, for the TLS forms; `None` without TLS.
    #[must_use]
    pub fn tls(&self) -> Option<TlsCheck> {
        self.redis().and_then(|redis| redis.tls)
    }

    /// The database number (0 unless the URL names one).
    #[must_use]
    pub fn database(&self) -> i64 {
        self.redis().map_or(0, |redis| redis.db)
    }

    /// The user name, decoded.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.redis()
            .and_then(|redis| redis.credentials.username.as_deref())
    }

    /// The password, decoded. A secret: never print it.
    #[must_use]
    pub fn password(&self) -> Option<&str> {
        self.redis()
            .and_then(|redis| redis.credentials.password.as_deref())
    }

    /// The master name of a sentinel URL.
    #[must_use]
    pub fn sentinel_master(&self) -> Option<&str> {
        match &self.redis()?.topology {
            Topology::Sentinel { master, .. } => Some(master),
            _ => None,
        }
    }

    /// The store name of a `memory://` URL.
    #[must_use]
    pub fn memory_name(&self) -> Option<&str> {
        match &self.target {
            Target::Memory { name } => Some(name),
            Target::Redis(_) => None,
        }
    }

    fn redis(&self) -> Option<&RedisTarget> {
        match &self.target {
            Target::Redis(redis) => Some(redis),
            Target::Memory { .. } => None,
        }
    }

    pub(crate) fn into_parts(self) -> (Target, RedactedUrl) {
        (self.target, self.redacted)
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

/// What a URL names.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// `memory://name`.
    Memory { name: String },
    /// Any Redis form.
    Redis(RedisTarget),
}

/// A Redis deployment and how to authenticate to it.
#[derive(Clone, Debug)]
pub(crate) struct RedisTarget {
    pub(crate) topology: Topology,
    pub(crate) credentials: Credentials,
    pub(crate) db: i64,
    pub(crate) tls: Option<TlsCheck>,
}

/// Which kind of Redis deployment, and where.
#[derive(Clone, Debug)]
pub(crate) enum Topology {
    Tcp(HostPort),
    Unix(PathBuf),
    Cluster(Vec<HostPort>),
    Sentinel {
        sentinels: Vec<HostPort>,
        master: String,
    },
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

/// User name and password, decoded. `Debug` hides the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Why a URL did not parse, and the URL as it may be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) problem: UrlProblem,
    /// The scheme, the host when one may be shown, and `…` for the rest.
    pub(crate) redacted: RedactedUrl,
}

/// A problem, with the first host read before it was found.
struct Problem {
    problem: UrlProblem,
    host: Option<HostPort>,
}

impl From<UrlProblem> for Problem {
    fn from(problem: UrlProblem) -> Self {
        Self {
            problem,
            host: None,
        }
    }
}

/// Attaches `host` (read without error) to a problem found after it.
fn after_host(host: &HostPort) -> impl Fn(UrlProblem) -> Problem + '_ {
    move |problem| Problem {
        problem,
        host: Some(host.clone()),
    }
}

/// Parses a store URL.
pub(crate) fn parse(url: &str) -> Result<Target, Failure> {
    let unnamed = |problem| Failure {
        problem,
        redacted: RedactedUrl("…".to_owned()),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| unnamed(UrlProblem::MissingScheme))?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'))
    {
        return Err(unnamed(UrlProblem::MissingScheme));
    }
    let scheme: String = scheme
        .to_ascii_lowercase()
        .chars()
        .take(NAME_CHARS)
        .collect();
    parse_scheme(&scheme, rest).map_err(|Problem { problem, host }| {
        let mut shown = format!("{scheme}://");
        // After an `@`, any text may be the end of a password that holds one: the host is shown
        // only for a URL without `@`.
        if let Some(host) = host.filter(|_| !rest.contains('@')) {
            if host.host.contains(':') {
                shown.push_str(&format!("[{}]:{}", host.host, host.port));
            } else {
                shown.push_str(&format!("{}:{}", host.host, host.port));
            }
        }
        shown.push('…');
        Failure {
            problem,
            redacted: RedactedUrl(shown),
        }
    })
}

/// Parses the text after `scheme://`.
fn parse_scheme(scheme: &str, rest: &str) -> Result<Target, Problem> {
    match scheme {
        "memory" => parse_memory(rest),
        "redis" => parse_tcp(rest, None),
        "rediss" => parse_tcp_tls(rest, |rest, tls| parse_tcp(rest, Some(tls))),
        "unix" | "redis+unix" => parse_unix(rest).map_err(Problem::from),
        "redis+cluster" => parse_cluster(rest, None),
        "rediss+cluster" => parse_tcp_tls(rest, |rest, tls| parse_cluster(rest, Some(tls))),
        "redis+sentinel" => parse_sentinel(rest),
        _ => Err(UrlProblem::UnknownScheme {
            scheme: scheme.to_owned(),
        }
        .into()),
    }
}

fn parse_memory(rest: &str) -> Result<Target, Problem> {
    if rest
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'))
    {
        Ok(Target::Memory {
            name: rest.to_owned(),
        })
    } else {
        Err(UrlProblem::InvalidMemoryName.into())
    }
}

/// Splits off `#insecure` (or no fragment) for the TLS forms, then parses the rest.
fn parse_tcp_tls(
    rest: &str,
    parse_rest: impl FnOnce(&str, TlsCheck) -> Result<Target, Problem>,
) -> Result<Target, Problem> {
    // A `#` before the last `@` belongs to the credentials.
    let authority_start = rest.rfind('@').map_or(0, |at| at.saturating_add(1));
    let fragment = rest
        .get(authority_start..)
        .and_then(|after| after.find('#'))
        .map(|offset| authority_start.saturating_add(offset));
    match fragment.map(|hash| rest.split_at(hash)) {
        None => parse_rest(rest, TlsCheck::Verified),
        Some((before, "#insecure")) => parse_rest(before, TlsCheck::Insecure),
        Some(_) => Err(UrlProblem::UnsupportedFragment.into()),
    }
}

/// The parts of `[userinfo@]hosts[/path][?query]`; a fragment is refused.
struct Parts<'a> {
    credentials: Credentials,
    hosts: &'a str,
    path: &'a str,
}

fn split_authority(rest: &str) -> Result<Parts<'_>, UrlProblem> {
    // The user-info runs to the last `@`, so an unescaped `?`, `&`, `#`, `/` or `@` in a password
    // stays in it (and never reaches the query or fragment checks below, which quote names).
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    if rest.contains('#') {
        return Err(UrlProblem::UnsupportedFragment);
    }
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    if query.is_some_and(|query| !query.is_empty()) {
        return Err(UrlProblem::UnexpectedQuery);
    }
    let (hosts, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let credentials = match userinfo {
        None => Credentials::default(),
        Some(userinfo) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            Credentials {
                username: Some(percent_decode(user, false)?).filter(|user| !user.is_empty()),
                password: password.map(|pw| percent_decode(pw, false)).transpose()?,
            }
        }
    };
    Ok(Parts {
        credentials,
        hosts,
        path,
    })
}

fn parse_tcp(rest: &str, tls: Option<TlsCheck>) -> Result<Target, Problem> {
    let parts = split_authority(rest)?;
    let mut hosts = parse_hosts(parts.hosts, REDIS_PORT)?;
    let host = hosts.pop().ok_or(UrlProblem::MissingHost)?;
    if !hosts.is_empty() {
        return Err(UrlProblem::SeveralHosts.into());
    }
    let db = match parts.path.trim_start_matches('/') {
        "" => 0,
        db => parse_db(db).map_err(after_host(&host))?,
    };
    Ok(Target::Redis(RedisTarget {
        topology: Topology::Tcp(host),
        credentials: parts.credentials,
        db,
        tls,
    }))
}

fn parse_cluster(rest: &str, tls: Option<TlsCheck>) -> Result<Target, Problem> {
    let parts = split_authority(rest)?;
    let hosts = parse_hosts(parts.hosts, REDIS_PORT)?;
    let first = hosts.first().ok_or(UrlProblem::MissingHost)?;
    match parts.path.trim_start_matches('/') {
        "" | "0" => {}
        db => {
            let problem = parse_db(db).err().unwrap_or(UrlProblem::ClusterDatabase);
            return Err(after_host(first)(problem));
        }
    }
    Ok(Target::Redis(RedisTarget {
        topology: Topology::Cluster(hosts),
        credentials: parts.credentials,
        db: 0,
        tls,
    }))
}

fn parse_sentinel(rest: &str) -> Result<Target, Problem> {
    let parts = split_authority(rest)?;
    let sentinels = parse_hosts(parts.hosts, SENTINEL_PORT)?;
    let first = sentinels.first().ok_or(UrlProblem::MissingHost)?;
    let path = parts.path.strip_prefix('/').unwrap_or(parts.path);
    let mut segments = path.split('/');
    let master =
        percent_decode(segments.next().unwrap_or_default(), false).map_err(after_host(first))?;
    if master.is_empty() {
        return Err(after_host(first)(UrlProblem::MissingMasterName));
    }
    let db = match segments.next() {
        None | Some("") => 0,
        Some(db) => parse_db(db).map_err(after_host(first))?,
    };
    if segments.next().is_some() {
        return Err(after_host(first)(UrlProblem::UnexpectedPath));
    }
    Ok(Target::Redis(RedisTarget {
        topology: Topology::Sentinel { sentinels, master },
        credentials: parts.credentials,
        db,
        tls: None,
    }))
}

fn parse_unix(rest: &str) -> Result<Target, UrlProblem> {
    if rest.contains('#') {
        return Err(UrlProblem::UnsupportedFragment);
    }
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, query),
        None => (rest, ""),
    };
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
    let mut credentials = Credentials::default();
    let mut db = 0;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "db" => db = parse_db(value)?,
            "user" => {
                credentials.username =
                    Some(percent_decode(value, true)?).filter(|user| !user.is_empty());
            }
            "pass" | "password" => credentials.password = Some(percent_decode(value, true)?),
            // After a password, an unknown "parameter" may be the rest of a password holding an
            // unescaped `&`: it is not quoted.
            _ if credentials.password.is_some() => {
                return Err(UrlProblem::UnsupportedQuery {
                    name: "***".to_owned(),
                });
            }
            other => {
                return Err(UrlProblem::UnsupportedQuery {
                    name: other.chars().take(NAME_CHARS).collect(),
                });
            }
        }
    }
    Ok(Target::Redis(RedisTarget {
        topology: Topology::Unix(PathBuf::from(path)),
        credentials,
        db,
        tls: None,
    }))
}

fn parse_db(text: &str) -> Result<i64, UrlProblem> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(UrlProblem::InvalidDatabase);
    }
    text.parse().map_err(|_| UrlProblem::InvalidDatabase)
}

/// `host[:port]` items separated by commas; empty text gives no host.
fn parse_hosts(text: &str, default_port: u16) -> Result<Vec<HostPort>, UrlProblem> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| parse_host_port(item, default_port))
        .collect()
}

fn parse_host_port(item: &str, default_port: u16) -> Result<HostPort, UrlProblem> {
    let (host, port) = if let Some(bracketed) = item.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(UrlProblem::InvalidHost)?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|byte| byte.is_ascii_hexdigit() || matches!(byte, b':' | b'.'))
        {
            return Err(UrlProblem::InvalidHost);
        }
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or(UrlProblem::InvalidHost)?),
        };
        (host, port)
    } else {
        let (host, port) = match item.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (item, None),
        };
        if !host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'))
        {
            return Err(UrlProblem::InvalidHost);
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(UrlProblem::MissingHost);
    }
    let port = match port {
        None => default_port,
        Some(port) if !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()) => {
            match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UrlProblem::InvalidPort),
                Ok(port) => port,
            }
        }
        Some(_) => return Err(UrlProblem::InvalidPort),
    };
    Ok(HostPort {
        host: host.to_owned(),
        port,
    })
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for query values); a malformed
/// escape or a result that is not UTF-8 is an error.
fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, UrlProblem> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'%' => {
                let high = input.next().and_then(hex_value);
                let low = input.next().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => bytes.push(high << 4 | low),
                    _ => return Err(UrlProblem::InvalidPercentEncoding),
                }
            }
            b'+' if plus_is_space => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| UrlProblem::InvalidPercentEncoding)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(url: &str) -> RedisTarget {
        match parse(url) {
            Ok(Target::Redis(target)) => target,
            other => panic!("{url}: expected a Redis target, got {other:?}"),
        }
    }

    fn problem(url: &str) -> Option<UrlProblem> {
        parse(url).err().map(|failure| failure.problem)
    }

    fn host(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn memory_urls_name_a_shared_store() {
        assert!(matches!(parse("memory://"), Ok(Target::Memory { name }) if name.is_empty()));
        assert!(
            matches!(parse("memory://w-1.a_b"), Ok(Target::Memory { name }) if name == "w-1.a_b")
        );
        assert_eq!(problem("memory://a/b"), Some(UrlProblem::InvalidMemoryName));
    }

    #[test]
    fn redis_urls_follow_redis_rs_conventions() {
        let target = redis("redis://cache.internal");
        assert!(
            matches!(&target.topology, Topology::Tcp(hp) if *hp == host("cache.internal", 6379))
        );
        assert_eq!(target.db, 0);
        assert_eq!(target.credentials, Credentials::default());
        assert_eq!(target.tls, None);

        let target = redis("REDIS://app:p%40ss%3Aw0rd@10.0.0.5:7000/3");
        assert!(matches!(&target.topology, Topology::Tcp(hp) if *hp == host("10.0.0.5", 7000)));
        assert_eq!(target.db, 3);
        assert_eq!(target.credentials.username.as_deref(), Some("app"));
        assert_eq!(target.credentials.password.as_deref(), Some("p@ss:w0rd"));

        let target = redis("redis://:only-password@[::1]:6380/");
        assert!(matches!(&target.topology, Topology::Tcp(hp) if *hp == host("::1", 6380)));
        assert_eq!(target.credentials.username, None);
        assert_eq!(
            target.credentials.password.as_deref(),
            Some("only-password")
        );

        let target = redis("redis://default@h");
        assert_eq!(target.credentials.username.as_deref(), Some("default"));
        assert_eq!(target.credentials.password, None);
    }

    #[test]
    fn rediss_urls_ask_for_tls() {
        assert_eq!(redis("rediss://h").tls, Some(TlsCheck::Verified));
        assert_eq!(
            redis("rediss://h:6380/1#insecure").tls,
            Some(TlsCheck::Insecure)
        );
        assert_eq!(
            problem("rediss://h#other"),
            Some(UrlProblem::UnsupportedFragment)
        );
        assert_eq!(
            problem("redis://h#insecure"),
            Some(UrlProblem::UnsupportedFragment)
        );
    }

    #[test]
    fn unix_urls_take_credentials_in_the_query() {
        for scheme in ["unix", "redis+unix"] {
            let target = redis(&format!(
                "{scheme}:///run/redis/redis.sock?db=2&user=u&pass=p%26q"
            ));
            assert!(
                matches!(&target.topology, Topology::Unix(path) if path == &PathBuf::from("/run/redis/redis.sock"))
            );
            assert_eq!(target.db, 2);
            assert_eq!(target.credentials.username.as_deref(), Some("u"));
            assert_eq!(target.credentials.password.as_deref(), Some("p&q"));
        }
        assert!(matches!(
            redis("unix://localhost/tmp/r.sock").topology,
            Topology::Unix(_)
        ));
        assert_eq!(problem("unix://"), Some(UrlProblem::MissingSocketPath));
        assert_eq!(
            problem("unix://relative.sock"),
            Some(UrlProblem::MissingSocketPath)
        );
        assert_eq!(
            problem("unix://u:p@/tmp/r.sock"),
            Some(UrlProblem::UnixCredentials)
        );
        assert_eq!(
            problem("unix:///tmp/r.sock?timeout=3"),
            Some(UrlProblem::UnsupportedQuery {
                name: "timeout".into()
            })
        );
    }

    #[test]
    fn cluster_urls_list_seed_nodes() {
        let target = redis("redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001,node-c");
        match &target.topology {
            Topology::Cluster(nodes) => assert_eq!(
                nodes,
                &[
                    host("127.0.0.1", 7000),
                    host("127.0.0.1", 7001),
                    host("node-c", 6379)
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(target.credentials.password.as_deref(), Some("pw"));
        assert_eq!(
            redis("rediss+cluster://a:1,b:2#insecure").tls,
            Some(TlsCheck::Insecure)
        );
        assert_eq!(
            problem("redis+cluster://a:1/2"),
            Some(UrlProblem::ClusterDatabase)
        );
        assert_eq!(problem("redis+cluster://"), Some(UrlProblem::MissingHost));
        assert_eq!(
            problem("redis+cluster://a:1,,b:2"),
            Some(UrlProblem::MissingHost)
        );
    }

    #[test]
    fn sentinel_urls_name_the_master() {
        let target = redis("redis+sentinel://s1,s2:26380/mymaster/4");
        match &target.topology {
            Topology::Sentinel { sentinels, master } => {
                assert_eq!(sentinels, &[host("s1", 26379), host("s2", 26380)]);
                assert_eq!(master, "mymaster");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(target.db, 4);
        assert_eq!(
            problem("redis+sentinel://s1"),
            Some(UrlProblem::MissingMasterName)
        );
        assert_eq!(
            problem("redis+sentinel://s1/"),
            Some(UrlProblem::MissingMasterName)
        );
        assert_eq!(
            problem("redis+sentinel://s1/m/1/x"),
            Some(UrlProblem::UnexpectedPath)
        );
        assert_eq!(
            problem("redis+sentinel://s1/m/x"),
            Some(UrlProblem::InvalidDatabase)
        );
    }

    #[test]
    fn malformed_urls_are_typed_errors() {
        let cases = [
            ("", UrlProblem::MissingScheme),
            ("localhost:6379", UrlProblem::MissingScheme),
            ("://h", UrlProblem::MissingScheme),
            (
                "http://h",
                UrlProblem::UnknownScheme {
                    scheme: "http".into(),
                },
            ),
            ("redis://", UrlProblem::MissingHost),
            ("redis://:6379", UrlProblem::MissingHost),
            ("redis://h:0", UrlProblem::InvalidPort),
            ("redis://h:65536", UrlProblem::InvalidPort),
            ("redis://h:x", UrlProblem::InvalidPort),
            ("redis://h:", UrlProblem::InvalidPort),
            ("redis://[::1", UrlProblem::InvalidHost),
            ("redis://[zz]", UrlProblem::InvalidHost),
            ("redis://h st", UrlProblem::InvalidHost),
            ("redis://a,b", UrlProblem::SeveralHosts),
            ("redis://h/x", UrlProblem::InvalidDatabase),
            ("redis://h/-1", UrlProblem::InvalidDatabase),
            ("redis://h/1/2", UrlProblem::InvalidDatabase),
            ("redis://h?protocol=resp3", UrlProblem::UnexpectedQuery),
            ("redis://:pw?x", UrlProblem::UnexpectedQuery),
            ("redis://u:%zz@h", UrlProblem::InvalidPercentEncoding),
            ("redis://u:%ff@h", UrlProblem::InvalidPercentEncoding),
        ];
        for (url, expected) in cases {
            assert_eq!(problem(url), Some(expected), "{url}");
        }
    }

    #[test]
    fn odd_characters_in_credentials_never_reach_the_query_or_fragment_checks() {
        let target = redis("redis://:pa?ss&w#rd@h:1/2");
        assert_eq!(target.credentials.password.as_deref(), Some("pa?ss&w#rd"));
        assert_eq!(target.db, 2);
        let target = redis("rediss://u:p#q@h#insecure");
        assert_eq!(target.credentials.password.as_deref(), Some("p#q"));
        assert_eq!(target.tls, Some(TlsCheck::Insecure));
        assert_eq!(
            problem("unix:///s.sock?pass=se&cret"),
            Some(UrlProblem::UnsupportedQuery { name: "***".into() })
        );
        assert_eq!(
            problem("unix:///s.sock?cret&pass=x"),
            Some(UrlProblem::UnsupportedQuery {
                name: "cret".into()
            })
        );
    }

    #[test]
    fn unknown_schemes_are_quoted_briefly() {
        let long = format!("{}://h", "x".repeat(100));
        match problem(&long) {
            Some(UrlProblem::UnknownScheme { scheme }) => assert_eq!(scheme.len(), NAME_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn redaction_hides_passwords_in_every_form() {
        let cases = [
            ("redis://h:1/0", "redis://h:1/0"),
            ("redis://user:secret@h:1/0", "redis://user:***@h:1/0"),
            ("redis://:secret@h", "redis://:***@h"),
            ("redis://secret@h", "redis://***@h"),
            ("redis://u:se@cr/et#x@h", "redis://u:***@h"),
            ("rediss://u:secret@h#insecure", "rediss://u:***@h#insecure"),
            ("rediss://u:secret@h#secret", "rediss://…"),
            (
                "redis+cluster://:secret@a:1,b:2",
                "redis+cluster://:***@a:1,b:2",
            ),
            (
                "redis+sentinel://:secret@s:1/m/2",
                "redis+sentinel://:***@s:1/m/2",
            ),
            (
                "unix:///s.sock?db=3&pass=se@cret&user=u",
                "unix:///s.sock?db=3&pass=***&user=***",
            ),
            ("unix:///s.sock?pass=a&b&db=x", "unix://…"),
            (
                "unix:///s.sock?db=1&&user=u",
                "unix:///s.sock?db=1&&user=***",
            ),
            ("no-scheme:secret@h", "…"),
            ("unix://:secret@/tmp/x.sock", "unix://…"),
            ("redis+unix://u:se?cret@/tmp/x.sock", "redis+unix://…"),
            ("unix://:se/cret@/tmp/x.sock?db=1", "unix://…"),
            ("unix://:secret/tmp/x.sock", "unix://…"),
            (
                "unix://localhost/tmp/x.sock?db=1",
                "unix://localhost/tmp/x.sock?db=1",
            ),
            ("redis://:pa?secret@h:1", "redis://:***@h:1"),
            ("rediss://:pa#secret@h#insecure", "rediss://:***@h#insecure"),
        ];
        for (url, expected) in cases {
            let redacted = redact_url(url);
            assert_eq!(redacted.as_str(), expected, "{url}");
            assert!(!redacted.as_str().contains("secret"), "{url}");
            assert!(!format!("{redacted:?}").contains("secret"), "{url}");
        }
    }

    /// A URL that does not parse shows its scheme, its host only when read and the URL has no
    /// `@`, and nothing else: not even text the parser took for a host, port, query or path.
    #[test]
    fn a_url_that_does_not_parse_shows_only_its_scheme_and_a_safe_host() {
        let cases = [
            ("redis://:secret", "redis://…", UrlProblem::MissingHost),
            ("redis://app:secret", "redis://…", UrlProblem::InvalidPort),
            (
                "redis://:secret?x",
                "redis://…",
                UrlProblem::UnexpectedQuery,
            ),
            (
                "redis://:pw?secret",
                "redis://…",
                UrlProblem::UnexpectedQuery,
            ),
            ("redis://u:se@cret@", "redis://…", UrlProblem::MissingHost),
            ("redis://u:se@cret:", "redis://…", UrlProblem::InvalidPort),
            (
                "redis://u:se@cret/x",
                "redis://…",
                UrlProblem::InvalidDatabase,
            ),
            (
                "redis://u:se#cret",
                "redis://…",
                UrlProblem::UnsupportedFragment,
            ),
            (
                "redis://u:secret@[::1",
                "redis://…",
                UrlProblem::InvalidHost,
            ),
            (
                "unix://?pass=hun/secret",
                "unix://…",
                UrlProblem::MissingSocketPath,
            ),
            (
                "redis+sentinel://u:secret@s",
                "redis+sentinel://…",
                UrlProblem::MissingMasterName,
            ),
            // No `@`: the host read may be shown.
            (
                "redis://cache:6380/x",
                "redis://cache:6380…",
                UrlProblem::InvalidDatabase,
            ),
            (
                "redis://[::1]/x",
                "redis://[::1]:6379…",
                UrlProblem::InvalidDatabase,
            ),
            (
                "redis+sentinel://s1,s2",
                "redis+sentinel://s1:26379…",
                UrlProblem::MissingMasterName,
            ),
            (
                "redis+cluster://a:1/5",
                "redis+cluster://a:1…",
                UrlProblem::ClusterDatabase,
            ),
            ("redis://cache:0", "redis://…", UrlProblem::InvalidPort),
            (
                "HTTP://u:secret@h",
                "http://…",
                UrlProblem::UnknownScheme {
                    scheme: "http".into(),
                },
            ),
            ("secret@h", "…", UrlProblem::MissingScheme),
        ];
        for (url, shown, expected) in cases {
            let failure = parse(url).err();
            assert_eq!(
                failure.as_ref().map(|f| &f.problem),
                Some(&expected),
                "{url}"
            );
            assert_eq!(redact_url(url).as_str(), shown, "{url}");
            let error = StoreUrl::parse(url).err().map(|e| format!("{e} {e:?}"));
            let error = error.unwrap_or_default();
            assert!(error.contains(shown), "{url}: {error}");
            assert!(
                !error.contains("secret") && !error.contains("cret"),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn redaction_bounds_the_length() {
        let url = format!("redis://{}", "h".repeat(1000));
        let redacted = redact_url(&url);
        assert_eq!(redacted.as_str().chars().count(), REDACTED_URL_CHARS + 1);
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let credentials = Credentials {
            username: Some("app".into()),
            password: Some("secret".into()),
        };
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("app") && !shown.contains("secret"),
            "{shown}"
        );
    }
}
