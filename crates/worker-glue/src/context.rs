//! The task-local context a worker's task runs with, and the accessors user code calls.
//!
//! [`TaskGlue::run`](crate::TaskGlue::run) installs a [`TaskContext`] for exactly one future;
//! inside it (in sync or async code on that task) [`current`], [`current_task`], [`session_id`],
//! [`access_token`], [`headers`], [`trace_context`], [`live_session`] and [`owning_server`] read
//! it. Outside a task they return `None`. A child task started with plain `tokio::spawn` does not
//! inherit the context; start it with [`spawn_with_context`] instead.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use taskctx_scope::{Leg, TaskKey};
use taskctx_snapshot::{AccessToken, Headers, TaskContextSnapshot};

tokio::task_local! {
    static TASK_CONTEXT: Option<Arc<TaskContext>>;
}

/// A shared value of any type, as the registries hand it out before it is downcast.
pub(crate) type AnyArc = Arc<dyn Any + Send + Sync>;

/// Looks up the live session and owning server of a task (the glue's registries).
pub(crate) trait Owners: Send + Sync {
    /// The live session registered under `session_id`.
    fn session(&self, session_id: &str) -> Option<AnyArc>;
    /// The server owning task `task_id`, resolved from the tool name and version if needed.
    fn server(&self, task_id: &str, tool: Option<&str>, version: Option<&str>) -> Option<AnyArc>;
}

/// How a task's context was restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreOutcome {
    /// The snapshot was found, decoded and installed.
    Restored,
    /// The snapshot was installed without its access token, which had expired (FailOpen).
    ExpiredToken,
    /// No snapshot was stored; the task runs with no caller (FailOpen).
    Missing,
    /// The store failed; the task runs with no caller (FailOpen).
    StoreFailed,
    /// The stored value could not be decoded; the task runs with no caller (FailOpen).
    Undecodable,
    /// The stored token is of another scope than the task key; the task runs with no caller
    /// (FailOpen).
    ScopeMismatch,
}

impl RestoreOutcome {
    /// A short name for logs: `restored`, `expired_token`, `missing`, `store_failed`,
    /// `undecodable`, `scope_mismatch`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Restored => "restored",
            Self::ExpiredToken => "expired_token",
            Self::Missing => "missing",
            Self::StoreFailed => "store_failed",
            Self::Undecodable => "undecodable",
            Self::ScopeMismatch => "scope_mismatch",
        }
    }
}

impl fmt::Display for RestoreOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The W3C trace context the task was submitted under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// The `traceparent` value.
    pub traceparent: Option<String>,
    /// The `tracestate` value.
    pub tracestate: Option<String>,
}

/// Everything a running task knows about itself and the caller who submitted it.
///
/// `Debug` never shows the access token or secret header values.
pub struct TaskContext {
    task: TaskKey<'static>,
    leg: Leg,
    outcome: RestoreOutcome,
    access_token: Option<AccessToken>,
    headers: Option<Headers>,
    session_id: Option<String>,
    origin_request_id: Option<String>,
    trace: TraceContext,
    owning_tool_name: Option<String>,
    owning_tool_version: Option<String>,
    owners: Option<Arc<dyn Owners>>,
}

impl TaskContext {
    /// A context with the task's identity and no caller.
    pub(crate) fn anonymous(
        task: TaskKey<'static>,
        leg: Leg,
        outcome: RestoreOutcome,
        owners: Option<Arc<dyn Owners>>,
    ) -> Self {
        Self {
            task,
            leg,
            outcome,
            access_token: None,
            headers: None,
            session_id: None,
            origin_request_id: None,
            trace: TraceContext::default(),
            owning_tool_name: None,
            owning_tool_version: None,
            owners,
        }
    }

    /// A context from a restored snapshot; the token is installed only when `with_token`.
    pub(crate) fn from_snapshot(
        task: TaskKey<'static>,
        leg: Leg,
        snapshot: &TaskContextSnapshot,
        with_token: bool,
        owners: Option<Arc<dyn Owners>>,
    ) -> Self {
        let outcome = if with_token {
            RestoreOutcome::Restored
        } else {
            RestoreOutcome::ExpiredToken
        };
        Self {
            access_token: snapshot.access_token().filter(|_| with_token).cloned(),
            headers: snapshot.http_headers().cloned(),
            session_id: snapshot.session_id().map(str::to_owned),
            origin_request_id: snapshot.origin_request_id().map(str::to_owned),
            trace: TraceContext {
                traceparent: snapshot.traceparent().map(str::to_owned),
                tracestate: snapshot.tracestate().map(str::to_owned),
            },
            owning_tool_name: snapshot.owning_tool_name().map(str::to_owned),
            owning_tool_version: snapshot.owning_tool_version().map(str::to_owned),
            ..Self::anonymous(task, leg, outcome, owners)
        }
    }

    /// The task's key: its scope, id, type and component.
    #[must_use]
    pub const fn task(&self) -> &TaskKey<'static> {
        &self.task
    }

    /// The leg this execution runs.
    #[must_use]
    pub const fn leg(&self) -> Leg {
        self.leg
    }

    /// How the context was restored.
    #[must_use]
    pub const fn outcome(&self) -> RestoreOutcome {
        self.outcome
    }

    /// The caller's access token; `None` for an anonymous caller, an expired token, or a failed
    /// restore.
    #[must_use]
    pub const fn access_token(&self) -> Option<&AccessToken> {
        self.access_token.as_ref()
    }

    /// The request headers captured at submission.
    #[must_use]
    pub const fn headers(&self) -> Option<&Headers> {
        self.headers.as_ref()
    }

    /// The id of the session that submitted the task.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The id of the request that submitted the task.
    #[must_use]
    pub fn origin_request_id(&self) -> Option<&str> {
        self.origin_request_id.as_deref()
    }

    /// The W3C trace context of the submission.
    #[must_use]
    pub const fn trace_context(&self) -> &TraceContext {
        &self.trace
    }

    /// The name of the tool that owns the task.
    #[must_use]
    pub fn owning_tool_name(&self) -> Option<&str> {
        self.owning_tool_name.as_deref()
    }

    /// The version of the tool that owns the task.
    #[must_use]
    pub fn owning_tool_version(&self) -> Option<&str> {
        self.owning_tool_version.as_deref()
    }

    /// The live session that submitted the task, when it runs in the same process and the
    /// session is still open, and `S` is the glue's session type.
    #[must_use]
    pub fn live_session<S: Send + Sync + 'static>(&self) -> Option<Arc<S>> {
        let id = self.session_id.as_deref()?;
        self.owners.as_ref()?.session(id)?.downcast::<S>().ok()
    }

    /// The server that owns the task: the one registered at submission, else the one the glue's
    /// resolver finds for the owning tool's name and version, else the glue's root server.
    #[must_use]
    pub fn owning_server<S: Send + Sync + 'static>(&self) -> Option<Arc<S>> {
        self.owners
            .as_ref()?
            .server(
                self.task.task_id().as_str(),
                self.owning_tool_name.as_deref(),
                self.owning_tool_version.as_deref(),
            )?
            .downcast::<S>()
            .ok()
    }
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("task_id", &self.task.task_id())
            .field("task_type", &self.task.task_type())
            .field("authenticated", &self.task.scope().is_some())
            .field("leg", &self.leg)
            .field("outcome", &self.outcome)
            .field("access_token", &self.access_token)
            .field("headers", &self.headers)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// Runs `future` with `context` installed (or explicitly none).
pub(crate) async fn scope<F: Future>(context: Option<Arc<TaskContext>>, future: F) -> F::Output {
    TASK_CONTEXT.scope(context, future).await
}

/// The context of the running task, or `None` outside a task.
#[must_use]
pub fn current() -> Option<Arc<TaskContext>> {
    TASK_CONTEXT.try_with(Clone::clone).ok().flatten()
}

fn with<R>(read: impl FnOnce(&TaskContext) -> Option<R>) -> Option<R> {
    TASK_CONTEXT
        .try_with(|context| context.as_deref().and_then(read))
        .ok()
        .flatten()
}

/// The running task's key (scope, id, type, component) and leg.
#[must_use]
pub fn current_task() -> Option<(TaskKey<'static>, Leg)> {
    with(|context| Some((context.task.clone(), context.leg)))
}

/// The id of the session that submitted the running task.
#[must_use]
pub fn session_id() -> Option<String> {
    with(|context| context.session_id.clone())
}

/// The access token of the running task's caller (never an expired one).
#[must_use]
pub fn access_token() -> Option<AccessToken> {
    with(|context| context.access_token.clone())
}

/// The request headers captured when the running task was submitted.
#[must_use]
pub fn headers() -> Option<Headers> {
    with(|context| context.headers.clone())
}

/// The W3C trace context the running task was submitted under.
#[must_use]
pub fn trace_context() -> Option<TraceContext> {
    with(|context| Some(context.trace.clone()))
}

/// The live session that submitted the running task (see [`TaskContext::live_session`]).
#[must_use]
pub fn live_session<S: Send + Sync + 'static>() -> Option<Arc<S>> {
    with(TaskContext::live_session::<S>)
}

/// The server that owns the running task (see [`TaskContext::owning_server`]).
#[must_use]
pub fn owning_server<S: Send + Sync + 'static>() -> Option<Arc<S>> {
    with(TaskContext::owning_server::<S>)
}

/// Spawns `future` on the current tokio runtime with the running task's context (none outside a
/// task). Plain `tokio::spawn` starts the child with no context.
///
/// # Panics
/// As `tokio::spawn`: when called outside a tokio runtime.
pub fn spawn_with_context<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let context = current();
    tokio::spawn(TASK_CONTEXT.scope(context, future))
}
