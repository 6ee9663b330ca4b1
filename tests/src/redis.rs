//! Real `redis-server` processes for tests: a standalone server (TCP or unix socket, optionally
//! with a password), a Redis Cluster of several masters, and a master watched by one Sentinel.
//!
//! Each server listens on a free loopback port (never 6379 or 26379), keeps nothing on disk
//! (`--save "" --appendonly no`) and lives in its own temporary folder; everything is stopped and
//! removed on drop. A tiny blocking RESP client ([`RedisServer::command`]) lets tests look at the
//! server directly, independently of the code under test.
//!
//! The harness needs `redis-server` and `redis-cli` on the `PATH`; `cargo xtask ci` installs them.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test support: a harness that cannot start its servers must fail the test loudly"
)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The master name the Sentinel harness monitors.
pub const SENTINEL_MASTER: &str = "mymaster";

/// How long a server may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How many fresh ports to try when another process takes the one picked.
const PORT_ATTEMPTS: usize = 8;
/// Ports the harness never uses: those of a Redis or Sentinel already running on the machine.
const RESERVED_PORTS: [u16; 2] = [6379, 26379];

/// A reply in the Redis protocol (RESP2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR …`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$…`: bytes, or `None` for nil.
    Bulk(Option<Vec<u8>>),
    /// `*…`: replies, or `None` for a nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The integer of an `Integer` reply.
    ///
    /// # Panics
    /// On any other reply.
    #[must_use]
    pub fn integer(&self) -> i64 {
        match self {
            Self::Integer(value) => *value,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The text of a status or bulk reply.
    ///
    /// # Panics
    /// On any other reply.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Status(text) => text.clone(),
            Self::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("expected a text reply, got {other:?}"),
        }
    }

    /// The bytes of a bulk reply, `None` for nil.
    ///
    /// # Panics
    /// On any other reply.
    #[must_use]
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Self::Bulk(bytes) => bytes.clone(),
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }
}

/// A folder under the system temp dir, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "taskctx-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("creating {}: {error}", path.display()));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Where a server listens.
#[derive(Clone, Debug)]
enum Endpoint {
    Tcp(u16),
    Unix(PathBuf),
}

/// What kind of process to run.
#[derive(Clone, Debug)]
enum Role {
    /// A plain server; `cluster_port` makes it a cluster node.
    Server { cluster_port: Option<u16> },
    /// A Sentinel monitoring the master on this port.
    Sentinel { master_port: u16 },
}

/// Options for [`RedisServer::builder`].
#[derive(Clone, Debug, Default)]
pub struct RedisServerBuilder {
    password: Option<String>,
    unix_socket: bool,
    tls: bool,
}

impl RedisServerBuilder {
    /// Requires `AUTH password` (`--requirepass`).
    #[must_use]
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Listens on a unix socket in the server's folder instead of TCP.
    #[must_use]
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Also listens for TLS on a second port, with a self-signed certificate for `localhost` and
    /// `127.0.0.1` made by the `openssl` command; [`RedisServer::url`] is then a `rediss://` URL
    /// with `#insecure` (the harness's own commands keep using the plain port).
    #[must_use]
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Starts the server and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not come up.
    #[must_use]
    pub fn start(self) -> RedisServer {
        let dir = TempDir::new("redis");
        let endpoint = if self.unix_socket {
            Endpoint::Unix(dir.0.join("redis.sock"))
        } else {
            Endpoint::Tcp(0)
        };
        let tls_port = self.tls.then(|| {
            make_self_signed_certificate(&dir.0);
            0
        });
        let mut server = RedisServer::new(
            dir,
            endpoint,
            Role::Server { cluster_port: None },
            self.password,
        );
        server.tls_port = tls_port;
        server.start_on_free_ports();
        server
    }
}

/// One `redis-server` process (a server, a cluster node or a Sentinel), killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    endpoint: Endpoint,
    /// The TLS port, when the server also listens for TLS.
    tls_port: Option<u16>,
    role: Role,
    password: Option<String>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a standalone server on a free loopback TCP port.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not come up.
    #[must_use]
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// Starts a standalone server listening on a unix socket only.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not come up.
    #[must_use]
    pub fn start_unix() -> Self {
        Self::builder().unix_socket().start()
    }

    /// Options: password, unix socket.
    #[must_use]
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    fn launch(dir: TempDir, endpoint: Endpoint, role: Role, password: Option<String>) -> Self {
        let mut server = Self::new(dir, endpoint, role, password);
        server.start_on_free_ports();
        server
    }

    fn new(dir: TempDir, endpoint: Endpoint, role: Role, password: Option<String>) -> Self {
        require_redis_tools();
        Self {
            child: None,
            endpoint,
            tls_port: None,
            role,
            password,
            dir,
        }
    }

    /// Starts on fresh free ports (TCP, TLS and a cluster node's bus), trying others when one is
    /// taken meanwhile: every attempt draws all of them again, since any one may be the one taken.
    fn start_on_free_ports(&mut self) {
        for _ in 0..PORT_ATTEMPTS {
            if let Endpoint::Tcp(port) = &mut self.endpoint {
                *port = free_port();
            }
            if let Some(port) = &mut self.tls_port {
                *port = free_port();
            }
            if let Role::Server {
                cluster_port: Some(port),
            } = &mut self.role
            {
                *port = free_port();
            }
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(Failure::PortTaken) => {}
                Err(Failure::Fatal(message)) => panic!("{message}"),
            }
        }
        panic!(
            "redis-server: no free port after {PORT_ATTEMPTS} attempts ({})",
            self.log_tail()
        );
    }

    fn log_path(&self) -> PathBuf {
        self.dir.0.join("redis.log")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn args(&self) -> Vec<OsString> {
        let dir = self.dir.0.as_os_str().to_owned();
        let mut args: Vec<OsString> = Vec::new();
        if let Role::Sentinel { master_port } = self.role {
            let Endpoint::Tcp(port) = self.endpoint else {
                panic!("a Sentinel listens on TCP");
            };
            // Sentinel needs a writable config file: it records what it learns there.
            let config = self.dir.0.join("sentinel.conf");
            let mut text = String::new();
            writeln!(text, "port {port}").unwrap();
            writeln!(text, "bind 127.0.0.1").unwrap();
            writeln!(
                text,
                "sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 1"
            )
            .unwrap();
            writeln!(
                text,
                "sentinel down-after-milliseconds {SENTINEL_MASTER} 60000"
            )
            .unwrap();
            if let Some(password) = &self.password {
                writeln!(text, "sentinel auth-pass {SENTINEL_MASTER} {password}").unwrap();
            }
            fs::write(&config, text).unwrap();
            args.push(config.into_os_string());
            args.push("--sentinel".into());
        } else if let Some(password) = &self.password {
            args.extend(["--requirepass".into(), password.into()]);
        }
        match &self.endpoint {
            Endpoint::Tcp(port) => {
                args.extend(["--port".into(), port.to_string().into()]);
                args.extend(["--bind".into(), "127.0.0.1".into()]);
            }
            Endpoint::Unix(path) => {
                args.extend(["--port".into(), "0".into()]);
                args.extend(["--unixsocket".into(), path.clone().into_os_string()]);
                args.extend(["--unixsocketperm".into(), "700".into()]);
            }
        }
        if let Role::Server {
            cluster_port: Some(cluster_port),
        } = self.role
        {
            args.extend(["--cluster-enabled".into(), "yes".into()]);
            args.extend(["--cluster-port".into(), cluster_port.to_string().into()]);
            args.extend([
                "--cluster-config-file".into(),
                self.dir.0.join("nodes.conf").into_os_string(),
            ]);
            args.extend(["--cluster-node-timeout".into(), "5000".into()]);
        }
        if let Some(tls_port) = self.tls_port {
            let file = |name: &str| self.dir.0.join(name).into_os_string();
            args.extend(["--tls-port".into(), tls_port.to_string().into()]);
            args.extend(["--tls-cert-file".into(), file("cert.pem")]);
            args.extend(["--tls-key-file".into(), file("key.pem")]);
            args.extend(["--tls-ca-cert-file".into(), file("cert.pem")]);
            args.extend(["--tls-auth-clients".into(), "no".into()]);
        }
        if matches!(self.role, Role::Server { .. }) {
            args.extend(["--save".into(), "".into()]);
            args.extend(["--appendonly".into(), "no".into()]);
        }
        args.extend(["--dir".into(), dir]);
        args.extend(["--logfile".into(), self.log_path().into_os_string()]);
        args.extend(["--daemonize".into(), "no".into()]);
        args
    }

    fn spawn_and_wait(&mut self) -> Result<(), Failure> {
        if let Endpoint::Unix(path) = &self.endpoint {
            let _ = fs::remove_file(path);
        }
        let _ = fs::remove_file(self.log_path());
        let child = Command::new("redis-server")
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| Failure::Fatal(format!("starting redis-server: {error}")))?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok()?) {
                self.child = None;
                let log = self.log_tail();
                return if log.contains("Address already in use") {
                    Err(Failure::PortTaken)
                } else {
                    Err(Failure::Fatal(format!(
                        "redis-server exited ({status}) before answering PING:\n{log}"
                    )))
                };
            }
            if let Ok(reply) = self.try_command(&["PING"]) {
                match reply {
                    Reply::Status(pong) if pong == "PONG" => return Ok(()),
                    _ => {}
                }
            }
            if started.elapsed() > START_TIMEOUT {
                self.kill();
                return Err(Failure::Fatal(format!(
                    "redis-server did not answer PING within {START_TIMEOUT:?}:\n{}",
                    self.log_tail()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The URL of this server: `redis://127.0.0.1:PORT`, `unix:///…/redis.sock` or (with
    /// [`RedisServerBuilder::tls`]) `rediss://127.0.0.1:TLS_PORT#insecure`, with the password
    /// (percent-encoded) if there is one.
    #[must_use]
    pub fn url(&self) -> String {
        if let Some(tls_port) = self.tls_port {
            let credentials = self.password.as_ref().map_or(String::new(), |password| {
                format!(":{}@", percent_encode(password))
            });
            return format!("rediss://{credentials}127.0.0.1:{tls_port}#insecure");
        }
        match (&self.endpoint, &self.password) {
            (Endpoint::Tcp(port), None) => format!("redis://127.0.0.1:{port}"),
            (Endpoint::Tcp(port), Some(password)) => {
                format!("redis://:{}@127.0.0.1:{port}", percent_encode(password))
            }
            (Endpoint::Unix(path), None) => format!("unix://{}", path.display()),
            (Endpoint::Unix(path), Some(password)) => {
                format!(
                    "unix://{}?pass={}",
                    path.display(),
                    percent_encode(password)
                )
            }
        }
    }

    /// The TCP port.
    ///
    /// # Panics
    /// For a unix-socket server.
    #[must_use]
    pub fn port(&self) -> u16 {
        match self.endpoint {
            Endpoint::Tcp(port) => port,
            Endpoint::Unix(_) => panic!("this server listens on a unix socket"),
        }
    }

    /// The TLS port, for a server started with [`RedisServerBuilder::tls`].
    #[must_use]
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The unix socket path, for a unix-socket server.
    #[must_use]
    pub fn socket_path(&self) -> Option<&Path> {
        match &self.endpoint {
            Endpoint::Unix(path) => Some(path),
            Endpoint::Tcp(_) => None,
        }
    }

    /// Kills the server (its data is gone: nothing is persisted).
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Stops the server if it runs, then starts it again on the same port or socket.
    ///
    /// # Panics
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.kill();
        let started = Instant::now();
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                // The old socket may linger for a moment.
                Err(Failure::PortTaken) if started.elapsed() < START_TIMEOUT => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(Failure::PortTaken) => panic!("redis-server: port still taken on restart"),
                Err(Failure::Fatal(message)) => panic!("{message}"),
            }
        }
    }

    /// Freezes the process (`SIGSTOP`): connections stay open but nothing is answered, like a
    /// hung server. [`RedisServer::thaw`] resumes it; drop kills it either way.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen process (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is not running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {signal} failed: {status}");
    }

    /// Sends one command (after `AUTH` when the server has a password) and returns the reply.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> Reply {
        self.try_command(args)
            .unwrap_or_else(|error| panic!("{args:?} to {}: {error}", self.describe()))
    }

    /// [`command`](Self::command) with arguments of any bytes (not only UTF-8).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn command_bytes(&self, args: &[&[u8]]) -> Reply {
        self.try_command(args)
            .unwrap_or_else(|error| panic!("{args:?} to {}: {error}", self.describe()))
    }

    fn describe(&self) -> String {
        match &self.endpoint {
            Endpoint::Tcp(port) => format!("127.0.0.1:{port}"),
            Endpoint::Unix(path) => path.display().to_string(),
        }
    }

    fn try_command(&self, args: &[impl AsRef<[u8]>]) -> std::io::Result<Reply> {
        let timeout = Some(Duration::from_secs(5));
        match &self.endpoint {
            Endpoint::Tcp(port) => {
                let address = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                let stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
                stream.set_read_timeout(timeout)?;
                stream.set_write_timeout(timeout)?;
                self.exchange(stream, args)
            }
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path)?;
                stream.set_read_timeout(timeout)?;
                stream.set_write_timeout(timeout)?;
                self.exchange(stream, args)
            }
        }
    }

    fn exchange<S: Read + Write>(
        &self,
        stream: S,
        args: &[impl AsRef<[u8]>],
    ) -> std::io::Result<Reply> {
        let mut reader = BufReader::new(stream);
        let authenticate = matches!(self.role, Role::Server { .. });
        if let (Some(password), true) = (&self.password, authenticate) {
            write_command(reader.get_mut(), &["AUTH", password])?;
            if let Reply::Error(error) = read_reply(&mut reader)? {
                return Err(std::io::Error::other(error));
            }
        }
        write_command(reader.get_mut(), args)?;
        read_reply(&mut reader)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Failure {
    PortTaken,
    Fatal(String),
}

/// A Redis Cluster of masters only, each a [`RedisServer`] with `--cluster-enabled yes`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3), joins them with `redis-cli --cluster create` and waits
    /// until every node reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When the cluster does not form.
    #[must_use]
    pub fn start(masters: usize) -> Self {
        assert!(masters >= 3, "Redis Cluster needs at least 3 masters");
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                // Both ports are drawn when the node starts (the bus port 0 only marks a node).
                RedisServer::launch(
                    TempDir::new("redis-cluster"),
                    Endpoint::Tcp(0),
                    Role::Server {
                        cluster_port: Some(0),
                    },
                    None,
                )
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("running redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    fn wait_until_ok(&self) {
        let started = Instant::now();
        loop {
            let all_ok = self.nodes.iter().all(|node| {
                let info = node.command(&["CLUSTER", "INFO"]).text();
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
            });
            if all_ok {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster did not reach cluster_state:ok"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `redis+cluster://` URL listing every node.
    #[must_use]
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// A `redis+cluster://` URL listing only node `index` as the seed.
    #[must_use]
    pub fn node_url(&self, index: usize) -> String {
        format!("redis+cluster://127.0.0.1:{}", self.nodes[index].port())
    }

    /// The nodes.
    #[must_use]
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Kills every node.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
    }

    /// The node serving `key`'s slot (the one that does not answer `MOVED`).
    ///
    /// # Panics
    /// When no node claims it.
    #[must_use]
    pub fn node_for_key(&self, key: &str) -> &RedisServer {
        self.nodes
            .iter()
            .find(|node| {
                !matches!(node.command(&["EXISTS", key]), Reply::Error(error) if error.starts_with("MOVED"))
            })
            .expect("some node serves every slot")
    }
}

/// A master [`RedisServer`] watched by one Sentinel (quorum 1).
#[derive(Debug)]
pub struct RedisSentinel {
    // Field order: the Sentinel stops before its master.
    sentinel: RedisServer,
    master: RedisServer,
}

impl RedisSentinel {
    /// Starts a master and a Sentinel monitoring it as [`SENTINEL_MASTER`], and waits until the
    /// Sentinel reports the master's address.
    ///
    /// # Panics
    /// When either does not come up.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(RedisServer::builder())
    }

    /// Like [`RedisSentinel::start`], with the master started from `master` (for example with a
    /// password, which the Sentinel is then given too).
    ///
    /// # Panics
    /// When either does not come up.
    #[must_use]
    pub fn start_with(master: RedisServerBuilder) -> Self {
        let password = master.password.clone();
        let master = master.start();
        let sentinel = RedisServer::launch(
            TempDir::new("redis-sentinel"),
            Endpoint::Tcp(0),
            Role::Sentinel {
                master_port: master.port(),
            },
            password,
        );
        let started = Instant::now();
        loop {
            let reply = sentinel.command(&["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER]);
            if let Reply::Array(Some(address)) = &reply
                && address.get(1).map(Reply::text) == Some(master.port().to_string())
            {
                break;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the Sentinel does not report the master: {reply:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        Self { sentinel, master }
    }

    /// `redis+sentinel://127.0.0.1:PORT/mymaster`, with the master's password if it has one.
    #[must_use]
    pub fn url(&self) -> String {
        let credentials = self
            .master
            .password
            .as_ref()
            .map_or(String::new(), |password| {
                format!(":{}@", percent_encode(password))
            });
        format!(
            "redis+sentinel://{credentials}127.0.0.1:{}/{SENTINEL_MASTER}",
            self.sentinel.port()
        )
    }

    /// The master.
    #[must_use]
    pub fn master(&self) -> &RedisServer {
        &self.master
    }

    /// The master, to stop or restart it.
    pub fn master_mut(&mut self) -> &mut RedisServer {
        &mut self.master
    }

    /// The Sentinel process.
    #[must_use]
    pub fn sentinel(&self) -> &RedisServer {
        &self.sentinel
    }
}

/// A port that was free a moment ago on 127.0.0.1, never a reserved one.
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("a bound address").port();
        if !RESERVED_PORTS.contains(&port) {
            return port;
        }
    }
}

/// Writes `cert.pem` and `key.pem` (a self-signed P-256 certificate for `localhost` and
/// `127.0.0.1`, valid for two days) into `dir` with the `openssl` command.
fn make_self_signed_certificate(dir: &Path) {
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!("running `openssl` to make a test certificate (is it installed?): {error}")
        });
    assert!(
        output.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fails with a clear message when the Redis tools are not installed.
fn require_redis_tools() {
    for tool in ["redis-server", "redis-cli"] {
        match Command::new(tool).arg("--version").output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!("`{tool} --version` failed: {}", output.status),
            Err(error) if error.kind() == ErrorKind::NotFound => panic!(
                "`{tool}` is not on the PATH: the Redis-backed tests start their own servers; run \
                 `cargo xtask ci`, which installs redis-server and redis-cli"
            ),
            Err(error) => panic!("running `{tool} --version`: {error}"),
        }
    }
}

/// `text` with every byte outside `A-Z a-z 0-9 - . _ ~` written as `%XX`.
#[must_use]
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            write!(encoded, "%{byte:02X}").unwrap();
        }
    }
    encoded
}

fn write_command(stream: &mut impl Write, args: &[impl AsRef<[u8]>]) -> std::io::Result<()> {
    let mut frame = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        frame.extend_from_slice(arg);
        frame.extend_from_slice(b"\r\n");
    }
    stream.write_all(&frame)?;
    stream.flush()
}

fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(line.trim_end_matches("\r\n").to_owned())
}

fn parse_number(text: &str) -> std::io::Result<i64> {
    text.parse()
        .map_err(|_| std::io::Error::other(format!("bad number in reply: {text:?}")))
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(parse_number(rest)?),
        "$" => match usize::try_from(parse_number(rest)?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut bytes = vec![0; len + 2];
                reader.read_exact(&mut bytes)?;
                bytes.truncate(len);
                Reply::Bulk(Some(bytes))
            }
        },
        "*" => match usize::try_from(parse_number(rest)?) {
            Err(_) => Reply::Array(None),
            Ok(len) => Reply::Array(Some(
                (0..len)
                    .map(|_| read_reply(reader))
                    .collect::<std::io::Result<_>>()?,
            )),
        },
        _ => return Err(std::io::Error::other(format!("bad reply line: {line:?}"))),
    })
}
