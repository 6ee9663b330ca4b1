//! `taskctx bench`: submit and run throughput and latency for each stored form, with C tasks in
//! flight, beside two baselines measured in the same run: raw `SET` and `GET` of one key of the
//! same size and TTL through the same store, and, on Redis, `redis-benchmark` against the same
//! server with the same value size and concurrency (the server's own rate), run just before each
//! row it is compared with.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use taskctx_scope::{Component, TaskId, TaskKey, TaskType};
use taskctx_snapshot::{AccessToken, KeyRing, SealingKey, TaskContextSnapshot};
use taskctx_worker_glue::store::{ServerAddr, StoreUrl, TlsCheck, UrlKind};
use taskctx_worker_glue::{RestorePolicy, StoreConfig, Submit, TaskGlue};

use crate::demo::{self, Job};
use crate::failure::Failure;

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The snapshot store URL.
    #[arg(long, default_value = "memory://taskctx-bench")]
    url: String,
    /// Operations per measurement (per stored form and operation).
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Operations in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Also measure Fernet (derives a key from `TASKCTX_ENCRYPTION_KEY`, or a generated one).
    #[arg(long)]
    encrypt: bool,
    /// Print one JSON object per row (JSON lines) instead of a table.
    #[arg(long)]
    json: bool,
    /// Runtime threads the callers run on: 1 (the default) is a single-threaded runtime, like
    /// `redis-benchmark`'s one client thread; more is a multi-threaded runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Redis connections the store keeps (each multiplexed); the store's default when not given.
    #[arg(long)]
    connections: Option<usize>,
    /// Skip the `redis-benchmark` baseline.
    #[arg(long)]
    no_baseline: bool,
}

/// One measured phase: per-operation latencies (sorted) and the wall time of the whole phase.
#[derive(Debug)]
struct Phase<T> {
    latencies: Vec<Duration>,
    wall: Duration,
    outputs: Vec<(usize, T)>,
}

impl<T> Phase<T> {
    fn ops_per_sec(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.latencies.len() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs `bench`.
pub(crate) fn run(args: &BenchArgs) -> Result<(), Failure> {
    if args.tasks == 0 || args.concurrency == 0 {
        return Err(Failure::input(
            "invalid bench size",
            "--tasks and --concurrency must be at least 1",
        ));
    }
    let runtime = demo::runtime(args.threads)?;
    runtime.block_on(measure(args))
}

async fn measure(args: &BenchArgs) -> Result<(), Failure> {
    let sealing = SealingKey::generate("bench")
        .map_err(|e| Failure::check("could not generate a sealing key", e))?;
    let mut forms: Vec<(&str, TaskGlue)> = vec![
        ("json", builder(args).build().map_err(setup)?),
        ("native", builder(args).native(true).build().map_err(setup)?),
        (
            "sealed native",
            builder(args)
                .sealing_keys(KeyRing::new(sealing))
                .build()
                .map_err(setup)?,
        ),
    ];
    if let Some(key) = demo::fernet_key(args.encrypt)? {
        forms.push((
            "fernet",
            builder(args).fernet_key(key).build().map_err(setup)?,
        ));
    }
    let url = StoreUrl::parse(&args.url).map_err(|e| Failure::input("invalid store URL", e))?;
    let table = Table { args };
    table.header();
    // One authenticated caller's full snapshot (924 B as JSON).
    let snapshot = Arc::new(full_snapshot());
    let mut baseline_off = false;
    for (name, glue) in &forms {
        // A probe task gives the stored value's size; the raw baseline writes one key of that
        // size with the glue's TTL, through the glue's own store.
        let probe = submit(glue, &snapshot, "bench-probe").await?;
        let value = stored_value(glue, &probe.execution_key).await?;
        let value_bytes = value.len();
        let raw_key = Arc::new(format!("taskctx-bench:raw:{name}"));
        let value = Arc::new(value);

        table.value_size(name, value_bytes);
        // Each row's `redis-benchmark` figure is measured just before the row, so that both
        // meet the same state of a shared machine (on virtual machines the round trip at 1 in
        // flight can change several-fold from one second to the next).
        let mut baseline = |test: Test| {
            if args.no_baseline || baseline_off {
                return None;
            }
            match redis_benchmark(&url, args, value_bytes, test) {
                Ok(baseline) => Some(baseline),
                Err(reason) => {
                    eprintln!("no redis-benchmark baseline: {reason}");
                    baseline_off = true;
                    None
                }
            }
        };
        let raw_set_baseline = baseline(Test::Set);
        let set = drive(args, {
            let (store, key, value, ttl) = (
                glue.store().clone(),
                raw_key.clone(),
                value.clone(),
                glue.ttl(),
            );
            move |_| {
                let (store, key, value) = (store.clone(), key.clone(), value.clone());
                async move {
                    store
                        .save(&[(key.as_str(), value.as_slice())], ttl)
                        .await
                        .map_err(|e| Failure::check("a raw save failed", e))
                }
            }
        })
        .await?;
        let submit_baseline = baseline(Test::Set);
        let submit_same = baseline(Test::SetNewKeys {
            ttl_secs: glue.ttl().secs(),
        });
        // The task ids are the callers' own, made before the clock starts.
        let ids: Arc<Vec<String>> =
            Arc::new((0..args.tasks).map(|n| format!("bench-{n}")).collect());
        let submit = drive(args, {
            let (glue, snapshot) = (glue.clone(), snapshot.clone());
            move |n| {
                let (glue, snapshot, ids) = (glue.clone(), snapshot.clone(), ids.clone());
                async move {
                    let id = ids.get(n).ok_or_else(|| Failure::check("no task id", n))?;
                    submit(&glue, &snapshot, id).await
                }
            }
        })
        .await?;
        let raw_get_baseline = baseline(Test::Get);
        let get = drive(args, {
            let (store, key) = (glue.store().clone(), raw_key.clone());
            move |_| {
                let (store, key) = (store.clone(), key.clone());
                async move {
                    match store.load(&key).await {
                        Ok(Some(_)) => Ok(()),
                        Ok(None) => Err(Failure::check("a raw load failed", "the key is missing")),
                        Err(e) => Err(Failure::check("a raw load failed", e)),
                    }
                }
            }
        })
        .await?;
        let submit_rate = submit.ops_per_sec();
        let submit_latencies = submit.latencies;
        let mut jobs: Vec<(usize, Job)> = submit.outputs;
        jobs.sort_unstable_by_key(|(n, _)| *n);
        let jobs: Arc<Vec<Job>> = Arc::new(jobs.into_iter().map(|(_, job)| job).collect());
        let run_baseline = baseline(Test::Get);
        let run_same = if run_baseline.is_some() {
            // As many distinct keys of the value's size as there are tasks, for
            // `redis-benchmark -r` to GET at random (they expire as the tasks' do).
            for key in many_keys(args.tasks) {
                glue.store()
                    .save(&[(key.as_str(), value.as_slice())], glue.ttl())
                    .await
                    .map_err(|e| Failure::check("could not write the baseline's keys", e))?;
            }
            baseline(Test::GetManyKeys { keys: args.tasks })
        } else {
            None
        };
        let runs = drive(args, {
            let glue = glue.clone();
            move |n| {
                let (glue, jobs) = (glue.clone(), jobs.clone());
                async move {
                    let job = jobs
                        .get(n)
                        .ok_or_else(|| Failure::check("no job to run", n))?;
                    glue.run(&job.execution_key, async {})
                        .await
                        .map_err(|e| Failure::check("a task could not be restored", e))
                }
            }
        })
        .await?;
        if raw_set_baseline.is_some() {
            // redis-benchmark leaves its key behind, without a TTL.
            let _ = glue.store().delete(&[REDIS_BENCHMARK_KEY]).await;
        }
        let row = |op, phase_latencies, rate, raw_rate, baseline, same| Row {
            form: name,
            op,
            value_bytes,
            latencies: phase_latencies,
            rate,
            raw_rate,
            baseline,
            same,
        };
        let set_rate = set.ops_per_sec();
        let get_rate = get.ops_per_sec();
        let run_rate = runs.ops_per_sec();
        table.row(&row(
            "raw SET",
            &set.latencies,
            set_rate,
            None,
            raw_set_baseline.as_ref(),
            None,
        ));
        table.row(&row(
            "submit",
            &submit_latencies,
            submit_rate,
            Some(set_rate),
            submit_baseline.as_ref(),
            submit_same.as_ref(),
        ));
        table.row(&row(
            "raw GET",
            &get.latencies,
            get_rate,
            None,
            raw_get_baseline.as_ref(),
            None,
        ));
        table.row(&row(
            "run",
            &runs.latencies,
            run_rate,
            Some(get_rate),
            run_baseline.as_ref(),
            run_same.as_ref(),
        ));
    }
    Ok(())
}

/// Runs `op(n)` for every `n` in `0..args.tasks`, with `args.concurrency` worker loops pulling
/// the next `n` from a shared counter.
async fn drive<T, F, Fut>(args: &BenchArgs, op: F) -> Result<Phase<T>, Failure>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send + 'static,
{
    let total = args.tasks;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (next, op) = (next.clone(), op.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut outputs = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let begun = Instant::now();
                    let output = op(n).await?;
                    latencies.push(begun.elapsed());
                    outputs.push((n, output));
                }
                Ok::<_, Failure>((latencies, outputs))
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut outputs = Vec::with_capacity(total);
    for worker in workers {
        let (mut own, mut done) = worker
            .await
            .map_err(|e| Failure::check("a bench worker stopped", e))??;
        latencies.append(&mut own);
        outputs.append(&mut done);
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    Ok(Phase {
        latencies,
        wall,
        outputs,
    })
}

/// Submits `snapshot` as task `task_id`; returns the job a queue would carry.
async fn submit(
    glue: &TaskGlue,
    snapshot: &TaskContextSnapshot,
    task_id: &str,
) -> Result<Job, Failure> {
    let task_id = TaskId::new(task_id).map_err(|e| Failure::input("invalid task id", e))?;
    let task = Submit::new(
        snapshot,
        task_id,
        TaskType::TOOL,
        Component::new("child_echo"),
    );
    let submitted = glue
        .submit(task)
        .await
        .map_err(|e| Failure::check("could not submit a task", e))?;
    Ok(Job {
        execution_key: submitted.into_execution_key(),
        request_id: String::new(),
    })
}

/// The bytes the glue stored for the task behind `execution_key`.
async fn stored_value(glue: &TaskGlue, execution_key: &str) -> Result<Vec<u8>, Failure> {
    let (task, _) = TaskKey::parse_execution(execution_key)
        .map_err(|e| Failure::check("the glue returned an unparsable execution key", e))?;
    let key = glue.keys().snapshot_key(task.scope(), task.task_id());
    glue.store()
        .load(&key)
        .await
        .map_err(|e| Failure::check("could not load the probe task", e))?
        .ok_or_else(|| Failure::check("could not load the probe task", "its snapshot is missing"))
}

/// The key `redis-benchmark -t set,get` writes.
const REDIS_BENCHMARK_KEY: &str = "key:__rand_int__";

/// One `redis-benchmark` figure.
#[derive(Debug, Clone)]
struct Baseline {
    command: &'static str,
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    value_bytes: usize,
}

/// Which `redis-benchmark` run a row is compared with.
#[derive(Debug, Clone, Copy)]
enum Test {
    /// `-t set`: SET of one key, overwritten each time, without a TTL.
    Set,
    /// `-t get`: GET of that one key.
    Get,
    /// Submit's own command: `SET {key} {value} EX {ttl}`, a new key each time (`-r`).
    SetNewKeys { ttl_secs: u64 },
    /// Run's own command: GET of one of `keys` distinct keys written beforehand (`-r`).
    GetManyKeys { keys: usize },
}

/// The prefix of the keys `Test::SetNewKeys` writes.
const NEW_KEYS_PREFIX: &str = "taskctx-bench:rb-set:";
/// The prefix of the keys `Test::GetManyKeys` reads.
const MANY_KEYS_PREFIX: &str = "taskctx-bench:rb-get:";
/// The keyspace `Test::SetNewKeys` draws from: large enough that a key is new each time.
const NEW_KEYS_SPACE: &str = "1000000000";

impl Test {
    /// What the table and the JSON call it.
    const fn label(self) -> &'static str {
        match self {
            Self::Set => "SET",
            Self::Get => "GET",
            Self::SetNewKeys { .. } => "SET new key EX",
            Self::GetManyKeys { .. } => "GET many keys",
        }
    }

    /// The command word its `--csv` rows start with.
    const fn command(self) -> &'static str {
        match self {
            Self::Set | Self::SetNewKeys { .. } => "SET",
            Self::Get | Self::GetManyKeys { .. } => "GET",
        }
    }

    /// `redis-benchmark`'s arguments for it (after the server, clients and request count).
    fn arguments(self, value_bytes: usize) -> Vec<String> {
        match self {
            Self::Set | Self::Get => [
                "-d",
                &value_bytes.to_string(),
                "-t",
                if matches!(self, Self::Set) {
                    "set"
                } else {
                    "get"
                },
            ]
            .map(str::to_owned)
            .to_vec(),
            Self::SetNewKeys { ttl_secs } => vec![
                "-r".to_owned(),
                NEW_KEYS_SPACE.to_owned(),
                "SET".to_owned(),
                format!("{NEW_KEYS_PREFIX}__rand_int__"),
                "x".repeat(value_bytes),
                "EX".to_owned(),
                ttl_secs.to_string(),
            ],
            Self::GetManyKeys { keys } => vec![
                "-r".to_owned(),
                keys.to_string(),
                "GET".to_owned(),
                format!("{MANY_KEYS_PREFIX}__rand_int__"),
            ],
        }
    }
}

/// The keys `redis-benchmark -r {count}` draws `__rand_int__` from: twelve zero-padded digits.
fn many_keys(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("{MANY_KEYS_PREFIX}{n:012}"))
        .collect()
}

/// Runs `redis-benchmark` (`test`) against the server of `url` with this run's concurrency,
/// request count and `value_bytes`, or says why it cannot. `-t get` reads the key `-t set` wrote,
/// so it runs after a SET of the same size; `GET many keys` reads keys written beforehand.
fn redis_benchmark(
    url: &StoreUrl,
    args: &BenchArgs,
    value_bytes: usize,
    test: Test,
) -> Result<Baseline, String> {
    let mut command = std::process::Command::new("redis-benchmark");
    let first = url.servers().first().copied();
    match (url.kind(), first) {
        (UrlKind::Server | UrlKind::Cluster, Some(ServerAddr::Tcp { host, port })) => {
            command.args(["-h", host, "-p", &port.to_string()]);
        }
        (UrlKind::Unix, Some(ServerAddr::Unix(path))) => {
            command.arg("-s").arg(path);
        }
        (UrlKind::Memory, _) => return Err("the store is not Redis".to_owned()),
        _ => return Err("redis-benchmark cannot target this kind of store URL".to_owned()),
    }
    if url.kind() == UrlKind::Cluster {
        command.arg("--cluster");
    }
    match url.tls() {
        None => {}
        Some(TlsCheck::Insecure) => {
            command.args(["--tls", "--insecure"]);
        }
        Some(_) => {
            return Err("redis-benchmark would need the CA certificate (use #insecure)".to_owned());
        }
    }
    if url.password().is_some() || url.username().is_some() {
        return Err(
            "redis-benchmark takes credentials only on its command line, where other \
             users of the machine could read them"
                .to_owned(),
        );
    }
    if url.database() != 0 {
        command.args(["--dbnum", &url.database().to_string()]);
    }
    command.args(["-c", &args.concurrency.to_string(), "-P", "1"]);
    command.args(["-n", &args.tasks.to_string(), "--csv"]);
    command.args(test.arguments(value_bytes));
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("could not run redis-benchmark: {e}"))?;
    if !output.status.success() {
        return Err(format!("redis-benchmark failed ({})", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    parse_csv_row(&text, test, value_bytes)
        .ok_or_else(|| format!("redis-benchmark printed no {} figures", test.label()))
}

/// The row of `command` in `redis-benchmark --csv` output:
/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`.
fn parse_csv_row(text: &str, test: Test, value_bytes: usize) -> Option<Baseline> {
    let fields: Vec<&str> = text
        .lines()
        .map(|line| {
            line.split(',')
                .map(|field| field.trim_matches('"'))
                .collect::<Vec<_>>()
        })
        .find(|fields| {
            fields.first().is_some_and(|name| {
                name.strip_prefix(test.command())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
        })?;
    let number = |index: usize| fields.get(index)?.parse::<f64>().ok();
    let millis = |index: usize| number(index).map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1e3));
    Some(Baseline {
        command: test.label(),
        ops_per_sec: number(1)?,
        p50: millis(4)?,
        p99: millis(6)?,
        value_bytes,
    })
}

/// One measured row and what it is compared with.
#[derive(Debug)]
struct Row<'a> {
    form: &'a str,
    op: &'a str,
    value_bytes: usize,
    latencies: &'a [Duration],
    rate: f64,
    /// The same store's raw SET or GET rate, for `submit` and `run`.
    raw_rate: Option<f64>,
    /// `redis-benchmark -t set` or `-t get`.
    baseline: Option<&'a Baseline>,
    /// `redis-benchmark` running the row's own command (`submit` and `run`).
    same: Option<&'a Baseline>,
}

/// Where the rows go: a human table, or JSON lines with `--json`.
#[derive(Debug)]
struct Table<'a> {
    args: &'a BenchArgs,
}

impl Table<'_> {
    fn header(&self) {
        let args = self.args;
        let url = taskctx_worker_glue::redact_url(&args.url);
        if args.json {
            return;
        }
        out!(
            "store: {url}, {} operations per row, {} in flight, {} runtime thread(s)",
            args.tasks,
            args.concurrency,
            args.threads.max(1)
        );
        out!(
            "{:<16} {:<14} {:>10} {:>11} {:>11} {:>7} {:>7} {:>7} {:>7}",
            "form",
            "op",
            "ops/s",
            "p50",
            "p99",
            "vs raw",
            "vs r-b",
            "p99/r-b",
            "vs same"
        );
    }

    /// The size of `form`'s stored value (in JSON, a field of each row).
    fn value_size(&self, form: &str, value_bytes: usize) {
        if !self.args.json {
            out!("{form}: {value_bytes} B stored per task");
        }
    }

    /// A `redis-benchmark` figure, as a line of the table above the row it is compared with
    /// (in JSON it is part of that row).
    fn baseline(baseline: &Baseline) {
        out!(
            "{:<16} {:<14} {:>10.0} {:>11} {:>11}",
            "redis-benchmark",
            baseline.command,
            baseline.ops_per_sec,
            micros(baseline.p50),
            micros(baseline.p99),
        );
    }

    fn row(&self, row: &Row<'_>) {
        let ratio = |ours: f64, theirs: f64| (theirs > 0.0).then(|| ours / theirs);
        let vs_raw = row.raw_rate.and_then(|raw| ratio(row.rate, raw));
        let (p50, p99) = (
            demo::percentile(row.latencies, 500),
            demo::percentile(row.latencies, 990),
        );
        let vs =
            |baseline: Option<&Baseline>| baseline.and_then(|b| ratio(row.rate, b.ops_per_sec));
        let p99_vs = |baseline: Option<&Baseline>| {
            baseline.and_then(|b| ratio(p99.as_secs_f64(), b.p99.as_secs_f64()))
        };
        if self.args.json {
            let describe = |b: &Baseline| {
                json!({
                    "tool": "redis-benchmark",
                    "command": b.command,
                    "clients": self.args.concurrency,
                    "pipeline": 1,
                    "requests": self.args.tasks,
                    "value_bytes": b.value_bytes,
                    "ops_per_sec": b.ops_per_sec,
                    "p50_us": b.p50.as_secs_f64() * 1e6,
                    "p99_us": b.p99.as_secs_f64() * 1e6,
                })
            };
            let line = json!({
                "store": taskctx_worker_glue::redact_url(&self.args.url).to_string(),
                "form": row.form,
                "op": row.op,
                "concurrency": self.args.concurrency,
                "threads": self.args.threads.max(1),
                "connections": self.args.connections.unwrap_or_else(|| StoreConfig::default().pool_size()),
                "operations": self.args.tasks,
                "value_bytes": row.value_bytes,
                "ops_per_sec": row.rate,
                "p50_us": p50.as_secs_f64() * 1e6,
                "p99_us": p99.as_secs_f64() * 1e6,
                "vs_raw": vs_raw,
                "baseline": row.baseline.map(describe),
                "vs_baseline": vs(row.baseline),
                "p99_vs_baseline": p99_vs(row.baseline),
                "same_command_baseline": row.same.map(describe),
                "vs_same_command": vs(row.same),
                "p99_vs_same_command": p99_vs(row.same),
            });
            out!("{line}");
        } else {
            for baseline in [row.baseline, row.same].into_iter().flatten() {
                Self::baseline(baseline);
            }
            let times = |ratio: Option<f64>| ratio.map_or_else(String::new, |r| format!("{r:.2}×"));
            let line = format!(
                "{:<16} {:<14} {:>10.0} {:>11} {:>11} {:>7} {:>7} {:>7} {:>7}",
                row.form,
                row.op,
                row.rate,
                micros(p50),
                micros(p99),
                times(vs_raw),
                times(vs(row.baseline)),
                times(p99_vs(row.baseline)),
                times(vs(row.same)),
            );
            out!("{}", line.trim_end());
        }
    }
}

/// One authenticated caller's full snapshot, as the codec benchmarks use: a token with five
/// claims, ten request headers and every id (924 B as JSON).
fn full_snapshot() -> TaskContextSnapshot {
    let token = AccessToken::builder("eyJhbGciOiJSUzI1NiJ9.payload.sig", "client-a")
        .scopes(["read", "write"])
        .expires_at(4_102_444_800)
        .claim("sub", "user-1")
        .claim("iss", "https://idp.example")
        .claim("name", "Jürgen 😀")
        .claim("groups", serde_json::json!(["a", "b"]))
        .claim("n", 1)
        .build();
    TaskContextSnapshot::builder()
        .access_token(token)
        .header("host", "mcp.example.com")
        .header("user-agent", "python-httpx/0.28.1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig")
        .header("mcp-session-id", "3f2a9c0d5b8e4f1a")
        .header("mcp-protocol-version", "2025-11-25")
        .header("x-request-id", "req-42")
        .header("x-forwarded-for", "10.0.0.1, 10.0.0.2")
        .header("x-custom", "Grüße 😀 \"quoted\" \\ back/slash\ttab")
        .origin_request_id("7")
        .session_id("3f2a9c0d5b8e4f1a")
        .owning_tool_name("child_echo")
        .owning_tool_version("1.0")
        .build()
}

fn builder(args: &BenchArgs) -> taskctx_worker_glue::TaskGlueBuilder<(), ()> {
    let mut config = StoreConfig::default();
    if let Some(connections) = args.connections {
        config = config.with_pool_size(connections);
    }
    TaskGlue::builder()
        .store_url(&args.url)
        .store_config(config)
        .restore_policy(RestorePolicy::FailClosed)
}

fn setup(error: taskctx_worker_glue::ConfigError) -> Failure {
    Failure::input("could not set up the task glue", error)
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
