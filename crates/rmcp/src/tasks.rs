//! Owner-bound tasks kept in the store: every replica answers for every task, and the task's code
//! runs here or in any worker.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, CancelTaskParams, CreateTaskResult, DetailedTask, GetTaskParams, GetTaskResult,
    InputRequests, JsonObject, Task, TaskPayload, TaskStatus, UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskExit, TaskOptions};
use taskctx_worker_glue::records::{
    self, CreateError, NewRecord, Outcome, RecordError, TaskRecord, TaskRecords,
    TaskStatus as RecordStatus,
};
use taskctx_worker_glue::{Component, Scope, TaskGlue, TaskId, TaskKey, TaskType, Ttl, scope_of};

use crate::Error;
use crate::capture::{OwningTool, caller_scope, capture};
use crate::handle::{TaskHandle, internal};

/// How many unfinished tasks one scope may have at once by default.
pub const DEFAULT_MAX_UNFINISHED: u32 = 100;
/// How long a worker's hold on a running task lasts by default without renewal (the records'
/// default, shared with the tower layer and `taskctx work`).
pub use records::DEFAULT_LEASE;
/// How often, at most, a running task reads its record for a cancel or an input response by
/// default (a task whose poll interval is shorter reads at its poll interval).
pub const DEFAULT_MAX_WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// A task handed to a job system: the key a worker runs it under.
///
/// The worker (in this process or another) runs the tool with
/// [`OwnedTasks::run_remote`]`(&execution_key, …)` on an `OwnedTasks` over the same store, which
/// restores the caller who created the task and settles the task's record with the tool's result.
#[non_exhaustive]
pub struct RemoteJob {
    /// The execution key to hand to the worker (`auth:…` or `anon:…`, SPEC §3).
    pub execution_key: String,
    task_id: String,
}

impl RemoteJob {
    /// The task's id.
    #[must_use]
    pub fn task_id(&self) -> &str {
        &self.task_id
    }
}

/// Shows the task id only: the execution key names the caller's scope.
impl fmt::Debug for RemoteJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJob")
            .field("task_id", &self.task_id)
            .finish_non_exhaustive()
    }
}

/// The limits every task of an [`OwnedTasks`] gets.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_ttl: Ttl,
    max_unfinished: u32,
    max_watch_interval: Duration,
    lease: Duration,
}

/// SEP-2663 tasks kept in the glue's store, each bound to the caller who created it and run as
/// that caller: any number of replicas over one store behave as one server.
///
/// - [`spawn`](Self::spawn) captures the caller of the `tools/call` request (see [`capture`]),
///   writes the task's record and the caller's snapshot in one atomic write (under the caller's
///   scope and a fresh task id with at least 122 random bits) before it returns the
///   `CreateTaskResult`, then runs the tool's future here inside the restored context: the tool's
///   code reads the caller with [`access_token()`](crate::access_token) and friends.
/// - [`spawn_remote`](Self::spawn_remote) writes the same, then hands the execution key to a job
///   system; a worker in any process runs the tool with [`run_remote`](Self::run_remote), which
///   settles the record with the tool's result: the creating replica need not live on.
/// - [`get_task`](Self::get_task), [`update_task`](Self::update_task) and
///   [`cancel_task`](Self::cancel_task) answer from the record, on any replica, and only the
///   caller who created the task.
///
/// The task's code gets a [`TaskHandle`]: status messages, cancellation
/// (`is_cancel_requested`, `cancelled().await`) and input requests, all through the record, so a
/// `tasks/cancel` or `tasks/update` on any replica reaches the task wherever it runs, within one
/// watch interval (the task's poll interval, at most [`DEFAULT_MAX_WATCH_INTERVAL`] by default).
///
/// # Settled exactly once
///
/// A task's outcome is written once, by whoever comes first: its code's result or error, a
/// `tasks/cancel` (which reports `cancelled` at once, as the reference does, and tells the
/// running code to stop), its TTL running out, or a lost worker. Every replica reports that
/// outcome from then on: never `completed` after `cancelled`, or the reverse.
///
/// # Workers and leases
///
/// Whoever runs a task's code ([`spawn`](Self::spawn) in this replica,
/// [`run_remote`](Self::run_remote) in a worker) first claims the task's lease (default [`DEFAULT_LEASE`]) and renews it while the
/// code runs. When the process running it dies, the lease runs out and the next `tasks/get` on
/// any replica settles the task as `failed`: it never stays `working` until its TTL. A job
/// system that redelivers the job before that (another worker's [`run_remote`](Self::run_remote)
/// after the lease ran out) runs the code again: a task's code runs at least once, and its first
/// outcome is the one reported.
///
/// # Limits
///
/// - **TTL.** The TTL a creator asks for (`TaskOptions::ttl_ms`, `None`: unlimited) is rounded up
///   to whole seconds and clamped to [`max_ttl`](Self::max_ttl) (default: the glue's key TTL);
///   the `CreateTaskResult` announces the TTL the task really has, counted from its creation.
///   A `tasks/get` slides the TTL of the record and the snapshot again (at most once a second,
///   or a tenth of the TTL when that is shorter), so an owner that polls never loses sight of
///   its task: after a poll, the task lives at least its TTL less that window.
///   A task still running when its TTL has elapsed is stopped and settles as `failed`.
/// - **Unfinished tasks per scope.** At most [`max_unfinished`](Self::max_unfinished) (default
///   [`DEFAULT_MAX_UNFINISHED`]) unfinished tasks per scope, counted atomically in the store
///   across replicas (anonymous callers share one scope). Over it, `tools/call` is refused with
///   an error that names only the limit.
///
/// # No existence oracle
///
/// A task is looked up by (scope of the requesting caller, task id), never by its id alone: a
/// task of another scope, an authenticated task asked for anonymously and an anonymous task
/// asked for with a token all miss that lookup exactly as an id that never existed does. The
/// answer is the same error (`-32602`, `unknown task: {id}`, no data, byte for byte what rmcp
/// answers for an unknown id) from the same code path: one store read of a key that does not
/// exist.
///
/// # Audit
///
/// Every lifecycle step is one `tracing` event at `info` with the task id and the scope's
/// fingerprint, never the scope, a token, a result or an input: the store's (`task created`,
/// `task claimed`, `task status message`, `task input requested`, `task input delivered`, `task
/// completed`, `task failed`, `task cancelled`) and this type's `task lookup refused` (target
/// `taskctx_rmcp::tasks`).
///
/// Cheap to clone: clones share the glue (rmcp builds a handler per session or request; give
/// every handler a clone).
pub struct OwnedTasks<Se = (), Sv = ()> {
    glue: TaskGlue<Se, Sv>,
    records: TaskRecords,
    limits: Limits,
    /// This process's worker id in task leases (random).
    worker: Arc<str>,
}

impl<Se, Sv> Clone for OwnedTasks<Se, Sv> {
    fn clone(&self) -> Self {
        Self {
            glue: self.glue.clone(),
            records: self.records.clone(),
            limits: self.limits,
            worker: Arc::clone(&self.worker),
        }
    }
}

impl<Se, Sv> fmt::Debug for OwnedTasks<Se, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTasks")
            .field("glue", &self.glue)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The error rmcp answers for a task id it does not know.
fn unknown_task(task_id: &str) -> McpError {
    McpError::invalid_params(format!("unknown task: {task_id}"), None)
}

/// The error a client gets when the store cannot be reached; the cause is logged.
fn store_unavailable() -> McpError {
    McpError::internal_error("the task store is unavailable", None)
}

impl<Se, Sv> OwnedTasks<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// Tasks whose records and snapshots go through `glue` (its store, codec, restore policy and
    /// header policy), with the default limits.
    ///
    /// # Errors
    /// [`Error::NoTaskRecords`] when the glue's store keeps no task records (a store of the
    /// application's own that does not implement the glue's record store).
    pub fn new(glue: TaskGlue<Se, Sv>) -> Result<Self, Error> {
        let records = glue.records().cloned().ok_or(Error::NoTaskRecords)?;
        let limits = Limits {
            max_ttl: glue.ttl(),
            max_unfinished: DEFAULT_MAX_UNFINISHED,
            max_watch_interval: DEFAULT_MAX_WATCH_INTERVAL,
            lease: DEFAULT_LEASE,
        };
        let worker = records::new_task_id().map_err(Error::Store)?;
        Ok(Self {
            glue,
            records,
            limits,
            worker: Arc::from(worker.as_str()),
        })
    }

    /// The longest TTL a task gets (default: the glue's key TTL, [`TaskGlue::ttl`]).
    #[must_use]
    pub const fn max_ttl(mut self, max_ttl: Ttl) -> Self {
        self.limits.max_ttl = max_ttl;
        self
    }

    /// How many unfinished tasks one scope may have at once (at least one).
    #[must_use]
    pub fn max_unfinished(mut self, max_unfinished: u32) -> Self {
        self.limits.max_unfinished = max_unfinished.max(1);
        self
    }

    /// How long, at most, a running task goes without reading its record for a cancel or an
    /// input response (at least 10 ms).
    #[must_use]
    pub fn max_watch_interval(mut self, interval: Duration) -> Self {
        self.limits.max_watch_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long a worker's hold on a running task lasts without renewal (at least 3 ms; renewed
    /// every third of it while the task runs). Once it has run out, the next `tasks/get` on any
    /// replica settles the task as `failed`, unless another worker claimed it first.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.limits.lease = lease.max(records::MIN_LEASE);
        self
    }

    /// The glue snapshots and records are stored with.
    #[must_use]
    pub fn glue(&self) -> &TaskGlue<Se, Sv> {
        &self.glue
    }

    /// Creates a task of `tool` for the caller of `context` (the `tools/call` request's context),
    /// runs `work` here as that caller, and returns the `CreateTaskResult` to answer the call
    /// with, once the task is in the store.
    ///
    /// `work` receives the task's [`TaskHandle`]; the future it returns runs inside the caller's
    /// restored context, and its outcome settles the task (`Ok`: completed; `TaskExit::Cancelled`:
    /// cancelled; `TaskExit::Error`: failed) unless it settled already (a `tasks/cancel` settles
    /// it as `cancelled` at once). When the context cannot be restored, the task fails with an
    /// internal error (the cause is logged, never sent); when its TTL elapses first, it is
    /// stopped and fails.
    ///
    /// # Errors
    /// [`Error::Headers`], [`Error::Scope`], [`Error::TooManyTasks`], [`Error::Create`],
    /// [`Error::Store`]: no task is created.
    pub async fn spawn<F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: TaskOptions,
        work: F,
    ) -> Result<CreateTaskResult, Error>
    where
        F: FnOnce(TaskHandle) -> Fut + Send + 'static,
        Fut: Future<Output = Result<CallToolResult, TaskExit>> + Send + 'static,
    {
        let Created {
            reply,
            key,
            ttl,
            poll_interval,
        } = self.create(context, tool, &options, None).await?;
        let tasks = self.clone();
        tokio::spawn(async move {
            let execution_key = key.to_key();
            match tokio::time::timeout(ttl.as_duration(), tasks.run_remote(&execution_key, work))
                .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "task not run"),
                Err(_) => {
                    let expired = internal("task expired: TTL elapsed before completion");
                    tasks.handle(&key, poll_interval).settle(Err(expired)).await;
                }
            }
        });
        Ok(reply)
    }

    /// Creates a task of `tool` for the caller of `context` as [`spawn`](Self::spawn) does, then
    /// hands its execution key to a job system with `hand_off` (awaited before the
    /// `CreateTaskResult` is returned). A worker runs the tool with
    /// [`run_remote`](Self::run_remote) on an `OwnedTasks` over the same store, as the caller,
    /// and settles the task; the creating replica may be gone by then.
    ///
    /// When `hand_off` fails, the task settles with its error (unless a worker settled it
    /// already), and the client sees it `failed` (or `cancelled`).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub async fn spawn_remote<F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: TaskOptions,
        hand_off: F,
    ) -> Result<CreateTaskResult, Error>
    where
        F: FnOnce(RemoteJob) -> Fut,
        Fut: Future<Output = Result<(), TaskExit>>,
    {
        let created = self.create(context, tool, &options, None).await?;
        let job = RemoteJob {
            execution_key: created.key.to_key(),
            task_id: created.reply.task.task_id.clone(),
        };
        if let Err(exit) = hand_off(job).await {
            self.handle(&created.key, created.poll_interval)
                .settle(Err(exit))
                .await;
        }
        Ok(created.reply)
    }

    /// Creates a task of `tool` for the caller of `context` as [`spawn`](Self::spawn) does, and
    /// queues it on the store's job list in the same atomic write, with `payload` (what to run:
    /// the tool's name and arguments, say). Any worker over the same store takes it with
    /// [`next_job`](Self::next_job) and runs it with [`run_remote`](Self::run_remote); the
    /// creating replica may be gone by then.
    ///
    /// One request to the store creates and queues the task, where [`spawn_remote`] and a job
    /// system take two or more; the store's job list is a plain list: a worker that dies with a
    /// job it took leaves the task to its record (failed once the lease of a claimed task runs
    /// out, see [`run_remote`](Self::run_remote)).
    ///
    /// [`spawn_remote`]: Self::spawn_remote
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and [`Error::Create`] with
    /// [`RecordError::NoJobQueue`](records::RecordError::NoJobQueue) for a store without a job
    /// list (`memory://` and Redis have one).
    pub async fn spawn_queued(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: TaskOptions,
        payload: &str,
    ) -> Result<CreateTaskResult, Error> {
        Ok(self
            .create(context, tool, &options, Some(payload))
            .await?
            .reply)
    }

    /// The next job [`spawn_queued`](Self::spawn_queued) queued on this store, waiting up to
    /// `wait` for one (on Redis at most half the store's response timeout: call it in a loop);
    /// `None` when none came. Each job is taken once. Run it with
    /// [`run_remote`](Self::run_remote)`(&job.execution_key(), …)`. To stop a worker, let the
    /// call return rather than drop it midway (see
    /// [`TaskRecords::next_job`](records::TaskRecords::next_job)).
    ///
    /// # Errors
    /// [`Error::Store`]: the store failed, keeps no job list, or held an entry that names no
    /// task (taken off the list).
    pub async fn next_job(&self, wait: Duration) -> Result<Option<records::Job>, Error> {
        self.records.next_job(wait).await.map_err(Error::Store)
    }

    /// Runs `work` for the task `execution_key` names (from a [`RemoteJob`]) as the caller who
    /// created it, and settles the task's record with its outcome: every replica's `tasks/get`
    /// answers with it. For the worker side of [`spawn_remote`](Self::spawn_remote), in any
    /// process.
    ///
    /// A task already settled (cancelled before a worker took it, or run by another worker), or
    /// held by another worker's live lease, is not run. Returns whether this run settled the
    /// task.
    ///
    /// # Errors
    /// [`Error::ExecutionKey`] when `execution_key` is not a task key; [`Error::Store`] when the
    /// task's record cannot be read (the task is not run). A context that cannot be restored
    /// (see the glue's restore policy) fails the task instead.
    pub async fn run_remote<F, Fut>(&self, execution_key: &str, work: F) -> Result<bool, Error>
    where
        F: FnOnce(TaskHandle) -> Fut,
        Fut: Future<Output = Result<CallToolResult, TaskExit>>,
    {
        let (key, _leg) = TaskKey::parse_execution(execution_key).map_err(Error::ExecutionKey)?;
        // The code runs under the task's lease, renewed while it runs (input waits included): a
        // worker that dies stops renewing, and the task is failed once the lease has run out.
        let ran = self
            .records
            .run_leased(
                key.scope(),
                key.task_id(),
                &self.worker,
                self.limits.lease,
                |record| {
                    let handle = self.handle(&key, record.poll_interval());
                    let running = self.glue.run(execution_key, work(handle));
                    async move {
                        let ran = running.await.unwrap_or_else(|error| {
                            tracing::warn!(%error, "task context not restored: task failed");
                            Err(internal("the task's caller could not be restored"))
                        });
                        outcome_of(ran)
                    }
                },
                Outcome::clone,
            )
            .await
            .map_err(Error::Store)?;
        Ok(ran.settled_here())
    }

    /// `tasks/get` for the caller of `context`: the task's state from its record (sliding its
    /// TTL), or `unknown task` when the caller did not create it.
    ///
    /// # Errors
    /// `-32602` `unknown task: {id}` for an unknown task and for another caller's task alike;
    /// `-32603` when the store cannot be reached.
    pub async fn get_task(
        &self,
        request: &GetTaskParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let task_id = &request.task_id;
        let found = self
            .owned(context, task_id, |records, scope, id| async move {
                let Some(record) = records.get(scope.as_ref(), &id).await? else {
                    return Ok(None);
                };
                let abandoned = !record.is_settled()
                    && record.lease().is_some_and(|lease| !lease.is_live(now_ms()));
                if !abandoned {
                    return Ok(Some(record));
                }
                // Its worker stopped renewing the lease (the store checks with its own clock).
                let failed = records
                    .fail_abandoned(scope.as_ref(), &id, &abandoned_error())
                    .await?;
                Ok(Some(
                    failed.map_or(record, |settle| settle.record().clone()),
                ))
            })
            .await?;
        Ok(GetTaskResult::new(detailed(task_id, &found)))
    }

    /// `tasks/update` for the caller of `context`: delivers input responses to the caller's own
    /// task, wherever it runs. Responses to keys the task is not waiting on are ignored.
    ///
    /// # Errors
    /// As [`get_task`](Self::get_task).
    pub async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let UpdateTaskParams {
            task_id,
            input_responses,
            ..
        } = request;
        self.owned(context, &task_id, |records, scope, id| async move {
            let Some(record) = records.get(scope.as_ref(), &id).await? else {
                return Ok(None);
            };
            let answers: Vec<(&str, String)> = input_responses
                .iter()
                .filter(|(key, _)| record.input_requests().contains_key(*key))
                .map(|(key, value)| (key.as_str(), value.to_string()))
                .collect();
            if answers.is_empty() {
                return Ok(Some(()));
            }
            let answers: Vec<(&str, &str)> = answers
                .iter()
                .map(|(key, value)| (*key, value.as_str()))
                .collect();
            match records.provide_input(scope.as_ref(), &id, &answers).await {
                // Answered meanwhile through another replica, or settled: ignored, as the spec
                // says of responses to requests that are not outstanding.
                Ok(_) | Err(RecordError::UnexpectedInput | RecordError::Settled { .. }) => {
                    Ok(Some(()))
                }
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// `tasks/cancel` for the caller of `context`: settles the caller's own task as `cancelled`
    /// (unless it settled already) and records the cancel request, which the task's code sees
    /// within one watch interval, wherever it runs. A cancel of a settled task changes nothing.
    ///
    /// # Errors
    /// As [`get_task`](Self::get_task).
    pub async fn cancel_task(
        &self,
        request: &CancelTaskParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.owned(context, &request.task_id, |records, scope, id| async move {
            Ok(records.cancel(scope.as_ref(), &id).await?.map(drop))
        })
        .await
    }

    /// Writes the record and snapshot of a new task for the caller of `context`, and queues its
    /// job with `payload` when given.
    async fn create(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: &TaskOptions,
        payload: Option<&str>,
    ) -> Result<Created, Error> {
        let snapshot = capture(context, tool, self.glue.header_policy())?;
        let scope = scope_of(&snapshot).map_err(Error::Scope)?;
        let ttl = self.ttl(options.ttl_ms);
        let poll_interval = Duration::from_millis(
            options
                .poll_interval_ms
                .unwrap_or(rmcp::task_manager::DEFAULT_POLL_INTERVAL_MS),
        );
        let key = TaskKey::new(
            scope,
            records::new_task_id().map_err(Error::Store)?,
            TaskType::TOOL,
            Component::new(tool.name().to_owned()),
        );
        let mut record = NewRecord::new(&snapshot, &key, ttl, poll_interval)
            .status_message(options.status_message.as_deref())
            .max_unfinished(self.limits.max_unfinished);
        if let Some(payload) = payload {
            record = record.job(payload);
        }
        let stored = self
            .records
            .create(record)
            .await
            .map_err(|error| match error {
                CreateError::TooMany { limit } => Error::TooManyTasks { limit },
                other => Error::Create(other),
            })?;
        Ok(Created {
            reply: CreateTaskResult::new(base_task(key.task_id().as_str(), &stored)),
            key,
            ttl,
            poll_interval,
        })
    }

    /// The handle of the task `key` names, for its running code: it reads the record at the
    /// task's poll interval, or the maximum watch interval when that is shorter.
    fn handle(&self, key: &TaskKey<'_>, poll_interval: Duration) -> TaskHandle {
        TaskHandle::new(
            self.records.clone(),
            key.scope().map(|scope| scope.clone().into_owned()),
            key.task_id().clone().into_owned(),
            poll_interval.min(self.limits.max_watch_interval),
        )
    }

    /// The TTL a task gets: the requested one (`None`: unlimited) rounded up to whole seconds,
    /// at least one, clamped to the maximum.
    fn ttl(&self, requested_ms: Option<u64>) -> Ttl {
        let max = self.limits.max_ttl;
        requested_ms
            .and_then(|ms| Ttl::from_secs(ms.div_ceil(1000).max(1)))
            .map_or(max, |requested| requested.min(max))
    }

    /// Runs `act` on the record of the task (caller scope of `context`, `task_id`); the same
    /// `unknown task` error, from the same path, when the caller has no such task.
    async fn owned<'a, R, A, Fut>(
        &'a self,
        context: &RequestContext<RoleServer>,
        task_id: &str,
        act: A,
    ) -> Result<R, McpError>
    where
        A: FnOnce(&'a TaskRecords, Option<Scope<'static>>, TaskId<'static>) -> Fut,
        Fut: Future<Output = Result<Option<R>, RecordError>>,
    {
        // A token without a valid scope cannot have created a task, and an id that is not a
        // task id was never given out: both miss like any other.
        let caller = caller_scope(context);
        let fingerprint = self
            .glue
            .scope_fingerprint(caller.as_ref().ok().and_then(Option::as_ref));
        let answer = match (caller, TaskId::new(task_id.to_owned())) {
            (Ok(scope), Ok(id)) => act(&self.records, scope, id).await,
            _ => Ok(None),
        };
        match answer {
            Ok(Some(found)) => Ok(found),
            Ok(None) => {
                tracing::info!(
                    task_id = %shown_id(task_id),
                    scope = %fingerprint,
                    "task lookup refused"
                );
                Err(unknown_task(task_id))
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    task_id = %shown_id(task_id),
                    scope = %fingerprint,
                    "task store unavailable"
                );
                Err(store_unavailable())
            }
        }
    }
}

/// Unix milliseconds now, by this process's clock.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The error of a task whose worker stopped renewing its lease, as the record keeps it.
fn abandoned_error() -> String {
    let error = McpError::internal_error(
        "task abandoned: its worker stopped before it finished",
        None,
    );
    serde_json::to_string(&error).unwrap_or_else(|_| "{}".to_owned())
}

/// A task id as logs show it: a valid one whole, anything else as `<invalid>` (an id that is not
/// a task id could hold anything, a secret pasted by mistake included).
fn shown_id(task_id: &str) -> &str {
    if TaskId::new(task_id).is_ok() {
        task_id
    } else {
        "<invalid>"
    }
}

/// A task just created: the reply, its key, its TTL and poll interval.
struct Created {
    reply: CreateTaskResult,
    key: TaskKey<'static>,
    ttl: Ttl,
    poll_interval: Duration,
}

/// The base fields of the task's record, as rmcp's `Task`.
fn base_task(task_id: &str, record: &TaskRecord) -> Task {
    let mut task = Task::new(
        task_id,
        status_of(record.status()),
        timestamp(record.created_at_ms()),
        timestamp(record.updated_at_ms()),
    );
    task.status_message = record.status_message().map(str::to_owned);
    task.ttl_ms = Some(record.ttl().secs().saturating_mul(1000));
    task.poll_interval_ms =
        Some(u64::try_from(record.poll_interval().as_millis()).unwrap_or(u64::MAX));
    task
}

/// rmcp's form of a record's status.
const fn status_of(status: RecordStatus) -> TaskStatus {
    match status {
        RecordStatus::InputRequired => TaskStatus::InputRequired,
        RecordStatus::Completed => TaskStatus::Completed,
        RecordStatus::Failed => TaskStatus::Failed,
        RecordStatus::Cancelled => TaskStatus::Cancelled,
        _ => TaskStatus::Working,
    }
}

/// Unix milliseconds as an ISO 8601 (RFC 3339) timestamp, as rmcp writes them.
fn timestamp(unix_ms: u64) -> String {
    i64::try_from(unix_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .unwrap_or_default()
        .to_rfc3339()
}

/// The task's state, as `tasks/get` answers it.
fn detailed(task_id: &str, record: &TaskRecord) -> DetailedTask {
    let payload = match record.outcome() {
        Some(Outcome::Completed(result)) => TaskPayload::Completed {
            result: object(result),
        },
        Some(Outcome::Failed(error)) => TaskPayload::Failed {
            error: object(error),
        },
        Some(_) => TaskPayload::Cancelled,
        None if record.status() == RecordStatus::InputRequired => TaskPayload::InputRequired {
            input_requests: record
                .input_requests()
                .iter()
                .filter_map(|(key, request)| {
                    serde_json::from_str(request)
                        .ok()
                        .map(|request| (key.clone(), request))
                })
                .collect::<InputRequests>(),
        },
        None => TaskPayload::Working,
    };
    DetailedTask::new(base_task(task_id, record), payload)
}

/// A JSON object from its text (anything else as an empty one, as rmcp does).
fn object(json: &str) -> JsonObject {
    serde_json::from_str(json).unwrap_or_default()
}

/// The record's form of a task's outcome: rmcp's result or error object as JSON text.
pub(crate) fn outcome_of(outcome: Result<CallToolResult, TaskExit>) -> Outcome {
    let text = |json: Result<String, serde_json::Error>| json.unwrap_or_else(|_| "{}".to_owned());
    match outcome {
        Ok(result) => Outcome::Completed(text(serde_json::to_string(&result))),
        Err(TaskExit::Cancelled) => Outcome::Cancelled,
        Err(TaskExit::Error(error)) => Outcome::Failed(text(serde_json::to_string(&error))),
    }
}
