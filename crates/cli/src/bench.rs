//! `taskctx bench`: submit and run throughput and latency for each stored form, with C tasks in
//! flight, beside a raw store baseline (`SET` and `GET` of one key of the same size and TTL) on
//! the same store and connection pool.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use taskctx_scope::TaskKey;
use taskctx_snapshot::{KeyRing, SealingKey};
use taskctx_worker_glue::{RestorePolicy, SnapshotStore, TaskGlue};

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::check("could not start the async runtime", e))?;
    runtime.block_on(measure(args))
}

async fn measure(args: &BenchArgs) -> Result<(), Failure> {
    let sealing = SealingKey::generate("bench")
        .map_err(|e| Failure::check("could not generate a sealing key", e))?;
    let mut forms: Vec<(&str, TaskGlue)> = vec![
        ("json", builder(&args.url).build().map_err(setup)?),
        (
            "native",
            builder(&args.url).native(true).build().map_err(setup)?,
        ),
        (
            "sealed native",
            builder(&args.url)
                .sealing_keys(KeyRing::new(sealing))
                .build()
                .map_err(setup)?,
        ),
    ];
    if let Some(key) = demo::fernet_key(args.encrypt)? {
        forms.push((
            "fernet",
            builder(&args.url).fernet_key(key).build().map_err(setup)?,
        ));
    }
    let table = Table { args };
    table.header();
    // One authenticated caller with a long-lived token.
    let caller = Arc::new(
        demo::callers(1, demo::unix_now())
            .into_iter()
            .next()
            .ok_or_else(|| Failure::check("no caller", "the caller list is empty"))?,
    );
    for (name, glue) in &forms {
        // A probe task gives the stored value's size; the raw baseline writes one key of that
        // size with the glue's TTL, through the glue's own store.
        let probe = demo::submit(glue, &caller, "bench-probe", "req-probe").await?;
        let value = stored_value(glue, &probe.execution_key).await?;
        let raw_key = Arc::new(format!("taskctx-bench:raw:{name}"));
        let value = Arc::new(value);

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
        let submit = drive(args, {
            let (glue, caller) = (glue.clone(), caller.clone());
            move |n| {
                let (glue, caller) = (glue.clone(), caller.clone());
                async move {
                    demo::submit(&glue, &caller, &format!("bench-{n}"), &format!("req-{n}")).await
                }
            }
        })
        .await?;
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
        table.row(name, "raw SET", &set.latencies, set.ops_per_sec(), None);
        table.row(
            name,
            "submit",
            &submit_latencies,
            submit_rate,
            Some(set.ops_per_sec()),
        );
        table.row(name, "raw GET", &get.latencies, get.ops_per_sec(), None);
        table.row(
            name,
            "run",
            &runs.latencies,
            runs.ops_per_sec(),
            Some(get.ops_per_sec()),
        );
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
            "store: {url}, {} operations per row, {} in flight",
            args.tasks,
            args.concurrency
        );
        out!(
            "{:<14} {:<8} {:>12} {:>12} {:>12} {:>8}",
            "form",
            "op",
            "ops/s",
            "p50",
            "p99",
            "vs raw"
        );
    }

    /// One row; `raw_rate` is the baseline's ops/s the ratio is taken against.
    fn row(&self, form: &str, op: &str, sorted: &[Duration], rate: f64, raw_rate: Option<f64>) {
        let ratio = raw_rate.filter(|base| *base > 0.0).map(|base| rate / base);
        let (p50, p99) = (demo::percentile(sorted, 500), demo::percentile(sorted, 990));
        if self.args.json {
            let row = serde_json::json!({
                "store": taskctx_worker_glue::redact_url(&self.args.url).to_string(),
                "concurrency": self.args.concurrency,
                "operations": self.args.tasks,
                "form": form,
                "op": op,
                "ops_per_sec": rate,
                "p50_us": p50.as_secs_f64() * 1e6,
                "p99_us": p99.as_secs_f64() * 1e6,
                "vs_raw": ratio,
            });
            out!("{row}");
        } else {
            let ratio = ratio.map_or_else(String::new, |ratio| format!("{ratio:.2}×"));
            out!(
                "{form:<14} {op:<8} {rate:>12.0} {:>12} {:>12} {ratio:>8}",
                micros(p50),
                micros(p99),
            );
        }
    }
}

fn builder(url: &str) -> taskctx_worker_glue::TaskGlueBuilder<(), ()> {
    TaskGlue::builder()
        .store_url(url)
        .restore_policy(RestorePolicy::FailClosed)
}

fn setup(error: taskctx_worker_glue::ConfigError) -> Failure {
    Failure::input("could not set up the task glue", error)
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
