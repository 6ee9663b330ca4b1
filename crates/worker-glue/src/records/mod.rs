//! Task records: the state of an MCP task (SEP-2663) kept in the store beside its snapshot, so
//! that every replica answers for every task and any worker runs it.
//!
//! A [`TaskRecord`] holds a task's status, status message, times, TTL, poll interval, result or
//! error, cancel request, input requests and responses, current leg and worker lease. It is kept
//! under the task's full identity, its scope and id ([`TaskRef`]), never under the id alone.
//!
//! [`TaskRecordStore`] is the interface (three methods: create, get, change), implemented by
//! [`MemoryStore`](crate::MemoryStore) and [`RedisStore`](crate::RedisStore) beside their
//! [`SnapshotStore`] methods, and by any store of an application's own. [`TaskRecords`] is what
//! servers and workers call: typed operations by scope and task id, each one atomic request
//! and one `tracing` event. A [`TaskGlue`](crate::TaskGlue) whose store keeps records hands out
//! its [`TaskRecords`] ([`TaskGlue::records`](crate::TaskGlue::records)). Workers run a task's
//! code with [`TaskRecords::run_leased`]: claim its lease, renew it while the code runs, settle
//! the record with the outcome.
//!
//! ```
//! use std::time::Duration;
//! use taskctx_worker_glue::prelude::*;
//! use taskctx_worker_glue::records::{self, NewRecord, Outcome, Settle, TaskStatus};
//! use taskctx_worker_glue::Ttl;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let glue: TaskGlue = TaskGlue::builder().store_url("memory://records-example").build()?;
//!     let records = glue.records().ok_or("memory stores keep task records")?;
//!
//!     // Server (any replica): create the task, its record and snapshot in one atomic write.
//!     let snapshot = TaskContextSnapshot::new();
//!     let key = TaskKey::new(None, records::new_task_id()?, TaskType::TOOL, Component::new("my_tool"));
//!     let ttl = Ttl::from_secs(60).ok_or("a TTL is at least 1 s")?;
//!     let created = records
//!         .create(NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1)).max_unfinished(10))
//!         .await?;
//!     assert_eq!(created.status(), TaskStatus::Working);
//!
//!     // Worker (any process): settle it, exactly once.
//!     let outcome = Outcome::Completed(r#"{"content":[]}"#.to_owned());
//!     let settled = records.settle(key.scope(), key.task_id(), &outcome).await?;
//!     assert!(matches!(settled, Some(Settle::Settled(_))));
//!
//!     // Any replica: the record, by scope and id.
//!     let record = records.get(key.scope(), key.task_id()).await?.ok_or("just created")?;
//!     assert_eq!(record.status(), TaskStatus::Completed);
//!     assert_eq!(record.outcome(), Some(&outcome));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **Atomic.** Every change is one atomic request: on Redis one Lua script (`EVALSHA`), in
//!   memory one critical section. A poll ([`TaskRecords::get`]) reads the whole record at once
//!   (Redis: `HGETALL`) and slides the TTLs with a second atomic call when due.
//!   [`TaskRecords::create`] writes the record and the snapshot (and the job of a queued task)
//!   together, and only when the scope is under its limit of unfinished tasks.
//! - **Settled exactly once.** A task leaves `working` / `input_required` once: the first of
//!   [`TaskRecords::settle`], [`TaskRecords::cancel`] and [`TaskRecords::fail_abandoned`] wins and
//!   the others see [`Settle::AlreadySettled`] with the winner's record; a terminal record never
//!   changes again.
//! - **At least once.** A worker runs a task while it holds the task's lease
//!   ([`TaskRecords::claim`], kept with [`TaskRecords::renew`]). A lease that runs out (its worker
//!   died or stalled) lets another worker claim the task and run it again, so a task's code may
//!   run more than once; its first settle is the one reported.
//! - **Sliding TTL.** [`TaskRecords::get`] (a poll) gives every key of the task (record,
//!   snapshot, the owner's count entry) the task's full TTL again, as the reference does, at
//!   most once a second (once a tenth of the TTL, when that is shorter): a poll less than that
//!   after the last slide reads the record and writes nothing. After any poll the task lives at
//!   least its TTL less that second.
//! - **Audit without secrets.** Each lifecycle step is one `tracing` event with the task id and
//!   the scope's [`ScopeFingerprint`](crate::ScopeFingerprint); never the scope, token, result or
//!   input. `Debug` of a record shows the sizes of its result, error, inputs and status message,
//!   not their text.

mod handle;
mod lease;
mod memory;
mod redis;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use taskctx_scope::{KeySpace, KeySuffix, Leg, Scope, TaskId, TaskKey};
use taskctx_snapshot::{EncodeError, TaskContextSnapshot};

use crate::store::{SnapshotStore, StoreError, Ttl};

pub use handle::TaskRecords;
pub use lease::{DEFAULT_LEASE, Leased, MIN_LEASE};

/// The random bytes in a task id made by [`new_task_id`]: 16 (128 bits).
pub const TASK_ID_RANDOM_BYTES: usize = 16;

/// A new task id: 16 random bytes from the operating system, as url-safe base64 without padding
/// (22 characters of `A-Z a-z 0-9 - _`, 128 bits of randomness).
///
/// ```
/// let id = taskctx_worker_glue::records::new_task_id()?;
/// assert_eq!(id.as_str().len(), 22);
/// # Ok::<(), taskctx_worker_glue::records::RecordError>(())
/// ```
///
/// # Errors
/// [`RecordError::Randomness`] when the random source fails.
pub fn new_task_id() -> Result<TaskId<'static>, RecordError> {
    let mut bytes = [0_u8; TASK_ID_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| RecordError::Randomness)?;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    TaskId::new(text).map_err(|_| RecordError::Randomness)
}

/// A task's status (SEP-2663).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskStatus {
    /// Running or waiting to run.
    Working,
    /// Waiting for input responses ([`TaskRecords::provide_input`]).
    InputRequired,
    /// Finished with a result (terminal).
    Completed,
    /// Finished with an error (terminal).
    Failed,
    /// Cancelled (terminal).
    Cancelled,
}

impl TaskStatus {
    /// The wire name: `working`, `input_required`, `completed`, `failed` or `cancelled`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::InputRequired => "input_required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status of a wire name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "working" => Self::Working,
            "input_required" => Self::InputRequired,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether the task has finished (`completed`, `failed` or `cancelled`): its record no longer
    /// changes.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a task finished. The JSON texts are opaque to the store (an adapter keeps, for example,
/// rmcp's `CallToolResult` or error object there).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A result, as JSON text.
    Completed(String),
    /// An error, as JSON text.
    Failed(String),
    /// Cancelled.
    Cancelled,
}

impl Outcome {
    /// The status this outcome settles a task as.
    #[must_use]
    pub const fn status(&self) -> TaskStatus {
        match self {
            Self::Completed(_) => TaskStatus::Completed,
            Self::Failed(_) => TaskStatus::Failed,
            Self::Cancelled => TaskStatus::Cancelled,
        }
    }
}

/// Shows the size of the JSON only: results and errors may hold user data.
impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Completed(json) => write!(f, "Completed({} bytes)", json.len()),
            Self::Failed(json) => write!(f, "Failed({} bytes)", json.len()),
            Self::Cancelled => f.write_str("Cancelled"),
        }
    }
}

/// A worker's hold on a task: who runs it, and until when (unix milliseconds, the store's clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    worker: String,
    until_ms: u64,
}

impl Lease {
    /// A lease of `worker` until `until_ms` (for stores of an application's own).
    #[must_use]
    pub fn new(worker: impl Into<String>, until_ms: u64) -> Self {
        Self {
            worker: worker.into(),
            until_ms,
        }
    }

    /// The worker's id, as given to [`TaskRecords::claim`].
    #[must_use]
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// When the lease runs out, in unix milliseconds.
    #[must_use]
    pub const fn until_ms(&self) -> u64 {
        self.until_ms
    }

    /// Whether the lease still holds at `now_ms`.
    #[must_use]
    pub const fn is_live(&self, now_ms: u64) -> bool {
        self.until_ms > now_ms
    }
}

/// The stored state of one task. Read it through its accessors; stores build it with
/// [`TaskRecord::new`] and the `with_*` methods.
///
/// `Debug` shows the sizes of the status message, result, error and inputs, never their text.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub(crate) status: TaskStatus,
    pub(crate) status_message: Option<String>,
    pub(crate) created_at_ms: u64,
    pub(crate) updated_at_ms: u64,
    pub(crate) ttl: Ttl,
    pub(crate) poll_interval: Duration,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) cancel_requested: bool,
    pub(crate) input_requests: BTreeMap<String, String>,
    pub(crate) input_responses: BTreeMap<String, String>,
    pub(crate) leg: Leg,
    pub(crate) lease: Option<Lease>,
    pub(crate) claims: u32,
}

impl TaskRecord {
    /// A `working` record created at `now_ms`, with no message, outcome, inputs or lease.
    #[must_use]
    pub const fn new(now_ms: u64, ttl: Ttl, poll_interval: Duration, leg: Leg) -> Self {
        Self {
            status: TaskStatus::Working,
            status_message: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            ttl,
            poll_interval,
            outcome: None,
            cancel_requested: false,
            input_requests: BTreeMap::new(),
            input_responses: BTreeMap::new(),
            leg,
            lease: None,
            claims: 0,
        }
    }

    /// The status.
    #[must_use]
    pub const fn status(&self) -> TaskStatus {
        self.status
    }

    /// Whether the task has finished (its status is terminal).
    #[must_use]
    pub const fn is_settled(&self) -> bool {
        self.status.is_terminal()
    }

    /// The status message, if one was set.
    #[must_use]
    pub fn status_message(&self) -> Option<&str> {
        self.status_message.as_deref()
    }

    /// When the task was created, in unix milliseconds (the store's clock).
    #[must_use]
    pub const fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// When the record last changed, in unix milliseconds (the store's clock).
    #[must_use]
    pub const fn updated_at_ms(&self) -> u64 {
        self.updated_at_ms
    }

    /// The task's actual TTL: every key of the task lives this long after its creation or its
    /// last poll ([`TaskRecords::get`]), less at most a second (a tenth of the TTL, when
    /// shorter): a poll that soon after the last slide does not slide again.
    #[must_use]
    pub const fn ttl(&self) -> Ttl {
        self.ttl
    }

    /// The poll interval announced to the client.
    #[must_use]
    pub const fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// How the task finished: `Some` exactly when the status is terminal.
    #[must_use]
    pub const fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Whether a cancel was requested ([`TaskRecords::cancel`]); the running code should stop.
    #[must_use]
    pub const fn is_cancel_requested(&self) -> bool {
        self.cancel_requested
    }

    /// The outstanding input requests, by request id (JSON texts).
    #[must_use]
    pub const fn input_requests(&self) -> &BTreeMap<String, String> {
        &self.input_requests
    }

    /// The input responses delivered, by request id (JSON texts). They stay for the task's
    /// lifetime: code that runs again and asks under the same id finds its response.
    #[must_use]
    pub const fn input_responses(&self) -> &BTreeMap<String, String> {
        &self.input_responses
    }

    /// The current leg: 1 at creation, one more each time all input requests are answered.
    #[must_use]
    pub const fn leg(&self) -> Leg {
        self.leg
    }

    /// The worker lease, if a worker claimed the task (it may have run out: see
    /// [`Lease::is_live`]). Cleared when the task settles.
    #[must_use]
    pub const fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// How many times the task was claimed by a worker (more than once: it ran again).
    #[must_use]
    pub const fn claims(&self) -> u32 {
        self.claims
    }

    /// Sets the status message (for stores of an application's own).
    #[must_use]
    pub fn with_status_message(mut self, message: Option<String>) -> Self {
        self.status_message = message;
        self
    }
}

impl fmt::Debug for TaskRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes = |map: &BTreeMap<String, String>| map.values().map(String::len).sum::<usize>();
        f.debug_struct("TaskRecord")
            .field("status", &self.status)
            .field(
                "status_message_len",
                &self.status_message.as_ref().map(String::len),
            )
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .field("ttl", &self.ttl)
            .field("poll_interval", &self.poll_interval)
            .field("outcome", &self.outcome)
            .field("cancel_requested", &self.cancel_requested)
            .field("input_requests", &self.input_requests.len())
            .field("input_requests_bytes", &sizes(&self.input_requests))
            .field("input_responses", &self.input_responses.len())
            .field("input_responses_bytes", &sizes(&self.input_responses))
            .field("leg", &self.leg)
            .field("lease", &self.lease)
            .field("claims", &self.claims)
            .finish()
    }
}

/// A task to create with [`TaskRecords::create`]: its caller's snapshot, its key (scope, id, type,
/// component), TTL and poll interval, and optionally a status message and the scope's limit of
/// unfinished tasks.
pub struct NewRecord<'a> {
    pub(crate) snapshot: &'a TaskContextSnapshot,
    pub(crate) key: &'a TaskKey<'a>,
    pub(crate) init: RecordInit<'a>,
    /// The payload of the task's job, when it is queued.
    pub(crate) job: Option<&'a str>,
}

impl<'a> NewRecord<'a> {
    /// Task `key` for the caller of `snapshot`, kept for `ttl` after creation and after each poll,
    /// polled every `poll_interval`; leg 1, no status message, no limit.
    #[must_use]
    pub const fn new(
        snapshot: &'a TaskContextSnapshot,
        key: &'a TaskKey<'a>,
        ttl: Ttl,
        poll_interval: Duration,
    ) -> Self {
        Self {
            snapshot,
            key,
            init: RecordInit::new(ttl, poll_interval),
            job: None,
        }
    }

    /// The first status message.
    #[must_use]
    pub const fn status_message(mut self, message: Option<&'a str>) -> Self {
        self.init.status_message = message;
        self
    }

    /// At most `limit` unfinished tasks for the task's scope (anonymous tasks count as one
    /// scope); 0 means no limit. Checked and counted atomically with the write.
    #[must_use]
    pub const fn max_unfinished(mut self, limit: u32) -> Self {
        self.init.max_unfinished = NonZeroU32::new(limit);
        self
    }

    /// Queues the task: the same atomic write that creates it pushes a [`Job`] with `payload`
    /// (what to run: a tool's name and arguments, say) onto the store's job list, from which any
    /// worker takes it with [`TaskRecords::next_job`]. The store must keep a job list
    /// ([`TaskRecordStore::queues_jobs`]; `memory://` and Redis do), or the create fails with
    /// [`RecordError::NoJobQueue`].
    #[must_use]
    pub const fn job(mut self, payload: &'a str) -> Self {
        self.job = Some(payload);
        self
    }
}

impl fmt::Debug for NewRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRecord")
            .field("task_id", self.key.task_id())
            .field("init", &self.init)
            .finish_non_exhaustive()
    }
}

/// What a [`TaskRecordStore`] writes for a new task, besides the snapshot entries.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct RecordInit<'a> {
    /// The task's TTL, for the record and every snapshot entry.
    pub ttl: Ttl,
    /// The poll interval.
    pub poll_interval: Duration,
    /// The first status message.
    pub status_message: Option<&'a str>,
    /// The most unfinished tasks the scope may have, this one included; `None`: no limit.
    pub max_unfinished: Option<NonZeroU32>,
    /// The job to push onto the store's job list ([`TaskRef::jobs_key`]) in the same atomic
    /// write, as a [`Job`]'s text (its task's execution key, a newline, its payload); `None`: the
    /// task is not queued. Only a store whose [`queues_jobs`](TaskRecordStore::queues_jobs) is
    /// `true` is given one.
    pub job: Option<&'a str>,
}

impl RecordInit<'_> {
    /// A record with this TTL and poll interval, no status message and no limit.
    #[must_use]
    pub const fn new(ttl: Ttl, poll_interval: Duration) -> Self {
        Self {
            ttl,
            poll_interval,
            status_message: None,
            max_unfinished: None,
            job: None,
        }
    }
}

impl fmt::Debug for RecordInit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordInit")
            .field("ttl", &self.ttl)
            .field("poll_interval", &self.poll_interval)
            .field("status_message_len", &self.status_message.map(str::len))
            .field("max_unfinished", &self.max_unfinished)
            .field("queued", &self.job.is_some())
            .finish()
    }
}

/// One task's identity in one queue's keyspace: what every [`TaskRecordStore`] call is keyed by.
///
/// Redis layout (SPEC §4 prefixes; `{q}` is the queue prefix, a hash tag in cluster mode, so all
/// keys of a task share one slot):
/// - record: `{q}:fastmcp:task:{auth:Q(scope) | anon}:{task_id}:record` (a hash);
/// - unfinished tasks of the scope: `{q}:taskctx:unfinished:{auth:Q(scope) | anon}` (a sorted set
///   of task ids scored by expiry in unix ms), outside the `fastmcp:task:` namespace so that no
///   task's key can equal it.
///
/// `Debug` shows the task id only.
#[derive(Clone, Copy)]
pub struct TaskRef<'a> {
    keys: &'a KeySpace,
    scope: Option<&'a Scope<'a>>,
    task_id: &'a TaskId<'a>,
}

impl<'a> TaskRef<'a> {
    /// Task `task_id` of `scope` (`None`: anonymous) in the keyspace `keys`.
    #[must_use]
    pub const fn new(
        keys: &'a KeySpace,
        scope: Option<&'a Scope<'a>>,
        task_id: &'a TaskId<'a>,
    ) -> Self {
        Self {
            keys,
            scope,
            task_id,
        }
    }

    /// The keyspace.
    #[must_use]
    pub const fn keys(&self) -> &'a KeySpace {
        self.keys
    }

    /// The scope (`None`: anonymous).
    #[must_use]
    pub const fn scope(&self) -> Option<&'a Scope<'a>> {
        self.scope
    }

    /// The task id.
    #[must_use]
    pub const fn task_id(&self) -> &'a TaskId<'a> {
        self.task_id
    }

    /// The record's key.
    #[must_use]
    pub fn record_key(&self) -> String {
        self.keys
            .task_key(self.scope, self.task_id, KeySuffix::Record)
    }

    /// The key of the store's job list ([`jobs_key`]).
    #[must_use]
    pub fn jobs_key(&self) -> String {
        jobs_key(self.keys)
    }

    /// The key of the scope's set of unfinished tasks.
    #[must_use]
    pub fn unfinished_key(&self) -> String {
        let prefix = self.keys.queue_prefix();
        match self.scope {
            Some(scope) => format!("{prefix}:taskctx:unfinished:auth:{}", scope.encoded()),
            None => format!("{prefix}:taskctx:unfinished:anon"),
        }
    }
}

impl fmt::Debug for TaskRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("task_id", self.task_id)
            .finish_non_exhaustive()
    }
}

/// One change to an existing record ([`TaskRecordStore::change_record`]). Each is applied
/// atomically, and only as its [`Effect`] says.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Change<'a> {
    /// Sets (or with `None` clears) the status message, unless the task is terminal.
    StatusMessage(Option<&'a str>),
    /// Adds input requests `(id, JSON)` and moves the task to `input_required`, unless terminal;
    /// a request whose id already has a response is not reopened (the response stays).
    RequestInput(&'a [(&'a str, &'a str)]),
    /// Stores input responses `(id, JSON)` for outstanding requests (all of them, or none:
    /// [`Effect::UnexpectedInput`]); once no request is outstanding, an `input_required` task
    /// moves to `working` and its leg goes one up.
    ProvideInput(&'a [(&'a str, &'a str)]),
    /// Settles a task that is not terminal as `cancelled` and sets its cancel request.
    Cancel,
    /// Settles a task that is not terminal with this outcome.
    Settle(&'a Outcome),
    /// Gives `worker` the lease for `lease` unless another worker holds a live one.
    Claim {
        /// The worker's id.
        worker: &'a str,
        /// How long the lease lasts.
        lease: Duration,
    },
    /// Extends `worker`'s lease to `lease` from now, if it still holds it.
    Renew {
        /// The worker's id.
        worker: &'a str,
        /// How long the lease lasts from now.
        lease: Duration,
    },
    /// Drops `worker`'s lease, if it holds it.
    Release {
        /// The worker's id.
        worker: &'a str,
    },
    /// Settles the task as `failed` with this error (JSON) if it was claimed and its lease has
    /// run out.
    FailAbandoned(&'a str),
}

/// What a [`Change`] did. Anything but [`Effect::Applied`] left the record unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Effect {
    /// The change was made.
    Applied,
    /// The task is terminal: nothing changed.
    AlreadySettled,
    /// [`Change::Claim`]: another worker holds a live lease.
    LeaseHeld,
    /// [`Change::Renew`], [`Change::Release`]: the worker does not hold the lease.
    LeaseLost,
    /// [`Change::FailAbandoned`]: the task has no lease, or a live one.
    NotAbandoned,
    /// [`Change::ProvideInput`]: a response for a request that is not outstanding.
    UnexpectedInput,
}

/// What [`TaskRecordStore::create_record`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Creation {
    /// Created: the record as stored.
    Created(TaskRecord),
    /// A record of this scope and id exists: nothing was written.
    Duplicate,
    /// The scope already has `limit` unfinished tasks: nothing was written.
    TooMany {
        /// The limit.
        limit: u32,
    },
}

/// What [`TaskRecords::settle`], [`TaskRecords::cancel`] and [`TaskRecords::fail_abandoned`]
/// did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settle {
    /// This call settled the task: its record now.
    Settled(TaskRecord),
    /// The task had already settled (its status says how): its record, unchanged.
    AlreadySettled(TaskRecord),
    /// [`TaskRecords::fail_abandoned`] only: the task is not abandoned (no lease, or a live one);
    /// its record, unchanged.
    NotAbandoned(TaskRecord),
}

impl Settle {
    /// The task's record.
    #[must_use]
    pub const fn record(&self) -> &TaskRecord {
        match self {
            Self::Settled(record) | Self::AlreadySettled(record) | Self::NotAbandoned(record) => {
                record
            }
        }
    }
}

/// What [`TaskRecords::claim`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The worker holds the lease now: run the task.
    Claimed(TaskRecord),
    /// Another worker holds a live lease (see [`TaskRecord::lease`]): do not run it.
    Held(TaskRecord),
    /// The task is terminal: do not run it.
    Settled(TaskRecord),
}

/// What [`TaskRecords::renew`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Renewal {
    /// The lease was extended; the record tells whether a cancel was requested meanwhile.
    Renewed(TaskRecord),
    /// The worker no longer holds the lease (another claimed it, or the task settled): stop.
    Lost(TaskRecord),
}

/// Why a record operation failed (besides an unknown task, which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The store failed.
    #[error("the task record store failed")]
    Store(#[source] StoreError),
    /// The stored record (or the store's answer) cannot be read as a task record.
    #[error("the stored task record is unreadable: {what}")]
    Corrupt {
        /// What is wrong.
        what: &'static str,
    },
    /// [`TaskRecords::provide_input`]: a response for a request the task has not made (or no
    /// longer waits on); nothing was stored.
    #[error("an input response answers no outstanding input request")]
    UnexpectedInput,
    /// [`TaskRecords::request_input`] or [`TaskRecords::provide_input`] on a terminal task.
    #[error("the task has already settled as {status}")]
    Settled {
        /// Its status.
        status: TaskStatus,
    },
    /// The operating system's random source failed.
    #[error("the random source failed")]
    Randomness,
    /// A task was to be queued ([`NewRecord::job`]), or a job taken, on a store that keeps no job
    /// list ([`TaskRecordStore::queues_jobs`]).
    #[error("the task record store keeps no job list")]
    NoJobQueue,
}

/// Why [`TaskRecords::create`] wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// The scope already has `limit` unfinished tasks.
    #[error("too many unfinished tasks (limit {limit})")]
    TooMany {
        /// The limit.
        limit: u32,
    },
    /// A task with this scope and id exists.
    #[error("a task with this id exists")]
    Duplicate,
    /// The snapshot could not be encoded.
    #[error("the task's snapshot could not be encoded")]
    Encode(#[source] EncodeError),
    /// The store failed.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The key of the job list of the key space `keys`: `{queue prefix}:taskctx:jobs`, in the slot
/// of every task key in cluster mode (the queue prefix is a hash tag there), so that a task is
/// created and queued in one atomic call.
#[must_use]
pub fn jobs_key(keys: &KeySpace) -> String {
    format!("{}:taskctx:jobs", keys.queue_prefix())
}

/// A queued task ([`NewRecord::job`]), taken from the job list by [`TaskRecords::next_job`]: the
/// task it runs (its full key: scope, id, type, component) and the job's payload.
///
/// A job is taken by one worker. A worker that dies after taking it and before settling its task
/// does not lose the task's state: the record tells (a task never claimed stays `working` until
/// its TTL; one whose lease ran out is failed by the next poll, see
/// [`TaskRecords::run_leased`]).
pub struct Job {
    task: TaskKey<'static>,
    payload: String,
}

impl Job {
    /// The job of `text`, a job list entry: the task's execution key, a newline, the payload.
    pub(crate) fn parse(text: &str) -> Result<Self, RecordError> {
        const NOT_A_JOB: RecordError = RecordError::Corrupt {
            what: "an entry of the job list names no task",
        };
        let (key, payload) = text.split_once('\n').ok_or(NOT_A_JOB)?;
        let (task, leg) = TaskKey::parse_execution(key).map_err(|_| NOT_A_JOB)?;
        if leg != Leg::FIRST {
            return Err(NOT_A_JOB);
        }
        Ok(Self {
            task: task.into_owned(),
            payload: payload.to_owned(),
        })
    }

    /// The job list entry of `task`'s job with `payload`.
    pub(crate) fn entry(task: &TaskKey<'_>, payload: &str) -> String {
        let mut entry = task.to_key();
        entry.push('\n');
        entry.push_str(payload);
        entry
    }

    /// The task the job runs.
    #[must_use]
    pub const fn task(&self) -> &TaskKey<'static> {
        &self.task
    }

    /// The task's execution key, as a worker hands it to
    /// [`TaskGlue::run`](crate::TaskGlue::run).
    #[must_use]
    pub fn execution_key(&self) -> String {
        self.task.to_key()
    }

    /// The payload given to [`NewRecord::job`].
    #[must_use]
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// Shows the task id and the payload's size: the key names the caller's scope, and the payload
/// may carry the caller's arguments.
impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("task_id", self.task.task_id())
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The future a [`TaskRecordStore`] method returns: boxed, so that stores can be used as `dyn
/// TaskRecordStore`.
pub type RecordFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RecordError>> + Send + 'a>>;

/// A store that keeps task records beside snapshots: [`MemoryStore`](crate::MemoryStore),
/// [`RedisStore`](crate::RedisStore), or an application's own (which also returns itself from
/// [`SnapshotStore::task_records`] so that a [`TaskGlue`](crate::TaskGlue) finds it).
///
/// Every change is one atomic request (a poll reads the record atomically, and may slide the
/// TTLs with a second request); a missing (or expired) task is `Ok(None)`. Times are the store's
/// clock (Redis `TIME`), so that leases mean the same on every replica and worker.
pub trait TaskRecordStore: SnapshotStore {
    /// Creates the record of `task` with `init`, and stores the `snapshot` entries with the same
    /// TTL, in one atomic write — only when no record of `task` exists and the scope is under
    /// `init.max_unfinished`; else nothing is written. Counts the task as unfinished for its
    /// scope until it settles or expires. In cluster mode every key must share the record's slot.
    fn create_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        init: RecordInit<'a>,
        snapshot: &'a [(&'a str, &'a [u8])],
    ) -> RecordFuture<'a, Creation>;

    /// The record of `task`, giving every key of the task (record, snapshot entries, the scope's
    /// unfinished entry) its full TTL again, unless they got it less than a second (a tenth of
    /// the TTL, when shorter) ago.
    fn get_record<'a>(&'a self, task: TaskRef<'a>) -> RecordFuture<'a, Option<TaskRecord>>;

    /// Applies `change` to the record of `task` if [`Change`] allows it; returns what it did and
    /// the record afterwards. Settling releases the scope's unfinished entry.
    fn change_record<'a>(
        &'a self,
        task: TaskRef<'a>,
        change: Change<'a>,
    ) -> RecordFuture<'a, Option<(Effect, TaskRecord)>>;

    /// Whether the store keeps a job list: [`create_record`](Self::create_record) pushes
    /// [`RecordInit::job`] onto it, [`next_job`](Self::next_job) takes from it. `false` unless
    /// implemented (the default `next_job` fails).
    fn queues_jobs(&self) -> bool {
        false
    }

    /// Takes the first entry of the job list `list`, waiting up to `wait` for one to arrive;
    /// `Ok(None)` when none did. Entries are taken once, in the order they were pushed.
    ///
    /// # Errors
    /// [`RecordError::NoJobQueue`] unless implemented; the store's errors.
    fn next_job<'a>(&'a self, list: &'a str, wait: Duration) -> RecordFuture<'a, Option<String>> {
        let _ = (list, wait);
        Box::pin(async { Err(RecordError::NoJobQueue) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_22_url_safe_characters() {
        let first = new_task_id().map(|id| id.as_str().to_owned());
        let second = new_task_id().map(|id| id.as_str().to_owned());
        let (Ok(first), Ok(second)) = (first, second) else {
            unreachable!("the random source works in tests");
        };
        assert_eq!(first.len(), 22);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(first, second);
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            TaskStatus::Working,
            TaskStatus::InputRequired,
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ] {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TaskStatus::parse("done"), None);
    }
}
