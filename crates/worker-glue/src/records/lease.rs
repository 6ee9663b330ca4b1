//! [`TaskRecords::run_leased`]: what every worker does with a task that has a record — claim its
//! lease, renew it while the task's code runs, settle the record with the outcome.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use taskctx_scope::{Scope, TaskId};

use super::{Claim, Outcome, RecordError, Renewal, Settle, TaskRecord, TaskRecords};

/// How long a worker's lease on a running task lasts by default without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The shortest lease [`TaskRecords::run_leased`] takes (a shorter one is raised to it): it is
/// renewed every third of it.
pub const MIN_LEASE: Duration = Duration::from_millis(3);

/// What [`TaskRecords::run_leased`] did.
pub enum Leased<T> {
    /// The code ran while the worker held the lease, and its outcome was offered to the record.
    Ran {
        /// What the code returned.
        output: T,
        /// What settling the record did: [`Settle::Settled`] when this run's outcome is the
        /// task's, [`Settle::AlreadySettled`] when another outcome came first (a cancel, another
        /// worker, a lost lease), `None` when the record has gone (expired meanwhile), or the
        /// store's error (the record is then settled by whoever comes next: a lost worker's task
        /// fails once its lease has run out).
        settled: Result<Option<Settle>, RecordError>,
    },
    /// Not run: the task has settled already (cancelled before a worker took it, or run by
    /// another worker). Its record.
    Settled(TaskRecord),
    /// Not run: another worker holds a live lease on it. Its record.
    Held(TaskRecord),
    /// Not run: no such task (never created, expired, or of another scope).
    Missing,
}

impl<T> Leased<T> {
    /// Whether this run's outcome settled the task.
    #[must_use]
    pub const fn settled_here(&self) -> bool {
        matches!(
            self,
            Self::Ran {
                settled: Ok(Some(Settle::Settled(_))),
                ..
            }
        )
    }
}

/// Shows what happened, not the output or the records' contents beyond their `Debug`.
impl<T> fmt::Debug for Leased<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ran { settled, .. } => f
                .debug_struct("Ran")
                .field("settled", settled)
                .finish_non_exhaustive(),
            Self::Settled(record) => f.debug_tuple("Settled").field(record).finish(),
            Self::Held(record) => f.debug_tuple("Held").field(record).finish(),
            Self::Missing => f.write_str("Missing"),
        }
    }
}

impl TaskRecords {
    /// Runs one task's code as worker `worker`, under a lease on its record: the one loop every
    /// worker shares (rmcp's `OwnedTasks::run_remote`, the tower layer, `taskctx work`).
    ///
    /// 1. [`claim`](Self::claim)s the task's lease for `lease` (at least [`MIN_LEASE`]). A
    ///    settled task ([`Leased::Settled`]), one held by another worker's live lease
    ///    ([`Leased::Held`]) and one with no record ([`Leased::Missing`]) are not run: `start`
    ///    is not called.
    /// 2. Calls `start` with the claimed record and awaits the future it returns, renewing the
    ///    lease every third of `lease` meanwhile. A worker that dies stops renewing: once the
    ///    lease has run out, another worker may claim the task and run it again (a task's code
    ///    runs at least once), or a poll fails it ([`fail_abandoned`](Self::fail_abandoned)). A
    ///    lost renewal (the task settled meanwhile, or another worker claimed it) is logged and
    ///    the code runs on; the code learns of a cancel from the record
    ///    ([`TaskRecord::is_cancel_requested`]).
    /// 3. [`settle`](Self::settle)s the record with `outcome(&output)`: exactly once, the first
    ///    outcome wins ([`Leased::Ran`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskctx_worker_glue::prelude::*;
    /// use taskctx_worker_glue::records::{self, Leased, NewRecord, Outcome, TaskStatus};
    /// use taskctx_worker_glue::Ttl;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// runtime.block_on(async {
    ///     let glue: TaskGlue = TaskGlue::builder().store_url("memory://run-leased").build()?;
    ///     let records = glue.records().ok_or("memory stores keep task records")?;
    ///     let key = TaskKey::new(None, records::new_task_id()?, TaskType::TOOL, Component::new("sum"));
    ///     let ttl = Ttl::from_secs(60).ok_or("a TTL is at least 1 s")?;
    ///     let snapshot = TaskContextSnapshot::new();
    ///     records.create(NewRecord::new(&snapshot, &key, ttl, Duration::from_secs(1))).await?;
    ///
    ///     // A worker: runs the code under its lease, and settles the record with the outcome.
    ///     let ran = records
    ///         .run_leased(
    ///             key.scope(),
    ///             key.task_id(),
    ///             "worker-1",
    ///             records::DEFAULT_LEASE,
    ///             |_record| async { 1 + 2 },
    ///             |sum| Outcome::Completed(format!(r#"{{"sum":{sum}}}"#)),
    ///         )
    ///         .await?;
    ///     assert!(ran.settled_here());
    ///
    ///     // Another delivery of the same job: the task has settled, its code does not run again.
    ///     let again = records
    ///         .run_leased(key.scope(), key.task_id(), "worker-2", records::DEFAULT_LEASE,
    ///             |_record| async {}, |()| Outcome::Cancelled)
    ///         .await?;
    ///     assert!(matches!(again, Leased::Settled(record) if record.status() == TaskStatus::Completed));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`RecordError::Store`], [`RecordError::Corrupt`] when the claim fails (the code is not
    /// run). A failed renewal is logged; a failed settle is in [`Leased::Ran`].
    pub async fn run_leased<S, Fut, O>(
        &self,
        scope: Option<&Scope<'_>>,
        task_id: &TaskId<'_>,
        worker: &str,
        lease: Duration,
        start: S,
        outcome: O,
    ) -> Result<Leased<Fut::Output>, RecordError>
    where
        S: FnOnce(&TaskRecord) -> Fut,
        Fut: Future,
        O: FnOnce(&Fut::Output) -> Outcome,
    {
        let lease = lease.max(MIN_LEASE);
        let record = match self.claim(scope, task_id, worker, lease).await? {
            Some(Claim::Claimed(record)) => record,
            Some(Claim::Settled(record)) => return Ok(Leased::Settled(record)),
            Some(Claim::Held(record)) => return Ok(Leased::Held(record)),
            None => return Ok(Leased::Missing),
        };
        let mut running = pin!(start(&record));
        let output = loop {
            if let Ok(output) = tokio::time::timeout(lease / 3, &mut running).await {
                break output;
            }
            match self.renew(scope, task_id, worker, lease).await {
                Ok(Some(Renewal::Renewed(_)) | None) => {}
                Ok(Some(_)) => tracing::info!(
                    task_id = %task_id,
                    "task lease lost: settled meanwhile, or claimed by another worker"
                ),
                Err(error) => tracing::warn!(%error, task_id = %task_id, "task lease not renewed"),
            }
        };
        let settled = self.settle(scope, task_id, &outcome(&output)).await;
        if let Err(error) = &settled {
            tracing::warn!(%error, task_id = %task_id, "task outcome not stored");
        }
        Ok(Leased::Ran { output, settled })
    }
}
