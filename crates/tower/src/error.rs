//! The error of a [`TaskContextService`](crate::TaskContextService): the task's context was
//! refused, or the inner service failed.

use std::error::Error;
use std::fmt;

use taskctx_worker_glue::RestoreError;
use taskctx_worker_glue::records::{RecordError, TaskStatus};

/// Why a job run through [`TaskContextService`](crate::TaskContextService) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskContextError<E> {
    /// The task's context was refused before the inner service was called (only under
    /// [`RestorePolicy::FailClosed`](taskctx_worker_glue::RestorePolicy::FailClosed): a missing,
    /// undecodable or expired snapshot, a store failure, a malformed task key, …). The cause is
    /// the [`source`](Error::source).
    Restore(RestoreError),
    /// The inner service failed; shown as the inner error's own message (match the variant to
    /// reach the error and its sources).
    Service(E),
    /// With [`settle_records`](crate::TaskContextLayer::settle_records): the job's task has
    /// already settled (cancelled before the job ran, or run by another delivery of the job), so
    /// the inner service was not called. Nothing is left to do for this job: a job system that
    /// retries failed jobs (apalis does) gets this answer again on each retry; an outer layer
    /// may count it as done.
    Settled {
        /// How the task settled.
        status: TaskStatus,
    },
    /// With [`settle_records`](crate::TaskContextLayer::settle_records): another worker holds
    /// the job's task under a live lease, so the inner service was not called. A retry after
    /// that lease has run out (its worker died) runs the job.
    Held,
    /// With [`settle_records`](crate::TaskContextLayer::settle_records): the task record store
    /// failed, before the job ran (its lease could not be claimed; the inner service was not
    /// called) or after (its outcome could not be stored: a retry runs it again). The cause is
    /// the [`source`](Error::source).
    Record(RecordError),
}

impl<E> TaskContextError<E> {
    /// The restore error, when the task was refused.
    #[must_use]
    pub const fn restore_error(&self) -> Option<&RestoreError> {
        match self {
            Self::Restore(error) => Some(error),
            _ => None,
        }
    }

    /// The inner service's error, when the job ran and failed.
    #[must_use]
    pub fn into_service_error(self) -> Option<E> {
        match self {
            Self::Service(error) => Some(error),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskContextError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Restore(_) => f.write_str("the task's context was not restored: job refused"),
            Self::Service(error) => error.fmt(f),
            Self::Settled { status } => {
                write!(
                    f,
                    "the job's task has already settled as {status}: job not run"
                )
            }
            Self::Held => f.write_str("another worker holds the job's task: job not run"),
            Self::Record(_) => f.write_str("the task record store failed"),
        }
    }
}

/// The inner error is the variant's own value, not a [`source`](Error::source): tower and apalis
/// services fail with boxed errors (`Box<dyn Error + Send + Sync>`), which are not `Error`
/// themselves, so any displayable error type is accepted and shown as it is.
impl<E: fmt::Debug + fmt::Display> Error for TaskContextError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Restore(error) => Some(error),
            Self::Record(error) => Some(error),
            Self::Service(_) | Self::Settled { .. } | Self::Held => None,
        }
    }
}
