//! [`TaskContextLayer`] and the [`TaskContextService`] it wraps around a worker's service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use taskctx_worker_glue::TaskGlue;
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
pub struct TaskContextLayer<K, Se = (), Sv = ()> {
    glue: TaskGlue<Se, Sv>,
    key: Arc<K>,
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
            #[cfg(feature = "otel")]
            join: TraceJoin::default(),
        }
    }

    /// How each job's span joins the submitter's trace ([`TraceJoin::Parent`] by default).
    #[cfg(feature = "otel")]
    #[must_use]
    pub const fn trace_join(mut self, join: TraceJoin) -> Self {
        self.join = join;
        self
    }
}

impl<K, Se, Sv> Clone for TaskContextLayer<K, Se, Sv> {
    fn clone(&self) -> Self {
        Self {
            glue: self.glue.clone(),
            key: Arc::clone(&self.key),
            #[cfg(feature = "otel")]
            join: self.join,
        }
    }
}

impl<K, Se, Sv> fmt::Debug for TaskContextLayer<K, Se, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TaskContextLayer");
        debug.field("glue", &self.glue);
        #[cfg(feature = "otel")]
        debug.field("join", &self.join);
        debug.finish_non_exhaustive()
    }
}

impl<S, K, Se, Sv> Layer<S> for TaskContextLayer<K, Se, Sv> {
    type Service = TaskContextService<S, K, Se, Sv>;

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
pub struct TaskContextService<S, K, Se = (), Sv = ()> {
    inner: S,
    layer: TaskContextLayer<K, Se, Sv>,
}

impl<S: Clone, K, Se, Sv> Clone for TaskContextService<S, K, Se, Sv> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, K, Se, Sv> fmt::Debug for TaskContextService<S, K, Se, Sv> {
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

impl<S, K, Se, Sv, Req> Service<Req> for TaskContextService<S, K, Se, Sv>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    K: JobExecutionKey<Req>,
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
        #[cfg(feature = "otel")]
        let join = self.layer.join;
        Box::pin(async move {
            let job = async move {
                let span = job_span();
                #[cfg(feature = "otel")]
                crate::otel::join_trace(&span, join);
                inner.call(request).instrument(span).await
            };
            match glue.run(&key, job).await {
                Ok(served) => served.map_err(TaskContextError::Service),
                Err(refused) => Err(TaskContextError::Restore(refused)),
            }
        })
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
