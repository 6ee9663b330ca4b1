//! The token refresh hook: renew a task's access token before its code runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use taskctx_scope::TaskKey;
use taskctx_snapshot::AccessToken;

use crate::BoxError;

/// How long before its expiry a token is refreshed by default: 60 s.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

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
        }
    }

    pub(crate) async fn refresh(&self, request: RefreshRequest) -> Result<AccessToken, BoxError> {
        (self.refresh)(request).await
    }
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresher")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}
