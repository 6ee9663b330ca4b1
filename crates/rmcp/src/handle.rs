//! [`TaskHandle`]: what a running task's code reaches its own record with, in any process.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, InputRequest};
use rmcp::task_manager::TaskExit;
use taskctx_worker_glue::records::{RecordError, Settle, TaskRecord, TaskRecords};
use taskctx_worker_glue::{Scope, TaskId};
use tokio::sync::watch;

use crate::Error;
use crate::tasks::outcome_of;

/// A running task's handle on its record, in the process that runs it (the creating replica or a
/// worker): status messages, cooperative cancellation and input requests, as rmcp's
/// `TaskContext` offers them, through the store, so that a `tasks/cancel` or `tasks/update`
/// received by any replica reaches the task.
///
/// Cancellation is read from the record every watch interval (the task's poll interval, at most
/// one second by default), once the task first asks for it; a task that never asks costs no
/// reads. Cheap to clone: clones share one watch.
#[derive(Clone)]
pub struct TaskHandle {
    inner: Arc<Inner>,
}

struct Inner {
    records: TaskRecords,
    scope: Option<Scope<'static>>,
    task_id: TaskId<'static>,
    interval: Duration,
    watch: OnceLock<Watch>,
    /// The input keys this handle asked under.
    asked: Mutex<BTreeSet<String>>,
}

/// The cancel flag as last read from the record, and the task that reads it.
struct Watch {
    cancelled: watch::Receiver<bool>,
    poller: Option<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(poller) = self.watch.get().and_then(|watch| watch.poller.as_ref()) {
            poller.abort();
        }
    }
}

impl fmt::Debug for TaskHandle {
    /// Shows the task id only: the scope names the caller.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task_id", &self.inner.task_id.as_str())
            .field("interval", &self.inner.interval)
            .finish_non_exhaustive()
    }
}

impl TaskHandle {
    pub(crate) fn new(
        records: TaskRecords,
        scope: Option<Scope<'static>>,
        task_id: TaskId<'static>,
        interval: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                records,
                scope,
                task_id,
                interval,
                watch: OnceLock::new(),
                asked: Mutex::new(BTreeSet::new()),
            }),
        }
    }

    /// The task's id.
    #[must_use]
    pub fn task_id(&self) -> &str {
        self.inner.task_id.as_str()
    }

    /// Sets the task's status message, which `tasks/get` shows on every replica.
    ///
    /// # Errors
    /// [`Error::Store`] when the store cannot be reached (the cause is logged).
    pub async fn set_status_message(&self, message: impl Into<String>) -> Result<(), Error> {
        let inner = &self.inner;
        inner
            .records
            .set_status_message(inner.scope.as_ref(), &inner.task_id, Some(&message.into()))
            .await
            .map(drop)
            .map_err(|error| {
                tracing::warn!(
                    %error,
                    task_id = %inner.task_id.as_str(),
                    "status message not stored"
                );
                Error::Store(error)
            })
    }

    /// Whether `tasks/cancel` has been received for this task, on any replica, as of the last
    /// read of its record (the first call starts the reads); also `true` once the task has
    /// settled otherwise (its TTL, a lost lease) or is gone from the store, since its outcome can
    /// no longer change. Cooperative: the task's code checks it and stops when set.
    #[must_use]
    pub fn is_cancel_requested(&self) -> bool {
        *self.watch().cancelled.borrow()
    }

    /// Resolves once `tasks/cancel` has been received for this task on any replica (or the task
    /// is gone from the store, or settled), within one watch interval. Pair it with
    /// `tokio::select!` around long-running work; a task that stops in response returns
    /// [`TaskExit::Cancelled`] and settles as `cancelled`.
    pub async fn cancelled(&self) {
        let mut cancelled = self.watch().cancelled.clone();
        // An error means the poller is gone, which only happens with the handle.
        let _ = cancelled.wait_for(|cancelled| *cancelled).await;
    }

    /// Asks the client for input under `key` and waits for the response a `tasks/update` on any
    /// replica delivers. While the request is outstanding, `tasks/get` reports the task
    /// `input_required` with the request in `inputRequests`. Keys are unique over the task's
    /// lifetime: one run of the task's code asks under a key once.
    ///
    /// The response stays in the task's record until the task expires. Code that runs the task
    /// again (its worker died and another claimed it) and asks under the same key gets the
    /// stored response at once, without a new request to the client.
    ///
    /// The task waits where it runs, reading its record every watch interval: the tool's code
    /// goes on from where it asked, as with rmcp's own task manager, rather than being run again
    /// for a next leg (which would need every tool written to resume from its inputs).
    ///
    /// # Errors
    /// [`TaskExit::Cancelled`] when the task is cancelled (or otherwise settled) while it asks or
    /// waits; an internal error when this run already asked under the key, the task is gone or
    /// the store cannot be reached.
    pub async fn request_input(
        &self,
        key: impl Into<String>,
        request: InputRequest,
    ) -> Result<serde_json::Value, TaskExit> {
        let key = key.into();
        let inner = &self.inner;
        if !self.asked().insert(key.clone()) {
            return Err(TaskExit::Error(McpError::internal_error(
                format!("inputRequests key {key:?} was already used for this task"),
                None,
            )));
        }
        let request = serde_json::to_string(&request)
            .map_err(|_| internal("the input request could not be encoded"))?;
        let mut record = match inner
            .records
            .request_input(inner.scope.as_ref(), &inner.task_id, &[(&key, &request)])
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => return Err(internal("task no longer exists")),
            Err(RecordError::Settled { .. }) => return Err(TaskExit::Cancelled),
            Err(error) => return Err(self.store_failed(&error)),
        };
        loop {
            if let Some(response) = record.input_responses().get(&key) {
                return serde_json::from_str(response)
                    .map_err(|_| internal("the input response is not JSON"));
            }
            if record.is_settled() {
                return Err(TaskExit::Cancelled);
            }
            tokio::time::sleep(inner.interval).await;
            record = self
                .record()
                .await
                .map_err(|error| self.store_failed(&error))?
                .ok_or_else(|| internal("task no longer exists"))?;
        }
    }

    /// The task's record (a read may slide its TTL, as a poll does).
    pub(crate) async fn record(&self) -> Result<Option<TaskRecord>, RecordError> {
        let inner = &self.inner;
        inner
            .records
            .get(inner.scope.as_ref(), &inner.task_id)
            .await
    }

    /// Settles the task with `outcome` unless it is settled already; whether this call did.
    pub(crate) async fn settle(&self, outcome: Result<CallToolResult, TaskExit>) -> bool {
        let inner = &self.inner;
        match inner
            .records
            .settle(inner.scope.as_ref(), &inner.task_id, &outcome_of(outcome))
            .await
        {
            Ok(settled) => matches!(settled, Some(Settle::Settled(_))),
            Err(error) => {
                tracing::warn!(
                    %error,
                    task_id = %inner.task_id.as_str(),
                    "task outcome not stored"
                );
                false
            }
        }
    }

    /// The keys this handle asked under (a poisoned lock still holds a consistent set: every
    /// update is one call).
    fn asked(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.inner
            .asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn store_failed(&self, error: &RecordError) -> TaskExit {
        tracing::warn!(%error, task_id = %self.inner.task_id.as_str(), "task record not reached");
        internal("the task store is unavailable")
    }

    /// The cancel watch, started on first use.
    fn watch(&self) -> &Watch {
        self.inner.watch.get_or_init(|| {
            let (sender, cancelled) = watch::channel(false);
            let records = self.inner.records.clone();
            let scope = self.inner.scope.clone();
            let task_id = self.inner.task_id.clone();
            let interval = self.inner.interval;
            let poll = async move {
                loop {
                    match records.get(scope.as_ref(), &task_id).await {
                        Ok(Some(record))
                            if !record.is_cancel_requested() && !record.is_settled() => {}
                        Ok(_) => {
                            let _ = sender.send(true);
                            return;
                        }
                        Err(error) => {
                            tracing::warn!(
                                %error,
                                task_id = %task_id.as_str(),
                                "task record not read for a cancel"
                            );
                        }
                    }
                    tokio::time::sleep(interval).await;
                }
            };
            // Outside a runtime nothing can wait on the watch anyway: it stays unset.
            let poller = tokio::runtime::Handle::try_current()
                .ok()
                .map(|runtime| runtime.spawn(poll).abort_handle());
            Watch { cancelled, poller }
        })
    }
}

/// An internal error for the client; the cause is logged where it happens.
pub(crate) fn internal(message: &'static str) -> TaskExit {
    TaskExit::Error(McpError::internal_error(message, None))
}
