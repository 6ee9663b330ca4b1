//! Restore: find, decode and check a task's snapshot, and run the task inside its context.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use taskctx_scope::{Leg, Scope, TaskKey};
use taskctx_snapshot::SnapshotCodec;
use tracing::Instrument;

use crate::context::{self, Owners, RestoreOutcome, TaskContext};
use crate::submit::scope_of;
use crate::{RestoreError, RestorePolicy, SnapshotStore, TaskGlue};

/// A short, stable fingerprint of a scope for logs (8 hex digits of a hash; `anon` for none):
/// enough to tell tasks of one caller apart from another's, never the scope itself.
#[must_use]
pub fn scope_fingerprint(scope: Option<&Scope<'_>>) -> String {
    scope.map_or_else(
        || "anon".to_owned(),
        |scope| {
            let mut hasher = DefaultHasher::new();
            scope.to_str().hash(&mut hasher);
            format!("{:08x}", hasher.finish() >> 32)
        },
    )
}

impl<Se, Sv> TaskGlue<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// Restores the context of the task named by `execution_key`.
    ///
    /// `Ok(None)` when the key is not a task key (nothing is read). Under
    /// [`RestorePolicy::FailOpen`] every failure is a warning and gives a context with the task's
    /// identity and no caller (an expired token: the context without its token).
    ///
    /// # Errors
    /// Under [`RestorePolicy::FailClosed`]: [`RestoreError::Store`], [`RestoreError::Missing`],
    /// [`RestoreError::Decode`], [`RestoreError::ScopeMismatch`], [`RestoreError::ExpiredToken`].
    pub async fn restore(&self, execution_key: &str) -> Result<Option<TaskContext>, RestoreError> {
        let Ok((task, leg)) = TaskKey::parse_execution(execution_key) else {
            tracing::debug!("not a task key: no context to restore");
            return Ok(None);
        };
        let task = task.into_owned();
        let span = tracing::info_span!(
            "taskctx.restore",
            task_id = %task.task_id(),
            leg = leg.get(),
            scope = %scope_fingerprint(task.scope()),
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
        let owners: Arc<dyn Owners> = inner.registries.clone();
        let task_id = || task.task_id().as_str().to_owned();
        let snapshot_key = inner.keys.snapshot_key(task.scope(), task.task_id());
        let failure = match inner.store.load(&snapshot_key).await {
            Err(error) => (RestoreOutcome::StoreFailed, RestoreError::Store(error)),
            Ok(None) => (
                RestoreOutcome::Missing,
                RestoreError::Missing { task_id: task_id() },
            ),
            Ok(Some(stored)) => match inner.codec.decode(&stored, &snapshot_key) {
                Err(error) => (RestoreOutcome::Undecodable, RestoreError::Decode(error)),
                Ok(snapshot) => {
                    let matches =
                        scope_of(&snapshot).is_ok_and(|scope| scope.as_ref() == task.scope());
                    if !matches {
                        (
                            RestoreOutcome::ScopeMismatch,
                            RestoreError::ScopeMismatch { task_id: task_id() },
                        )
                    } else if snapshot
                        .access_token()
                        .is_some_and(taskctx_snapshot::AccessToken::is_expired_now)
                    {
                        if inner.policy == RestorePolicy::FailClosed {
                            tracing::warn!("access token expired: task refused");
                            return Err(RestoreError::ExpiredToken { task_id: task_id() });
                        }
                        tracing::warn!("access token expired: task runs without it");
                        return Ok(TaskContext::from_snapshot(
                            task,
                            leg,
                            &snapshot,
                            false,
                            Some(owners),
                        ));
                    } else {
                        return Ok(TaskContext::from_snapshot(
                            task,
                            leg,
                            &snapshot,
                            true,
                            Some(owners),
                        ));
                    }
                }
            },
        };
        let (outcome, error) = failure;
        match inner.policy {
            RestorePolicy::FailClosed => {
                tracing::warn!(%error, "task context not restored: task refused");
                Err(error)
            }
            RestorePolicy::FailOpen => {
                tracing::warn!(%error, "task context not restored: task runs with no caller");
                Ok(TaskContext::anonymous(task, leg, outcome, Some(owners)))
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
}
