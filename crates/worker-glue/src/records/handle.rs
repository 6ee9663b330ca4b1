//! [`TaskRecords`]: typed record operations by scope and task id, each one atomic store call and
//! one audit event.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use taskctx_scope::{KeySpace, Scope, TaskId};
use taskctx_snapshot::SnapshotCodec;

use super::{
    Change, Claim, CreateError, Creation, Effect, Job, NewRecord, Outcome, RecordError, Renewal,
    Settle, TaskRecord, TaskRecordStore, TaskRef, TaskStatus, jobs_key,
};
use crate::fingerprint::FingerprintKey;

/// One queue's task records: what servers (any replica) and workers (any process) call.
///
/// Every method is one atomic call of the [`TaskRecordStore`] and, when it changed the task, one
/// `tracing` event at `INFO` (`task created`, `task claimed`, `task status message`, `task input
/// requested`, `task input delivered`, `task completed`, `task failed`, `task cancelled`) with the
/// fields `task_id`, `scope` (the [`ScopeFingerprint`](crate::ScopeFingerprint)), `status` and
/// `leg`; never the scope, token, result or input. A task that does not exist (never created,
/// expired, or of another scope) is `Ok(None)`, whatever the operation.
///
/// Cheap to clone: clones share one store.
#[derive(Clone)]
pub struct TaskRecords {
    store: Arc<dyn TaskRecordStore>,
    keys: KeySpace,
    codec: Arc<dyn SnapshotCodec>,
    fingerprints: FingerprintKey,
}

impl fmt::Debug for TaskRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRecords")
            .field("store", &self.store)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// What the store answered that the change cannot produce.
const UNEXPECTED: RecordError = RecordError::Corrupt {
    what: "the store answered with an effect this change cannot have",
};

impl TaskRecords {
    /// The records of the queue `keys` in `store`; snapshots are encoded with `codec`, scopes
    /// fingerprinted in events with `fingerprints`. (A [`TaskGlue`](crate::TaskGlue) builds its
    /// own from its store, keyspace, codec and fingerprint key:
    /// [`TaskGlue::records`](crate::TaskGlue::records).)
    #[must_use]
    pub fn new(
        store: Arc<dyn TaskRecordStore>,
        keys: KeySpace,
        codec: Arc<dyn SnapshotCodec>,
        fingerprints: FingerprintKey,
    ) -> Self {
        Self {
            store,
            keys,
            codec,
            fingerprints,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn TaskRecordStore> {
        &self.store
    }

    /// The queue's keyspace.
    #[must_use]
    pub fn keys(&self) -> &KeySpace {
        &self.keys
    }

    fn task<'a>(&'a self, scope: Option<&'a Scope<'a>>, task_id: &'a TaskId<'a>) -> TaskRef<'a> {
        TaskRef::new(&self.keys, scope, task_id)
    }

    fn event(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        what: &str,
        record: &TaskRecord,
    ) {
        tracing::info!(
            task_id = %task_id,
            scope = %self.fingerprints.fingerprint(scope),
            status = %record.status(),
            leg = record.leg().get(),
            "task {what}"
        );
    }

    /// Creates the task: its record (`working`, leg 1) and its snapshot (encoded with the
    /// queue's codec under the task's snapshot key), with the record's TTL, in one atomic write —
    /// only when the task's scope has fewer unfinished tasks than
    /// [`NewRecord::max_unfinished`], and with its job pushed onto the job list when it is
    /// queued ([`NewRecord::job`]). Returns the record as stored.
    ///
    /// # Errors
    /// [`CreateError::TooMany`] and [`CreateError::Duplicate`] (nothing written),
    /// [`CreateError::Encode`], [`CreateError::Record`] ([`RecordError::NoJobQueue`] for a queued
    /// task on a store without a job list).
    pub async fn create(&self, new: NewRecord<'_>) -> Result<TaskRecord, CreateError> {
        let (scope, task_id) = (new.key.scope(), new.key.task_id());
        if new.job.is_some() && !self.store.queues_jobs() {
            return Err(CreateError::Record(RecordError::NoJobQueue));
        }
        let snapshot_key = self.keys.snapshot_key(scope, task_id);
        let encoded = self
            .codec
            .encode(new.snapshot, &snapshot_key)
            .map_err(CreateError::Encode)?;
        let entries = [(snapshot_key.as_str(), encoded.as_slice())];
        let entry = new.job.map(|payload| Job::entry(new.key, payload));
        let mut init = new.init;
        init.job = entry.as_deref();
        let task = self.task(scope, task_id);
        match self.store.create_record(task, init, &entries).await? {
            Creation::Created(record) => {
                self.event(scope, task_id, "created", &record);
                Ok(record)
            }
            Creation::Duplicate => Err(CreateError::Duplicate),
            Creation::TooMany { limit } => Err(CreateError::TooMany { limit }),
        }
    }

    /// Takes the next queued task's [`Job`] from the store's job list ([`NewRecord::job`]),
    /// waiting up to `wait` for one; `Ok(None)` when none came. Each job is taken by one caller.
    /// The worker then runs it with [`run_leased`](Self::run_leased) (rmcp:
    /// `OwnedTasks::run_remote`), under the job's task key.
    ///
    /// On Redis the wait is one `BLPOP` on a connection of its own, at most half the store's
    /// response timeout long (a longer `wait` is shortened to that: callers loop). Dropping the
    /// future while it waits closes that connection, so no job is taken for it afterwards; a job
    /// the server handed out just before is lost with it, so a worker that stops had better let
    /// its last call return (within `wait`) than drop it.
    ///
    /// # Errors
    /// [`RecordError::NoJobQueue`] for a store without a job list, [`RecordError::Store`], and
    /// [`RecordError::Corrupt`] for an entry that names no task (it is taken off the list).
    pub async fn next_job(&self, wait: Duration) -> Result<Option<Job>, RecordError> {
        let list = jobs_key(&self.keys);
        let Some(entry) = self.store.next_job(&list, wait).await? else {
            return Ok(None);
        };
        let job = Job::parse(&entry)?;
        tracing::debug!(
            task_id = %job.task().task_id(),
            scope = %self.fingerprints.fingerprint(job.task().scope()),
            "task job taken"
        );
        Ok(Some(job))
    }

    /// The task's record; a poll: every key of the task gets its full TTL again, at most once a
    /// second (a tenth of the TTL, when shorter), so the task lives at least its TTL less that
    /// after any poll.
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn get(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
    ) -> Result<Option<TaskRecord>, RecordError> {
        self.store.get_record(self.task(scope, task_id)).await
    }

    async fn change(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        change: Change<'_>,
    ) -> Result<Option<(Effect, TaskRecord)>, RecordError> {
        self.store
            .change_record(self.task(scope, task_id), change)
            .await
    }

    /// Settles the task as `cancelled` and sets its cancel request, unless it is terminal: the
    /// cancel is reported at once, and the running code sees
    /// [`TaskRecord::is_cancel_requested`] at its next [`renew`](Self::renew) or
    /// [`get`](Self::get). A terminal task is left as it is ([`Settle::AlreadySettled`]).
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn cancel(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
    ) -> Result<Option<Settle>, RecordError> {
        self.settle_with(scope, task_id, Change::Cancel).await
    }

    /// Settles the task with `outcome`, unless it is terminal: exactly once, whoever calls first
    /// (a settle after a cancel gets [`Settle::AlreadySettled`] with the `cancelled` record).
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn settle(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        outcome: &Outcome,
    ) -> Result<Option<Settle>, RecordError> {
        self.settle_with(scope, task_id, Change::Settle(outcome))
            .await
    }

    /// Settles the task as `failed` with `error` (JSON) when a worker claimed it and its lease
    /// has run out (the worker died or stalled), for a task that is not to run again; otherwise
    /// [`Settle::NotAbandoned`] or [`Settle::AlreadySettled`].
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn fail_abandoned(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        error: &str,
    ) -> Result<Option<Settle>, RecordError> {
        self.settle_with(scope, task_id, Change::FailAbandoned(error))
            .await
    }

    async fn settle_with(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        change: Change<'_>,
    ) -> Result<Option<Settle>, RecordError> {
        let Some((effect, record)) = self.change(scope, task_id, change).await? else {
            return Ok(None);
        };
        let settle = match effect {
            Effect::Applied => {
                let what = match record.status() {
                    TaskStatus::Completed => "completed",
                    TaskStatus::Failed => "failed",
                    TaskStatus::Cancelled => "cancelled",
                    TaskStatus::Working | TaskStatus::InputRequired => return Err(UNEXPECTED),
                };
                self.event(scope, task_id, what, &record);
                Settle::Settled(record)
            }
            Effect::AlreadySettled => Settle::AlreadySettled(record),
            Effect::NotAbandoned => Settle::NotAbandoned(record),
            _ => return Err(UNEXPECTED),
        };
        Ok(Some(settle))
    }

    /// Sets (or with `None` clears) the status message; a terminal task is left as it is.
    /// Returns the record.
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn set_status_message(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        message: Option<&str>,
    ) -> Result<Option<TaskRecord>, RecordError> {
        let Some((effect, record)) = self
            .change(scope, task_id, Change::StatusMessage(message))
            .await?
        else {
            return Ok(None);
        };
        match effect {
            Effect::Applied => self.event(scope, task_id, "status message", &record),
            Effect::AlreadySettled => {}
            _ => return Err(UNEXPECTED),
        }
        Ok(Some(record))
    }

    /// Adds input requests `(request id, JSON)` and moves the task to `input_required`. A request
    /// whose id already has a response is not reopened: code that runs the task again and asks
    /// under the same id finds the response in the record returned, and the task stays `working`
    /// when every request is answered.
    ///
    /// # Errors
    /// [`RecordError::Settled`] for a terminal task; [`RecordError::Store`],
    /// [`RecordError::Corrupt`].
    pub async fn request_input(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        requests: &[(&str, &str)],
    ) -> Result<Option<TaskRecord>, RecordError> {
        self.input(
            scope,
            task_id,
            Change::RequestInput(requests),
            "input requested",
        )
        .await
    }

    /// Stores input responses `(request id, JSON)`, each answering an outstanding request; once
    /// none is outstanding, an `input_required` task moves to `working` and its leg goes one up
    /// (the next leg is what a worker runs to continue the task).
    ///
    /// # Errors
    /// [`RecordError::UnexpectedInput`] when a response answers no outstanding request (nothing
    /// is stored); [`RecordError::Settled`] for a terminal task; [`RecordError::Store`],
    /// [`RecordError::Corrupt`].
    pub async fn provide_input(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        responses: &[(&str, &str)],
    ) -> Result<Option<TaskRecord>, RecordError> {
        self.input(
            scope,
            task_id,
            Change::ProvideInput(responses),
            "input delivered",
        )
        .await
    }

    async fn input(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        change: Change<'_>,
        what: &str,
    ) -> Result<Option<TaskRecord>, RecordError> {
        let Some((effect, record)) = self.change(scope, task_id, change).await? else {
            return Ok(None);
        };
        match effect {
            Effect::Applied => {
                self.event(scope, task_id, what, &record);
                Ok(Some(record))
            }
            Effect::AlreadySettled => Err(RecordError::Settled {
                status: record.status(),
            }),
            Effect::UnexpectedInput => Err(RecordError::UnexpectedInput),
            _ => Err(UNEXPECTED),
        }
    }

    /// Gives `worker` the task's lease for `lease`, unless another worker holds a live one or
    /// the task is terminal. The same worker may claim again (its lease is renewed). Once a
    /// lease runs out, any worker may claim the task: it runs at least once, maybe more.
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn claim(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Claim>, RecordError> {
        let change = Change::Claim { worker, lease };
        let Some((effect, record)) = self.change(scope, task_id, change).await? else {
            return Ok(None);
        };
        Ok(Some(match effect {
            Effect::Applied => {
                self.event(scope, task_id, "claimed", &record);
                Claim::Claimed(record)
            }
            Effect::LeaseHeld => Claim::Held(record),
            Effect::AlreadySettled => Claim::Settled(record),
            _ => return Err(UNEXPECTED),
        }))
    }

    /// Extends `worker`'s lease to `lease` from now, if it still holds it and the task is not
    /// terminal. The record returned tells the running code about a cancel request.
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn renew(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Renewal>, RecordError> {
        let change = Change::Renew { worker, lease };
        let Some((effect, record)) = self.change(scope, task_id, change).await? else {
            return Ok(None);
        };
        Ok(Some(match effect {
            Effect::Applied => Renewal::Renewed(record),
            Effect::LeaseLost | Effect::AlreadySettled => Renewal::Lost(record),
            _ => return Err(UNEXPECTED),
        }))
    }

    /// Drops `worker`'s lease, if it holds it (for example when its leg ends waiting for
    /// input). Returns the record.
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`].
    pub async fn release(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        worker: &str,
    ) -> Result<Option<TaskRecord>, RecordError> {
        match self
            .change(scope, task_id, Change::Release { worker })
            .await?
        {
            None => Ok(None),
            Some((Effect::Applied | Effect::LeaseLost, record)) => Ok(Some(record)),
            Some(_) => Err(UNEXPECTED),
        }
    }
}
