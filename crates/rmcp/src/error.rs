//! Why a task could not be created, run or reached.

use rmcp::ErrorData as McpError;

/// Why a request's caller could not be captured or bound to a task, or a task's record could not
/// be reached.
///
/// Converts into the JSON-RPC error the client receives: `-32600` (invalid request) for what the
/// caller can change, `-32603` (internal error, generic message) for a store failure. The message
/// names the problem, never a token, header value, scope or another caller's tasks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request's headers that the policy keeps exceed its byte cap.
    #[error("the request's headers could not be captured for the task")]
    Headers(#[source] taskctx_snapshot::CaptureError),
    /// The caller's verified token gives no valid task scope.
    #[error("the caller's access token gives no valid task scope")]
    Scope(#[source] taskctx_worker_glue::KeyError),
    /// The caller already has as many unfinished tasks as one scope may have.
    #[error(
        "too many unfinished tasks for this caller (at most {limit}): retry once one has finished"
    )]
    TooManyTasks {
        /// The configured maximum of unfinished tasks per scope.
        limit: u32,
    },
    /// The key a worker was handed is not a task's execution key.
    #[error("not a task's execution key")]
    ExecutionKey(#[source] taskctx_worker_glue::KeyError),
    /// The task's record and snapshot could not be written (nothing was).
    #[error("the task could not be stored")]
    Create(#[source] taskctx_worker_glue::records::CreateError),
    /// The task store could not be reached or answered with something unreadable.
    #[error("the task store is unavailable")]
    Store(#[source] taskctx_worker_glue::records::RecordError),
    /// The glue's store keeps no task records (an application's own store that does not
    /// implement the glue's `TaskRecordStore`).
    #[error("the glue's store keeps no task records")]
    NoTaskRecords,
}

impl From<Error> for McpError {
    fn from(error: Error) -> Self {
        match error {
            Error::Headers(_) | Error::Scope(_) | Error::TooManyTasks { .. } => {
                Self::invalid_request(error.to_string(), None)
            }
            Error::ExecutionKey(_) | Error::Create(_) | Error::Store(_) | Error::NoTaskRecords => {
                Self::internal_error(error.to_string(), None)
            }
        }
    }
}
