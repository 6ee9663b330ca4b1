//! Restore: find, decode and check a task's snapshot, and run the task inside its context; the
//! typed lookups of a task's live session and owning server.

use std::borrow::Borrow;
use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use taskctx_scope::{ExecutionKey, TaskKey};
use taskctx_snapshot::{AccessToken, CREDENTIAL_HEADERS, TaskContextSnapshot};
use tracing::Instrument;

use crate::context::{self, CallerParts, RestoreOutcome, TaskContext, TraceContext};
use crate::refresh::RefreshRequest;
use crate::submit::{is_scope_of, is_scope_of_token};
use crate::{KeyError, RestoreError, RestorePolicy, TaskGlue};

/// The current unix time in seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// The W3C trace context a snapshot was captured under.
fn trace_context_of(snapshot: &TaskContextSnapshot) -> TraceContext {
    TraceContext {
        traceparent: snapshot.traceparent().map(str::to_owned),
        tracestate: snapshot.tracestate().map(str::to_owned),
    }
}

/// What restoring the token gave: the token to install and the outcome.
type TokenOutcome = (Option<Arc<AccessToken>>, RestoreOutcome);

/// A loaded and decoded snapshot, or the failure with the outcome it gives under FailOpen. Both
/// are boxed: the snapshot is handed along the restore and kept in the context without being
/// copied again.
type LoadedSnapshot = Result<Box<TaskContextSnapshot>, Box<(RestoreOutcome, RestoreError)>>;

/// Where a restore stands once the snapshot is loaded; `C` holds the context (itself, or the
/// `Arc` that [`TaskGlue::run`] installs, made where the context is built so that it is not
/// moved again).
#[allow(
    clippy::large_enum_variant,
    reason = "matched at once; boxing the common variant would cost an allocation per task"
)]
enum Step<C> {
    /// Finished without waiting for anything.
    Done(Result<C, RestoreError>),
    /// The token is due for a refresh.
    Refresh(Box<PendingRefresh>),
}

/// A restore waiting for its token's refresh.
struct PendingRefresh {
    key: ExecutionKey,
    /// The snapshot, its token taken out.
    snapshot: Box<TaskContextSnapshot>,
    token: Arc<AccessToken>,
    /// Whether the token has expired already (not only within the margin).
    expired: bool,
}

/// The token check without a refresh.
enum Checked {
    Done(Result<TokenOutcome, RestoreError>),
    /// The token has expired or expires within the refresher's margin.
    Refresh {
        expired: bool,
    },
}

impl<Se, Sv> TaskGlue<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// Restores the context of the task named by `execution_key`.
    ///
    /// `Ok(None)` when the key is not a task key (it lacks the `auth:`/`anon:` tag; nothing is
    /// read), and under [`RestorePolicy::FailOpen`] for a malformed task key. Under FailOpen every
    /// other failure is a warning and gives a context with the task's identity and no caller (an
    /// expired token: the context without its token and credential headers).
    ///
    /// # Errors
    /// Under [`RestorePolicy::FailClosed`]: [`RestoreError::MalformedKey`],
    /// [`RestoreError::Store`], [`RestoreError::Missing`], [`RestoreError::Decode`],
    /// [`RestoreError::ScopeMismatch`], [`RestoreError::ExpiredToken`], and with a token
    /// refresher [`RestoreError::Refresh`], [`RestoreError::RefreshedScopeMismatch`],
    /// [`RestoreError::RefreshedExpired`].
    pub async fn restore(&self, execution_key: &str) -> Result<Option<TaskContext>, RestoreError> {
        self.restore_as(execution_key).await
    }

    /// [`restore`](Self::restore), the context held in a `C`.
    async fn restore_as<C: From<TaskContext> + Borrow<TaskContext>>(
        &self,
        execution_key: &str,
    ) -> Result<Option<C>, RestoreError> {
        // The key is kept (one allocation) for the context; its task is borrowed from it.
        let key = match ExecutionKey::parse(execution_key) {
            Ok(key) => key,
            Err(KeyError::UnknownTag { .. }) => {
                tracing::debug!("not a task key: no context to restore");
                return Ok(None);
            }
            Err(error) => {
                // The key's text may carry the scope: only the part at fault is logged.
                let part = error.part();
                return match self.inner.policy {
                    RestorePolicy::FailClosed => {
                        tracing::warn!(%part, "malformed task key: task refused");
                        Err(RestoreError::MalformedKey(error))
                    }
                    RestorePolicy::FailOpen => {
                        tracing::warn!(%part, "malformed task key: task runs with no context");
                        Ok(None)
                    }
                };
            }
        };
        let task = key.task();
        // The fields (the scope's fingerprint is an HMAC) are computed only when a subscriber
        // wants the span.
        let span = tracing::info_span!(
            "taskctx.restore",
            task_id = %task.task_id(),
            leg = key.leg().get(),
            scope = %self.scope_fingerprint(task.scope()),
            outcome = tracing::field::Empty,
        );
        // The snapshot is loaded before the span is first entered, so that the span hook can
        // still give the span a parent (the submitter's trace) once the snapshot is known.
        let loaded = self.load(&task).await;
        if let (Some(hook), Ok(snapshot)) = (&self.inner.span_hook, &loaded) {
            hook(&span, &trace_context_of(snapshot));
        }
        let of_scope = loaded
            .as_ref()
            .is_ok_and(|snapshot| is_scope_of(snapshot, task.scope()));
        drop(task);
        // Everything but a token refresh is synchronous: no future is built for it.
        let result = match span.in_scope(|| self.restore_task::<C>(key, loaded, of_scope)) {
            Step::Done(result) => result,
            Step::Refresh(pending) => self.refresh(*pending).instrument(span.clone()).await,
        };
        span.record(
            "outcome",
            match &result {
                Ok(context) => context.borrow().outcome().as_str(),
                Err(_) => "refused",
            },
        );
        result.map(Some)
    }

    /// Loads and decodes the task's snapshot; a failure comes with the outcome it gives under
    /// FailOpen.
    async fn load(&self, task: &TaskKey<'_>) -> LoadedSnapshot {
        let inner = &self.inner;
        let snapshot_key = inner.keys.snapshot_key(task.scope(), task.task_id());
        match inner.store.load(&snapshot_key).await {
            Err(error) => Err(Box::new((
                RestoreOutcome::StoreFailed,
                RestoreError::Store(error),
            ))),
            Ok(None) => Err(Box::new((
                RestoreOutcome::Missing,
                RestoreError::Missing {
                    task_id: task.task_id().as_str().to_owned(),
                },
            ))),
            Ok(Some(stored)) => inner
                .codec
                .decode(&stored, &snapshot_key)
                .map(Box::new)
                .map_err(|error| {
                    Box::new((RestoreOutcome::Undecodable, RestoreError::Decode(error)))
                }),
        }
    }

    /// Installs a loaded snapshot `of_scope` (of the key's scope); any other outcome is refused
    /// or runs with no caller, as the policy says.
    fn restore_task<C: From<TaskContext>>(
        &self,
        key: ExecutionKey,
        loaded: LoadedSnapshot,
        of_scope: bool,
    ) -> Step<C> {
        let inner = &self.inner;
        let (outcome, error) = match loaded {
            Err(failure) => *failure,
            Ok(snapshot) => {
                if of_scope {
                    return self.install(key, snapshot);
                }
                (
                    RestoreOutcome::ScopeMismatch,
                    RestoreError::ScopeMismatch {
                        task_id: key.task_id().as_str().to_owned(),
                    },
                )
            }
        };
        Step::Done(match inner.policy {
            RestorePolicy::FailClosed => {
                tracing::warn!(%error, "task context not restored: task refused");
                Err(error)
            }
            RestorePolicy::FailOpen => {
                tracing::warn!(%error, "task context not restored: task runs with no caller");
                Ok(C::from(TaskContext::new(
                    key,
                    outcome,
                    CallerParts::default(),
                    inner.id,
                )))
            }
        })
    }

    /// Builds the context of a decoded snapshot of the task's scope: the token checked for expiry
    /// (a refresh, when one is due, is left to [`refresh`](Self::refresh)), the headers with the
    /// policy's secret marks.
    fn install<C: From<TaskContext>>(
        &self,
        key: ExecutionKey,
        mut snapshot: Box<TaskContextSnapshot>,
    ) -> Step<C> {
        let Some(token) = snapshot.take_access_token().map(Arc::new) else {
            return Step::Done(Ok(self.context(
                key,
                snapshot,
                None,
                (None, RestoreOutcome::Restored),
            )));
        };
        match self.check_token(&key, &token) {
            Checked::Done(Err(error)) => Step::Done(Err(error)),
            Checked::Done(Ok(installed)) => {
                Step::Done(Ok(self.context(key, snapshot, Some(&token), installed)))
            }
            Checked::Refresh { expired } => Step::Refresh(Box::new(PendingRefresh {
                key,
                snapshot,
                token,
                expired,
            })),
        }
    }

    /// The context of `snapshot` (its token taken out: `captured`), with the token outcome.
    fn context<C: From<TaskContext>>(
        &self,
        key: ExecutionKey,
        mut snapshot: Box<TaskContextSnapshot>,
        captured: Option<&Arc<AccessToken>>,
        (access_token, outcome): TokenOutcome,
    ) -> C {
        let mut headers = snapshot.take_http_headers();
        if let Some(headers) = &mut headers {
            headers.apply_secret_marks(&self.inner.header_policy);
            let same_token = match (&captured, &access_token) {
                (Some(captured), Some(installed)) => Arc::ptr_eq(captured, installed),
                (None, _) => true,
                (Some(_), None) => false,
            };
            if !same_token {
                // The credentials captured with a token that is not installed are not handed out.
                headers.retain(|name, _| !CREDENTIAL_HEADERS.contains(&name));
            }
        }
        let caller = CallerParts::new(access_token, headers.map(Arc::new), snapshot);
        C::from(TaskContext::new(key, outcome, caller, self.inner.id))
    }

    /// The restored token while valid and not due for a refresh; none when it has expired and
    /// no refresher is configured (FailOpen).
    fn check_token(&self, key: &ExecutionKey, token: &Arc<AccessToken>) -> Checked {
        let inner = &self.inner;
        let now = unix_now();
        let expired = token.is_expired(now);
        let due = inner.refresher.as_ref().is_some_and(|refresher| {
            let margin = i64::try_from(refresher.margin.as_secs()).unwrap_or(i64::MAX);
            token.is_expired(now.saturating_add(margin))
        });
        if due {
            return Checked::Refresh { expired };
        }
        if !expired {
            return Checked::Done(Ok((Some(Arc::clone(token)), RestoreOutcome::Restored)));
        }
        Checked::Done(match inner.policy {
            RestorePolicy::FailClosed => {
                tracing::warn!("access token expired: task refused");
                Err(RestoreError::ExpiredToken {
                    task_id: key.task_id().as_str().to_owned(),
                })
            }
            RestorePolicy::FailOpen => {
                tracing::warn!("access token expired: task runs without it");
                Ok((None, RestoreOutcome::ExpiredToken))
            }
        })
    }

    /// Refreshes a token that has expired or expires within the margin, then builds the context
    /// with the new token (or, when the refresh fails under FailOpen, the old one while valid).
    async fn refresh<C: From<TaskContext>>(
        &self,
        pending: PendingRefresh,
    ) -> Result<C, RestoreError> {
        let PendingRefresh {
            key,
            snapshot,
            token,
            expired,
        } = pending;
        let installed = self.refreshed_token(&key, &token, expired).await?;
        Ok(self.context(key, snapshot, Some(&token), installed))
    }

    /// The refreshed token, checked to be of the task's scope and not expired.
    async fn refreshed_token(
        &self,
        key: &ExecutionKey,
        token: &Arc<AccessToken>,
        expired: bool,
    ) -> Result<TokenOutcome, RestoreError> {
        let inner = &self.inner;
        let task = key.task();
        let task_id = || task.task_id().as_str().to_owned();
        let Some(refresher) = inner.refresher.as_ref() else {
            return Err(RestoreError::ExpiredToken { task_id: task_id() });
        };
        let request = RefreshRequest::new(key.task().into_owned(), Arc::clone(token));
        let failure = match refresher.refresh(request).await {
            Err(source) => RestoreError::Refresh {
                task_id: task_id(),
                source,
            },
            Ok(refreshed) => {
                if !is_scope_of_token(&refreshed, task.scope()) {
                    RestoreError::RefreshedScopeMismatch { task_id: task_id() }
                } else if refreshed.is_expired(unix_now()) {
                    RestoreError::RefreshedExpired { task_id: task_id() }
                } else {
                    tracing::debug!("access token refreshed for this task");
                    return Ok((Some(Arc::new(refreshed)), RestoreOutcome::Refreshed));
                }
            }
        };
        // Only the variant is logged: the refresher's error is the application's and may carry
        // anything.
        let reason = refresh_failure_name(&failure);
        match inner.policy {
            RestorePolicy::FailClosed => {
                tracing::warn!(reason, "access token not refreshed: task refused");
                Err(failure)
            }
            RestorePolicy::FailOpen if expired => {
                tracing::warn!(reason, "access token not refreshed: task runs without it");
                Ok((None, RestoreOutcome::ExpiredToken))
            }
            RestorePolicy::FailOpen => {
                tracing::warn!(
                    reason,
                    "access token not refreshed: task runs with the old one"
                );
                Ok((Some(Arc::clone(token)), RestoreOutcome::Restored))
            }
        }
    }

    /// Runs `future` as the task named by `execution_key`, inside its restored context (see
    /// [`restore`](Self::restore)). A key that is not a task key runs `future` with no context.
    ///
    /// # Errors
    /// As [`restore`](Self::restore); `future` is then not run.
    pub async fn run<F: Future>(
        &self,
        execution_key: &str,
        future: F,
    ) -> Result<F::Output, RestoreError> {
        let restored = self.restore_as::<Arc<TaskContext>>(execution_key).await?;
        Ok(context::scope(restored, future).await)
    }

    /// The live session that submitted the running task: registered in this glue's
    /// [`sessions`](Self::sessions) under the task's scope and the snapshot's session id, and
    /// still alive. `None` outside a task, for a task another glue restored, or in a worker of
    /// another process.
    #[must_use]
    pub fn live_session(&self) -> Option<Arc<Se>> {
        context::with_current(|context| self.live_session_of(context)).flatten()
    }

    /// The live session of the task `context` (see [`live_session`](Self::live_session)).
    #[must_use]
    pub fn live_session_of(&self, context: &TaskContext) -> Option<Arc<Se>> {
        if context.glue_id != self.inner.id {
            return None;
        }
        self.inner.sessions.get_key(context.session_key()?)
    }

    /// The server that owns the running task: the one registered at submission for the task's
    /// scope and id, else the one the glue's resolver finds for the owning tool's name and
    /// version (then registered for the task), else the glue's root server. `None` outside a
    /// task or for a task another glue restored.
    #[must_use]
    pub fn owning_server(&self) -> Option<Arc<Sv>> {
        context::with_current(|context| self.owning_server_of(context)).flatten()
    }

    /// The owning server of the task `context` (see [`owning_server`](Self::owning_server)).
    #[must_use]
    pub fn owning_server_of(&self, context: &TaskContext) -> Option<Arc<Sv>> {
        if context.glue_id != self.inner.id {
            return None;
        }
        let inner = &self.inner;
        let key = context.server_key();
        if let Some(server) = inner.servers.get_key(key) {
            return Some(server);
        }
        let resolved = context
            .owning_tool_name()
            .and_then(|tool| inner.resolver.as_ref()?(tool, context.owning_tool_version()));
        if let Some(server) = resolved {
            inner.servers.register_key(key.clone(), &server);
            return Some(server);
        }
        inner.root.clone()
    }
}

/// A short name of a refresh failure for logs.
fn refresh_failure_name(error: &RestoreError) -> &'static str {
    match error {
        RestoreError::RefreshedScopeMismatch { .. } => "scope_mismatch",
        RestoreError::RefreshedExpired { .. } => "expired",
        _ => "refresher_failed",
    }
}
