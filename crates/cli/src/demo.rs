//! `taskctx demo`: simulated callers submit tasks, workers restore each task's context from the
//! store and check it belongs to the caller who submitted it.
//!
//! One task's path: capture the caller's snapshot → encode → save under the task's snapshot key
//! with a TTL ([`TaskGlue::submit`]) → hand the worker only the execution key → parse it → load →
//! decode → run the task inside its context ([`TaskGlue::run`]) → the task checks its caller.

use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use taskctx_worker_glue::{
    AccessToken, Component, FernetKey, HeaderPolicy, RestoreError, RestoreOutcome, RestorePolicy,
    Scope, StoreConfig, Submit, TaskContextSnapshot, TaskGlue, TaskId, TaskType, current,
    scope_of_token,
};
use tokio::sync::{Mutex, mpsc};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::failure::Failure;

/// The environment variable holding encryption key material.
pub(crate) const KEY_ENV: &str = "TASKCTX_ENCRYPTION_KEY";

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The snapshot store URL (`memory://`, `redis://…`, `redis+cluster://…`, …).
    #[arg(long, default_value = "memory://taskctx-demo")]
    url: String,
    /// How many tasks to submit (0 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = crate::ranges::tasks())]
    tasks: usize,
    /// How many simulated callers submit them (1 to 10,000).
    #[arg(long, default_value_t = 20, value_parser = crate::ranges::callers())]
    callers: usize,
    /// How many concurrent workers run them (1 to 1024).
    #[arg(long, default_value_t = 4, value_parser = crate::ranges::workers())]
    workers: usize,
    /// Store snapshots Fernet-encrypted, with key material from `TASKCTX_ENCRYPTION_KEY`.
    #[arg(long)]
    encrypt: bool,
    /// Fault injection: overwrite one caller's stored context with another caller's before the
    /// workers run, to show the isolation check catching it (the demo then exits 1).
    #[arg(long)]
    inject_cross_scope: bool,
    /// Log every span and event down to TRACE (each task's restored context included) to
    /// stderr: what an operator's log would hold. Secrets never appear in it.
    #[arg(long)]
    trace: bool,
    /// Print the summary as one JSON object instead of lines of text.
    #[arg(long)]
    json: bool,
    /// Redis connections the store keeps (each multiplexed; 1 to 1024); the store's default when
    /// not given.
    #[arg(long, value_parser = crate::ranges::connections())]
    connections: Option<usize>,
    /// Runtime threads the callers and workers run on (1 to 256): 1 is a single-threaded runtime,
    /// more a multi-threaded one.
    #[arg(long, default_value_t = 2, value_parser = crate::ranges::threads())]
    threads: usize,
}

/// A simulated caller: a token (or none), a session and an API key sent as a header. `Debug`
/// shows neither the API key nor the `Authorization` header.
pub(crate) struct Caller {
    pub(crate) token: Option<AccessToken>,
    /// The `Authorization` header the caller sends with its token.
    authorization: Option<String>,
    session_id: String,
    api_key: String,
    pub(crate) expiring: bool,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("token", &self.token)
            .field("session_id", &self.session_id)
            .field("expiring", &self.expiring)
            .finish_non_exhaustive()
    }
}

/// The header the demo's callers send their API key in, marked secret by the demo's header
/// policy.
const API_KEY_HEADER: &str = "x-api-key";

/// What a queued job carries: the execution key and the submission's request id (the task's
/// own arguments), never the context itself.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) execution_key: String,
    pub(crate) request_id: String,
}

/// How one task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Restored { anonymous: bool },
    ExpiredToken,
    Failed,
    Violation,
}

/// Runs the demo.
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    let runtime = runtime(args.threads)?;
    runtime.block_on(run_async(args))
}

/// A tokio runtime on `threads` threads: 0 or 1 is a single-threaded runtime.
pub(crate) fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, Failure> {
    match threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        threads => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build(),
    }
    .map_err(|e| Failure::check("could not start the async runtime", e))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

pub(crate) fn fernet_key(encrypt: bool) -> Result<Option<FernetKey>, Failure> {
    if !encrypt {
        return Ok(None);
    }
    let material = match std::env::var(KEY_ENV) {
        Ok(material) => material,
        Err(_) => {
            // Four OS-seeded hasher outputs: a per-run key that never leaves the process.
            let mut material = String::with_capacity(64);
            for _ in 0..4 {
                let word = std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish();
                material.push_str(&format!("{word:016x}"));
            }
            eprintln!("{KEY_ENV} is not set: using a key generated for this run");
            material
        }
    };
    let started = Instant::now();
    let key = FernetKey::derive(&material)
        .map_err(|e| Failure::input("invalid encryption key material", e))?;
    eprintln!(
        "derived the Fernet key in {} ms",
        started.elapsed().as_millis()
    );
    Ok(Some(key))
}

pub(crate) fn callers(count: usize, now: i64) -> Vec<Caller> {
    (0..count)
        .map(|i| {
            let anonymous = i % 5 == 4;
            let expiring = i == 1;
            let token = (!anonymous).then(|| {
                // Callers 2k and 2k+1 share a client id; each has its own subject.
                AccessToken::builder(format!("tok-{i}-secret"), format!("client-{}", i / 2))
                    .scopes(["tasks"])
                    .expires_at(if expiring { now + 1 } else { now + 3600 })
                    .claim("sub", format!("user-{i}"))
                    .build()
            });
            Caller {
                authorization: token
                    .as_ref()
                    .map(|token| format!("Bearer {}", token.token())),
                token,
                session_id: format!("session-{i}"),
                api_key: format!("api-key-{i}-secret"),
                expiring,
            }
        })
        .collect()
}

/// Submission: capture the caller's snapshot and submit it; returns the job a queue would
/// carry (the execution key and the task's own arguments, never the context itself).
pub(crate) async fn submit(
    glue: &TaskGlue,
    caller: &Caller,
    task_id: &str,
    request_id: &str,
) -> Result<Job, Failure> {
    let mut builder = TaskContextSnapshot::builder()
        .session_id(caller.session_id.as_str())
        .origin_request_id(request_id)
        .owning_tool_name("demo_tool");
    // The request's headers, captured as the reference does (every header, credentials too).
    let request = [
        ("User-Agent", b"taskctx-demo".as_slice()),
        ("X-Api-Key", caller.api_key.as_bytes()),
    ]
    .into_iter()
    .chain(
        caller
            .authorization
            .as_ref()
            .map(|authorization| ("Authorization", authorization.as_bytes())),
    );
    builder = builder
        .capture_headers(request, glue.header_policy())
        .map_err(|e| Failure::input("could not capture the request headers", e))?;
    if let Some(token) = &caller.token {
        builder = builder.access_token(token.clone());
    }
    let snapshot = builder.build();
    let task_id = TaskId::new(task_id).map_err(|e| Failure::input("invalid task id", e))?;
    let submitted = glue
        .submit(Submit::new(
            &snapshot,
            task_id,
            TaskType::TOOL,
            Component::new("demo_tool"),
        ))
        .await
        .map_err(|e| Failure::check("could not submit a task", e))?;
    Ok(Job {
        execution_key: submitted.into_execution_key(),
        request_id: request_id.to_owned(),
    })
}

/// Execution: run the task inside its restored context; the task checks that the context is
/// its own submission's and that its caller is the scope its key names.
pub(crate) async fn execute(glue: &TaskGlue, job: &Job) -> Outcome {
    let checked = glue
        .run(&job.execution_key, async {
            let Some(context) = current() else {
                return Outcome::Failed;
            };
            tracing::trace!(?context, "task context");
            let token_scope = context.access_token().map(|token| scope_from_token(token));
            let own_caller = match token_scope {
                None => context.task().scope().is_none(),
                Some(Some(scope)) => Some(&scope) == context.task().scope(),
                Some(None) => false,
            };
            if !own_caller || context.origin_request_id() != Some(job.request_id.as_str()) {
                return Outcome::Violation;
            }
            match context.outcome() {
                RestoreOutcome::Restored => Outcome::Restored {
                    anonymous: context.access_token().is_none(),
                },
                RestoreOutcome::ExpiredToken => Outcome::ExpiredToken,
                _ => Outcome::Failed,
            }
        })
        .await;
    match checked {
        Ok(outcome) => outcome,
        Err(RestoreError::ExpiredToken { .. }) => Outcome::ExpiredToken,
        Err(RestoreError::ScopeMismatch { .. }) => Outcome::Violation,
        Err(_) => Outcome::Failed,
    }
}

/// Copies caller 0's stored context for `job-0` over caller 2's (another scope, same task id),
/// as a store bug or an attacker with write access to the store would.
async fn inject_cross_scope(glue: &TaskGlue, callers: &[Caller]) -> Result<(), Failure> {
    let scope = |index: usize| {
        callers
            .get(index)
            .and_then(|caller| caller.token.as_ref())
            .and_then(scope_from_token)
            .ok_or_else(|| {
                Failure::input(
                    "cannot inject a cross-scope fault",
                    "it needs at least 3 callers and 3 tasks",
                )
            })
    };
    let (from, to) = (scope(0)?, scope(2)?);
    let task_id = TaskId::new("job-0").map_err(|e| Failure::input("invalid task id", e))?;
    let from_key = glue.keys().snapshot_key(Some(&from), &task_id);
    let to_key = glue.keys().snapshot_key(Some(&to), &task_id);
    let value = glue
        .store()
        .load(&from_key)
        .await
        .map_err(|e| Failure::check("could not read a stored context", e))?
        .ok_or_else(|| {
            Failure::input(
                "cannot inject a cross-scope fault",
                "job-0 was not submitted",
            )
        })?;
    glue.store()
        .save(&[(to_key.as_str(), value.as_slice())], glue.ttl())
        .await
        .map_err(|e| Failure::check("could not write a stored context", e))?;
    eprintln!("injected: caller 2's job-0 now holds caller 0's context");
    Ok(())
}

/// The scope a restored token stands for, if it gives one.
fn scope_from_token(token: &AccessToken) -> Option<Scope<'static>> {
    scope_of_token(token).ok()
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    restored: usize,
    anonymous: usize,
    expired: usize,
    failed: usize,
    violations: usize,
    /// Queue entries that were not jobs (`taskctx work`).
    malformed: usize,
    /// Task records settled with a job's outcome (`taskctx work`).
    settled: usize,
    /// Jobs not run: their task's record had settled, or another worker held it (`taskctx
    /// work`).
    skipped: usize,
    latencies: Vec<Duration>,
}

impl Tally {
    /// Counts `count` malformed queue entries.
    pub(crate) fn add_malformed(&mut self, count: usize) {
        self.malformed += count;
    }
}

async fn run_async(args: &DemoArgs) -> Result<(), Failure> {
    if args.trace {
        tracing::subscriber::set_global_default(StderrLog::default())
            .map_err(|e| Failure::check("could not install the trace log", e))?;
    }
    let glue = glue_for(&args.url, args.encrypt, args.connections)?;
    tracing::trace!(?glue, "task glue");
    let now = unix_now();
    let callers = callers(args.callers, now);

    // Submission: task n belongs to caller n % K. Authenticated callers reuse the same client
    // task ids ("job-0", "job-1", …) in their own scopes; anonymous ones share one keyspace and
    // get unique ids.
    // Every caller submits its own tasks, in order, concurrently with the other callers.
    let (sender, receiver) = mpsc::unbounded_channel();
    let submitting = progress(args.tasks, "submitting");
    let submit_started = Instant::now();
    let callers = Arc::new(callers);
    let mut submitters = tokio::task::JoinSet::new();
    for caller_index in 0..args.callers.min(args.tasks) {
        let (glue, callers, sender) = (glue.clone(), Arc::clone(&callers), sender.clone());
        let (submitting, tasks, count) = (submitting.clone(), args.tasks, args.callers);
        submitters.spawn(async move {
            let Some(caller) = callers.get(caller_index) else {
                return Ok(false);
            };
            for n in (caller_index..tasks).step_by(count) {
                let task_id = task_id_for(n, count, caller);
                let job = submit(&glue, caller, &task_id, &format!("req-{n}")).await?;
                let _ = sender.send(job);
                submitting.inc(1);
            }
            Ok::<_, Failure>(caller.expiring)
        });
    }
    let mut expiring_queued = false;
    while let Some(submitted) = submitters.join_next().await {
        expiring_queued |=
            submitted.map_err(|e| Failure::check("a caller stopped unexpectedly", e))??;
    }
    submitting.finish_and_clear();
    drop(sender);
    if args.inject_cross_scope {
        inject_cross_scope(&glue, &callers).await?;
    }
    let submit_elapsed = submit_started.elapsed();

    // The expiring caller's token runs out while its tasks wait in the queue.
    if expiring_queued {
        let waiting = ProgressBar::new_spinner()
            .with_message("waiting for caller 1's token to expire while its tasks are queued");
        waiting.enable_steady_tick(Duration::from_millis(100));
        while unix_now() <= now + 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        waiting.finish_and_clear();
    }

    let running = ProgressBar::new_spinner().with_message(format!(
        "{} workers restoring and running {} tasks",
        args.workers, args.tasks
    ));
    running.enable_steady_tick(Duration::from_millis(100));
    let run_started = Instant::now();
    let total = run_workers(&glue, receiver, args.workers, None, None).await;
    let run_elapsed = run_started.elapsed();
    running.finish_and_clear();
    let total = total?;
    report(
        &Summary {
            url: &args.url,
            callers: Some(args.callers),
            workers: args.workers,
            submit_elapsed: Some(submit_elapsed),
            run_elapsed,
            form: glue.codec().form(),
            json: args.json,
            dead_letter: None,
            records: false,
        },
        &total,
    );
    verdict(&total)
}

/// A progress bar on stderr for a phase of `len` steps; indicatif draws it only on a terminal.
fn progress(len: usize, phase: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.with_message(phase)
}

/// The demo's glue: FailClosed, Fernet-encrypted when asked, every request header captured (as
/// the reference does) with the API key header marked secret.
pub(crate) fn glue_for(
    url: &str,
    encrypt: bool,
    connections: Option<usize>,
) -> Result<TaskGlue, Failure> {
    let mut config = StoreConfig::default();
    if let Some(connections) = connections {
        config = config
            .with_pool_size(connections)
            .map_err(|e| Failure::input("invalid --connections", e))?;
    }
    let mut builder = TaskGlue::builder()
        .store_url(url)
        .store_config(config)
        .restore_policy(RestorePolicy::FailClosed)
        .header_policy(HeaderPolicy::all().secret(API_KEY_HEADER));
    if let Some(key) = fernet_key(encrypt)? {
        builder = builder.fernet_key(key);
    }
    builder
        .build()
        .map_err(|e| Failure::input_chain("could not set up the task glue", e))
}

/// Task n belongs to caller n % K. Authenticated callers reuse the same client task ids
/// ("job-0", "job-1", …) in their own scopes; anonymous ones share one keyspace and get unique
/// ids.
pub(crate) fn task_id_for(n: usize, callers: usize, caller: &Caller) -> String {
    if caller.token.is_some() {
        format!("job-{}", n / callers.max(1))
    } else {
        format!("anon-job-{n}")
    }
}

/// Runs `workers` workers over the jobs of `receiver` until it closes; each job, once its
/// outcome is counted, is handed to `done` (when given).
/// How a worker ran one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// The task ran and checked its caller; `settled`: its outcome settled the task's record.
    Checked { outcome: Outcome, settled: bool },
    /// Not run: its task's record had settled already, or another worker held it.
    Skipped,
}

pub(crate) async fn run_workers(
    glue: &TaskGlue,
    receiver: mpsc::UnboundedReceiver<Job>,
    workers: usize,
    done: Option<mpsc::UnboundedSender<Job>>,
    leases: Option<Arc<crate::queue::Leases>>,
) -> Result<Tally, Failure> {
    let receiver = Arc::new(Mutex::new(receiver));
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let receiver = Arc::clone(&receiver);
        let glue = glue.clone();
        let done = done.clone();
        let leases = leases.clone();
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let job = receiver.lock().await.recv().await;
                let Some(job) = job else { break };
                let started = Instant::now();
                let ran = match &leases {
                    Some(leases) => leases.run(&glue, &job).await,
                    None => Ran::Checked {
                        outcome: execute(&glue, &job).await,
                        settled: false,
                    },
                };
                let (outcome, settled) = match ran {
                    Ran::Checked { outcome, settled } => (outcome, settled),
                    Ran::Skipped => {
                        tally.skipped += 1;
                        if let Some(done) = &done {
                            let _ = done.send(job);
                        }
                        continue;
                    }
                };
                tally.latencies.push(started.elapsed());
                tally.settled += usize::from(settled);
                match outcome {
                    Outcome::Restored { anonymous } => {
                        tally.restored += 1;
                        tally.anonymous += usize::from(anonymous);
                    }
                    Outcome::ExpiredToken => tally.expired += 1,
                    Outcome::Failed => tally.failed += 1,
                    Outcome::Violation => tally.violations += 1,
                }
                if let Some(done) = &done {
                    let _ = done.send(job);
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for handle in handles {
        let tally = handle
            .await
            .map_err(|e| Failure::check("a worker stopped unexpectedly", e))?;
        total.restored += tally.restored;
        total.anonymous += tally.anonymous;
        total.expired += tally.expired;
        total.failed += tally.failed;
        total.violations += tally.violations;
        total.malformed += tally.malformed;
        total.settled += tally.settled;
        total.skipped += tally.skipped;
        total.latencies.extend(tally.latencies);
    }
    Ok(total)
}

/// Exit status of a run: 1 for any isolation violation or failed task.
pub(crate) fn verdict(total: &Tally) -> Result<(), Failure> {
    if total.violations > 0 {
        return Err(Failure::check(
            "isolation check failed",
            format!(
                "{} tasks restored another caller's context",
                total.violations
            ),
        ));
    }
    if total.failed > 0 {
        return Err(Failure::check(
            "some tasks could not restore their context",
            format!("{} failed", total.failed),
        ));
    }
    if total.malformed > 0 {
        return Err(Failure::check(
            "some jobs on the list were malformed",
            format!("{} moved to the dead-letter list", total.malformed),
        ));
    }
    Ok(())
}

/// What a summary reports besides the tally.
#[derive(Debug)]
pub(crate) struct Summary<'a> {
    pub(crate) url: &'a str,
    pub(crate) callers: Option<usize>,
    pub(crate) workers: usize,
    pub(crate) submit_elapsed: Option<Duration>,
    pub(crate) run_elapsed: Duration,
    pub(crate) form: taskctx_snapshot::StoredForm,
    /// One JSON object instead of lines of text.
    pub(crate) json: bool,
    /// The dead-letter list malformed queue entries went to (`taskctx work`).
    pub(crate) dead_letter: Option<&'a str>,
    /// Whether task records were settled (`taskctx work`): the settled and skipped counts are
    /// shown.
    pub(crate) records: bool,
}

pub(crate) fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted.len() - 1) * per_mille / 1000;
    sorted.get(index).copied().unwrap_or_default()
}

pub(crate) fn report(summary: &Summary<'_>, total: &Tally) {
    let form = summary.form;
    let mut latencies = total.latencies.clone();
    latencies.sort_unstable();
    let secs = summary.run_elapsed.as_secs_f64();
    let throughput = if secs > 0.0 {
        f64::from(u32::try_from(latencies.len()).unwrap_or(u32::MAX)) / secs
    } else {
        0.0
    };
    let tasks = total.latencies.len();
    let count = f64::from(u32::try_from(tasks).unwrap_or(u32::MAX));
    // Submit and run phases together; the demo's wait for the expiring caller's token between
    // them is not part of either.
    let end_to_end = summary.submit_elapsed.and_then(|submit| {
        let secs = (submit + summary.run_elapsed).as_secs_f64();
        (secs > 0.0).then(|| count / secs)
    });
    let (p50, p99) = (percentile(&latencies, 500), percentile(&latencies, 990));
    let store = taskctx_worker_glue::redact_url(summary.url);
    if summary.json {
        let line = serde_json::json!({
            "store": store.to_string(),
            "form": format!("{form:?}"),
            "callers": summary.callers,
            "workers": summary.workers,
            "tasks": tasks,
            "restored": total.restored,
            "anonymous": total.anonymous,
            "expired_token": total.expired,
            "failed": total.failed,
            "violations": total.violations,
            "malformed": summary.dead_letter.map(|_| total.malformed),
            "settled": summary.records.then_some(total.settled),
            "skipped": summary.records.then_some(total.skipped),
            "submit_ms": summary.submit_elapsed.map(|submit| submit.as_secs_f64() * 1e3),
            "run_ms": secs * 1e3,
            "run_tasks_per_sec": throughput,
            "end_to_end_tasks_per_sec": end_to_end,
            "restore_p50_us": p50.as_secs_f64() * 1e6,
            "restore_p99_us": p99.as_secs_f64() * 1e6,
            "isolation": if total.violations == 0 { "pass" } else { "fail" },
        });
        out!("{line}");
        return;
    }
    out!("store            {store}");
    out!("stored form      {form:?}");
    if let Some(callers) = summary.callers {
        out!("callers          {callers}");
    }
    out!("workers          {}", summary.workers);
    out!("tasks            {tasks}");
    out!("restored         {}", total.restored);
    out!("anonymous        {}", total.anonymous);
    out!("expired-token    {}", total.expired);
    out!("failed           {}", total.failed);
    if let Some(dead_letter) = summary.dead_letter {
        out!(
            "malformed        {} (moved to {})",
            total.malformed,
            crate::snapshot::text(dead_letter)
        );
    }
    if summary.records {
        out!("settled          {} (task records)", total.settled);
        out!(
            "skipped          {} (task settled already, or held by another worker)",
            total.skipped
        );
    }
    if let Some(submit_elapsed) = summary.submit_elapsed {
        out!(
            "submit time      {:.1} ms",
            submit_elapsed.as_secs_f64() * 1e3
        );
    }
    out!("run time         {:.1} ms", secs * 1e3);
    out!("throughput       {throughput:.0} tasks/s (run phase)");
    if let Some(end_to_end) = end_to_end {
        out!("end to end       {end_to_end:.0} tasks/s (submit and run phases)");
    }
    out!("restore p50      {:.1} µs", p50.as_secs_f64() * 1e6);
    out!("restore p99      {:.1} µs", p99.as_secs_f64() * 1e6);
    if total.violations == 0 {
        out!("isolation        pass (every task restored its own caller)");
    } else {
        out!("isolation        FAIL ({} violations)", total.violations);
    }
}

/// A `tracing` subscriber that writes every span, recorded value and event, at every level, to
/// stderr as one line each (`--trace`).
#[derive(Debug, Default)]
struct StderrLog {
    next_id: AtomicU64,
}

/// One line of `name=value` fields.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl StderrLog {
    fn write(line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

impl Subscriber for StderrLog {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut line);
        Self::write(&line.0);
        Id::from_u64(
            self.next_id
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1),
        )
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut line = Fields("record".to_owned());
        values.record(&mut line);
        Self::write(&line.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Fields(format!(
            "{} {}",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut line);
        Self::write(&line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
