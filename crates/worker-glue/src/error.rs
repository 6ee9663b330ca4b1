//! Errors of configuration, submission and restore.
//!
//! Each variant shows its cause once: either in its own message or as its
//! [`source`](std::error::Error::source), never both.

use std::time::Duration;

use taskctx_scope::KeySuffix;
use taskctx_snapshot::{DecodeError, EncodeError};

use crate::{KeyError, StoreError};

/// An error of the application's own (a token refresher's, for example), carried as a
/// [`source`](std::error::Error::source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`TaskGlue`](crate::TaskGlue) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a store URL nor a store was given.
    #[error("no snapshot store configured: call `store_url` or `store`")]
    NoStore,
    /// Two builder options that cannot be combined were both given.
    #[error("the builder options `{first}` and `{second}` cannot be combined")]
    Conflict {
        /// The first option.
        first: &'static str,
        /// The option that conflicts with it.
        second: &'static str,
    },
    /// An option that only makes sense together with another was given without it.
    #[error("the builder option `{option}` needs `{needs}`")]
    Requires {
        /// The option given.
        option: &'static str,
        /// The option it needs.
        needs: &'static str,
    },
    /// The store URL could not be opened.
    #[error("the snapshot store could not be opened")]
    Store(#[source] StoreError),
    /// The queue name is not usable in a Redis key.
    #[error("invalid queue name")]
    QueueName(#[source] KeyError),
    /// A numeric option outside its documented range.
    #[error("`{option}` is {value}, outside its range {range}")]
    OutOfRange {
        /// The option (a builder or [`StoreConfig`](crate::StoreConfig) method).
        option: &'static str,
        /// The value given.
        value: String,
        /// The range accepted.
        range: &'static str,
    },
    /// The execution TTL plus the 900 s grace exceeds the longest TTL a store accepts.
    #[error("the execution TTL of {secs} s is too long")]
    TtlTooLong {
        /// The execution TTL given, in seconds.
        secs: u64,
    },
    /// The operating system's random source failed while making the scope-fingerprint key.
    #[error("the operating system's random source failed while making the scope-fingerprint key")]
    Randomness,
}

/// Why a task's context could not be stored at submission. Nothing is stored when submit fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The snapshot's access token gives no valid scope (for example a `client_id` with `|`).
    #[error("the snapshot's access token gives no valid scope")]
    Scope(#[source] KeyError),
    /// An extra key names a suffix the glue writes itself (`snapshot`, `record`) or that is the
    /// task's meta key (no suffix).
    #[error("the extra key suffix {suffix:?} is reserved")]
    ReservedSuffix {
        /// The suffix refused.
        suffix: KeySuffix,
    },
    /// The same extra key suffix was given twice.
    #[error("the extra key suffix {suffix:?} was given twice")]
    DuplicateSuffix {
        /// The suffix given twice.
        suffix: KeySuffix,
    },
    /// The snapshot could not be encoded.
    #[error("the task's snapshot could not be encoded")]
    Encode(#[source] EncodeError),
    /// The store refused or failed the write.
    #[error("the task's snapshot could not be stored")]
    Store(#[source] StoreError),
}

/// Why a task was refused before its code ran (only under
/// [`RestorePolicy::FailClosed`](crate::RestorePolicy::FailClosed); under `FailOpen` each of these
/// is a warning and the task runs with no caller, or without the token).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The execution key carries the `auth:` or `anon:` tag but does not parse.
    #[error("the execution key is a malformed task key")]
    MalformedKey(#[source] KeyError),
    /// The store could not be read.
    #[error("the task's snapshot could not be read")]
    Store(#[source] StoreError),
    /// No snapshot is stored for the task (never saved, expired or deleted).
    #[error("no snapshot is stored for task {task_id}")]
    Missing {
        /// The task id (validated: no secrets, bounded length).
        task_id: String,
    },
    /// The stored value could not be decoded (corrupt, tampered, wrong key, plaintext under a
    /// key, ciphertext without one).
    #[error("the task's snapshot could not be decoded")]
    Decode(#[source] DecodeError),
    /// The snapshot's access token has expired (and no refresher renewed it).
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
    /// The token refresher failed.
    #[error("the access token of task {task_id} could not be refreshed")]
    Refresh {
        /// The task id.
        task_id: String,
        /// The refresher's error.
        #[source]
        source: BoxError,
    },
    /// The token refresher did not answer within the refresh timeout
    /// ([`TaskGlueBuilder::refresh_timeout`](crate::TaskGlueBuilder::refresh_timeout)).
    #[error("the token refresher for task {task_id} did not answer within {after:?}")]
    RefreshTimedOut {
        /// The task id.
        task_id: String,
        /// The timeout.
        after: Duration,
    },
    /// The token refresher panicked (the panic ends this task's refresh only).
    #[error("the token refresher panicked while refreshing the token of task {task_id}")]
    RefreshPanicked {
        /// The task id.
        task_id: String,
    },
    /// The token refresher returned a token of another scope than the task's.
    #[error("the refreshed access token of task {task_id} is not of the task's scope")]
    RefreshedScopeMismatch {
        /// The task id.
        task_id: String,
    },
    /// The token refresher returned a token that has already expired (or expires within the
    /// refresh margin).
    #[error("the refreshed access token of task {task_id} is expired or about to expire")]
    RefreshedExpired {
        /// The task id.
        task_id: String,
    },
}
