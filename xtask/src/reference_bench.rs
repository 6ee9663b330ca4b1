//! `cargo xtask bench --reference`: taskctx beside the Python reference, in one run, on one Redis.
//!
//! 1. Provides the interop virtual environment (fastmcp-tasks 4.1.4, see [`crate::interop`]).
//! 2. Starts a `redis-server` on a free loopback port (never 6379), with nothing on disk.
//! 3. Runs the reference's micro benchmarks and its save + `restore_task_snapshot` round trip at
//!    1 and 64 in flight (`xtask/refbench.py`, public functions only).
//! 4. Runs taskctx's matching divan benchmarks (`taskctx-scope` keys, `taskctx-snapshot` codecs),
//!    `taskctx bench --json` on the same server at 1 and 64 in flight (each of its rows beside
//!    `redis-benchmark` on that server, run just before the row), and `taskctx demo` on it with
//!    64 callers and 64 workers.
//!    The two sides take turns for five rounds and each figure is that side's best by one rule
//!    for both (the fastest sample, the highest rate, the lowest p99), so load from other work
//!    weighs on both alike; both sample a micro benchmark the same way (50 samples of about
//!    10 ms of back-to-back calls).
//!    At 1 in flight the server and both sides' clients run on one CPU (`taskset`, when the
//!    machine has it and more than one CPU): on virtual machines a round trip between two CPUs
//!    swings several-fold with the host's scheduling, and on one CPU it does not.
//! 5. Prints one table: operation, reference, taskctx, ratio (reference time / taskctx time, or
//!    taskctx rate / reference rate: above 1 means taskctx is faster), the targets with what
//!    the table gives for each, then the machine line.
//!
//! 6. Runs the MCP tasks rows ([`crate::mcp_tasks`]): tasks end to end through two replicas and
//!    their workers, for both sides, with one load generator.
//!
//! Options: `--tasks N` (operations per Redis row, default 5000); `--only mcp-tasks` (the MCP
//! tasks rows alone).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::mcp_tasks::{self, McpRows};
use super::{StepResult, cargo, interop, workspace_root};

/// Operations per Redis row unless `--tasks` says otherwise.
const DEFAULT_TASKS: usize = 5000;
/// How many times each side runs; every figure is the side's best over them.
const ROUNDS: usize = 5;

/// How taskctx's micro benchmarks are sampled: as the reference's (`timeit`), 50 samples of
/// about 10 ms, each sample a run of back-to-back calls whose results are dropped inside it. Divan
/// is told the sample size (calls per sample) for each function, from a short first run: left to
/// itself it may settle on one call per sample, whose time is then mostly the timer's.
const SAMPLE_COUNT: usize = 50;
/// The span of one sample (ns).
const SAMPLE_NS: f64 = 10e6;
/// The first run that sizes the samples: this many samples of this many calls.
const CALIBRATION: (usize, usize) = (20, 200);

/// The concurrencies of the Redis rows.
const CONCURRENCIES: [usize; 2] = [1, 64];
/// Tasks of the demo row.
const DEMO_TASKS: usize = 20_000;
/// Callers and workers of the demo row.
const DEMO_CONCURRENCY: usize = 64;
/// The CPU the 1-in-flight rows run on: the server and the client of either side.
const PINNED_CPU: usize = 0;
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
        note: "`to_json` / `json::to_json`, full snapshot",
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
    let Args { tasks, mcp_only } = parse_args(args)?;
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
    mcp_tasks::build()?;
    if mcp_only {
        return run_mcp_only(&python, &started, &load_before);
    }
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
    let pin = can_pin();

    // The two sides take turns, round after round, and each figure is a side's best: load from
    // other work on the machine then weighs on both alike instead of on whichever ran during it.
    let mut reference = ReferenceRows::default();
    let mut taskctx_micro: BTreeMap<String, f64> = BTreeMap::new();
    let mut taskctx_redis: Vec<BenchRow> = Vec::new();
    let mut demo: Option<DemoRow> = None;
    let mut loads = Vec::new();
    for round in 1..=ROUNDS {
        loads.push(load_average());
        eprintln!("\n==> round {round}/{ROUNDS}: reference micro benchmarks");
        reference.merge(run_reference(&python, &["micro".to_owned()], None)?);
        for bench in ["keys", "codecs"] {
            eprintln!("\n==> round {round}/{ROUNDS}: taskctx divan bench `{bench}`");
            for (name, ns) in run_divan(bench)? {
                let best = taskctx_micro.entry(name).or_insert(ns);
                *best = best.min(ns);
            }
        }
        for concurrency in CONCURRENCIES {
            let cpu = (pin && concurrency == 1).then_some(PINNED_CPU);
            redis.pin(cpu)?;
            let on = cpu.map_or_else(String::new, |cpu| format!(", all on CPU {cpu}"));
            eprintln!(
                "\n==> round {round}/{ROUNDS}: reference save + restore ({tasks} tasks a row, {concurrency} in flight{on})"
            );
            reference.merge(run_reference(
                &python,
                &[
                    "redis".to_owned(),
                    url.clone(),
                    tasks.to_string(),
                    concurrency.to_string(),
                ],
                cpu,
            )?);
            eprintln!(
                "\n==> round {round}/{ROUNDS}: taskctx bench --json, {concurrency} in flight{on}"
            );
            for row in run_taskctx_bench(&binary, &url, tasks, concurrency, cpu)? {
                match taskctx_redis.iter_mut().find(|best| {
                    best.form == row.form
                        && best.op == row.op
                        && best.concurrency == row.concurrency
                }) {
                    Some(best) => best.merge(row),
                    None => taskctx_redis.push(row),
                }
            }
        }
        redis.pin(None)?;
        eprintln!(
            "\n==> round {round}/{ROUNDS}: taskctx demo, {DEMO_TASKS} tasks, {DEMO_CONCURRENCY} callers and workers"
        );
        let row = run_demo(&binary, &url)?;
        if demo
            .as_ref()
            .is_none_or(|best| best.end_to_end < row.end_to_end)
        {
            demo = Some(row);
        }
    }
    drop(redis);
    let mcp = mcp_tasks::run(&python)?;
    let load_after = load_average();
    let load_before = format!(
        "{load_before} (rounds started at {}; MCP tasks rounds at {})",
        loads.join(", "),
        mcp.loads.join(", ")
    );

    println!(
        "{}",
        render(&Results {
            reference: &reference,
            taskctx_micro: &taskctx_micro,
            taskctx_redis: &taskctx_redis,
            demo: demo.as_ref(),
            mcp: &mcp,
            pinned: pin,
            started: &started,
            load_before: &load_before,
            load_after: &load_after,
            tasks,
        })
    );
    Ok(())
}

/// Whether the 1-in-flight rows can run on one CPU: `taskset` is there and the machine has
/// another CPU for the rest.
fn can_pin() -> bool {
    thread::available_parallelism().is_ok_and(|cpus| cpus.get() > 1)
        && Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

/// `program`, started on `cpu` when given.
fn on_cpu(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The MCP tasks rows alone, with their targets.
fn run_mcp_only(python: &Path, started: &str, load_before: &str) -> StepResult {
    let mcp = mcp_tasks::run(python)?;
    let mut out = String::from(TABLE_HEAD);
    out.push_str(&mcp_rows(&mcp));
    let _ = writeln!(out, "\n{}", target_table(&mcp_targets(&mcp)));
    let _ = writeln!(out, "machine: {}", machine_line());
    let _ = writeln!(
        out,
        "run: started {started} UTC; load average before {load_before} (MCP tasks rounds at {}), after {}; command `cargo xtask bench --reference --only mcp-tasks`",
        mcp.loads.join(", "),
        load_average(),
    );
    println!("{out}");
    Ok(())
}

/// The options of `bench --reference`.
struct Args {
    tasks: usize,
    mcp_only: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        tasks: DEFAULT_TASKS,
        mcp_only: false,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--tasks", Some(value)) => {
                parsed.tasks = value
                    .parse()
                    .ok()
                    .filter(|tasks| *tasks > 0)
                    .ok_or_else(|| format!("--tasks takes a positive number, not `{value}`"))?;
            }
            ("--only", Some(rows)) if rows == "mcp-tasks" => parsed.mcp_only = true,
            _ => {
                return Err(format!(
                    "bench --reference takes `--tasks N` and `--only mcp-tasks`, not `{flag}`"
                ));
            }
        }
    }
    Ok(parsed)
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

fn run_reference(
    python: &Path,
    args: &[String],
    cpu: Option<usize>,
) -> Result<ReferenceRows, String> {
    let script = workspace_root().join("xtask").join("refbench.py");
    let output = on_cpu(python, cpu)
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
        let row = json_line(line, "refbench.py")?;
        let op = field(&row, "op")
            .as_str()
            .ok_or_else(|| format!("refbench.py: no op in {line}"))?
            .to_owned();
        match field(&row, "kind").as_str() {
            Some("micro") => {
                let ns = field(&row, "ns")
                    .as_f64()
                    .ok_or_else(|| format!("refbench.py: no ns in {line}"))?;
                rows.micro.insert(op, ns);
            }
            Some("redis") => {
                let (Some(rate), Some(concurrency)) = (
                    field(&row, "ops_per_sec").as_f64(),
                    field(&row, "concurrency").as_u64(),
                ) else {
                    return Err(format!("refbench.py: no rate or concurrency in {line}"));
                };
                let concurrency = usize::try_from(concurrency)
                    .map_err(|_| format!("refbench.py: concurrency out of range in {line}"))?;
                rows.redis.insert((op, concurrency), rate);
            }
            _ => return Err(format!("refbench.py: unexpected line {line}")),
        }
    }
    Ok(rows)
}

/// The field `name` of a JSON object (`null` when it has none).
fn field<'a>(value: &'a Value, name: &str) -> &'a Value {
    value.get(name).unwrap_or(&Value::Null)
}

/// One JSON object per line, as `taskctx bench --json`, `taskctx demo --json` and refbench.py
/// print them.
fn json_line(line: &str, from: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(line)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| format!("{from}: not a JSON object: {line}"))
}

/// Runs the micro benchmarks of one divan bench target and returns `target/path` → ns per call
/// in the fastest sample: a first short run gives each function's median time per call, then
/// each function runs alone for [`SAMPLE_COUNT`] samples of about [`SAMPLE_NS`].
fn run_divan(bench: &str) -> Result<BTreeMap<String, f64>, String> {
    let (count, size) = CALIBRATION;
    let calibration = divan(bench, &[], count, size)?;
    let mut fastest = BTreeMap::new();
    for micro in MICRO.iter().filter(|micro| micro.taskctx.0 == bench) {
        let path = micro.taskctx.1;
        let per_call = calibration
            .get(path)
            .map(|row| row.median)
            .filter(|ns| *ns > 0.0)
            .ok_or_else(|| format!("divan printed no figures for {bench}/{path}"))?;
        let name = format!("{bench}::{}", path.replace('/', "::"));
        let rows = divan(
            bench,
            &["--exact", &name],
            SAMPLE_COUNT,
            sample_size(per_call),
        )?;
        let row = rows
            .get(path)
            .ok_or_else(|| format!("divan printed no figures for {name}"))?;
        fastest.insert(format!("{bench}/{path}"), row.fastest);
    }
    Ok(fastest)
}

/// The calls per sample that make a sample of [`SAMPLE_NS`], for calls of `per_call` ns.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a float-to-int `as` saturates: a negative or NaN ratio gives 0, then one call"
)]
fn sample_size(per_call: f64) -> usize {
    ((SAMPLE_NS / per_call).ceil() as usize).max(1)
}

/// Runs divan on `bench` (filtered by `filter`) with `samples` samples of `size` calls.
fn divan(
    bench: &str,
    filter: &[&str],
    samples: usize,
    size: usize,
) -> Result<BTreeMap<String, DivanRow>, String> {
    let package = if bench == "keys" {
        "taskctx-scope"
    } else {
        "taskctx-snapshot"
    };
    let output = cargo()
        .args(["bench", "--locked", "-p", package, "--bench", bench, "--"])
        .args(["--color", "never"])
        .args(["--sample-count", &samples.to_string()])
        .args(["--sample-size", &size.to_string()])
        .args(filter)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run cargo bench: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo bench --bench {bench} failed ({})",
            output.status
        ));
    }
    Ok(parse_divan(&String::from_utf8_lossy(&output.stdout)))
}

/// One row of divan's output: ns per call in the fastest sample and at the median.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DivanRow {
    fastest: f64,
    median: f64,
}

/// Reads divan's tree output: every row with timings as `parent/child` → its fastest and median.
fn parse_divan(text: &str) -> BTreeMap<String, DivanRow> {
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
        let median = columns.get(2).and_then(|cell| duration_ns(cell));
        if let (Some(fastest), Some(median)) = (fastest, median) {
            rows.insert(stack.join("/"), DivanRow { fastest, median });
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
    /// `redis-benchmark`'s rate on the same server, run just before the row.
    baseline_ops_per_sec: Option<f64>,
    /// `redis-benchmark`'s p99 then.
    baseline_p99_us: Option<f64>,
    /// `redis-benchmark` running the row's own command (submit: a new key each time with a TTL;
    /// run: GET of many distinct keys), run just before the row.
    same_ops_per_sec: Option<f64>,
    /// Its p99.
    same_p99_us: Option<f64>,
}

impl BenchRow {
    /// Keeps each side's best over the rounds, by one rule for both sides: the highest rate and
    /// the lowest p99 (each may come from a different round).
    fn merge(&mut self, other: Self) {
        let p99 = min_of(self.p99_us, other.p99_us);
        let baseline_rate = max_of(self.baseline_ops_per_sec, other.baseline_ops_per_sec);
        let baseline_p99 = min_of(self.baseline_p99_us, other.baseline_p99_us);
        let same_rate = max_of(self.same_ops_per_sec, other.same_ops_per_sec);
        let same_p99 = min_of(self.same_p99_us, other.same_p99_us);
        if other.ops_per_sec > self.ops_per_sec {
            *self = other;
        }
        self.p99_us = p99;
        self.baseline_ops_per_sec = baseline_rate;
        self.baseline_p99_us = baseline_p99;
        self.same_ops_per_sec = same_rate;
        self.same_p99_us = same_p99;
    }

    /// The rate as a multiple of `redis-benchmark`'s running the row's own command.
    fn vs_same(&self) -> Option<f64> {
        over(Some(self.ops_per_sec), self.same_ops_per_sec)
    }

    /// `redis-benchmark`'s rate running the row's own command as a multiple of its plain rate
    /// (`-t set` / `-t get`): what a client that added nothing to the command would reach
    /// against the plain rate.
    fn ceiling(&self) -> Option<f64> {
        over(self.same_ops_per_sec, self.baseline_ops_per_sec)
    }

    /// The p99 as a multiple of `redis-benchmark`'s running the row's own command.
    fn p99_vs_same(&self) -> Option<f64> {
        over(self.p99_us, self.same_p99_us)
    }

    /// `redis-benchmark`'s p99 running the row's own command as a multiple of its plain p99:
    /// what a client that added nothing to the command would measure against the plain p99.
    fn p99_ceiling(&self) -> Option<f64> {
        over(self.same_p99_us, self.baseline_p99_us)
    }

    /// The rate as a multiple of `redis-benchmark`'s.
    fn vs_baseline(&self) -> Option<f64> {
        over(Some(self.ops_per_sec), self.baseline_ops_per_sec)
    }

    /// The p99 as a multiple of `redis-benchmark`'s.
    fn p99_vs_baseline(&self) -> Option<f64> {
        over(self.p99_us, self.baseline_p99_us)
    }
}

/// `a / b` when both are known and `b` is positive.
fn over(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn run_taskctx_bench(
    binary: &Path,
    url: &str,
    tasks: usize,
    concurrency: usize,
    cpu: Option<usize>,
) -> Result<Vec<BenchRow>, String> {
    let output = on_cpu(binary, cpu)
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
        rows.push(bench_row(line, concurrency)?);
    }
    Ok(rows)
}

/// One line of `taskctx bench --json`.
fn bench_row(line: &str, concurrency: usize) -> Result<BenchRow, String> {
    let row = json_line(line, "taskctx bench --json")?;
    let (Some(form), Some(op), Some(rate)) = (
        field(&row, "form").as_str(),
        field(&row, "op").as_str(),
        field(&row, "ops_per_sec").as_f64(),
    ) else {
        return Err(format!("taskctx bench --json: unexpected line {line}"));
    };
    Ok(BenchRow {
        form: form.to_owned(),
        op: op.to_owned(),
        concurrency: field(&row, "concurrency")
            .as_u64()
            .and_then(|count| usize::try_from(count).ok())
            .unwrap_or(concurrency),
        ops_per_sec: rate,
        p99_us: field(&row, "p99_us").as_f64(),
        value_bytes: field(&row, "value_bytes").as_f64(),
        baseline_ops_per_sec: field(field(&row, "baseline"), "ops_per_sec").as_f64(),
        baseline_p99_us: field(field(&row, "baseline"), "p99_us").as_f64(),
        same_ops_per_sec: field(field(&row, "same_command_baseline"), "ops_per_sec").as_f64(),
        same_p99_us: field(field(&row, "same_command_baseline"), "p99_us").as_f64(),
    })
}

/// `taskctx demo --json` on Redis: what the table takes from it.
#[derive(Debug)]
struct DemoRow {
    end_to_end: f64,
    submit_ms: f64,
    run_ms: f64,
    run_rate: f64,
}

fn run_demo(binary: &Path, url: &str) -> Result<DemoRow, String> {
    let output = Command::new(binary)
        .args(["demo", "--url", url, "--json", "--tasks"])
        .arg(DEMO_TASKS.to_string())
        .arg("--callers")
        .arg(DEMO_CONCURRENCY.to_string())
        .arg("--workers")
        .arg(DEMO_CONCURRENCY.to_string())
        // One client thread, as the reference's one event loop.
        .args(["--threads", "1"])
        .stderr(Stdio::null())
        .output()
        .map_err(|error| format!("could not run {}: {error}", binary.display()))?;
    if !output.status.success() {
        return Err(format!("taskctx demo failed ({})", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let row = json_line(text.trim(), "taskctx demo --json")?;
    if field(&row, "isolation").as_str() != Some("pass") {
        return Err(format!("taskctx demo: isolation did not pass: {text}"));
    }
    let (Some(end_to_end), Some(submit_ms), Some(run_ms), Some(run_rate)) = (
        field(&row, "end_to_end_tasks_per_sec").as_f64(),
        field(&row, "submit_ms").as_f64(),
        field(&row, "run_ms").as_f64(),
        field(&row, "run_tasks_per_sec").as_f64(),
    ) else {
        return Err(format!("taskctx demo --json: unexpected output {text}"));
    };
    Ok(DemoRow {
        end_to_end,
        submit_ms,
        run_ms,
        run_rate,
    })
}

struct Results<'a> {
    reference: &'a ReferenceRows,
    taskctx_micro: &'a BTreeMap<String, f64>,
    taskctx_redis: &'a [BenchRow],
    demo: Option<&'a DemoRow>,
    mcp: &'a McpRows,
    /// Whether the 1-in-flight rows ran on one CPU.
    pinned: bool,
    started: &'a str,
    load_before: &'a str,
    load_after: &'a str,
    tasks: usize,
}

/// The table's head.
const TABLE_HEAD: &str = "\n| operation | reference (fastmcp-tasks 4.1.4) | taskctx | ratio | what |\n|---|---|---|---|---|\n";

/// The MCP tasks rows: one per concurrency.
fn mcp_rows(mcp: &McpRows) -> String {
    let mut out = String::new();
    for concurrency in mcp_tasks::CONCURRENCIES {
        let (reference, taskctx) = (
            mcp.reference.get(&concurrency),
            mcp.taskctx.get(&concurrency),
        );
        let pair = |figure: fn(&mcp_tasks::Figures) -> f64, digits: usize| {
            let show = |side: Option<&mcp_tasks::Figures>| {
                side.map_or_else(
                    || "—".to_owned(),
                    |side| format!("{:.digits$}", figure(side)),
                )
            };
            format!("{} / {}", show(reference), show(taskctx))
        };
        let _ = writeln!(
            out,
            "| MCP tasks end to end, {concurrency} in flight | {} | {} | {} | `whoami` task created on replica 1, `tasks/get` on replica 2 every {} ms until completed (`mcp_load`), 2 replicas: fastmcp's with their Docket workers / taskctx's example server with its worker, queueing on the store's job list; reference / taskctx: p50 {} ms, p99 {} ms, polls a task {}; Redis a task: {} µs of the server's CPU (taskctx {}); diagnostics (`INFO commandstats`): {} commands, of them {} script calls, {} µs in commands but scripts, {} µs in scripts (their commands included) |",
            reference.map_or_else(|| "—".to_owned(), |side| rate(side.tasks_per_sec)),
            taskctx.map_or_else(|| "—".to_owned(), |side| rate(side.tasks_per_sec)),
            ratio_of(
                taskctx.map(|side| side.tasks_per_sec),
                reference.map(|side| side.tasks_per_sec)
            ),
            mcp_tasks::POLL_MS,
            pair(|side| side.p50_ms, 1),
            pair(|side| side.p99_ms, 1),
            pair(|side| side.polls_per_task, 1),
            pair(|side| side.redis_cpu_us, 0),
            mcp.redis_ratio(concurrency)
                .map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.2}×")),
            pair(|side| side.redis_calls, 1),
            pair(|side| side.redis_scripts, 1),
            pair(|side| side.redis_us, 0),
            pair(|side| side.redis_script_us, 0),
        );
    }
    out
}

/// The MCP tasks rows' targets.
fn mcp_targets(mcp: &McpRows) -> Vec<Target> {
    vec![
        (
            "MCP tasks end to end, 32 in flight, vs the reference's",
            mcp.rate_ratio(32),
            20.0,
            true,
        ),
        (
            "Redis server CPU time per MCP task, 32 in flight, vs the reference's",
            mcp.redis_ratio(32),
            0.1,
            false,
        ),
    ]
}

/// A target: what, the measured ratio, the bound, and whether the ratio must reach the bound (≥)
/// or stay under it (≤).
type Target = (&'static str, Option<f64>, f64, bool);

/// The table, as Markdown (it goes into `docs/benchmarks.md` as it is).
fn render(results: &Results<'_>) -> String {
    let mut out = String::from(TABLE_HEAD);
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
        let find = |op: &str| find_row(results, op, concurrency);
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
        let round_trip = round_trip(results, concurrency);
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
    let reference_64 = results
        .reference
        .redis
        .get(&("save+restore".to_owned(), DEMO_CONCURRENCY))
        .copied();
    if let Some(demo) = results.demo {
        let _ = writeln!(
            out,
            "| save + restore, {DEMO_CONCURRENCY} in flight / `taskctx demo` end to end | {} | {} | {} | demo: {DEMO_TASKS} tasks, {DEMO_CONCURRENCY} callers submitting at once, {DEMO_CONCURRENCY} workers, one runtime thread; submit {:.0} ms + run {:.0} ms (run phase {}); isolation pass |",
            reference_64.map_or_else(|| "—".to_owned(), rate),
            rate(demo.end_to_end),
            ratio_of(Some(demo.end_to_end), reference_64),
            demo.submit_ms,
            demo.run_ms,
            rate(demo.run_rate),
        );
    }
    out.push_str(&mcp_rows(results.mcp));
    let pinned = if results.pinned {
        format!(
            " At 1 in flight the redis-server, taskctx (and the `redis-benchmark` it runs) and \
             the reference all ran on CPU {PINNED_CPU} (`taskset`): between two CPUs of a virtual \
             machine the round trip swings several-fold with the host's scheduling."
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\nratio: reference time / taskctx time (micro rows), taskctx rate / reference rate (Redis \
         rows); above 1× taskctx is faster. Each side ran {ROUNDS} rounds, taking turns; every \
         figure is that side's best: micro rows the fastest sample, in ns per call (both sides: \
         {SAMPLE_COUNT} samples of about {sample_ms} ms of back-to-back calls, each call's result \
         dropped inside the sample; the reference's `timeit`, taskctx's divan told the calls per \
         sample), Redis rows the highest rate and the lowest p99 of the rounds (each may be of a different \
         round). Redis rows: {} operations each, \
         one redis-server (`--save \"\" --appendonly no`) on loopback, plaintext JSON form; \
         `redis-benchmark` (`-t set` or `-t get`, `-P 1`, the same value size and clients) ran \
         just before each taskctx row, and its figures are its best by the same rule.{pinned}",
        results.tasks,
        sample_ms = SAMPLE_NS / 1e6,
    );
    let _ = writeln!(out, "\n{}", targets(results));
    let _ = writeln!(out, "machine: {}", machine_line());
    let _ = writeln!(
        out,
        "run: started {} UTC; load average before {}, after {}; command `cargo xtask bench --reference --tasks {}`",
        results.started, results.load_before, results.load_after, results.tasks
    );
    out
}

/// taskctx's JSON-form row of `op` at `concurrency`.
fn find_row<'a>(results: &Results<'a>, op: &str, concurrency: usize) -> Option<&'a BenchRow> {
    results
        .taskctx_redis
        .iter()
        .find(|row| row.form == "json" && row.op == op && row.concurrency == concurrency)
}

/// One task's submit + run rate at `concurrency`.
fn round_trip(results: &Results<'_>, concurrency: usize) -> Option<f64> {
    let submit = find_row(results, "submit", concurrency)?.ops_per_sec;
    let run = find_row(results, "run", concurrency)?.ops_per_sec;
    (submit > 0.0 && run > 0.0).then(|| 1.0 / (1.0 / submit + 1.0 / run))
}

/// Every target, with what the table gives for it.
fn targets(results: &Results<'_>) -> String {
    let micro_ratio = |op: &str| {
        let micro = MICRO.iter().find(|micro| micro.op == op)?;
        let reference = results.reference.micro.get(op).copied()?;
        let taskctx = results
            .taskctx_micro
            .get(&format!("{}/{}", micro.taskctx.0, micro.taskctx.1))
            .copied()?;
        (taskctx > 0.0).then(|| reference / taskctx)
    };
    let vs_baseline =
        |op: &str, concurrency: usize| find_row(results, op, concurrency)?.vs_baseline();
    let vs_same = |op: &str, concurrency: usize| find_row(results, op, concurrency)?.vs_same();
    let demo = results.demo.and_then(|demo| {
        let reference = results
            .reference
            .redis
            .get(&("save+restore".to_owned(), DEMO_CONCURRENCY))
            .copied()?;
        (reference > 0.0).then(|| demo.end_to_end / reference)
    });
    // (target, measured, the bound, whether the measure must reach it (≥) or stay under it (≤)).
    // At 1 in flight the bound is against `redis-benchmark` running each operation's own command:
    // the plain `-t set` / `-t get` rate is printed beside it, but on hosts with a short round
    // trip even `redis-benchmark` running submit's or run's command falls short of it. The micro
    // rows are diagnostics: bounded only by never being slower than the reference.
    let mut rows: Vec<Target> = vec![
        (
            "submit, 1 in flight, vs `redis-benchmark -c 1` running submit's command (SET of a new key, EX)",
            vs_same("submit", 1),
            0.8,
            true,
        ),
        (
            "run, 1 in flight, vs `redis-benchmark -c 1` running run's command (GET of many keys)",
            vs_same("run", 1),
            0.8,
            true,
        ),
        (
            "submit, 64 in flight, vs `redis-benchmark -c 64 -P 1` SET",
            vs_baseline("submit", 64),
            1.0,
            true,
        ),
        (
            "run, 64 in flight, vs `redis-benchmark -c 64 -P 1` GET",
            vs_baseline("run", 64),
            1.0,
            true,
        ),
        (
            "demo end to end vs the reference's save + restore, 64 in flight",
            demo,
            15.0,
            true,
        ),
        (
            "key parse vs the reference's `parse_task_key`",
            micro_ratio("key parse"),
            1.0,
            true,
        ),
        (
            "key build vs the reference's `build_task_key`",
            micro_ratio("key build"),
            1.0,
            true,
        ),
        (
            "JSON encode vs the reference's `to_json`",
            micro_ratio("JSON encode"),
            1.0,
            true,
        ),
        (
            "JSON decode vs the reference's `from_json`",
            micro_ratio("JSON decode"),
            1.0,
            true,
        ),
        (
            "Fernet encrypt vs the reference's",
            micro_ratio("Fernet encrypt"),
            1.0,
            true,
        ),
        (
            "Fernet decrypt vs the reference's",
            micro_ratio("Fernet decrypt"),
            1.0,
            true,
        ),
        (
            "snapshot to Fernet vs the reference's",
            micro_ratio("snapshot to Fernet"),
            1.0,
            true,
        ),
        (
            "Fernet to snapshot vs the reference's",
            micro_ratio("Fernet to snapshot"),
            1.0,
            true,
        ),
    ];
    rows.extend(mcp_targets(results.mcp));
    let mut out = target_table(&rows);
    let ceiling = |op: &str| find_row(results, op, 1)?.ceiling();
    if let (Some(submit), Some(run)) = (ceiling("submit"), ceiling("run")) {
        let _ = writeln!(
            out,
            "\nceiling at 1 in flight: `redis-benchmark -c 1` running submit's own command reached \
             {submit:.2}× of its `-t set`, and running run's {run:.2}× of its `-t get`: the most a \
             client that added nothing to those commands could reach against the plain rates."
        );
    }
    let p99_ceiling = |op: &str| find_row(results, op, 64)?.p99_ceiling();
    if let (Some(submit), Some(run)) = (p99_ceiling("submit"), p99_ceiling("run")) {
        let _ = writeln!(
            out,
            "\np99 at 64 in flight: `redis-benchmark -c 64` running submit's own command had a \
             p99 of {submit:.2}× its `-t set` p99, and running run's {run:.2}× its `-t get` p99: \
             what a client that added nothing to those commands would show."
        );
    }
    out
}

/// The targets as a Markdown table, each with its verdict.
fn target_table(rows: &[Target]) -> String {
    let mut out = String::from("| target | bound | measured | |\n|---|---|---|---|\n");
    for &(target, measured, bound, at_least) in rows {
        let verdict = match measured {
            None => "not measured",
            Some(value) if (at_least && value >= bound) || (!at_least && value <= bound) => "met",
            Some(_) => "**missed**",
        };
        let _ = writeln!(
            out,
            "| {target} | {} {bound}× | {} | {verdict} |",
            if at_least { "≥" } else { "≤" },
            measured.map_or_else(|| "—".to_owned(), |value| format!("{value:.2}×")),
        );
    }
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
    if let (Some(baseline), Some(ratio)) = (row.baseline_ops_per_sec, row.vs_baseline()) {
        let _ = write!(
            details,
            "; redis-benchmark {} ({ratio:.2}×)",
            rate(baseline),
        );
        if let (Some(p99), Some(ratio)) = (row.baseline_p99_us, row.p99_vs_baseline()) {
            let _ = write!(details, ", its p99 {p99:.0} µs (ours {ratio:.2}×)");
        }
    }
    if let (Some(same), Some(ratio)) = (row.same_ops_per_sec, row.vs_same()) {
        let command = if row.op == "submit" {
            "SET of a new key with EX"
        } else {
            "GET of many keys"
        };
        let _ = write!(
            details,
            "; redis-benchmark's {command} {} ({ratio:.2}×)",
            rate(same)
        );
        if let (Some(p99), Some(ratio)) = (row.same_p99_us, row.p99_vs_same()) {
            let _ = write!(details, ", its p99 {p99:.0} µs (ours {ratio:.2}×)");
        }
    }
    details
}

fn ratio_of(taskctx: Option<f64>, reference: Option<f64>) -> String {
    over(taskctx, reference).map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.1}× faster"))
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

pub(crate) fn load_average() -> String {
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
pub(crate) struct Redis {
    child: Child,
    pub(crate) port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    pub(crate) fn start() -> Result<Self, String> {
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

    /// Runs the server on `cpu` from now on, or on every CPU again with `None`.
    fn pin(&self, cpu: Option<usize>) -> StepResult {
        if !can_pin() {
            return if cpu.is_some() {
                Err("taskset is needed to pin the server".to_owned())
            } else {
                Ok(())
            };
        }
        let cpus = cpu.map_or_else(
            || {
                let count = thread::available_parallelism().map_or(1, usize::from);
                format!("0-{}", count.saturating_sub(1))
            },
            |cpu| cpu.to_string(),
        );
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", &cpus])
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .status()
            .map_err(|error| format!("could not run taskset: {error}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "taskset could not pin redis-server to CPUs {cpus} ({status})"
            ))
        }
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
pub(crate) fn free_port() -> Result<u16, String> {
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
        let row = |fastest, median| Some(DivanRow { fastest, median });
        assert_eq!(rows.get("decode/fernet").copied(), row(2635.0, 2694.0));
        assert_eq!(rows.get("decode/sealed").copied(), row(2805.0, 2874.0));
        assert_eq!(rows.get("json_decode").copied(), row(1277.0, 1311.0));
        let parse = rows.get("parse_typical").copied().unwrap_or(DivanRow {
            fastest: 0.0,
            median: 0.0,
        });
        assert!((parse.fastest - 39.84).abs() < 1e-9);
        assert!((parse.median - 42.41).abs() < 1e-9);
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn a_sample_spans_ten_milliseconds_of_calls() {
        assert_eq!(sample_size(1e3), 10_000);
        assert_eq!(sample_size(34.2), 292_398);
        assert_eq!(sample_size(3e6), 4);
        // Calls longer than a sample: one call a sample.
        assert_eq!(sample_size(25e6), 1);
        assert_eq!(sample_size(f64::NAN), 1);
    }

    #[test]
    fn reads_bench_rows_with_their_baseline() {
        // The baseline object comes first and has fields of the same names as the row's.
        let line = r#"{"baseline":{"tool":"redis-benchmark","ops_per_sec":97000.0,"p99_us":300.0},"concurrency":64,"form":"json","op":"submit","ops_per_sec":101234.5,"p99_us":450.0,"same_command_baseline":{"ops_per_sec":88000.0,"p99_us":350.0},"value_bytes":924}"#;
        let row = bench_row(line, 1).unwrap();
        assert_eq!((row.form.as_str(), row.op.as_str()), ("json", "submit"));
        assert_eq!(row.concurrency, 64);
        assert!((row.ops_per_sec - 101_234.5).abs() < 1e-9);
        assert_eq!(row.p99_us, Some(450.0));
        assert_eq!(row.baseline_ops_per_sec, Some(97_000.0));
        assert_eq!(row.baseline_p99_us, Some(300.0));
        assert_eq!(row.same_ops_per_sec, Some(88_000.0));
        assert_eq!(row.same_p99_us, Some(350.0));
        assert!(bench_row("not json", 1).is_err());
        assert!(bench_row(r#"{"form":"json"}"#, 1).is_err());
    }

    #[test]
    fn keeps_each_sides_best_round() {
        let row = |rate: f64, p99: f64, baseline: f64, baseline_p99: f64| BenchRow {
            form: "json".to_owned(),
            op: "run".to_owned(),
            concurrency: 1,
            ops_per_sec: rate,
            p99_us: Some(p99),
            value_bytes: None,
            baseline_ops_per_sec: Some(baseline),
            baseline_p99_us: Some(baseline_p99),
            same_ops_per_sec: Some(baseline / 2.0),
            same_p99_us: Some(baseline_p99 * 2.0),
        };
        let mut best = row(10.0, 5.0, 30.0, 9.0);
        best.merge(row(20.0, 7.0, 25.0, 4.0));
        assert!((best.ops_per_sec - 20.0).abs() < 1e-9);
        // Both sides: the highest rate and the lowest p99, each of its own round.
        assert_eq!(best.p99_us, Some(5.0));
        assert_eq!(best.baseline_ops_per_sec, Some(30.0));
        assert_eq!(best.baseline_p99_us, Some(4.0));
        assert!((best.vs_baseline().unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!((best.p99_vs_baseline().unwrap() - 1.25).abs() < 1e-9);
        assert_eq!(best.same_ops_per_sec, Some(15.0));
        assert!((best.vs_same().unwrap() - 20.0 / 15.0).abs() < 1e-9);
        // The best rates of the two `redis-benchmark` runs: 15 of its own command against 30.
        assert!((best.ceiling().unwrap() - 0.5).abs() < 1e-9);
        // Its own command's lowest p99 (8, of the second round) against our lowest (5), and
        // against its plain lowest (4).
        assert_eq!(best.same_p99_us, Some(8.0));
        assert!((best.p99_vs_same().unwrap() - 5.0 / 8.0).abs() < 1e-9);
        assert!((best.p99_ceiling().unwrap() - 2.0).abs() < 1e-9);
    }
}
