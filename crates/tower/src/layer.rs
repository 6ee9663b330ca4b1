//! [`TaskContextLayer`] and the [`TaskContextService`] it wraps around a worker's service.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use taskctx_worker_glue::records::{self, Leased, Outcome, RecordError, TaskRecords};
use taskctx_worker_glue::{RestoreError, TaskGlue, TaskKey};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::TaskContextError;
#[cfg(feature = "otel")]
use crate::TraceJoin;

/// Finds a request's execution key: the `auth:…`/`anon:…` key
/// [`TaskGlue::submit`](taskctx_worker_glue::TaskGlue::submit) returned for the task, which the
/// producer put in the job.
///
/// Implemented by every `Fn(&Req) -> Option<String>` (for example
/// `|task: &Task<Job>| Some(task.args.execution_key.clone())` for an apalis job), and by
/// [`RequestIsKey`] for requests that are the key.
pub trait JobExecutionKey<Req> {
    /// The execution key of `request`; `None` when it carries none, and the request is then
    /// served with no task context (as for a key that is not a task key).
    fn execution_key(&self, request: &Req) -> Option<String>;
}

impl<Req, F> JobExecutionKey<Req> for F
where
    F: Fn(&Req) -> Option<String>,
{
    fn execution_key(&self, request: &Req) -> Option<String> {
        self(request)
    }
}

/// A [`JobExecutionKey`] for requests that are their own execution key (`String`, `&str`, …).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIsKey;

impl<Req: AsRef<str>> JobExecutionKey<Req> for RequestIsKey {
    fn execution_key(&self, request: &Req) -> Option<String> {
        Some(request.as_ref().to_owned())
    }
}

/// A [`tower::Layer`] that serves every request of the inner service as the task its execution
/// key names, inside [`TaskGlue::run`]: the inner service is called, and its future runs, with
/// the task's caller restored ([`access_token()`](crate::access_token) and the other accessors
/// work anywhere in it).
///
/// Each job runs in a `taskctx.job` span (fields `task_id` and `leg`) opened after the context is
/// restored. With the cargo feature `otel`, that span joins the submitter's trace from the
/// snapshot's `traceparent` (`TaskContextLayer::trace_join`).
///
/// With [`settle_records`](Self::settle_records), a job whose task has a record in the store
/// (an MCP task created by `taskctx-rmcp`'s `OwnedTasks::spawn_remote`) runs under the task's
/// lease and settles the record with the inner service's outcome, so every server replica
/// answers `tasks/get` with it.
pub struct TaskContextLayer<K, Se = (), Sv = (), R = NoRecords> {
    glue: TaskGlue<Se, Sv>,
    key: Arc<K>,
    records: R,
    #[cfg(feature = "otel")]
    join: TraceJoin,
}

impl<K, Se, Sv> TaskContextLayer<K, Se, Sv> {
    /// A layer restoring tasks through `glue`, finding each request's execution key with `key`.
    #[must_use]
    pub fn new(glue: TaskGlue<Se, Sv>, key: K) -> Self {
        Self {
            glue,
            key: Arc::new(key),
            records: NoRecords,
            #[cfg(feature = "otel")]
            join: TraceJoin::default(),
        }
    }

    /// Settles the task records of the jobs' tasks (opt-in): a job whose execution key names a
    /// task with a record in the glue's store ([`TaskGlue::records`]) runs through
    /// [`TaskRecords::run_leased`] as a worker with a random id:
    ///
    /// - the job claims the task's lease ([`records::DEFAULT_LEASE`], see
    ///   [`lease`](TaskContextLayer::lease)) and renews it while the inner service runs;
    /// - the record is settled with `map`'s [`Outcome`] of the inner service's result (first
    ///   outcome wins: a task cancelled meanwhile stays `cancelled`), and a job whose context is
    ///   refused settles it as failed ([`RecordOutcome::refused`]);
    /// - a job whose task has settled already (cancelled before it ran, or run by another
    ///   delivery) is not run: [`TaskContextError::Settled`]; one whose task another worker
    ///   holds under a live lease is not run either: [`TaskContextError::Held`] (a job system
    ///   that retries it later runs it once that lease has run out).
    ///
    /// A job whose task has no record (submitted with [`TaskGlue::submit`], expired, or a
    /// request without a task key) is served exactly as without this option.
    ///
    /// A task's code runs at least once: a worker that dies stops renewing the lease, and once
    /// the lease has run out another delivery runs it again, or a `tasks/get` fails the task.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskctx_tower::{RequestIsKey, TaskContextLayer};
    /// use taskctx_worker_glue::prelude::*;
    /// use taskctx_worker_glue::records::{self, NewRecord, Outcome, TaskStatus};
    /// use taskctx_worker_glue::Ttl;
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// runtime.block_on(async {
    ///     let glue: TaskGlue = TaskGlue::builder().store_url("memory://tower-records").build()?;
    ///     let records = glue.records().ok_or("memory stores keep task records")?.clone();
    ///
    ///     // Server: a task with a record (what `OwnedTasks::spawn_remote` writes).
    ///     let key = TaskKey::new(None, records::new_task_id()?, TaskType::TOOL, Component::new("report"));
    ///     let ttl = Ttl::from_secs(60).ok_or("a TTL is at least 1 s")?;
    ///     let snapshot = TaskContextSnapshot::new();
    ///     records.create(NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1))).await?;
    ///
    ///     // Worker: the service's result settles the record.
    ///     let layer = TaskContextLayer::new(glue, RequestIsKey).settle_records(
    ///         |served: &Result<String, std::io::Error>| match served {
    ///             Ok(text) => Outcome::Completed(serde_json::json!({
    ///                 "content": [{"type": "text", "text": text}], "isError": false,
    ///             }).to_string()),
    ///             Err(error) => Outcome::Failed(serde_json::json!({
    ///                 "code": -32603, "message": error.to_string(),
    ///             }).to_string()),
    ///         },
    ///     )?;
    ///     let worker = layer.layer(service_fn(|_job: String| async {
    ///         Ok::<_, std::io::Error>("report ready".to_owned())
    ///     }));
    ///     assert_eq!(worker.oneshot(key.to_key()).await?, "report ready");
    ///
    ///     let record = records.get(key.scope(), key.task_id()).await?.ok_or("just created")?;
    ///     assert_eq!(record.status(), TaskStatus::Completed);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`SettleRecordsError::NoTaskRecords`] when the glue's store keeps no task records;
    /// [`SettleRecordsError::WorkerId`] when no random worker id can be made.
    pub fn settle_records<M>(
        self,
        map: M,
    ) -> Result<TaskContextLayer<K, Se, Sv, SettleRecords<M>>, SettleRecordsError>
    where
        Se: Send + Sync + 'static,
        Sv: Send + Sync + 'static,
    {
        let records = self
            .glue
            .records()
            .cloned()
            .ok_or(SettleRecordsError::NoTaskRecords)?;
        let worker = records::new_task_id().map_err(SettleRecordsError::WorkerId)?;
        Ok(TaskContextLayer {
            glue: self.glue,
            key: self.key,
            records: SettleRecords {
                records,
                map: Arc::new(map),
                worker: Arc::from(worker.as_str()),
                lease: records::DEFAULT_LEASE,
            },
            #[cfg(feature = "otel")]
            join: self.join,
        })
    }
}

impl<K, Se, Sv, M> TaskContextLayer<K, Se, Sv, SettleRecords<M>> {
    /// How long a job's hold on its task lasts without renewal (default
    /// [`records::DEFAULT_LEASE`], at least [`records::MIN_LEASE`]); renewed every third of it
    /// while the job runs.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.records.lease = lease.max(records::MIN_LEASE);
        self
    }
}

impl<K, Se, Sv, R> TaskContextLayer<K, Se, Sv, R> {
    /// How each job's span joins the submitter's trace ([`TraceJoin::Parent`] by default).
    #[cfg(feature = "otel")]
    #[must_use]
    pub const fn trace_join(mut self, join: TraceJoin) -> Self {
        self.join = join;
        self
    }
}

impl<K, Se, Sv, R: Clone> Clone for TaskContextLayer<K, Se, Sv, R> {
    fn clone(&self) -> Self {
        Self {
            glue: self.glue.clone(),
            key: Arc::clone(&self.key),
            records: self.records.clone(),
            #[cfg(feature = "otel")]
            join: self.join,
        }
    }
}

impl<K, Se, Sv, R: fmt::Debug> fmt::Debug for TaskContextLayer<K, Se, Sv, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TaskContextLayer");
        debug.field("glue", &self.glue);
        debug.field("records", &self.records);
        #[cfg(feature = "otel")]
        debug.field("join", &self.join);
        debug.finish_non_exhaustive()
    }
}

impl<S, K, Se, Sv, R: Clone> Layer<S> for TaskContextLayer<K, Se, Sv, R> {
    type Service = TaskContextService<S, K, Se, Sv, R>;

    fn layer(&self, inner: S) -> Self::Service {
        TaskContextService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`TaskContextLayer`]: restores each request's task context, then calls the
/// inner service inside it.
///
/// Errors are [`TaskContextError`]: [`TaskContextError::Restore`] when the glue's
/// [`RestorePolicy`](taskctx_worker_glue::RestorePolicy) refuses the task (FailClosed; the inner
/// service is then not called), [`TaskContextError::Service`] for the inner service's own
/// error. Under FailOpen a failed restore is a warning and the request is served with no caller.
pub struct TaskContextService<S, K, Se = (), Sv = (), R = NoRecords> {
    inner: S,
    layer: TaskContextLayer<K, Se, Sv, R>,
}

impl<S: Clone, K, Se, Sv, R: Clone> Clone for TaskContextService<S, K, Se, Sv, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, K, Se, Sv, R: fmt::Debug> fmt::Debug for TaskContextService<S, K, Se, Sv, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContextService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

/// The future of [`TaskContextService`].
pub type TaskContextFuture<R, E> =
    Pin<Box<dyn Future<Output = Result<R, TaskContextError<E>>> + Send + 'static>>;

impl<S, K, Se, Sv, R, Req> Service<Req> for TaskContextService<S, K, Se, Sv, R>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    K: JobExecutionKey<Req>,
    R: Records<S::Response, S::Error>,
    Req: Send + 'static,
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = TaskContextError<S::Error>;
    type Future = TaskContextFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(TaskContextError::Service)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The service that was polled ready serves this request; its clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // A request without a key runs with explicitly no context: an empty key is not a task key.
        let key = self.layer.key.execution_key(&request).unwrap_or_default();
        let glue = self.layer.glue.clone();
        let settling = self.layer.records.settling();
        #[cfg(feature = "otel")]
        let join = self.layer.join;
        Box::pin(async move {
            let job = async move {
                let span = job_span();
                #[cfg(feature = "otel")]
                crate::otel::join_trace(&span, join);
                inner.call(request).instrument(span).await
            };
            let ran = match (settling, TaskKey::parse_execution(&key)) {
                (Some(settling), Ok((task, _leg))) => {
                    run_settled(settling, &glue, &key, &task, job).await?
                }
                _ => glue.run(&key, job).await,
            };
            match ran {
                Ok(served) => served.map_err(TaskContextError::Service),
                Err(refused) => Err(TaskContextError::Restore(refused)),
            }
        })
    }
}

/// The records setting of a [`TaskContextLayer`] without
/// [`settle_records`](TaskContextLayer::settle_records) (the default): jobs leave task records
/// alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRecords;

/// The records setting of a [`TaskContextLayer`] with
/// [`settle_records`](TaskContextLayer::settle_records): the glue's records, the outcome map,
/// this layer's worker id and its lease.
pub struct SettleRecords<M> {
    records: TaskRecords,
    map: Arc<M>,
    worker: Arc<str>,
    lease: Duration,
}

impl<M> Clone for SettleRecords<M> {
    fn clone(&self) -> Self {
        Self {
            records: self.records.clone(),
            map: Arc::clone(&self.map),
            worker: Arc::clone(&self.worker),
            lease: self.lease,
        }
    }
}

/// Shows the lease and the worker id (random, per layer).
impl<M> fmt::Debug for SettleRecords<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettleRecords")
            .field("worker", &self.worker)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// Why [`TaskContextLayer::settle_records`] could not set the layer up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleRecordsError {
    /// The glue's store keeps no task records (a store of the application's own that does not
    /// implement [`TaskRecordStore`](taskctx_worker_glue::records::TaskRecordStore)).
    #[error("the glue's store keeps no task records")]
    NoTaskRecords,
    /// The layer's random worker id could not be made.
    #[error("no worker id could be made")]
    WorkerId(#[source] RecordError),
}

/// The [`Outcome`] a job settles its task's record with
/// ([`TaskContextLayer::settle_records`]). Implemented by every
/// `Fn(&Result<Resp, E>) -> Outcome`, where `Resp` and `E` are the inner service's response and
/// error.
pub trait RecordOutcome<Resp, E> {
    /// The outcome of a job the inner service served (`Ok`) or failed (`Err`).
    fn outcome(&self, served: &Result<Resp, E>) -> Outcome;

    /// The outcome of a job whose context was refused (the inner service was not called): by
    /// default failed with the JSON-RPC internal error `{"code":-32603,"message":"the task's
    /// caller could not be restored"}`, as `taskctx-rmcp` settles such a task. The cause is
    /// logged, never stored.
    fn refused(&self, error: &RestoreError) -> Outcome {
        tracing::warn!(%error, "task context not restored: task failed");
        Outcome::Failed(REFUSED.to_owned())
    }
}

impl<Resp, E, F> RecordOutcome<Resp, E> for F
where
    F: Fn(&Result<Resp, E>) -> Outcome,
{
    fn outcome(&self, served: &Result<Resp, E>) -> Outcome {
        self(served)
    }
}

/// The error a refused job's task is settled with.
const REFUSED: &str = r#"{"code":-32603,"message":"the task's caller could not be restored"}"#;

/// The records settings a [`TaskContextLayer`] takes: [`NoRecords`] or [`SettleRecords`].
pub trait Records<Resp, E>: sealed::Sealed + Clone + Send + Sync + 'static {
    /// What settles a job's record, if anything.
    #[doc(hidden)]
    fn settling(&self) -> Option<sealed::Settling<Resp, E>>;
}

mod sealed {
    use std::sync::Arc;
    use std::time::Duration;

    use taskctx_worker_glue::records::TaskRecords;

    use super::RecordOutcome;

    pub trait Sealed {}
    impl Sealed for super::NoRecords {}
    impl<M> Sealed for super::SettleRecords<M> {}

    /// What one job settles its record with.
    pub struct Settling<Resp, E> {
        pub(super) records: TaskRecords,
        pub(super) map: Arc<dyn RecordOutcome<Resp, E> + Send + Sync>,
        pub(super) worker: Arc<str>,
        pub(super) lease: Duration,
    }

    impl<Resp, E> std::fmt::Debug for Settling<Resp, E> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Settling")
                .field("lease", &self.lease)
                .finish_non_exhaustive()
        }
    }
}

impl<Resp, E> Records<Resp, E> for NoRecords {
    fn settling(&self) -> Option<sealed::Settling<Resp, E>> {
        None
    }
}

impl<Resp, E, M> Records<Resp, E> for SettleRecords<M>
where
    M: RecordOutcome<Resp, E> + Send + Sync + 'static,
{
    fn settling(&self) -> Option<sealed::Settling<Resp, E>> {
        Some(sealed::Settling {
            records: self.records.clone(),
            map: Arc::clone(&self.map) as Arc<dyn RecordOutcome<Resp, E> + Send + Sync>,
            worker: Arc::clone(&self.worker),
            lease: self.lease,
        })
    }
}

/// The served job, or its refused context.
type Ran<Resp, E> = Result<Result<Resp, E>, RestoreError>;

/// Runs `job` as the task `task` (execution key `key`) under the task's lease, and settles its
/// record with the outcome; a task without a record runs as it would without records.
async fn run_settled<Se, Sv, Resp, E, F>(
    settling: sealed::Settling<Resp, E>,
    glue: &TaskGlue<Se, Sv>,
    key: &str,
    task: &TaskKey<'_>,
    job: F,
) -> Result<Ran<Resp, E>, TaskContextError<E>>
where
    F: Future<Output = Result<Resp, E>>,
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    let sealed::Settling {
        records,
        map,
        worker,
        lease,
    } = settling;
    let mut job = pin!(job);
    let leased = records
        .run_leased(
            task.scope(),
            task.task_id(),
            &worker,
            lease,
            |_record| glue.run(key, job.as_mut()),
            |ran: &Ran<Resp, E>| match ran {
                Ok(served) => map.outcome(served),
                Err(refused) => map.refused(refused),
            },
        )
        .await
        .map_err(TaskContextError::Record)?;
    match leased {
        Leased::Ran {
            settled: Err(error),
            ..
        } => Err(TaskContextError::Record(error)),
        Leased::Ran { output, .. } => Ok(output),
        Leased::Settled(record) => Err(TaskContextError::Settled {
            status: record.status(),
        }),
        Leased::Held(_) => Err(TaskContextError::Held),
        Leased::Missing => Ok(glue.run(key, job).await),
    }
}

/// The span one job runs in, inside its restored context.
fn job_span() -> tracing::Span {
    match taskctx_worker_glue::current_task() {
        Some((task, leg)) => tracing::info_span!(
            "taskctx.job",
            task_id = %task.task_id(),
            leg = leg.get(),
        ),
        None => tracing::info_span!("taskctx.job"),
    }
}
