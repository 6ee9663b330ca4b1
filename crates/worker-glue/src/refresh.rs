//! The token refresh hook: renew a task's access token before its code runs.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use taskctx_scope::TaskKey;
use taskctx_snapshot::AccessToken;

use crate::BoxError;

/// How long before its expiry a token is refreshed by default: 60 s.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The longest refresh margin accepted: one day.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// How long a token refresher may take by default: 5 s.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(5);

/// The shortest refresh timeout accepted: 1 ms.
pub const MIN_REFRESH_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest refresh timeout accepted: 10 minutes.
pub const MAX_REFRESH_TIMEOUT: Duration = Duration::from_secs(600);

/// What a token refresher is asked to renew: the task and its restored token (expired, or
/// expiring within the margin). `Debug` shows neither the token nor the task's scope.
#[derive(Clone)]
#[non_exhaustive]
pub struct RefreshRequest {
    task: TaskKey<'static>,
    token: Arc<AccessToken>,
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("task_id", self.task.task_id())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl RefreshRequest {
    pub(crate) fn new(task: TaskKey<'static>, token: Arc<AccessToken>) -> Self {
        Self { task, token }
    }

    /// The task whose token is refreshed.
    #[must_use]
    pub const fn task(&self) -> &TaskKey<'static> {
        &self.task
    }

    /// The token restored for the task.
    #[must_use]
    pub fn token(&self) -> &AccessToken {
        &self.token
    }
}

type RefreshFuture = Pin<Box<dyn Future<Output = Result<AccessToken, BoxError>> + Send>>;

/// The refresher a glue was built with.
#[derive(Clone)]
pub(crate) struct Refresher {
    refresh: Arc<dyn Fn(RefreshRequest) -> RefreshFuture + Send + Sync>,
    pub(crate) margin: Duration,
    pub(crate) timeout: Duration,
}

/// Why a refresher gave no token.
pub(crate) enum RefreshFailure {
    /// It returned an error.
    Failed(BoxError),
    /// It did not answer within the timeout.
    TimedOut(Duration),
    /// It panicked.
    Panicked,
}

impl Refresher {
    pub(crate) fn new<F, Fut, E>(refresh: F) -> Self
    where
        F: Fn(RefreshRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AccessToken, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        Self {
            refresh: Arc::new(move |request| {
                let future = refresh(request);
                Box::pin(async move { future.await.map_err(Into::into) })
            }),
            margin: DEFAULT_REFRESH_MARGIN,
            timeout: DEFAULT_REFRESH_TIMEOUT,
        }
    }

    /// Calls the refresher, bounded by its timeout; a panic (in the call or in its future) is a
    /// failure of this refresh only. Needs a tokio runtime with its timer enabled.
    pub(crate) async fn refresh(
        &self,
        request: RefreshRequest,
    ) -> Result<AccessToken, RefreshFailure> {
        let future = catch_unwind(AssertUnwindSafe(|| (self.refresh)(request)))
            .map_err(|_| RefreshFailure::Panicked)?;
        match tokio::time::timeout(self.timeout, CatchPanic(future)).await {
            Err(_) => Err(RefreshFailure::TimedOut(self.timeout)),
            Ok(None) => Err(RefreshFailure::Panicked),
            Ok(Some(result)) => result.map_err(RefreshFailure::Failed),
        }
    }
}

/// A refresh future whose panic ends it with `None` instead of unwinding into the worker.
struct CatchPanic(RefreshFuture);

impl Future for CatchPanic {
    type Output = Option<Result<AccessToken, BoxError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // After a panic the future is never polled again: `Ready` ends the wait.
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Some(result)),
            Err(_) => Poll::Ready(None),
        }
    }
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresher")
            .field("margin", &self.margin)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
