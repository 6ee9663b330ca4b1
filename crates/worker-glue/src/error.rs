//! Errors of configuration, submission and restore.

use taskctx_snapshot::{DecodeError, EncodeError};

use crate::StoreError;

/// Why a [`TaskGlue`](crate::TaskGlue) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a store URL nor a store was given.
    #[error("no snapshot store configured: call `store_url` or `store`")]
    NoStore,
    /// The store URL could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue name is not usable in a Redis key.
    #[error("invalid queue name: {0}")]
    QueueName(taskctx_scope::Error),
    /// The execution TTL plus the 900 s grace exceeds the longest TTL a store accepts.
    #[error("the execution TTL of {secs} s is too long")]
    TtlTooLong {
        /// The execution TTL given, in seconds.
        secs: u64,
    },
}

/// Why a task's context could not be stored at submission.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The snapshot's access token gives no valid scope (for example a `client_id` with `|`).
    #[error("the snapshot's access token gives no valid scope: {0}")]
    Scope(taskctx_scope::Error),
    /// The task's scope is not the scope of the snapshot's access token.
    #[error("the task's scope does not match the scope of the snapshot's access token")]
    ScopeMismatch,
    /// The snapshot could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The store refused or failed the write.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a task was refused before its code ran (only under
/// [`RestorePolicy::FailClosed`](crate::RestorePolicy::FailClosed); under `FailOpen` each of these
/// is a warning and the task runs with no caller).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The store could not be read.
    #[error("the task's snapshot could not be read: {0}")]
    Store(#[from] StoreError),
    /// No snapshot is stored for the task (never saved, expired or deleted).
    #[error("no snapshot is stored for task {task_id}")]
    Missing {
        /// The task id (validated: no secrets, bounded length).
        task_id: String,
    },
    /// The stored value could not be decoded (corrupt, tampered, wrong key, plaintext under a
    /// key, ciphertext without one).
    #[error("the task's snapshot could not be decoded: {0}")]
    Decode(#[from] DecodeError),
    /// The snapshot's access token has expired.
    #[error("the access token of task {task_id} has expired")]
    ExpiredToken {
        /// The task id.
        task_id: String,
    },
    /// The snapshot's access token belongs to another scope than the task key names.
    #[error("the access token stored for task {task_id} is not of the task's scope")]
    ScopeMismatch {
        /// The task id.
        task_id: String,
    },
}
