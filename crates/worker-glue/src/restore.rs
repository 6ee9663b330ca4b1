//! Restore: find, decode and check a task's snapshot, and run the task inside its context; the
//! typed lookups of a task's live session and owning server.

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use taskctx_scope::{Leg, TaskKey};
use taskctx_snapshot::{AccessToken, CREDENTIAL_HEADERS, TaskContextSnapshot};
use tracing::Instrument;

use crate::context::{self, CallerParts, RestoreOutcome, TaskContext, TraceContext};
use crate::refresh::RefreshRequest;
use crate::submit::{scope_of, scope_of_token};
use crate::{KeyError, RestoreError, RestorePolicy, SnapshotStore, TaskGlue};

/// The current unix time in seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// What restoring the token gave: the token to install and the outcome.
type TokenOutcome = (Option<Arc<AccessToken>>, RestoreOutcome);

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
        let (task, leg) = match TaskKey::parse_execution(execution_key) {
            Ok(parsed) => parsed,
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
        let task = task.into_owned();
        let span = tracing::info_span!(
            "taskctx.restore",
            task_id = %task.task_id(),
            leg = leg.get(),
            scope = %self.scope_fingerprint(task.scope()),
            outcome = tracing::field::Empty,
        );
        let result = self.restore_task(task, leg).instrument(span.clone()).await;
        span.record(
            "outcome",
            match &result {
                Ok(context) => context.outcome().as_str(),
                Err(_) => "refused",
            },
        );
        result.map(Some)
    }

    async fn restore_task(
        &self,
        task: TaskKey<'static>,
        leg: Leg,
    ) -> Result<TaskContext, RestoreError> {
        let inner = &self.inner;
        let task_id = || task.task_id().as_str().to_owned();
        let snapshot_key = inner.keys.snapshot_key(task.scope(), task.task_id());
        let (outcome, error) = match inner.store.load(&snapshot_key).await {
            Err(error) => (RestoreOutcome::StoreFailed, RestoreError::Store(error)),
            Ok(None) => (
                RestoreOutcome::Missing,
                RestoreError::Missing { task_id: task_id() },
            ),
            Ok(Some(stored)) => match inner.codec.decode(&stored, &snapshot_key) {
                Err(error) => (RestoreOutcome::Undecodable, RestoreError::Decode(error)),
                Ok(snapshot) => {
                    if scope_of(&snapshot).is_ok_and(|scope| scope.as_ref() == task.scope()) {
                        return self.install(task, leg, snapshot).await;
                    }
                    (
                        RestoreOutcome::ScopeMismatch,
                        RestoreError::ScopeMismatch { task_id: task_id() },
                    )
                }
            },
        };
        match inner.policy {
            RestorePolicy::FailClosed => {
                tracing::warn!(%error, "task context not restored: task refused");
                Err(error)
            }
            RestorePolicy::FailOpen => {
                tracing::warn!(%error, "task context not restored: task runs with no caller");
                Ok(TaskContext::new(
                    task,
                    leg,
                    outcome,
                    CallerParts::default(),
                    inner.id,
                ))
            }
        }
    }

    /// Builds the context of a decoded snapshot of the task's scope: the token checked for expiry
    /// (and refreshed), the headers with the policy's secret marks.
    async fn install(
        &self,
        task: TaskKey<'static>,
        leg: Leg,
        mut snapshot: TaskContextSnapshot,
    ) -> Result<TaskContext, RestoreError> {
        let trace = TraceContext {
            traceparent: snapshot.traceparent().map(str::to_owned),
            tracestate: snapshot.tracestate().map(str::to_owned),
        };
        let captured = snapshot.take_access_token().map(Arc::new);
        let (access_token, outcome) = match captured.clone() {
            None => (None, RestoreOutcome::Restored),
            Some(token) => self.check_token(&task, token).await?,
        };
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
        let caller = CallerParts {
            access_token,
            headers: headers.map(Arc::new),
            session_id: snapshot.session_id().map(Arc::from),
            origin_request_id: snapshot.origin_request_id().map(str::to_owned),
            trace,
            owning_tool_name: snapshot.owning_tool_name().map(str::to_owned),
            owning_tool_version: snapshot.owning_tool_version().map(str::to_owned),
        };
        Ok(TaskContext::new(task, leg, outcome, caller, self.inner.id))
    }

    /// The token to install: the restored one while valid; a refreshed one when it has expired
    /// or expires within the margin and a refresher is configured; none when it has expired
    /// (FailOpen).
    async fn check_token(
        &self,
        task: &TaskKey<'static>,
        token: Arc<AccessToken>,
    ) -> Result<TokenOutcome, RestoreError> {
        let inner = &self.inner;
        let task_id = || task.task_id().as_str().to_owned();
        let now = unix_now();
        let expired = token.is_expired(now);
        let refresher = inner.refresher.as_ref().filter(|refresher| {
            let margin = i64::try_from(refresher.margin.as_secs()).unwrap_or(i64::MAX);
            token.is_expired(now.saturating_add(margin))
        });
        let Some(refresher) = refresher else {
            if !expired {
                return Ok((Some(token), RestoreOutcome::Restored));
            }
            return match inner.policy {
                RestorePolicy::FailClosed => {
                    tracing::warn!("access token expired: task refused");
                    Err(RestoreError::ExpiredToken { task_id: task_id() })
                }
                RestorePolicy::FailOpen => {
                    tracing::warn!("access token expired: task runs without it");
                    Ok((None, RestoreOutcome::ExpiredToken))
                }
            };
        };
        let request = RefreshRequest::new(task.clone(), Arc::clone(&token));
        let failure = match refresher.refresh(request).await {
            Err(source) => RestoreError::Refresh {
                task_id: task_id(),
                source,
            },
            Ok(refreshed) => {
                if scope_of_token(&refreshed).ok().as_ref() != task.scope() {
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
                Ok((Some(token), RestoreOutcome::Restored))
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
        let restored = self.restore(execution_key).await?;
        Ok(context::scope(restored.map(Arc::new), future).await)
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
