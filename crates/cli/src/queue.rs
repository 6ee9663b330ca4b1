//! `taskctx submit` and `taskctx work`: the demo split across processes, with a Redis list as the
//! job queue. `submit` stores each task's context and pushes only its execution key (and the
//! task's own request id) onto the list; `work` takes them and runs each task inside its restored
//! context, checking its caller.
//!
//! The queue's keys, for a job list `LIST` (`--list`) and a worker id `ID` (`--worker-id`):
//!
//! - `LIST`: the jobs waiting, each `EXECUTION_KEY\nREQUEST_ID`, pushed on the right by `submit`.
//! - `LIST:processing:ID`: the jobs worker `ID` has taken and not finished. A job is moved there
//!   atomically as it is taken (`BLMOVE LIST LIST:processing:ID LEFT RIGHT`) and removed
//!   (`LREM`) only once its outcome is counted, so a worker that dies loses nothing: restarted with
//!   the same id, it first runs the jobs its processing list holds. A worker holds at most two
//!   jobs per `--workers` at once, so that several worker processes share the list.
//! - `LIST:dead`: the dead-letter list. An entry that is not a job (not UTF-8, no request id) is
//!   reported as a failed job and moved there (with its removal from the processing list, in one
//!   `MULTI`/`EXEC`); the worker goes on with the next job.
//!
//! A job whose task has a record in the store (an MCP task created by `taskctx-rmcp`'s
//! `OwnedTasks::spawn_remote`, its execution key pushed as `EXECUTION_KEY\nREQUEST_ID`) runs
//! under the task's lease, through the same loop as `OwnedTasks::run_remote`
//! ([`TaskRecords::run_leased`]), as worker `ID`: the record is settled with the job's output as
//! an MCP `CallToolResult` (`{"content":[{"type":"text","text":…}],"isError":false}`), or failed
//! with an error object (`{"code":-32603,"message":…}`). A job whose task has settled already
//! (cancelled before it ran) or that another worker holds under a live lease is skipped and
//! reported. Jobs without a record run as they always did.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo as _,
    aio::MultiplexedConnection,
};
use taskctx_worker_glue::records::{self, Leased, Settle, TaskRecords};
use taskctx_worker_glue::store::{ServerAddr, StoreUrl, TlsCheck, UrlKind};
use taskctx_worker_glue::{TaskGlue, TaskKey};
use tokio::sync::{Semaphore, mpsc};

use crate::demo::{self, Job, Outcome, Ran, Summary};
use crate::failure::Failure;

/// The default job list.
const DEFAULT_LIST: &str = "taskctx:demo:jobs";

/// Arguments of `submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The Redis URL (`redis://…`; the snapshots and the job list live there).
    #[arg(long)]
    url: String,
    /// The Redis list the jobs are pushed onto.
    #[arg(long, default_value = DEFAULT_LIST)]
    list: String,
    /// How many tasks to submit (0 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = crate::ranges::tasks())]
    tasks: usize,
    /// How many simulated callers submit them (1 to 10,000).
    #[arg(long, default_value_t = 20, value_parser = crate::ranges::callers())]
    callers: usize,
    /// Store snapshots Fernet-encrypted, with key material from `TASKCTX_ENCRYPTION_KEY`.
    #[arg(long)]
    encrypt: bool,
}

/// Arguments of `work`.
#[derive(Debug, Args)]
#[command(after_help = "\
Task records: a job whose task has a record in the store (an MCP task created by taskctx-rmcp's
OwnedTasks::spawn_remote, its execution key pushed as EXECUTION_KEY\\nREQUEST_ID) runs under the
task's lease, as worker ID (restarted with the same ID, it takes its leases back at once),
renewed every third of --lease-secs. Its record is settled with the
job's output as an MCP CallToolResult ({\"content\":[{\"type\":\"text\",\"text\":...}],
\"isError\":false}), or failed with an error object; tasks/get on every server replica answers
with it. A job whose task has settled already (cancelled before it ran) or that another worker
holds is skipped and counted as skipped. Jobs without a record run as before.")]
pub(crate) struct WorkArgs {
    /// The Redis URL (`redis://…`).
    #[arg(long)]
    url: String,
    /// The Redis list the jobs are taken from.
    #[arg(long, default_value = DEFAULT_LIST)]
    list: String,
    /// How many concurrent workers run the jobs (1 to 1024).
    #[arg(long, default_value_t = 4, value_parser = crate::ranges::workers())]
    workers: usize,
    /// Read snapshots Fernet-encrypted, with key material from `TASKCTX_ENCRYPTION_KEY`.
    #[arg(long)]
    encrypt: bool,
    /// Stop after the list has stayed empty this many seconds (1 to 3600).
    #[arg(long, default_value_t = 1, value_parser = crate::ranges::idle_secs())]
    idle_secs: u64,
    /// This worker's id: the jobs it has taken and not finished are kept on
    /// `LIST:processing:ID`, and a worker restarted with the same id runs them first.
    #[arg(long, default_value = "worker-1", value_name = "ID",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    worker_id: String,
    /// How long this worker's hold on a task with a record lasts without renewal, in seconds
    /// (1 to 3600). A worker that dies stops renewing: once its lease has run out, the task is
    /// failed by the next `tasks/get`, or run again by another worker.
    #[arg(long, default_value_t = 30, value_parser = crate::ranges::lease_secs())]
    lease_secs: u64,
}

/// The task records `work` settles: a job whose task has a record runs under the task's lease.
#[derive(Debug)]
pub(crate) struct Leases {
    records: TaskRecords,
    worker: String,
    lease: Duration,
}

impl Leases {
    /// Runs `job`: under its task's lease when the task has a record, settling the record with
    /// the job's output; as before when it has none.
    pub(crate) async fn run(&self, glue: &TaskGlue, job: &Job) -> Ran {
        let unsettled = |outcome| Ran::Checked {
            outcome,
            settled: false,
        };
        let Ok((key, _leg)) = TaskKey::parse_execution(&job.execution_key) else {
            return unsettled(demo::execute(glue, job).await);
        };
        let (scope, task_id) = (key.scope(), key.task_id());
        let leased = self
            .records
            .run_leased(
                scope,
                task_id,
                &self.worker,
                self.lease,
                |_record| demo::execute(glue, job),
                |outcome| tool_outcome(*outcome, job),
            )
            .await;
        let shown = crate::snapshot::text(task_id.as_str());
        match leased {
            Ok(Leased::Ran { output, settled }) => Ran::Checked {
                outcome: output,
                settled: matches!(settled, Ok(Some(Settle::Settled(_)))),
            },
            Ok(Leased::Settled(record)) => {
                eprintln!(
                    "taskctx: task {shown} has already settled as {}: job skipped",
                    record.status()
                );
                Ran::Skipped
            }
            Ok(Leased::Held(_)) => {
                eprintln!("taskctx: task {shown} is held by another worker: job skipped");
                Ran::Skipped
            }
            Ok(Leased::Missing) => unsettled(demo::execute(glue, job).await),
            Err(error) => {
                eprintln!("taskctx: the record of task {shown} could not be claimed: {error}");
                unsettled(Outcome::Failed)
            }
        }
    }
}

/// The record outcome of a job: its output as an MCP tool result, or an MCP error object.
fn tool_outcome(outcome: Outcome, job: &Job) -> records::Outcome {
    let error = |message: &str| {
        let error = serde_json::json!({"code": -32603, "message": message});
        records::Outcome::Failed(error.to_string())
    };
    let caller = match outcome {
        Outcome::Restored { anonymous: false } => "the caller",
        Outcome::Restored { anonymous: true } => "the anonymous caller",
        Outcome::ExpiredToken => return error("the caller's access token has expired"),
        Outcome::Failed => return error("the task's caller could not be restored"),
        Outcome::Violation => return error("the restored context is not the task's caller's"),
    };
    let text = format!("restored {caller} of request {}", job.request_id);
    let result = serde_json::json!({
        "content": [{"type": "text", "text": text}],
        "isError": false,
    });
    records::Outcome::Completed(result.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    demo::runtime(2)
}

/// A client for the job list on the single Redis server `url` names, read with the store's own
/// URL parser (so `submit`/`work` accept exactly the URLs the snapshot store does).
fn job_list(url: &str) -> Result<redis::Client, Failure> {
    let parsed = StoreUrl::parse(url).map_err(|e| Failure::input("invalid store URL", e))?;
    let unsupported = || {
        Failure::input(
            "the job list needs a single Redis server",
            format!(
                "`{}` is not a redis://, rediss://, unix:// or redis+unix:// URL",
                parsed.redacted()
            ),
        )
    };
    let addr = match (parsed.kind(), parsed.servers().first()) {
        (UrlKind::Server, Some(ServerAddr::Tcp { host, port })) => match parsed.tls() {
            None => ConnectionAddr::Tcp((*host).to_owned(), *port),
            Some(check) => ConnectionAddr::TcpTls {
                host: (*host).to_owned(),
                port: *port,
                insecure: check == TlsCheck::Insecure,
                tls_params: None,
            },
        },
        (UrlKind::Unix, Some(ServerAddr::Unix(path))) => ConnectionAddr::Unix(path.to_path_buf()),
        _ => return Err(unsupported()),
    };
    let mut settings = redis::RedisConnectionInfo::default().set_db(parsed.database());
    if let Some(username) = parsed.username() {
        settings = settings.set_username(username);
    }
    if let Some(password) = parsed.password() {
        settings = settings.set_password(password);
    }
    addr.into_connection_info()
        .and_then(|info| redis::Client::open(info.set_redis_settings(settings)))
        .map_err(|e| Failure::input("could not set up the job list connection", e))
}

async fn connection(client: &redis::Client) -> Result<MultiplexedConnection, Failure> {
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| Failure::check("could not connect to the job list's Redis", e))
}

/// Runs `submit`.
pub(crate) fn submit(args: &SubmitArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let glue = demo::glue_for(&args.url, args.encrypt, None)?;
        let client = job_list(&args.url)?;
        let mut conn = connection(&client).await?;
        let callers = demo::callers(args.callers, demo::unix_now());
        let started = Instant::now();
        for n in 0..args.tasks {
            let Some(caller) = callers.get(n % args.callers) else {
                continue;
            };
            let task_id = demo::task_id_for(n, args.callers, caller);
            let job = demo::submit(&glue, caller, &task_id, &format!("req-{n}")).await?;
            let entry = format!("{}\n{}", job.execution_key, job.request_id);
            redis::cmd("RPUSH")
                .arg(&args.list)
                .arg(entry)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(|e| Failure::check("could not push a job", e))?;
        }
        out!(
            "submitted {} tasks from {} callers to {} in {:.1} ms",
            args.tasks,
            args.callers,
            args.list,
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    })
}

/// The keys of one worker's queue (see the module documentation), on one connection.
#[derive(Clone)]
struct Queue {
    conn: MultiplexedConnection,
    jobs: String,
    processing: String,
    dead: String,
}

impl Queue {
    /// The jobs this worker had taken and not finished, oldest first.
    async fn unfinished(&mut self) -> Result<Vec<Vec<u8>>, Failure> {
        redis::cmd("LRANGE")
            .arg(&self.processing)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| Failure::check("could not read the processing list", e))
    }

    /// Removes a finished job from the processing list.
    async fn finish(&mut self, job: &Job) -> Result<(), Failure> {
        redis::cmd("LREM")
            .arg(&self.processing)
            .arg(1)
            .arg(entry(job))
            .query_async::<i64>(&mut self.conn)
            .await
            .map(drop)
            .map_err(|e| Failure::check("could not remove a finished job", e))
    }

    /// Moves a malformed entry from the processing list to the dead-letter list, in one step.
    async fn dead_letter(&mut self, entry: &[u8]) -> Result<(), Failure> {
        redis::pipe()
            .atomic()
            .cmd("RPUSH")
            .arg(&self.dead)
            .arg(entry)
            .ignore()
            .cmd("LREM")
            .arg(&self.processing)
            .arg(1)
            .arg(entry)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await
            .map_err(|e| {
                Failure::check("could not move a malformed job to the dead-letter list", e)
            })
    }

    /// Hands a taken entry to the workers, or dead-letters it when it is not a job; returns
    /// whether it was malformed.
    async fn dispatch(
        &mut self,
        entry: Vec<u8>,
        workers: &mpsc::UnboundedSender<Job>,
    ) -> Result<bool, Failure> {
        match parse_entry(entry) {
            Ok(job) => {
                let _ = workers.send(job);
                Ok(false)
            }
            Err((entry, reason)) => {
                eprintln!(
                    "taskctx: a job on {} is malformed ({reason}): moved to {}",
                    crate::snapshot::text(&self.jobs),
                    crate::snapshot::text(&self.dead)
                );
                self.dead_letter(&entry).await?;
                Ok(true)
            }
        }
    }
}

/// The list entry of `job`, as `submit` pushed it.
fn entry(job: &Job) -> String {
    format!("{}\n{}", job.execution_key, job.request_id)
}

/// The job an entry holds, or the entry back with what is wrong with it.
fn parse_entry(entry: Vec<u8>) -> Result<Job, (Vec<u8>, &'static str)> {
    let text = String::from_utf8(entry).map_err(|e| (e.into_bytes(), "not UTF-8"))?;
    match text.rsplit_once('\n') {
        Some((execution_key, request_id))
            if !execution_key.is_empty() && !request_id.is_empty() =>
        {
            Ok(Job {
                execution_key: execution_key.to_owned(),
                request_id: request_id.to_owned(),
            })
        }
        Some(_) => Err((text.into_bytes(), "empty execution key or request id")),
        None => Err((text.into_bytes(), "no request id")),
    }
}

/// Runs `work`.
pub(crate) fn work(args: &WorkArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let glue = demo::glue_for(&args.url, args.encrypt, None)?;
        let client = job_list(&args.url)?;
        let idle = Duration::from_secs(args.idle_secs);
        let mut queue = Queue {
            conn: connection(&client).await?,
            processing: format!("{}:processing:{}", args.list, args.worker_id),
            dead: format!("{}:dead", args.list),
            jobs: args.list.clone(),
        };
        // The blocking take has a connection of its own (on a shared one, every other command
        // would wait behind it), whose reply timeout outlasts the block.
        let mut taker = client
            .get_multiplexed_async_connection_with_config(
                &AsyncConnectionConfig::new()
                    .set_response_timeout(Some(idle.saturating_add(Duration::from_secs(5)))),
            )
            .await
            .map_err(|e| Failure::check("could not connect to the job list's Redis", e))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let (done, mut finished) = mpsc::unbounded_channel();
        let started = Instant::now();
        let leases = glue.records().map(|records| {
            Arc::new(Leases {
                records: records.clone(),
                worker: args.worker_id.clone(),
                lease: Duration::from_secs(args.lease_secs),
            })
        });
        let records = leases.is_some();
        let workers = {
            let glue = glue.clone();
            let count = args.workers;
            tokio::spawn(async move {
                demo::run_workers(&glue, receiver, count, Some(done), leases).await
            })
        };
        // A job leaves the processing list only once the workers have counted its outcome.
        // A job is taken only with a free slot: at most two per worker are held at once (one
        // running, one waiting), so that other worker processes share the list. Finishing or
        // dead-lettering a job frees its slot.
        let slots = Arc::new(Semaphore::new(args.workers.saturating_mul(2)));
        let remover = {
            let (mut queue, slots) = (queue.clone(), Arc::clone(&slots));
            tokio::spawn(async move {
                while let Some(job) = finished.recv().await {
                    if let Err(failure) = queue.finish(&job).await {
                        // No slot is freed again: the taking loop stops.
                        slots.close();
                        return Err(failure);
                    }
                    slots.add_permits(1);
                }
                Ok::<_, Failure>(())
            })
        };
        let mut malformed = 0;
        let unfinished = queue.unfinished().await?;
        if !unfinished.is_empty() {
            eprintln!(
                "resuming {} unfinished jobs from {}",
                unfinished.len(),
                crate::snapshot::text(&queue.processing)
            );
        }
        let mut unfinished = unfinished.into_iter();
        let mut last_taken = Instant::now();
        loop {
            match slots.acquire().await {
                Ok(slot) => slot.forget(),
                Err(_) => break,
            }
            if let Some(entry) = unfinished.next() {
                if queue.dispatch(entry, &sender).await? {
                    malformed += 1;
                    slots.add_permits(1);
                }
                continue;
            }
            let taken: Option<Vec<u8>> = redis::cmd("BLMOVE")
                .arg(&queue.jobs)
                .arg(&queue.processing)
                .arg("LEFT")
                .arg("RIGHT")
                .arg(idle.as_secs_f64())
                .query_async(&mut taker)
                .await
                .map_err(|e| Failure::check("could not take a job", e))?;
            let Some(entry) = taken else {
                break;
            };
            last_taken = Instant::now();
            if queue.dispatch(entry, &sender).await? {
                malformed += 1;
                slots.add_permits(1);
            }
        }
        drop(sender);
        let mut total = workers
            .await
            .map_err(|e| Failure::check("the workers stopped unexpectedly", e))??;
        remover
            .await
            .map_err(|e| Failure::check("the workers stopped unexpectedly", e))??;
        total.add_malformed(malformed);
        demo::report(
            &Summary {
                url: &args.url,
                callers: None,
                workers: args.workers,
                submit_elapsed: None,
                run_elapsed: started.elapsed().saturating_sub(last_taken.elapsed()),
                form: glue.codec().form(),
                json: false,
                dead_letter: Some(&queue.dead),
                records,
            },
            &total,
        );
        demo::verdict(&total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_jobs_or_say_what_is_wrong() {
        let job = parse_entry(b"auth:a%7Cb:T1:tool:x\nreq-1".to_vec()).ok();
        assert_eq!(
            job.as_ref()
                .map(|job| (job.execution_key.as_str(), job.request_id.as_str())),
            Some(("auth:a%7Cb:T1:tool:x", "req-1"))
        );
        assert_eq!(
            job.map(|job| entry(&job)).as_deref(),
            Some("auth:a%7Cb:T1:tool:x\nreq-1")
        );
        for (bad, reason) in [
            (&b"no newline"[..], "no request id"),
            (b"\xff\xfe\nreq", "not UTF-8"),
            (b"key\n", "empty execution key or request id"),
            (b"\nreq", "empty execution key or request id"),
        ] {
            assert_eq!(
                parse_entry(bad.to_vec()).err(),
                Some((bad.to_vec(), reason))
            );
        }
    }
}
