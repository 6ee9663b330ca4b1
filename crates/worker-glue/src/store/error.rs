//! The store error type: precise, and free of secrets (URLs are redacted, values never shown).

use std::fmt;
use std::time::Duration;

use super::url::{ACCEPTED_URL_FORMS, RedactedUrl, UrlProblem};

/// The longest excerpt of a key or a server message an error carries.
const EXCERPT_CHARS: usize = 120;

/// Which store call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`SnapshotStore::save`](super::SnapshotStore::save).
    Save,
    /// [`SnapshotStore::load`](super::SnapshotStore::load).
    Load,
    /// [`SnapshotStore::load_with_ttl`](super::SnapshotStore::load_with_ttl).
    LoadWithTtl,
    /// [`SnapshotStore::refresh`](super::SnapshotStore::refresh).
    Refresh,
    /// [`SnapshotStore::delete`](super::SnapshotStore::delete).
    Delete,
    /// [`TaskRecordStore::create_record`](crate::records::TaskRecordStore::create_record).
    CreateRecord,
    /// [`TaskRecordStore::get_record`](crate::records::TaskRecordStore::get_record).
    GetRecord,
    /// [`TaskRecordStore::change_record`](crate::records::TaskRecordStore::change_record).
    ChangeRecord,
    /// [`TaskRecordStore::next_job`](crate::records::TaskRecordStore::next_job).
    NextJob,
}

impl Operation {
    /// Whether doing the call twice has the effect and result of doing it once (all but
    /// [`Operation::Delete`], whose count of deleted keys would differ, the record writes: a
    /// create would find its own record, a settle its own outcome, and taking a job, which would
    /// take two).
    pub(crate) const fn is_idempotent(self) -> bool {
        !matches!(
            self,
            Self::Delete | Self::CreateRecord | Self::ChangeRecord | Self::NextJob
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Save => "save",
            Self::Load => "load",
            Self::LoadWithTtl => "load with TTL",
            Self::Refresh => "refresh",
            Self::Delete => "delete",
            Self::CreateRecord => "create task record",
            Self::GetRecord => "get task record",
            Self::ChangeRecord => "change task record",
            Self::NextJob => "take a job",
        })
    }
}

/// Which wait ran out, mirroring the timeouts of [`StoreConfig`](super::StoreConfig).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Waiting while another call opens the connection this call is to use.
    PoolWait,
    /// Opening a new connection.
    Connect,
    /// Waiting for a reply.
    Response,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PoolWait => "waiting for a connection being opened",
            Self::Connect => "connecting",
            Self::Response => "waiting for the reply",
        })
    }
}

/// Why a store could not be opened or a call failed.
///
/// Messages name the store by its [`RedactedUrl`] (no password) and quote at most
/// 120 characters of any key or server message; values are never included.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL has an unknown scheme or is malformed.
    #[error("invalid store URL `{url}`: {reason}; accepted forms: {ACCEPTED_URL_FORMS}")]
    InvalidUrl {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What is wrong with it.
        reason: UrlProblem,
    },
    /// A `rediss://` or `rediss+cluster://` URL, but this build has no TLS support.
    #[error(
        "store URL `{url}` asks for TLS, but taskctx-worker-glue was built without its `tls` cargo \
         feature; enable it or use a redis:// URL"
    )]
    TlsNotEnabled {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// The connection pool could not be built.
    #[error("could not set up the connection pool for `{url}`: {message}")]
    PoolSetup {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What went wrong.
        message: String,
    },
    /// A connection could not be opened (refused, unreachable, rejected credentials…).
    #[error("{operation}: could not connect to `{url}`: {message}")]
    Connect {
        /// The failed call.
        operation: Operation,
        /// The URL, redacted.
        url: RedactedUrl,
        /// What went wrong.
        message: String,
    },
    /// An open connection broke during the call.
    #[error("{operation}: lost the connection to `{url}`: {message}")]
    ConnectionLost {
        /// The failed call.
        operation: Operation,
        /// The URL, redacted.
        url: RedactedUrl,
        /// What went wrong.
        message: String,
    },
    /// A wait ran out.
    #[error("{operation}: timed out after {after:?} {phase} at `{url}`")]
    Timeout {
        /// The failed call.
        operation: Operation,
        /// The URL, redacted.
        url: RedactedUrl,
        /// Which wait ran out.
        phase: TimeoutPhase,
        /// Its limit.
        after: Duration,
    },
    /// Redis answered with an error or an unexpected reply.
    #[error("{operation}: Redis at `{url}` answered with an error: {message}")]
    Command {
        /// The failed call.
        operation: Operation,
        /// The URL, redacted.
        url: RedactedUrl,
        /// The server's message.
        message: String,
    },
    /// In cluster mode, the keys of one call are not all in one hash slot.
    #[error(
        "{operation}: keys `{first_key}` (slot {first_slot}) and `{other_key}` (slot {other_slot}) \
         are in different Redis Cluster slots; keys saved together must share one hash tag"
    )]
    CrossSlot {
        /// The failed call.
        operation: Operation,
        /// The first key of the call (excerpt).
        first_key: String,
        /// Its slot.
        first_slot: u16,
        /// The first key in another slot (excerpt).
        other_key: String,
        /// Its slot.
        other_slot: u16,
    },
}

/// At most [`EXCERPT_CHARS`] characters of `text`, with `…` when cut.
pub(crate) fn excerpt(text: &str) -> String {
    cut(text, EXCERPT_CHARS)
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(EXCERPT_CHARS + 10);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
