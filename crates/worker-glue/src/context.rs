//! The task-local context a worker's task runs with, and the accessors user code calls.
//!
//! [`TaskGlue::run`](crate::TaskGlue::run) installs a [`TaskContext`] for exactly one future;
//! inside it (in sync or async code on that task) [`current`], [`with_current`],
//! [`access_token`], [`headers`], [`session_id`] and [`trace_context`] read it, and the glue's
//! typed [`TaskGlue::live_session`](crate::TaskGlue::live_session) and
//! [`TaskGlue::owning_server`](crate::TaskGlue::owning_server) find the task's session and
//! server. Outside a task they return `None`. A child task started with plain `tokio::spawn` does
//! not inherit the context; start it with [`spawn_with_context`] instead.
//!
//! Nothing here copies the token or the headers: they are shared (`Arc`) between the context and
//! every caller.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use taskctx_scope::{ExecutionKey, Leg, TaskKey};
use taskctx_snapshot::{AccessToken, Headers, TRACEPARENT, TRACESTATE, TaskContextSnapshot};

use crate::registries::{ServerKey, SessionKey};

tokio::task_local! {
    static TASK_CONTEXT: Option<Arc<TaskContext>>;
}

/// How a task's context was restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreOutcome {
    /// The snapshot was found, decoded and installed.
    Restored,
    /// The snapshot was installed with a token the refresher renewed for this task.
    Refreshed,
    /// The snapshot was installed without its access token, which had expired, and without the
    /// credential headers captured with it (FailOpen).
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
    /// A short name for logs: `restored`, `refreshed`, `expired_token`, `missing`,
    /// `store_failed`, `undecodable`, `scope_mismatch`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Restored => "restored",
            Self::Refreshed => "refreshed",
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
#[non_exhaustive]
pub struct TraceContext {
    /// The `traceparent` value.
    pub traceparent: Option<String>,
    /// The `tracestate` value.
    pub tracestate: Option<String>,
}

/// The caller-side parts of a restored context. The token and headers are taken out of the
/// snapshot (shared from here on); its other parts are read from it in place, not copied.
#[derive(Default)]
pub(crate) struct CallerParts {
    pub(crate) access_token: Option<Arc<AccessToken>>,
    pub(crate) headers: Option<Arc<Headers>>,
    /// The session id, shared; made from `rest` when first asked for.
    session_id: OnceLock<Option<Arc<str>>>,
    /// The rest of the snapshot (without its token and headers).
    pub(crate) rest: Box<TaskContextSnapshot>,
    /// Built from `rest` and `headers` when first asked for.
    trace: OnceLock<TraceContext>,
}

impl CallerParts {
    pub(crate) fn new(
        access_token: Option<Arc<AccessToken>>,
        headers: Option<Arc<Headers>>,
        rest: Box<TaskContextSnapshot>,
    ) -> Self {
        Self {
            access_token,
            headers,
            session_id: OnceLock::new(),
            rest,
            trace: OnceLock::new(),
        }
    }

    /// The session id, shared.
    fn shared_session_id(&self) -> Option<&Arc<str>> {
        self.session_id
            .get_or_init(|| self.rest.session_id().map(Arc::from))
            .as_ref()
    }

    /// The W3C trace context: the snapshot's field, else the captured header of that name (as
    /// [`TaskContextSnapshot::traceparent`] reads it before the headers are taken out).
    fn trace(&self) -> &TraceContext {
        self.trace.get_or_init(|| {
            let header = |name| self.headers.as_deref()?.get(name).map(str::to_owned);
            TraceContext {
                traceparent: self
                    .rest
                    .traceparent()
                    .map(str::to_owned)
                    .or_else(|| header(TRACEPARENT)),
                tracestate: self
                    .rest
                    .tracestate()
                    .map(str::to_owned)
                    .or_else(|| header(TRACESTATE)),
            }
        })
    }
}

/// Everything a running task knows about itself and the caller who submitted it.
///
/// Untyped on purpose: the live session and owning server are found through the glue that
/// restored the context ([`TaskGlue::live_session_of`](crate::TaskGlue::live_session_of)), whose
/// type parameters fix their types.
///
/// `Debug` never shows the access token, a secret header value or the session id.
pub struct TaskContext {
    /// The execution key: the task's identity and leg.
    key: ExecutionKey,
    outcome: RestoreOutcome,
    caller: CallerParts,
    /// Which glue restored it: only that glue's registries are asked for its session and server.
    pub(crate) glue_id: u64,
    server_key: OnceLock<ServerKey>,
    session_key: OnceLock<Option<SessionKey>>,
}

impl TaskContext {
    pub(crate) fn new(
        key: ExecutionKey,
        outcome: RestoreOutcome,
        caller: CallerParts,
        glue_id: u64,
    ) -> Self {
        Self {
            key,
            outcome,
            caller,
            glue_id,
            server_key: OnceLock::new(),
            session_key: OnceLock::new(),
        }
    }

    /// The task's key: its scope, id, type and component (borrowed from the context).
    #[must_use]
    pub fn task(&self) -> TaskKey<'_> {
        self.key.task()
    }

    /// The leg this execution runs.
    #[must_use]
    pub const fn leg(&self) -> Leg {
        self.key.leg()
    }

    /// How the context was restored.
    #[must_use]
    pub const fn outcome(&self) -> RestoreOutcome {
        self.outcome
    }

    /// The caller's access token; `None` for an anonymous caller, an expired token, or a failed
    /// restore. Clone the `Arc` to keep it.
    #[must_use]
    pub const fn access_token(&self) -> Option<&Arc<AccessToken>> {
        self.caller.access_token.as_ref()
    }

    /// The request headers captured at submission, with the capture policy's secret marks.
    /// Without an installed token (an expired one), the credential headers captured with it
    /// (`authorization`, `proxy-authorization`, `cookie`) are left out.
    #[must_use]
    pub const fn headers(&self) -> Option<&Arc<Headers>> {
        self.caller.headers.as_ref()
    }

    /// The id of the session that submitted the task.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.caller.rest.session_id()
    }

    /// The id of the request that submitted the task.
    #[must_use]
    pub fn origin_request_id(&self) -> Option<&str> {
        self.caller.rest.origin_request_id()
    }

    /// The W3C trace context of the submission.
    #[must_use]
    pub fn trace_context(&self) -> &TraceContext {
        self.caller.trace()
    }

    /// The name of the tool that owns the task.
    #[must_use]
    pub fn owning_tool_name(&self) -> Option<&str> {
        self.caller.rest.owning_tool_name()
    }

    /// The version of the tool that owns the task.
    #[must_use]
    pub fn owning_tool_version(&self) -> Option<&str> {
        self.caller.rest.owning_tool_version()
    }

    /// The key of the task in the server registry (built once).
    pub(crate) fn server_key(&self) -> &ServerKey {
        self.server_key.get_or_init(|| ServerKey::of(&self.task()))
    }

    /// The key of the task's session in the session registry (built once).
    pub(crate) fn session_key(&self) -> Option<&SessionKey> {
        self.session_key
            .get_or_init(|| {
                let id = self.session_id()?;
                Some(SessionKey::new(self.task().scope(), id))
            })
            .as_ref()
    }
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task = self.task();
        f.debug_struct("TaskContext")
            .field("task_id", task.task_id())
            .field("task_type", task.task_type())
            .field("authenticated", &task.scope().is_some())
            .field("leg", &self.leg())
            .field("outcome", &self.outcome)
            .field("access_token", &self.caller.access_token)
            .field("headers", &self.caller.headers)
            .field("session", &self.session_id().is_some())
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

/// Calls `read` with the running task's context, without touching its reference count; `None`
/// outside a task.
pub fn with_current<R>(read: impl FnOnce(&TaskContext) -> R) -> Option<R> {
    TASK_CONTEXT
        .try_with(|context| context.as_deref().map(read))
        .ok()
        .flatten()
}

/// The access token of the running task's caller (never an expired one), shared.
#[must_use]
pub fn access_token() -> Option<Arc<AccessToken>> {
    with_current(|context| context.caller.access_token.clone()).flatten()
}

/// The request headers captured when the running task was submitted, shared (see
/// [`TaskContext::headers`]).
#[must_use]
pub fn headers() -> Option<Arc<Headers>> {
    with_current(|context| context.caller.headers.clone()).flatten()
}

/// The id of the session that submitted the running task, shared.
#[must_use]
pub fn session_id() -> Option<Arc<str>> {
    with_current(|context| context.caller.shared_session_id().cloned()).flatten()
}

/// The running task's key (scope, id, type, component) and leg.
#[must_use]
pub fn current_task() -> Option<(TaskKey<'static>, Leg)> {
    with_current(|context| (context.task().into_owned(), context.leg()))
}

/// The W3C trace context the running task was submitted under.
#[must_use]
pub fn trace_context() -> Option<TraceContext> {
    with_current(|context| context.caller.trace().clone())
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
