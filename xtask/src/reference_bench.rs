//! `cargo xtask bench --reference`: taskctx beside the Python reference, in one run, on one Redis.
//!
//! 1. Provides the interop virtual environment (fastmcp-tasks 4.1.4, see [`crate::interop`]).
//! 2. Starts a `redis-server` on a free loopback port (never 6379), with nothing on disk.
//! 3. Runs the reference's micro benchmarks and its save + `restore_task_snapshot` round trip at
//!    1 and 64 in flight (`xtask/refbench.py`, public functions only).
//! 4. Runs taskctx's matching divan benchmarks (`taskctx-scope` keys, `taskctx-snapshot` codecs)
//!    and `taskctx bench --json` on the same server at 1 and 64 in flight.
//!    The two sides take turns for three rounds and each figure is that side's best (fastest
//!    sample, best round), so load from other work weighs on both alike.
//! 5. Prints one table: operation, reference, taskctx, ratio (reference time / taskctx time, or
//!    taskctx rate / reference rate: above 1 means taskctx is faster), then the machine line.
//!
//! Options: `--tasks N` (operations per Redis row, default 5000).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{StepResult, cargo, interop, workspace_root};

/// Operations per Redis row unless `--tasks` says otherwise.
const DEFAULT_TASKS: usize = 5000;
/// How many times each side runs; every figure is the side's best round.
const ROUNDS: usize = 3;
/// The concurrencies of the Redis rows.
const CONCURRENCIES: [usize; 2] = [1, 64];
/// Ports never used: those of a Redis or Sentinel already running on the machine.
const RESERVED_PORTS: [u16; 2] = [6379, 26379];

/// One micro benchmark row: the reference's operation and the divan benchmark that matches it.
struct Micro {
    op: &'static str,
    /// `(bench target, divan path)`.
    taskctx: (&'static str, &'static str),
    note: &'static str,
}

const MICRO: &[Micro] = &[
    Micro {
        op: "key parse",
        taskctx: ("keys", "parse_typical"),
        note: "`parse_task_key` / `TaskKey::parse`, typical auth key",
    },
    Micro {
        op: "key build",
        taskctx: ("keys", "build_typical"),
        note: "`build_task_key` / `TaskKey::to_key`",
    },
    Micro {
        op: "JSON encode",
        taskctx: ("codecs", "json_encode"),
        note: "`to_json` / `json::write_json`, full snapshot",
    },
    Micro {
        op: "JSON decode",
        taskctx: ("codecs", "json_decode"),
        note: "`from_json` / `json::from_json` (taskctx also parses the token)",
    },
    Micro {
        op: "Fernet encrypt",
        taskctx: ("codecs", "fernet_encrypt_only"),
        note: "`EncryptedCodec.encode` / `FernetKey::encrypt`, the JSON text",
    },
    Micro {
        op: "Fernet decrypt",
        taskctx: ("codecs", "fernet_decrypt_only"),
        note: "`EncryptedCodec.decode` / `FernetKey::decrypt`",
    },
    Micro {
        op: "snapshot to Fernet",
        taskctx: ("codecs", "encode/fernet"),
        note: "`encode(to_json())` / `Codec::encode`",
    },
    Micro {
        op: "Fernet to snapshot",
        taskctx: ("codecs", "decode/fernet"),
        note: "`from_json(decode())` / `Codec::decode`",
    },
];

/// Runs the side-by-side benchmark (see the module docs).
pub(crate) fn run(args: &[String]) -> StepResult {
    let tasks = parse_tasks(args)?;
    let started = now_utc();
    let load_before = load_average();
    let venv = interop::venv_dir();
    let python = match interop::provision(&venv)? {
        interop::Provision::Ready(python) => python,
        interop::Provision::Unreachable(reason) => {
            return Err(format!(
                "bench --reference needs the Python reference, and PyPI cannot be reached: {reason}"
            ));
        }
    };
    super::ensure_redis_server()?;
    super::run(
        "build",
        cargo().args(["build", "--release", "--locked", "-p", "taskctx-cli"]),
    )?;
    super::run(
        "build benches",
        cargo().args([
            "bench",
            "--locked",
            "--no-run",
            "-p",
            "taskctx-scope",
            "--bench",
            "keys",
            "-p",
            "taskctx-snapshot",
            "--bench",
            "codecs",
        ]),
    )?;

    let redis = Redis::start()?;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let binary = interop::target_dir().join("release").join("taskctx");

    // The two sides take turns, round after round, and each figure is a side's best: load from
    // other work on the machine then weighs on both alike instead of on whichever ran during it.
    let mut reference = ReferenceRows::default();
    let mut taskctx_micro: BTreeMap<String, f64> = BTreeMap::new();
    let mut taskctx_redis: Vec<BenchRow> = Vec::new();
    let mut loads = Vec::new();
    for round in 1..=ROUNDS {
        loads.push(load_average());
        eprintln!("\n==> round {round}/{ROUNDS}: reference micro benchmarks");
        reference.merge(run_reference(&python, &["micro".to_owned()])?);
        for bench in ["keys", "codecs"] {
            eprintln!("\n==> round {round}/{ROUNDS}: taskctx divan bench `{bench}`");
            for (name, ns) in run_divan(bench)? {
                let best = taskctx_micro.entry(name).or_insert(ns);
                *best = best.min(ns);
            }
        }
        eprintln!("\n==> round {round}/{ROUNDS}: reference save + restore ({tasks} tasks a row)");
        reference.merge(run_reference(
            &python,
            &["redis".to_owned(), url.clone(), tasks.to_string()],
        )?);
        for concurrency in CONCURRENCIES {
            eprintln!(
                "\n==> round {round}/{ROUNDS}: taskctx bench --json, {concurrency} in flight"
            );
            for row in run_taskctx_bench(&binary, &url, tasks, concurrency)? {
                match taskctx_redis.iter_mut().find(|best| {
                    best.form == row.form
                        && best.op == row.op
                        && best.concurrency == row.concurrency
                }) {
                    Some(best) if best.ops_per_sec >= row.ops_per_sec => {}
                    Some(best) => *best = row,
                    None => taskctx_redis.push(row),
                }
            }
        }
    }
    drop(redis);
    let load_after = load_average();
    let load_before = format!("{load_before} (rounds started at {})", loads.join(", "));

    println!(
        "{}",
        render(&Results {
            reference: &reference,
            taskctx_micro: &taskctx_micro,
            taskctx_redis: &taskctx_redis,
            started: &started,
            load_before: &load_before,
            load_after: &load_after,
            tasks,
        })
    );
    Ok(())
}

fn parse_tasks(args: &[String]) -> Result<usize, String> {
    match args {
        [] => Ok(DEFAULT_TASKS),
        [flag, value] if flag == "--tasks" => value
            .parse()
            .ok()
            .filter(|tasks| *tasks > 0)
            .ok_or_else(|| format!("--tasks takes a positive number, not `{value}`")),
        other => Err(format!(
            "bench --reference takes only `--tasks N`, not `{}`",
            other.join(" ")
        )),
    }
}

/// One row the reference script printed.
#[derive(Debug, Default)]
struct ReferenceRows {
    /// Operation → ns per call (fastest sample).
    micro: BTreeMap<String, f64>,
    /// (operation, concurrency) → operations per second.
    redis: BTreeMap<(String, usize), f64>,
}

impl ReferenceRows {
    /// Keeps the best of both: the lower time, the higher rate.
    fn merge(&mut self, other: Self) {
        for (op, ns) in other.micro {
            let best = self.micro.entry(op).or_insert(ns);
            *best = best.min(ns);
        }
        for (key, rate) in other.redis {
            let best = self.redis.entry(key).or_insert(rate);
            *best = best.max(rate);
        }
    }
}

fn run_reference(python: &Path, args: &[String]) -> Result<ReferenceRows, String> {
    let script = workspace_root().join("xtask").join("refbench.py");
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .env("FASTMCP_ENV_FILE", "/dev/null")
        .env_remove("FASTMCP_TASKS_ENCRYPTION_KEY")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run {}: {error}", python.display()))?;
    if !output.status.success() {
        return Err(format!("refbench.py failed ({})", output.status));
    }
    let mut rows = ReferenceRows::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let kind = json_str(line, "kind");
        let op = json_str(line, "op").ok_or_else(|| format!("refbench.py: no op in {line}"))?;
        match kind.as_deref() {
            Some("micro") => {
                let ns = json_number(line, "ns").ok_or_else(|| format!("no ns in {line}"))?;
                rows.micro.insert(op, ns);
            }
            Some("redis") => {
                let rate = json_number(line, "ops_per_sec")
                    .ok_or_else(|| format!("no ops_per_sec in {line}"))?;
                let concurrency = json_number(line, "concurrency")
                    .ok_or_else(|| format!("no concurrency in {line}"))?;
                rows.redis.insert((op, as_count(concurrency)), rate);
            }
            _ => return Err(format!("refbench.py: unexpected line {line}")),
        }
    }
    Ok(rows)
}

/// Runs one divan bench target and returns `target/path` → median ns.
fn run_divan(bench: &str) -> Result<BTreeMap<String, f64>, String> {
    let package = if bench == "keys" {
        "taskctx-scope"
    } else {
        "taskctx-snapshot"
    };
    let output = cargo()
        .args([
            "bench", "--locked", "-p", package, "--bench", bench, "--", "--color", "never",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run cargo bench: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo bench --bench {bench} failed ({})",
            output.status
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(parse_divan(&text)
        .into_iter()
        .map(|(path, ns)| (format!("{bench}/{path}"), ns))
        .collect())
}

/// Reads divan's tree output: every row with timings as `parent/child` → fastest ns.
fn parse_divan(text: &str) -> BTreeMap<String, f64> {
    let mut rows = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(branch) = line.find("├─").or_else(|| line.find("╰─")) else {
            continue;
        };
        // Each level of the tree indents by three columns (`│  `).
        let depth = line
            .get(..branch)
            .map_or(0, |prefix| prefix.chars().count() / 3);
        let rest = line.get(branch + "├─".len()..).unwrap_or_default();
        let columns: Vec<&str> = rest.split('│').map(str::trim).collect();
        let mut head = columns
            .first()
            .copied()
            .unwrap_or_default()
            .split_whitespace();
        let Some(name) = head.next() else { continue };
        stack.truncate(depth);
        stack.push(name.to_owned());
        // Columns: name + fastest, slowest, median, mean, samples, iters. The fastest sample
        // is the one least disturbed by other load (the reference side takes its fastest too).
        let fastest = columns.first().and_then(|cell| {
            let cell = cell.trim_start().strip_prefix(name)?;
            duration_ns(cell)
        });
        if let Some(fastest) = fastest {
            rows.insert(stack.join("/"), fastest);
        }
    }
    rows
}

/// `1.234 µs` → 1234.0.
fn duration_ns(cell: &str) -> Option<f64> {
    let mut parts = cell.split_whitespace();
    let value: f64 = parts.next()?.parse().ok()?;
    let scale = match parts.next()? {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(value * scale)
}

/// One row of `taskctx bench --json`, the fields the table uses.
#[derive(Debug)]
struct BenchRow {
    form: String,
    op: String,
    concurrency: usize,
    ops_per_sec: f64,
    p99_us: Option<f64>,
    value_bytes: Option<f64>,
    /// `redis-benchmark`'s rate on the same server, when the bench ran it.
    baseline_ops_per_sec: Option<f64>,
}

fn run_taskctx_bench(
    binary: &Path,
    url: &str,
    tasks: usize,
    concurrency: usize,
) -> Result<Vec<BenchRow>, String> {
    let output = Command::new(binary)
        .args(["bench", "--url", url, "--json", "--tasks"])
        .arg(tasks.to_string())
        .arg("--concurrency")
        .arg(concurrency.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run {}: {error}", binary.display()))?;
    if !output.status.success() {
        return Err(format!("taskctx bench failed ({})", output.status));
    }
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let (Some(form), Some(op), Some(rate)) = (
            json_str(line, "form"),
            json_str(line, "op"),
            json_number(line, "ops_per_sec"),
        ) else {
            return Err(format!("taskctx bench --json: unexpected line {line}"));
        };
        let baseline = line
            .find("\"baseline\":{")
            .and_then(|at| line.get(at..))
            .and_then(|rest| json_number(rest, "ops_per_sec"));
        rows.push(BenchRow {
            form,
            op,
            concurrency: json_number(line, "concurrency").map_or(concurrency, as_count),
            ops_per_sec: rate,
            p99_us: json_number(line, "p99_us"),
            value_bytes: json_number(line, "value_bytes"),
            baseline_ops_per_sec: baseline,
        });
    }
    Ok(rows)
}

struct Results<'a> {
    reference: &'a ReferenceRows,
    taskctx_micro: &'a BTreeMap<String, f64>,
    taskctx_redis: &'a [BenchRow],
    started: &'a str,
    load_before: &'a str,
    load_after: &'a str,
    tasks: usize,
}

/// The table, as Markdown (it goes into `docs/benchmarks.md` as it is).
fn render(results: &Results<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n| operation | reference (fastmcp-tasks 4.1.4) | taskctx | ratio | what |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for micro in MICRO {
        let reference = results.reference.micro.get(micro.op).copied();
        let key = format!("{}/{}", micro.taskctx.0, micro.taskctx.1);
        let taskctx = results.taskctx_micro.get(&key).copied();
        let ratio = match (reference, taskctx) {
            (Some(reference), Some(taskctx)) if taskctx > 0.0 => {
                format!("{:.1}× faster", reference / taskctx)
            }
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {ratio} | {} |",
            micro.op,
            reference.map_or_else(|| "—".to_owned(), time),
            taskctx.map_or_else(|| "—".to_owned(), time),
            micro.note,
        );
    }
    for concurrency in CONCURRENCIES {
        let find = |op: &str| {
            results
                .taskctx_redis
                .iter()
                .find(|row| row.form == "json" && row.op == op && row.concurrency == concurrency)
        };
        let reference = |op: &str| {
            results
                .reference
                .redis
                .get(&(op.to_owned(), concurrency))
                .copied()
        };
        let pairs = [
            (
                "save",
                "submit",
                "`TaskContextSnapshot.save` / `TaskGlue::submit`",
            ),
            (
                "restore",
                "run",
                "`restore_task_snapshot` / `TaskGlue::run` (restore, empty task)",
            ),
        ];
        for (reference_op, taskctx_op, what) in pairs {
            let row = find(taskctx_op);
            let _ = writeln!(
                out,
                "| {reference_op} / {taskctx_op}, {concurrency} in flight | {} | {} | {} | {what}{} |",
                reference(reference_op).map_or_else(|| "—".to_owned(), rate),
                row.map_or_else(|| "—".to_owned(), |row| rate(row.ops_per_sec)),
                ratio_of(row.map(|row| row.ops_per_sec), reference(reference_op)),
                row.map_or_else(String::new, row_details),
            );
        }
        // A task is one submit and one run: its rate is the harmonic combination of the two.
        let submit = find("submit").map(|row| row.ops_per_sec);
        let run = find("run").map(|row| row.ops_per_sec);
        let round_trip = match (submit, run) {
            (Some(submit), Some(run)) if submit > 0.0 && run > 0.0 => {
                Some(1.0 / (1.0 / submit + 1.0 / run))
            }
            _ => None,
        };
        let _ = writeln!(
            out,
            "| save + restore / submit + run, {concurrency} in flight | {} | {} | {} | one task's round trip (taskctx: 1 / (1/submit + 1/run)) |",
            reference("save+restore").map_or_else(|| "—".to_owned(), rate),
            round_trip.map_or_else(|| "—".to_owned(), rate),
            ratio_of(round_trip, reference("save+restore")),
        );
        for (op, command) in [("raw SET", "SET"), ("raw GET", "GET")] {
            if let Some(row) = find(op) {
                let _ = writeln!(
                    out,
                    "| {op} on taskctx's pool, {concurrency} in flight | — | {} | — | raw {command} of the JSON value{} |",
                    rate(row.ops_per_sec),
                    row_details(row),
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nratio: reference time / taskctx time (micro rows), taskctx rate / reference rate (Redis \
         rows); above 1× taskctx is faster. Each side ran {ROUNDS} rounds, taking turns; every \
         figure is that side's best: micro rows the fastest sample (reference: 50 samples of about \
         10 ms; taskctx: divan's 100), Redis rows the best round. Redis rows: {} operations each, \
         one redis-server (`--save \"\" --appendonly no`) on loopback, plaintext JSON form.",
        results.tasks
    );
    let _ = writeln!(out, "\nmachine: {}", machine_line());
    let _ = writeln!(
        out,
        "run: started {} UTC; load average before {}, after {}; command `cargo xtask bench --reference --tasks {}`",
        results.started, results.load_before, results.load_after, results.tasks
    );
    out
}

fn row_details(row: &BenchRow) -> String {
    let mut details = String::new();
    if let Some(bytes) = row.value_bytes {
        let _ = write!(details, "; value {bytes:.0} B");
    }
    if let Some(p99) = row.p99_us {
        let _ = write!(details, "; p99 {p99:.0} µs");
    }
    if let Some(baseline) = row.baseline_ops_per_sec {
        let _ = write!(
            details,
            "; redis-benchmark {} ({:.2}×)",
            rate(baseline),
            row.ops_per_sec / baseline
        );
    }
    details
}

fn ratio_of(taskctx: Option<f64>, reference: Option<f64>) -> String {
    match (taskctx, reference) {
        (Some(taskctx), Some(reference)) if reference > 0.0 => {
            format!("{:.1}× faster", taskctx / reference)
        }
        _ => "—".to_owned(),
    }
}

fn time(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1000.0 {
        format!("{:.1}k/s", per_sec / 1000.0)
    } else {
        format!("{per_sec:.0}/s")
    }
}

fn as_count(value: f64) -> usize {
    format!("{value:.0}").parse().unwrap_or(0)
}

/// The string value of `"field": "..."` in a flat JSON line (no escapes in the values read).
fn json_str(line: &str, field: &str) -> Option<String> {
    let pattern = format!("\"{field}\":");
    let at = line.find(&pattern)? + pattern.len();
    let rest = line.get(at..)?.trim_start().strip_prefix('"')?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

/// The number value of `"field": 1.5` in a flat JSON line (the first occurrence).
fn json_number(line: &str, field: &str) -> Option<f64> {
    let pattern = format!("\"{field}\":");
    let at = line.find(&pattern)? + pattern.len();
    let rest = line.get(at..)?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

fn machine_line() -> String {
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kib: f64 = info
                .lines()
                .find(|line| line.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "? GiB".to_owned());
    let rustc = command_line("rustc", &["-V"]);
    let redis = command_line("redis-server", &["--version"]);
    format!(
        "{cpus} CPUs ({model}), {memory}, {} {}; {rustc}; {}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        redis.split(" sha=").next().unwrap_or_default()
    )
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|_| format!("{program}: not found"))
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn now_utc() -> String {
    command_line("date", &["-u", "+%Y-%m-%d %H:%M"])
}

/// A `redis-server` on a free loopback port with nothing on disk, stopped on drop.
struct Redis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    fn start() -> Result<Self, String> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("taskctx-bench-redis-{port}"));
        fs::create_dir_all(&dir).map_err(|error| format!("creating {}: {error}", dir.display()))?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("could not start redis-server: {error}"))?;
        let redis = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let pong = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .arg("PING")
                .output()
                .is_ok_and(|output| output.stdout.starts_with(b"PONG"));
            if pong {
                eprintln!("==> redis-server on 127.0.0.1:{port}");
                return Ok(redis);
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("redis-server on port {port} did not answer PING"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nothing listens on now (not one of a system Redis's).
fn free_port() -> Result<u16, String> {
    for _ in 0..16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|error| format!("could not find a free port: {error}"))?;
        let port = listener
            .local_addr()
            .map_err(|error| format!("could not find a free port: {error}"))?
            .port();
        if !RESERVED_PORTS.contains(&port) {
            return Ok(port);
        }
    }
    Err("could not find a free port".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_divan_trees() {
        let text = "codecs                       fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ decode                                  │               │               │               │         │
│  ├─ fernet                 2.635 µs      │ 14.46 µs      │ 2.694 µs      │ 2.833 µs      │ 100     │ 100
│  ╰─ sealed                 2.805 µs      │ 4.546 µs      │ 2.874 µs      │ 2.895 µs      │ 100     │ 100
├─ json_decode               1.277 µs      │ 2.534 µs      │ 1.311 µs      │ 1.332 µs      │ 100     │ 100
╰─ parse_typical              39.84 ns      │ 83.94 ns      │ 42.41 ns      │ 42.66 ns      │ 100     │ 3200
";
        let rows = parse_divan(text);
        assert_eq!(rows.get("decode/fernet").copied(), Some(2635.0));
        assert_eq!(rows.get("decode/sealed").copied(), Some(2805.0));
        assert_eq!(rows.get("json_decode").copied(), Some(1277.0));
        assert!((rows.get("parse_typical").copied().unwrap_or_default() - 39.84).abs() < 1e-9);
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn reads_flat_json_lines() {
        let line = r#"{"store":"redis://127.0.0.1:7011","form":"json","op":"submit","concurrency":64,"ops_per_sec":101234.5,"baseline":{"tool":"redis-benchmark","ops_per_sec":97000.0}}"#;
        assert_eq!(json_str(line, "op").as_deref(), Some("submit"));
        assert_eq!(json_number(line, "concurrency"), Some(64.0));
        assert_eq!(json_number(line, "ops_per_sec"), Some(101_234.5));
        assert_eq!(json_number(line, "missing"), None);
    }
}
