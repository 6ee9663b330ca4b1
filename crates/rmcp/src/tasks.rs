//! Owner-bound tasks: rmcp's [`TaskManager`] with every task bound to the caller who created it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, CancelTaskParams, CreateTaskResult, GetTaskParams, GetTaskResult, Task,
    UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{self, TaskExit, TaskManager, TaskOptions};
use taskctx_worker_glue::{
    Component, Scope, Submit, TaskContextSnapshot, TaskGlue, TaskId, TaskType, scope_of,
};

use crate::Error;
use crate::capture::{OwningTool, caller_scope, capture};

/// A task handed to a job system: the key a worker runs it under, and rmcp's handle of the task.
///
/// The worker (in this process or another) runs the tool with
/// [`TaskGlue::run`]`(&execution_key, …)`, which restores the caller who created the task.
pub struct RemoteJob {
    /// The execution key to hand to the worker (`auth:…` or `anon:…`, SPEC §3).
    pub execution_key: String,
    /// rmcp's handle of the task: cooperative cancellation, status messages, input requests.
    pub task: task_manager::TaskContext,
}

/// Shows the task id only: the execution key names the caller's scope.
impl fmt::Debug for RemoteJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJob")
            .field("task_id", &self.task.task_id())
            .finish_non_exhaustive()
    }
}

/// The identity of a task: the scope of the caller who created it (`None`: anonymous) and its id.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Owned {
    scope: Option<Scope<'static>>,
    task_id: String,
}

/// When the binding of a task may be forgotten (`None`: kept as long as rmcp keeps the task).
type ForgetAt = Option<Instant>;

/// rmcp's SEP-2663 task manager with every task bound to the caller who created it, and every
/// task's code run as that caller.
///
/// - [`spawn`](Self::spawn) captures the caller of the `tools/call` request (see
///   [`capture`]), records the task under (caller scope, task id), stores the snapshot through
///   the [`TaskGlue`] and runs the tool's future inside the restored context: the tool's code
///   (and everything it calls) reads the caller with [`access_token()`](crate::access_token) and
///   friends.
/// - [`spawn_remote`](Self::spawn_remote) does the same up to the store, then hands the
///   execution key to a job system; a worker in another process runs the tool as the caller.
/// - [`get_task`](Self::get_task), [`update_task`](Self::update_task) and
///   [`cancel_task`](Self::cancel_task) answer only the caller who created the task.
///
/// # No existence oracle
///
/// A task is looked up by (scope of the requesting caller, task id), never by its id alone: a
/// task of another scope, an authenticated task asked for anonymously and an anonymous task
/// asked for with a token all miss that lookup exactly as an id that never existed does. The
/// answer is the same error (`-32602`, `unknown task: {id}`, no data, byte for byte what rmcp
/// answers for an unknown id) from the same code path, one hash-map miss, without touching the
/// task manager, so it takes the same time too.
///
/// Cheap to clone: clones share their tasks (rmcp builds a handler per session or request;
/// give every handler a clone).
pub struct OwnedTasks<Se = (), Sv = ()> {
    inner: Arc<Shared<Se, Sv>>,
}

struct Shared<Se, Sv> {
    manager: TaskManager,
    glue: TaskGlue<Se, Sv>,
    owners: Mutex<HashMap<Owned, ForgetAt>>,
}

impl<Se, Sv> Clone for OwnedTasks<Se, Sv> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Se, Sv> fmt::Debug for OwnedTasks<Se, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedTasks")
            .field("glue", &self.inner.glue)
            .field("tasks", &self.owners().len())
            .finish_non_exhaustive()
    }
}

impl<Se, Sv> OwnedTasks<Se, Sv> {
    /// The task bindings (a poisoned lock still holds consistent bindings: every update is one
    /// map call).
    fn owners(&self) -> MutexGuard<'_, HashMap<Owned, ForgetAt>> {
        self.inner
            .owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The error rmcp answers for a task id it does not know.
fn unknown_task(task_id: &str) -> McpError {
    McpError::invalid_params(format!("unknown task: {task_id}"), None)
}

impl<Se, Sv> OwnedTasks<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// Owner-bound tasks whose snapshots go through `glue` (its store, codec, restore policy and
    /// header policy).
    #[must_use]
    pub fn new(glue: TaskGlue<Se, Sv>) -> Self {
        Self {
            inner: Arc::new(Shared {
                manager: TaskManager::new(),
                glue,
                owners: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The glue snapshots are stored and restored with.
    #[must_use]
    pub fn glue(&self) -> &TaskGlue<Se, Sv> {
        &self.inner.glue
    }

    /// Runs `work` as a task of `tool` for the caller of `context` (the `tools/call` request's
    /// context), and returns the `CreateTaskResult` to answer the call with.
    ///
    /// `work` receives rmcp's task handle (cancellation, status messages, input requests); the
    /// future it returns runs inside the caller's restored context. When the context cannot be
    /// stored or restored, the task fails with an internal error (the cause is logged, never
    /// sent).
    ///
    /// # Errors
    /// [`Error::Headers`], [`Error::Scope`]: no task is created.
    pub fn spawn<F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: TaskOptions,
        work: F,
    ) -> Result<CreateTaskResult, Error>
    where
        F: FnOnce(task_manager::TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<CallToolResult, TaskExit>> + Send + 'static,
    {
        self.spawn_stored(context, tool, options, |glue, key, handle| async move {
            glue.run(&key, work(handle)).await.map_err(|error| {
                tracing::warn!(%error, "task context not restored: task failed");
                internal("the task's caller could not be restored")
            })?
        })
    }

    /// Stores the caller of `context` for a task of `tool`, then calls `hand_off` with the task's
    /// execution key for a job system; the task settles with what `hand_off`'s future returns
    /// (typically the result a worker reports back). The worker runs the tool with
    /// [`TaskGlue::run`] on a glue of the same queue and store, as the caller.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn spawn_remote<F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: TaskOptions,
        hand_off: F,
    ) -> Result<CreateTaskResult, Error>
    where
        F: FnOnce(RemoteJob) -> Fut + Send + 'static,
        Fut: Future<Output = Result<CallToolResult, TaskExit>> + Send + 'static,
    {
        self.spawn_stored(context, tool, options, |_, execution_key, task| {
            hand_off(RemoteJob {
                execution_key,
                task,
            })
        })
    }

    /// `tasks/get` for the caller of `context`: the task's state, or `unknown task` when the
    /// caller did not create it.
    ///
    /// # Errors
    /// `-32602` `unknown task: {id}` for an unknown task and for another caller's task alike.
    pub fn get_task(
        &self,
        request: &GetTaskParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        self.owned(context, &request.task_id, |manager| {
            manager.get_task(&request.task_id).map(GetTaskResult::new)
        })
    }

    /// `tasks/update` for the caller of `context`: delivers input responses to the caller's
    /// own task.
    ///
    /// # Errors
    /// As [`get_task`](Self::get_task).
    pub fn update_task(
        &self,
        request: UpdateTaskParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let UpdateTaskParams {
            task_id,
            input_responses,
            ..
        } = request;
        self.owned(context, &task_id, |manager| {
            manager.update_task(&task_id, input_responses)
        })
    }

    /// `tasks/cancel` for the caller of `context`: requests cooperative cancellation of the
    /// caller's own task.
    ///
    /// # Errors
    /// As [`get_task`](Self::get_task).
    pub fn cancel_task(
        &self,
        request: &CancelTaskParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.owned(context, &request.task_id, |manager| {
            manager.cancel_task(&request.task_id)
        })
    }

    /// Aborts every running task and forgets every task.
    pub fn shutdown(&self) {
        self.inner.manager.shutdown();
        self.owners().clear();
    }

    /// Creates an rmcp task bound to the caller of `context` that stores the caller's snapshot,
    /// then settles with `then(glue, execution key, task handle)`.
    fn spawn_stored<F, Fut>(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
        options: TaskOptions,
        then: F,
    ) -> Result<CreateTaskResult, Error>
    where
        F: FnOnce(TaskGlue<Se, Sv>, String, task_manager::TaskContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<CallToolResult, TaskExit>> + Send + 'static,
    {
        let (snapshot, scope) = self.caller(context, tool)?;
        let glue = self.inner.glue.clone();
        let component = tool.name().to_owned();
        let task = self.inner.manager.spawn(options, move |handle| {
            Box::pin(async move {
                let key = submit(&glue, handle.task_id(), &component, &snapshot).await?;
                then(glue, key, handle).await
            })
        });
        Ok(self.bind(scope, task))
    }

    /// The caller's snapshot and scope.
    fn caller(
        &self,
        context: &RequestContext<RoleServer>,
        tool: &OwningTool,
    ) -> Result<(TaskContextSnapshot, Option<Scope<'static>>), Error> {
        let snapshot = capture(context, tool, self.inner.glue.header_policy())?;
        let scope = scope_of(&snapshot).map_err(Error::Scope)?;
        Ok((snapshot, scope))
    }

    /// Records that `task` belongs to `scope`, and forgets bindings past their retention.
    fn bind(&self, scope: Option<Scope<'static>>, task: Task) -> CreateTaskResult {
        let now = Instant::now();
        // rmcp keeps a task for at most about two TTLs (one to run, one after it settles).
        let forget_at = task
            .ttl_ms
            .and_then(|ttl| now.checked_add(Duration::from_millis(ttl.saturating_mul(2))));
        let mut owners = self.owners();
        owners.retain(|_, forget| forget.is_none_or(|at| at > now));
        owners.insert(
            Owned {
                scope,
                task_id: task.task_id.clone(),
            },
            forget_at,
        );
        drop(owners);
        CreateTaskResult::new(task)
    }

    /// Runs `answer` for a task the caller of `context` created; `unknown task` otherwise.
    fn owned<R>(
        &self,
        context: &RequestContext<RoleServer>,
        task_id: &str,
        answer: impl FnOnce(&TaskManager) -> Result<R, McpError>,
    ) -> Result<R, McpError> {
        // A token without a valid scope cannot have created a task: it misses like any other.
        let Ok(scope) = caller_scope(context) else {
            return Err(unknown_task(task_id));
        };
        let key = Owned {
            scope,
            task_id: task_id.to_owned(),
        };
        if !self.owners().contains_key(&key) {
            return Err(unknown_task(task_id));
        }
        let answered = answer(&self.inner.manager);
        if answered.is_err() {
            // rmcp no longer knows the task (expired and evicted): forget its binding too.
            self.owners().remove(&key);
        }
        answered
    }
}

/// An internal error for the client; the cause is logged where it happens.
fn internal(message: &'static str) -> TaskExit {
    TaskExit::Error(McpError::internal_error(message, None))
}

/// Stores the task's snapshot and returns its execution key.
async fn submit<Se, Sv>(
    glue: &TaskGlue<Se, Sv>,
    task_id: &str,
    tool: &str,
    snapshot: &TaskContextSnapshot,
) -> Result<String, TaskExit>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    let stored = || internal("the task's context could not be stored");
    let task_id = TaskId::new(task_id).map_err(|error| {
        tracing::warn!(%error, "rmcp's task id is not a task key id");
        stored()
    })?;
    let task = Submit::new(snapshot, task_id, TaskType::TOOL, Component::new(tool));
    let submitted = glue.submit(task).await.map_err(|error| {
        tracing::warn!(%error, "task context not stored: task failed");
        stored()
    })?;
    Ok(submitted.into_execution_key())
}
