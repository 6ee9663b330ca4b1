//! The MCP tasks rows of `cargo xtask bench --reference`: tasks end to end through a fleet of two
//! replicas and its workers, for taskctx and for the reference, driven by one load generator.
//!
//! - taskctx: the example server (`crates/rmcp/examples/server.rs`), two replicas that queue each
//!   task on the store's job list and each run a worker taking jobs from it (`--queue
//!   --with-worker`).
//! - The reference: `xtask/refserver.py` (fastmcp with fastmcp-tasks 4.1.4), two replicas on one
//!   Docket, each running its own Docket worker as fastmcp does.
//! - The load: `crates/rmcp/examples/mcp_load.rs`, the same binary and the same polling for
//!   both: a `whoami` task created on replica 1, `tasks/get` on replica 2 every [`POLL_MS`] until
//!   it is completed, at 1 and 32 tasks in flight.
//!
//! Each side runs on a fresh `redis-server` of its own, and only one fleet runs at a time (an idle
//! Docket worker polls Redis). Around each timed run the server's CPU time is read (`INFO cpu`):
//! its own time per task, everything it did included, is the Redis cost the bound is on. The
//! server's statistics are reset (`CONFIG RESETSTAT`) and read (`INFO commandstats`) too, as
//! diagnostics: the commands a task took and their time, with scripts apart (a command a script
//! runs counts on its own line and again inside the script's time).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::reference_bench::{Redis, free_port, load_average};
use super::{StepResult, cargo, interop, workspace_root};

/// Tasks in flight of the rows.
pub(crate) const CONCURRENCIES: [usize; 2] = [1, 32];
/// How long each timed run lasts (s): tasks started before then finish and count.
const SECONDS: f64 = 5.0;
/// How many times each fleet runs; every figure is the side's best over them.
const ROUNDS: usize = 3;
/// The load generator's polling: one `tasks/get` this long after the create answer and after
/// each answer that is not `completed`, for both sides.
pub(crate) const POLL_MS: u64 = 5;
/// Replicas of each fleet; each runs a worker too.
const REPLICAS: usize = 2;
/// How long a fleet may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// One side's figures at one concurrency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    pub(crate) tasks_per_sec: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) polls_per_task: f64,
    /// Redis commands per task (every client of the server: replicas, workers), those scripts
    /// run included.
    pub(crate) redis_calls: f64,
    /// Of those, script calls (`EVAL`, `EVALSHA`, `FCALL` and their read-only forms) per task.
    pub(crate) redis_scripts: f64,
    /// `INFO commandstats` usec per task of every command but the script calls, µs: each
    /// command's own time, once (a script's commands included, its Lua not).
    pub(crate) redis_us: f64,
    /// `INFO commandstats` usec per task of the script calls, µs (their commands included).
    pub(crate) redis_script_us: f64,
    /// The Redis server's CPU time per task (`INFO cpu`, user + system), µs: what the bound is
    /// on.
    pub(crate) redis_cpu_us: f64,
}

impl Figures {
    /// Keeps the best of both rounds by the bench's one rule: the highest rate, the lowest
    /// latencies and Redis costs (each may be of a different round).
    fn merge(&mut self, other: Self) {
        let best = Self {
            tasks_per_sec: self.tasks_per_sec.max(other.tasks_per_sec),
            p50_ms: self.p50_ms.min(other.p50_ms),
            p99_ms: self.p99_ms.min(other.p99_ms),
            polls_per_task: if other.tasks_per_sec > self.tasks_per_sec {
                other.polls_per_task
            } else {
                self.polls_per_task
            },
            redis_calls: self.redis_calls.min(other.redis_calls),
            redis_scripts: self.redis_scripts.min(other.redis_scripts),
            redis_us: self.redis_us.min(other.redis_us),
            redis_script_us: self.redis_script_us.min(other.redis_script_us),
            redis_cpu_us: self.redis_cpu_us.min(other.redis_cpu_us),
        };
        *self = best;
    }
}

/// Both sides' best figures, by concurrency.
#[derive(Debug, Default)]
pub(crate) struct McpRows {
    pub(crate) reference: BTreeMap<usize, Figures>,
    pub(crate) taskctx: BTreeMap<usize, Figures>,
    /// The load average as each round started.
    pub(crate) loads: Vec<String>,
}

impl McpRows {
    fn add(side: &mut BTreeMap<usize, Figures>, concurrency: usize, figures: Figures) {
        side.entry(concurrency)
            .and_modify(|best| best.merge(figures))
            .or_insert(figures);
    }

    /// taskctx's rate over the reference's at `concurrency`.
    pub(crate) fn rate_ratio(&self, concurrency: usize) -> Option<f64> {
        let taskctx = self.taskctx.get(&concurrency)?.tasks_per_sec;
        let reference = self.reference.get(&concurrency)?.tasks_per_sec;
        (reference > 0.0).then(|| taskctx / reference)
    }

    /// taskctx's Redis CPU time per task over the reference's at `concurrency`.
    pub(crate) fn redis_ratio(&self, concurrency: usize) -> Option<f64> {
        let taskctx = self.taskctx.get(&concurrency)?.redis_cpu_us;
        let reference = self.reference.get(&concurrency)?.redis_cpu_us;
        (reference > 0.0).then(|| taskctx / reference)
    }
}

/// Builds the example server and the load generator (release).
pub(crate) fn build() -> StepResult {
    super::run(
        "build MCP fleet",
        cargo().args([
            "build",
            "--release",
            "--locked",
            "-p",
            "taskctx-rmcp",
            "--example",
            "server",
            "--example",
            "mcp_load",
        ]),
    )
}

/// Runs both fleets, taking turns for [`ROUNDS`] rounds.
pub(crate) fn run(python: &Path) -> Result<McpRows, String> {
    let examples = interop::target_dir().join("release").join("examples");
    let load = examples.join("mcp_load");
    let mut rows = McpRows::default();
    for round in 1..=ROUNDS {
        rows.loads.push(load_average());
        for side in [Side::Reference, Side::Taskctx] {
            eprintln!(
                "\n==> round {round}/{ROUNDS}: MCP tasks end to end, {} fleet",
                side.name()
            );
            let redis = Redis::start()?;
            let fleet = Fleet::start(side, python, &examples.join("server"), redis.port)?;
            for concurrency in CONCURRENCIES {
                let figures = measure(&load, &fleet, redis.port, concurrency)?;
                eprintln!(
                    "    {concurrency} in flight: {:.0} tasks/s, p99 {:.1} ms, {:.1} polls; Redis a task: {:.0} µs of CPU, {:.1} commands ({:.1} scripts), {:.0} µs in commands and {:.0} µs in scripts",
                    figures.tasks_per_sec,
                    figures.p99_ms,
                    figures.polls_per_task,
                    figures.redis_cpu_us,
                    figures.redis_calls,
                    figures.redis_scripts,
                    figures.redis_us,
                    figures.redis_script_us
                );
                let best = match side {
                    Side::Reference => &mut rows.reference,
                    Side::Taskctx => &mut rows.taskctx,
                };
                McpRows::add(best, concurrency, figures);
            }
            drop(fleet);
            drop(redis);
        }
    }
    Ok(rows)
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Reference,
    Taskctx,
}

impl Side {
    const fn name(self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::Taskctx => "taskctx",
        }
    }
}

/// A fleet's processes, killed on drop; their stderr goes to log files, removed on drop.
struct Fleet {
    children: Vec<Child>,
    replicas: Vec<String>,
    logs: PathBuf,
}

impl Fleet {
    fn start(side: Side, python: &Path, server: &Path, redis_port: u16) -> Result<Self, String> {
        let url = format!("redis://127.0.0.1:{redis_port}/0");
        let logs = std::env::temp_dir().join(format!("taskctx-bench-fleet-{redis_port}"));
        fs::create_dir_all(&logs)
            .map_err(|error| format!("creating {}: {error}", logs.display()))?;
        let mut fleet = Self {
            children: Vec::new(),
            replicas: Vec::new(),
            logs,
        };
        let mut ports = Vec::new();
        for replica in 1..=REPLICAS {
            let port = free_port()?;
            let mut command = match side {
                Side::Reference => {
                    let mut command = Command::new(python);
                    command
                        .arg(workspace_root().join("xtask").join("refserver.py"))
                        .arg(port.to_string())
                        .env("FASTMCP_DOCKET_URL", &url)
                        .env("FASTMCP_ENV_FILE", "/dev/null")
                        .env_remove("FASTMCP_TASKS_ENCRYPTION_KEY")
                        .env("PYTHONDONTWRITEBYTECODE", "1");
                    command
                }
                Side::Taskctx => {
                    let mut command = taskctx(server, &url);
                    command.env("TASKCTX_RMCP_ADDR", format!("127.0.0.1:{port}"));
                    command
                }
            };
            fleet.spawn(&format!("replica-{replica}"), &mut command)?;
            ports.push(port);
            fleet.replicas.push(format!("http://127.0.0.1:{port}/mcp"));
        }
        fleet.wait_listening(&ports)?;
        Ok(fleet)
    }

    fn spawn(&mut self, name: &str, command: &mut Command) -> StepResult {
        let path = self.logs.join(format!("{name}.log"));
        let log =
            File::create(&path).map_err(|error| format!("creating {}: {error}", path.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| format!("could not start {name}: {error}"))?;
        self.children.push(child);
        Ok(())
    }

    /// Waits until every replica accepts connections, and fails when a process exits first.
    fn wait_listening(&mut self, ports: &[u16]) -> StepResult {
        let deadline = Instant::now() + START_TIMEOUT;
        for port in ports {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
            while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
                if let Some(exited) = self.exited() {
                    return Err(exited);
                }
                if Instant::now() > deadline {
                    return Err(format!("the fleet did not listen on port {port} in time"));
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        self.exited().map_or(Ok(()), Err)
    }

    /// A process of the fleet that has exited, with its log.
    fn exited(&mut self) -> Option<String> {
        for child in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_dir(&self.logs)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| fs::read_to_string(entry.path()).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n");
                return Some(format!("a fleet process exited ({status}):\n{log}"));
            }
        }
        None
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.logs);
    }
}

/// The example server on the fleet's Redis: a replica that queues its tasks and runs a worker.
fn taskctx(server: &Path, url: &str) -> Command {
    let mut command = Command::new(server);
    command
        .args(["--queue", "--with-worker"])
        .env("TASKCTX_STORE_URL", url);
    command
}

/// One timed run at `concurrency` after an untimed one, with the Redis server's statistics of
/// the timed run.
fn measure(
    load: &Path,
    fleet: &Fleet,
    redis_port: u16,
    concurrency: usize,
) -> Result<Figures, String> {
    run_load(
        load,
        fleet,
        concurrency,
        &["--tasks", &(2 * concurrency).max(10).to_string()],
    )?;
    let cpu_before = cpu_seconds(&redis_cli(redis_port, &["INFO", "cpu"])?);
    redis_cli(redis_port, &["CONFIG", "RESETSTAT"])?;
    let output = run_load(
        load,
        fleet,
        concurrency,
        &["--seconds", &SECONDS.to_string()],
    )?;
    let stats = command_stats(&redis_cli(redis_port, &["INFO", "commandstats"])?);
    let cpu = cpu_seconds(&redis_cli(redis_port, &["INFO", "cpu"])?) - cpu_before;
    let number = |name: &str| {
        output
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("mcp_load printed no {name}: {output}"))
    };
    let tasks = number("tasks")?;
    Ok(Figures {
        tasks_per_sec: number("tasks_per_sec")?,
        p50_ms: number("p50_ms")?,
        p99_ms: number("p99_ms")?,
        polls_per_task: number("polls_per_task")?,
        redis_calls: (stats.calls + stats.script_calls) / tasks,
        redis_scripts: stats.script_calls / tasks,
        redis_us: stats.usec / tasks,
        redis_script_us: stats.script_usec / tasks,
        redis_cpu_us: cpu * 1e6 / tasks,
    })
}

fn run_load(
    load: &Path,
    fleet: &Fleet,
    concurrency: usize,
    count: &[&str],
) -> Result<Value, String> {
    let [create, poll] = fleet.replicas.as_slice() else {
        return Err("a fleet has two replicas".to_owned());
    };
    let output = Command::new(load)
        .args(["--create", create, "--poll", poll, "--warmup", "0"])
        .args(count)
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--poll-ms", &POLL_MS.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run {}: {error}", load.display()))?;
    if !output.status.success() {
        return Err(format!("mcp_load failed ({})", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str::<Value>(text.trim())
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| format!("mcp_load: not a JSON object: {text}"))
}

fn redis_cli(port: u16, args: &[&str]) -> Result<String, String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|error| format!("could not run redis-cli: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "redis-cli {} failed ({})",
            args.join(" "),
            output.status
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The server's CPU time (user + system, s) in `INFO cpu`.
fn cpu_seconds(info: &str) -> f64 {
    info.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .filter(|(name, _)| *name == "used_cpu_user" || *name == "used_cpu_sys")
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

/// `INFO commandstats` summed: commands and script calls apart.
#[derive(Debug, Default, PartialEq)]
struct CommandStats {
    /// Calls of every command but the script calls (a script's commands included).
    calls: f64,
    /// Their usec: each command's own time.
    usec: f64,
    /// Calls of `EVAL`, `EVALSHA`, `FCALL` and their read-only forms.
    script_calls: f64,
    /// Their usec, the time of the commands they ran included.
    script_usec: f64,
}

/// The calls and usec of every command in `INFO commandstats`, script calls apart, but the
/// statistics' own `CONFIG` and `INFO`.
fn command_stats(info: &str) -> CommandStats {
    let mut stats = CommandStats::default();
    for line in info.lines() {
        let Some((command, fields)) = line
            .trim()
            .strip_prefix("cmdstat_")
            .and_then(|rest| rest.split_once(':'))
        else {
            continue;
        };
        let family = command.split('|').next().unwrap_or(command);
        if family == "config" || family == "info" {
            continue;
        }
        let script = matches!(
            family,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        );
        for (name, value) in fields.split(',').filter_map(|pair| pair.split_once('=')) {
            let value: f64 = value.parse().unwrap_or(0.0);
            match (name, script) {
                ("calls", false) => stats.calls += value,
                ("usec", false) => stats.usec += value,
                ("calls", true) => stats.script_calls += value,
                ("usec", true) => stats.script_usec += value,
                _ => {}
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_command_stats_scripts_apart_but_its_own() {
        let info = "# Commandstats\r\n\
            cmdstat_get:calls=10,usec=25,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_hset:calls=2,usec=5,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_evalsha:calls=4,usec=100,usec_per_call=25.00,rejected_calls=0,failed_calls=1\r\n\
            cmdstat_fcall_ro:calls=1,usec=7,usec_per_call=7.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_config|resetstat:calls=1,usec=50,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(
            command_stats(info),
            CommandStats {
                calls: 12.0,
                usec: 30.0,
                script_calls: 5.0,
                script_usec: 107.0,
            }
        );
        assert_eq!(command_stats(""), CommandStats::default());
    }

    #[test]
    fn reads_the_servers_cpu_time() {
        let info = "# CPU\r\nused_cpu_sys:0.25\r\nused_cpu_user:0.5\r\nused_cpu_sys_children:9.0\r\nused_cpu_user_main_thread:0.5\r\n";
        assert!((cpu_seconds(info) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn keeps_each_sides_best_round() {
        let figures = |rate, p99, calls, us| Figures {
            tasks_per_sec: rate,
            p50_ms: p99 / 2.0,
            p99_ms: p99,
            polls_per_task: rate / 10.0,
            redis_calls: calls,
            redis_scripts: calls / 4.0,
            redis_us: us,
            redis_script_us: us / 2.0,
            redis_cpu_us: us * 2.0,
        };
        let mut best = figures(100.0, 9.0, 20.0, 300.0);
        best.merge(figures(120.0, 11.0, 25.0, 250.0));
        assert_eq!(
            best,
            Figures {
                tasks_per_sec: 120.0,
                p50_ms: 4.5,
                p99_ms: 9.0,
                polls_per_task: 12.0,
                redis_calls: 20.0,
                redis_scripts: 5.0,
                redis_us: 250.0,
                redis_script_us: 125.0,
                redis_cpu_us: 500.0,
            }
        );
    }
}
