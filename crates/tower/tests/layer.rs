//! `TaskContextLayer` around real tower services, on an in-memory store.

#![allow(clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

use std::convert::Infallible;
use std::error::Error as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use taskctx_tower::{RequestIsKey, TaskContextError, TaskContextLayer};
use taskctx_worker_glue::current_task;
use taskctx_worker_glue::prelude::*;
use tower::{Layer, Service, ServiceExt, service_fn};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn glue(store: &str, policy: RestorePolicy) -> TaskGlue {
    TaskGlue::builder()
        .store_url(store)
        .restore_policy(policy)
        .build()
        .expect("glue")
}

fn snapshot(client: Option<&str>) -> TaskContextSnapshot {
    let builder = TaskContextSnapshot::builder();
    match client {
        Some(client) => builder
            .access_token(AccessToken::builder(format!("token-{client}"), client).build())
            .build(),
        None => builder.build(),
    }
}

/// Submits task `id` for `client` (anonymous for `None`) and returns its execution key.
async fn submit(glue: &TaskGlue, client: Option<&str>, id: &str) -> String {
    let snapshot = snapshot(client);
    let task = Submit::new(
        &snapshot,
        TaskId::new(id).expect("task id"),
        TaskType::TOOL,
        Component::new("job"),
    );
    glue.submit(task)
        .await
        .expect("submit")
        .into_execution_key()
}

fn caller() -> Option<String> {
    access_token().map(|token| token.client_id().to_owned())
}

/// What a job saw: its task id and its caller.
type Seen = (Option<String>, Option<String>);

fn seen() -> Seen {
    (
        current_task().map(|(task, _)| task.task_id().as_str().to_owned()),
        caller(),
    )
}

#[test]
fn interleaved_jobs_of_two_scopes_with_one_task_id_each_see_their_own_caller() {
    runtime().block_on(async {
        let glue = glue("memory://tower-interleaved", RestorePolicy::FailOpen);
        let a = submit(&glue, Some("client-a"), "same-id").await;
        let b = submit(&glue, Some("client-b"), "same-id").await;
        let anon = submit(&glue, None, "same-id").await;
        let service =
            TaskContextLayer::new(glue, RequestIsKey).layer(service_fn(|_: String| async {
                let before = seen();
                tokio::task::yield_now().await;
                let after = seen();
                assert_eq!(
                    before, after,
                    "a job's context changed while it was suspended"
                );
                Ok::<_, Infallible>(after)
            }));
        let jobs = [a.clone(), b.clone(), anon.clone(), b, a, anon];
        let runs = jobs.iter().map(|key| service.clone().oneshot(key.clone()));
        let results: Vec<Seen> = futures_join_all(runs).await;
        let id = Some("same-id".to_owned());
        let a = (id.clone(), Some("client-a".to_owned()));
        let b = (id.clone(), Some("client-b".to_owned()));
        let anon = (id, None);
        assert_eq!(results, [a.clone(), b.clone(), anon.clone(), b, a, anon]);
        assert_eq!(caller(), None, "no context outside a job");
    });
}

/// Polls every future concurrently on the current task and collects their outputs in order.
async fn futures_join_all<F, T, E>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let mut pending: Vec<Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(result) => *output = Some(result.expect("job")),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[test]
fn the_inner_call_itself_runs_inside_the_context() {
    /// A service that reads the caller synchronously in `call`, before its future exists.
    #[derive(Clone)]
    struct ReadsInCall;
    impl Service<String> for ReadsInCall {
        type Response = Option<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Option<String>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: String) -> Self::Future {
            std::future::ready(Ok(caller()))
        }
    }
    runtime().block_on(async {
        let glue = glue("memory://tower-call", RestorePolicy::FailOpen);
        let key = submit(&glue, Some("client-a"), "T1").await;
        let service = TaskContextLayer::new(glue, RequestIsKey).layer(ReadsInCall);
        let seen = service.oneshot(key).await.expect("served");
        assert_eq!(seen.as_deref(), Some("client-a"));
    });
}

#[test]
fn a_request_without_a_key_runs_with_no_context() {
    runtime().block_on(async {
        let glue = glue("memory://tower-no-key", RestorePolicy::FailClosed);
        let key = submit(&glue, Some("client-a"), "T1").await;
        let service =
            TaskContextLayer::new(glue, |job: &(bool, String)| job.0.then(|| job.1.clone())).layer(
                service_fn(|_: (bool, String)| async { Ok::<_, Infallible>(seen()) }),
            );
        let with_key = service
            .clone()
            .oneshot((true, key.clone()))
            .await
            .expect("served");
        assert_eq!(with_key.1.as_deref(), Some("client-a"));
        let without = service.oneshot((false, key)).await.expect("served");
        assert_eq!(without, (None, None));
    });
}

#[test]
fn fail_closed_refuses_a_missing_snapshot_before_the_inner_service_is_called() {
    runtime().block_on(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let glue = glue("memory://tower-closed", RestorePolicy::FailClosed);
        let service =
            TaskContextLayer::new(glue, RequestIsKey).layer(service_fn(move |_: String| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(caller()) }
            }));
        let never_submitted = "auth:client-a:T404:tool:job".to_owned();
        let error = service.oneshot(never_submitted).await.expect_err("refused");
        assert!(error.restore_error().is_some(), "{error:?}");
        assert_eq!(
            error.to_string(),
            "the task's context was not restored: job refused"
        );
        let cause = error.source().expect("the restore error is the source");
        assert!(cause.to_string().contains("T404"), "{cause}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the inner service was called"
        );
    });
}

#[test]
fn fail_open_runs_a_missing_snapshot_with_no_caller() {
    runtime().block_on(async {
        let glue = glue("memory://tower-open", RestorePolicy::FailOpen);
        let service =
            TaskContextLayer::new(glue, RequestIsKey).layer(service_fn(|_: String| async {
                Ok::<_, Infallible>(seen())
            }));
        let missing = "auth:client-a:T404:tool:job".to_owned();
        let seen = service.oneshot(missing).await.expect("served");
        assert_eq!(seen, (Some("T404".to_owned()), None));
    });
}

#[test]
fn the_inner_services_own_error_is_kept_whole() {
    runtime().block_on(async {
        let glue = glue("memory://tower-inner-error", RestorePolicy::FailClosed);
        let key = submit(&glue, Some("client-a"), "T1").await;
        let service =
            TaskContextLayer::new(glue, RequestIsKey).layer(service_fn(|_: String| async {
                let failure: Box<dyn std::error::Error + Send + Sync> =
                    format!("failed as {}", caller().unwrap_or_default()).into();
                Err::<(), _>(failure)
            }));
        let error = service.oneshot(key).await.expect_err("the job fails");
        assert_eq!(error.to_string(), "failed as client-a");
        assert!(error.source().is_none());
        let TaskContextError::Service(inner) = error else {
            panic!("not the service's error: {error:?}");
        };
        assert_eq!(inner.to_string(), "failed as client-a");
    });
}

#[test]
fn a_malformed_task_key_is_refused_under_fail_closed_and_served_with_no_context_under_fail_open() {
    runtime().block_on(async {
        let malformed = "auth:client-a:T1:tool".to_owned();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let closed = TaskContextLayer::new(
            glue("memory://tower-malformed-closed", RestorePolicy::FailClosed),
            RequestIsKey,
        )
        .layer(service_fn(move |_: String| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(seen()) }
        }));
        let error = closed
            .oneshot(malformed.clone())
            .await
            .expect_err("refused");
        assert!(
            matches!(error.restore_error(), Some(RestoreError::MalformedKey(_))),
            "{error:?}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the inner service was called"
        );
        let open = TaskContextLayer::new(
            glue("memory://tower-malformed-open", RestorePolicy::FailOpen),
            RequestIsKey,
        )
        .layer(service_fn(|_: String| async {
            Ok::<_, Infallible>(seen())
        }));
        assert_eq!(open.oneshot(malformed).await.expect("served"), (None, None));
    });
}
