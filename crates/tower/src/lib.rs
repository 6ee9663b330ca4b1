//! A [`tower::Layer`] that runs each job of a worker as the caller who submitted it: the job's
//! task context (access token, headers, session, trace context) is restored by taskctx before
//! the inner service is called, for apalis workers or any tower service.
//!
//! # Usage
//!
//! - The producer submits the task with
//!   [`TaskGlue::submit`](taskctx_worker_glue::TaskGlue::submit) and puts the execution key it
//!   returns in the job.
//! - The worker wraps its service in [`TaskContextLayer::new`]`(glue, key)`, where `key` finds
//!   the execution key in a request ([`JobExecutionKey`]: any `Fn(&Req) -> Option<String>`, or
//!   [`RequestIsKey`]). With apalis:
//!   `WorkerBuilder::new("w").backend(storage).layer(TaskContextLayer::new(glue, |task: &Task<Job>| Some(task.args.key.clone()))).build(handler)`.
//! - Inside the job, [`access_token()`] and the other accessors (re-exported here from
//!   `taskctx-worker-glue`) give the job's own caller.
//!
//! # Example
//!
//! ```
//! use taskctx_tower::{RequestIsKey, TaskContextLayer};
//! use taskctx_worker_glue::prelude::*;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let glue: TaskGlue = TaskGlue::builder().store_url("memory://tower-example").build()?;
//!
//!     // Producer: submit the caller's task; the job carries its execution key.
//!     let token = AccessToken::builder("secret-token", "client-a").claim("sub", "user-1").build();
//!     let snapshot = TaskContextSnapshot::builder().access_token(token).build();
//!     let task = Submit::new(&snapshot, TaskId::new("job-1")?, TaskType::TOOL, Component::new("report"));
//!     let job = glue.submit(task).await?.into_execution_key();
//!
//!     // Worker: the service runs as the job's caller.
//!     let worker = TaskContextLayer::new(glue, RequestIsKey).layer(service_fn(|_job: String| async {
//!         Ok::<_, std::io::Error>(access_token().map(|token| token.client_id().to_owned()))
//!     }));
//!     assert_eq!(worker.oneshot(job).await?, Some("client-a".to_owned()));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **One job, one caller.** The inner service's `call` and its future run inside
//!   [`TaskGlue::run`](taskctx_worker_glue::TaskGlue::run): jobs interleaved on one worker each
//!   see only their own caller, a job never sees what an earlier one left, and a request without
//!   an execution key runs with no context.
//! - **Restore policy.** Under FailClosed a refused task is a [`TaskContextError::Restore`] and
//!   the inner service is never called; under FailOpen the job runs with no caller (a warning).
//!   The inner service's own failure is [`TaskContextError::Service`].
//! - **Task records (opt-in).** With [`TaskContextLayer::settle_records`], a job whose task has
//!   a record in the store (an MCP task of `taskctx-rmcp`'s `OwnedTasks::spawn_remote`) runs
//!   under the task's lease and settles the record with the inner service's outcome, through
//!   the same loop as `OwnedTasks::run_remote`
//!   ([`TaskRecords::run_leased`](taskctx_worker_glue::records::TaskRecords::run_leased)); a job
//!   whose task has settled already is not run ([`TaskContextError::Settled`]).
//! - **No secrets in spans.** Each job runs in a `taskctx.job` span with its task id and leg
//!   only.
//!
//! # Cargo features
//!
//! - `otel` (off by default): the `taskctx.job` span joins the submitter's trace from the
//!   snapshot's W3C `traceparent`/`tracestate`, through `tracing-opentelemetry` (install its
//!   layer in the worker's subscriber): as its parent (`TraceJoin::Parent`, the default) or as
//!   a link (`TraceJoin::Link`), set with `TaskContextLayer::trace_join`. A malformed
//!   `traceparent` is ignored with a warning. `join_restore_span`, given to
//!   `TaskGlueBuilder::restore_span_hook`, makes the glue's own `taskctx.restore` span join the
//!   same way. On the producer's side, `capture_trace` stamps a snapshot with the current span's
//!   trace context.

mod error;
mod layer;
#[cfg(feature = "otel")]
mod otel;

pub use error::TaskContextError;
pub use layer::{
    JobExecutionKey, NoRecords, RecordOutcome, Records, RequestIsKey, SettleRecords,
    SettleRecordsError, TaskContextFuture, TaskContextLayer, TaskContextService,
};
#[cfg(feature = "otel")]
pub use otel::{TraceJoin, capture_trace, join_restore_span};
/// The glue, and the task-local accessors a job's code calls (from `taskctx-worker-glue`).
#[doc(no_inline)]
pub use taskctx_worker_glue::{
    TaskContext, TaskGlue, access_token, current, current_task, headers, session_id,
    spawn_with_context, trace_context, with_current,
};
