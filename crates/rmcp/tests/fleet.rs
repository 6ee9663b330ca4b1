//! Two replicas of one server (two `OwnedTasks`, two HTTP servers on their own ports) over one
//! store — a `memory://` store shared by name, and a real `redis-server` started by the harness —
//! behave as one server: a task created on replica 1 is polled, updated and cancelled on replica
//! 2, a remote task settled by a worker after replica 1 is gone shows its result on replica 2,
//! and every replica answers another caller's task exactly as an unknown one.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    Dispatch, Remote, Running, Server, TOKEN_A, TOKEN_B, WAIT_POLL, WAITING, cancels_seen, connect,
    create, mcp_error, poll_until, report_result, serve, settle, settled_report, start,
    store_server, tasks, verify,
};
use rmcp::model::{
    CallToolResult, CancelTaskParams, ErrorCode, GetTaskParams, TaskPayload, TaskStatus,
    UpdateTaskParams,
};
use rmcp::task_manager::{TaskExit, TaskManager};
use serde_json::json;
use taskctx_rmcp::RemoteJob;
use taskctx_snapshot::TaskContextSnapshot;
use taskctx_tests::redis::RedisServer;
use taskctx_worker_glue::records::{NewRecord, Outcome};
use taskctx_worker_glue::{Component, TaskGlue, TaskId, TaskKey, TaskType, Ttl, scope_of};
use tokio::sync::mpsc;

/// Two replicas over the store at `url`; replica 1 queues remote jobs on the returned channel.
async fn replicas(url: &str) -> (Running, Running, mpsc::UnboundedReceiver<RemoteJob>) {
    let (queue, jobs) = mpsc::unbounded_channel();
    let dispatch: Dispatch = Arc::new(move |job| {
        let queued = queue.send(job).is_ok();
        Box::pin(async move {
            assert!(queued, "the job queue is open");
            Ok(())
        })
    });
    let one = serve(store_server(url, Some(dispatch))).await;
    let two = serve(store_server(url, None)).await;
    (one, two, jobs)
}

/// Everything one store must give two replicas.
async fn one_server_over(url: &str) {
    let (one, two, mut jobs) = replicas(url).await;
    let a1 = connect(&one.url, Some(TOKEN_A), "a-on-1").await;
    let a2 = connect(&two.url, Some(TOKEN_A), "a-on-2").await;

    // Created on replica 1, polled to completion on replica 2.
    let task = start(&a1, "whoami_slow", None).await;
    let working = a2
        .get_task(GetTaskParams::new(task.clone()))
        .await
        .expect("replica 2 knows the task at once");
    assert_eq!(working.task.status(), TaskStatus::Working);
    let seen = settled_report(&a2, &task).await;
    assert_eq!(seen["scope"], "client-a|user-1");
    assert_eq!(seen["task_id"], task.as_str());
    assert_eq!(seen["x_test"], "a-on-1");

    // Status message and cancel across replicas: the task runs on replica 1, the cancel arrives
    // on replica 2 and reaches it within one poll interval.
    let task = start(&a1, "wait", None).await;
    let waiting = poll_until(&a2, &task, |state| {
        state.task.task.status_message.as_deref() == Some(WAITING)
    })
    .await;
    assert_eq!(waiting.task.status(), TaskStatus::Working);
    assert_eq!(
        waiting.task.task.poll_interval_ms,
        Some(u64::try_from(WAIT_POLL.as_millis()).expect("short"))
    );
    let cancelled_at = Instant::now();
    a2.cancel_task(CancelTaskParams::new(task.clone()))
        .await
        .expect("the owner cancels on replica 2");
    // Reported at once, on both replicas.
    for client in [&a2, &a1] {
        let state = client
            .get_task(GetTaskParams::new(task.clone()))
            .await
            .expect("the owner's task");
        assert_eq!(state.task.payload, TaskPayload::Cancelled);
    }
    // The code running on replica 1 sees it within one poll interval (plus up to a second of a
    // shared machine's scheduling delay: two cores, several builds).
    let seen_at = loop {
        if let Some(seen_at) = cancels_seen().get(&task).copied() {
            break seen_at;
        }
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(10),
            "the running task never saw the cancel"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let took = seen_at.saturating_duration_since(cancelled_at);
    assert!(
        took < WAIT_POLL + Duration::from_secs(1),
        "the cancel took {took:?} to reach the task"
    );
    // Settled once: a late cancel changes nothing, on either replica.
    a1.cancel_task(CancelTaskParams::new(task.clone()))
        .await
        .expect("a cancel of a settled task is acknowledged");
    assert_eq!(settle(&a1, &task).await, TaskPayload::Cancelled);

    // Input asked by the task on replica 1, delivered through replica 2.
    let task = start(&a1, "ask", None).await;
    let asked = poll_until(&a2, &task, |state| {
        state.task.status() == TaskStatus::InputRequired
    })
    .await;
    let TaskPayload::InputRequired { input_requests } = asked.task.payload else {
        panic!("input_required without requests");
    };
    assert_eq!(
        input_requests.keys().collect::<Vec<_>>(),
        ["name"],
        "{input_requests:?}"
    );
    let answer = json!({"action": "accept", "content": {"name": "Ada"}});
    a2.update_task(UpdateTaskParams::new(
        task.clone(),
        [("name".to_owned(), answer)].into(),
    ))
    .await
    .expect("the owner answers on replica 2");
    let greeting = settled_report(&a1, &task).await;
    assert_eq!(greeting["hello"], "Ada");
    assert_eq!(greeting["pid"], std::process::id());

    // A remote task: queued by replica 1, which is gone before a worker (an `OwnedTasks` of its
    // own over the store) runs it; replica 2 answers with the worker's result.
    let task = start(&a1, "whoami_remote", None).await;
    let doomed = start(&a1, "whoami_remote", None).await;
    let to_cancel = start(&a1, "whoami_remote", None).await;
    let to_ask = start(&a1, "whoami_remote", None).await;
    a1.cancel().await.expect("client closes");
    drop(one);
    let job = jobs.recv().await.expect("replica 1 queued the job");
    assert_eq!(job.task_id(), task);
    let doomed_job = jobs.recv().await.expect("replica 1 queued the job");
    assert_eq!(doomed_job.task_id(), doomed);
    let cancel_job = jobs.recv().await.expect("replica 1 queued the job");
    let ask_job = jobs.recv().await.expect("replica 1 queued the job");
    let worker = tasks(url);
    let settled = worker
        .run_remote(&job.execution_key, |_| async {
            Ok(report_result(&common::report().await))
        })
        .await
        .expect("a task's execution key");
    assert!(settled, "the worker settles the task");
    let seen = settled_report(&a2, &task).await;
    assert_eq!(seen["scope"], "client-a|user-1");
    assert_eq!(seen["x_test"], "a-on-1");
    // Settled once: the same job run again does not run the tool.
    let ran = AtomicBool::new(false);
    let again = worker
        .run_remote(&job.execution_key, |_| {
            ran.store(true, Ordering::SeqCst);
            async { Err(TaskExit::Cancelled) }
        })
        .await
        .expect("a task's execution key");
    assert!(!again);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a settled task's tool ran again"
    );

    // A worker that dies mid-task (its run dropped: no more lease renewals): once its lease has
    // run out, replica 2 reports the task failed instead of `working` until its TTL.
    let dying = tasks(url).lease(Duration::from_millis(300));
    let died = tokio::time::timeout(
        Duration::from_millis(100),
        dying.run_remote(&doomed_job.execution_key, |_| {
            std::future::pending::<Result<CallToolResult, TaskExit>>()
        }),
    )
    .await;
    assert!(died.is_err(), "the tool never finishes");
    let abandoned = poll_until(&a2, &doomed, |state| state.task.status().is_terminal()).await;
    let TaskPayload::Failed { error } = abandoned.task.payload else {
        panic!("an abandoned task fails: {:?}", abandoned.task);
    };
    assert_eq!(
        error["message"],
        "task abandoned: its worker stopped before it finished"
    );

    // A cancel received by replica 2 reaches the code a worker runs.
    let waiting = tokio::spawn({
        let worker = worker.clone();
        async move {
            worker
                .run_remote(&cancel_job.execution_key, |handle| async move {
                    handle.cancelled().await;
                    Err(TaskExit::Cancelled)
                })
                .await
        }
    });
    poll_until(&a2, &to_cancel, |state| {
        state.task.status() == TaskStatus::Working
    })
    .await;
    a2.cancel_task(CancelTaskParams::new(to_cancel.clone()))
        .await
        .expect("the owner cancels on replica 2");
    let stopped = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the worker's code saw the cancel")
        .expect("the worker ran")
        .expect("a task's execution key");
    assert!(!stopped, "the cancel settled the task, not the worker");
    assert_eq!(settle(&a2, &to_cancel).await, TaskPayload::Cancelled);

    // Input asked by the code a worker runs, delivered through replica 2. That worker dies right
    // after it got the response (its run dropped: no settle, no more renewals); the code run
    // again by another worker asks under the same key and gets the stored response at once,
    // with no new `tasks/update`.
    let colour_request = || common::elicitation("Which colour?");
    let (got, answered) = tokio::sync::oneshot::channel();
    let asking = tokio::spawn({
        let first = tasks(url).lease(Duration::from_millis(300));
        let execution_key = ask_job.execution_key.clone();
        async move {
            first
                .run_remote(&execution_key, |handle| async move {
                    let answer = handle.request_input("colour", colour_request()).await?;
                    let _ = got.send(answer);
                    std::future::pending::<Result<CallToolResult, TaskExit>>().await
                })
                .await
        }
    });
    poll_until(&a2, &to_ask, |state| {
        state.task.status() == TaskStatus::InputRequired
    })
    .await;
    let answer = json!({"action": "accept", "content": {"colour": "green"}});
    a2.update_task(UpdateTaskParams::new(
        to_ask.clone(),
        [("colour".to_owned(), answer)].into(),
    ))
    .await
    .expect("the owner answers on replica 2");
    let first_answer = tokio::time::timeout(Duration::from_secs(5), answered)
        .await
        .expect("the worker's code got the answer")
        .expect("the worker's code sends its answer");
    assert_eq!(first_answer["content"]["colour"], "green");
    asking.abort();
    // Past the dead worker's lease, so that another worker may claim the task (no `tasks/get`
    // meanwhile: it would settle the abandoned task as failed).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (got, answered) = tokio::sync::oneshot::channel();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let rerun = tokio::spawn({
        let worker = worker.clone();
        let execution_key = ask_job.execution_key.clone();
        async move {
            worker
                .run_remote(&execution_key, |handle| async move {
                    let answer = handle.request_input("colour", colour_request()).await?;
                    let _ = got.send(());
                    let _ = finished.await;
                    Ok(report_result(
                        &json!({"colour": answer["content"]["colour"]}),
                    ))
                })
                .await
        }
    });
    tokio::time::timeout(Duration::from_secs(5), answered)
        .await
        .expect("the code run again got the stored answer without a new tasks/update")
        .expect("the code run again reports its answer");
    // Asking again did not reopen the request: the client is not asked twice.
    let state = a2
        .get_task(GetTaskParams::new(to_ask.clone()))
        .await
        .expect("the owner's task");
    assert_eq!(state.task.payload, TaskPayload::Working);
    let _ = finish.send(());
    let rerun = tokio::time::timeout(Duration::from_secs(5), rerun)
        .await
        .expect("the second run finishes")
        .expect("the worker ran")
        .expect("a task's execution key");
    assert!(rerun, "the second worker ran and settled the task");
    assert_eq!(settled_report(&a2, &to_ask).await["colour"], "green");

    a2.cancel().await.expect("client closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_over_one_memory_store_are_one_server() {
    one_server_over("memory://fleet-one-server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_over_one_redis_are_one_server() {
    let redis = RedisServer::start();
    one_server_over(&redis.url()).await;
}

/// Another scope's task, an authenticated task asked for anonymously (and the reverse), and an
/// unknown id: the same answer on the replica that did not create the task.
async fn no_oracle_over(url: &str) {
    let (one, two, _jobs) = replicas(url).await;
    let a1 = connect(&one.url, Some(TOKEN_A), "a").await;
    let anonymous1 = connect(&one.url, None, "anonymous").await;
    let a2 = connect(&two.url, Some(TOKEN_A), "a").await;
    let b2 = connect(&two.url, Some(TOKEN_B), "b").await;
    let anonymous2 = connect(&two.url, None, "anonymous").await;

    let task_a = start(&a1, "wait", None).await;
    let task_anonymous = start(&anonymous1, "wait", None).await;
    let never = "0b0e5a52-8c8e-4e52-9e53-000000000000".to_owned();
    let rmcp_unknown = |id: &str| {
        TaskManager::new()
            .get_task(id)
            .expect_err("an empty manager knows no task")
    };

    for (asker, id, case) in [
        (&b2, &task_a, "another scope"),
        (
            &anonymous2,
            &task_a,
            "anonymous asking for an authenticated task",
        ),
        (
            &a2,
            &task_anonymous,
            "authenticated asking for an anonymous task",
        ),
        (
            &b2,
            &task_anonymous,
            "another scope asking for an anonymous task",
        ),
    ] {
        for asked in [id, &never] {
            let get = mcp_error(asker.get_task(GetTaskParams::new(asked.clone())).await);
            let update = mcp_error(
                asker
                    .update_task(UpdateTaskParams::new(asked.clone(), Default::default()))
                    .await,
            );
            let cancel = mcp_error(
                asker
                    .cancel_task(CancelTaskParams::new(asked.clone()))
                    .await,
            );
            for refused in [get, update, cancel] {
                assert_eq!(refused, rmcp_unknown(asked), "{case}");
            }
        }
    }

    // The owners still see their running tasks, untouched by the refused cancels, and cancel
    // them on replica 2.
    for (owner, id) in [(&a2, &task_a), (&anonymous2, &task_anonymous)] {
        let state = owner
            .get_task(GetTaskParams::new(id.clone()))
            .await
            .expect("the owner sees its task");
        assert_eq!(state.task.status(), TaskStatus::Working, "{:?}", state.task);
        owner
            .cancel_task(CancelTaskParams::new(id.clone()))
            .await
            .expect("the owner cancels its task");
        assert_eq!(settle(owner, id).await, TaskPayload::Cancelled);
    }
    for client in [a1, anonymous1, a2, b2, anonymous2] {
        client.cancel().await.expect("client closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_over_memory_answer_other_callers_as_unknown() {
    no_oracle_over("memory://fleet-no-oracle").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_over_redis_answer_other_callers_as_unknown() {
    let redis = RedisServer::start();
    no_oracle_over(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_hold_across_replicas() {
    let redis = RedisServer::start();
    let url = redis.url();
    let replica = |url: &str| Server {
        tasks: tasks(url)
            .max_unfinished(2)
            .max_ttl(Ttl::from_secs(60).expect("a TTL")),
        remote: Remote::None,
    };
    let one = serve(replica(&url)).await;
    let two = serve(replica(&url)).await;
    let a1 = connect(&one.url, Some(TOKEN_A), "a").await;
    let a2 = connect(&two.url, Some(TOKEN_A), "a").await;
    let b2 = connect(&two.url, Some(TOKEN_B), "b").await;

    // The requested TTL (rmcp's default, 300 s) is clamped, and the real one announced.
    let first = create(&a1, "wait").await.expect("the first task");
    assert_eq!(first.ttl_ms, Some(60_000));
    let seen = a2
        .get_task(GetTaskParams::new(first.task_id.clone()))
        .await
        .expect("replica 2 knows it");
    assert_eq!(seen.task.task.ttl_ms, Some(60_000));

    // Two unfinished tasks per scope, counted over both replicas.
    let second = create(&a2, "wait").await.expect("the second task");
    let refused = create(&a1, "wait").await.expect_err("a third is refused");
    assert_eq!(refused.code, ErrorCode::INVALID_REQUEST);
    assert_eq!(
        refused.message,
        "too many unfinished tasks for this caller (at most 2): retry once one has finished"
    );
    assert_eq!(refused.data, None);
    // Another scope has its own count.
    let of_b = create(&b2, "wait").await.expect("another caller's task");

    // A settled task no longer counts.
    a2.cancel_task(CancelTaskParams::new(first.task_id.clone()))
        .await
        .expect("the owner cancels");
    assert_eq!(settle(&a2, &first.task_id).await, TaskPayload::Cancelled);
    let third = create(&a1, "wait").await.expect("room again");

    for (client, task) in [(&a1, &second), (&a1, &third), (&b2, &of_b)] {
        client
            .cancel_task(CancelTaskParams::new(task.task_id.clone()))
            .await
            .expect("the owner cancels");
    }

    // Concurrent creates through both replicas: exactly the limit gets in.
    let b1 = connect(&one.url, Some(TOKEN_B), "b").await;
    let racing = tokio::join!(
        create(&b1, "wait"),
        create(&b2, "wait"),
        create(&b1, "wait"),
        create(&b2, "wait"),
        create(&b1, "wait"),
        create(&b2, "wait"),
    );
    let racing = [racing.0, racing.1, racing.2, racing.3, racing.4, racing.5];
    let created: Vec<_> = racing
        .iter()
        .filter_map(|task| task.as_ref().ok())
        .collect();
    assert_eq!(created.len(), 2, "{racing:?}");
    for refused in racing.iter().filter_map(|task| task.as_ref().err()) {
        assert_eq!(refused.code, ErrorCode::INVALID_REQUEST);
    }
    for task in created {
        b2.cancel_task(CancelTaskParams::new(task.task_id.clone()))
            .await
            .expect("the owner cancels");
    }
    for client in [a1, a2, b1, b2] {
        client.cancel().await.expect("client closes");
    }
}

/// Two scopes whose tasks share an id: each caller, on either replica, sees and cancels only its
/// own.
async fn two_scopes_one_id_over(url: &str) {
    let (one, two, _jobs) = replicas(url).await;
    let a1 = connect(&one.url, Some(TOKEN_A), "a").await;
    let a2 = connect(&two.url, Some(TOKEN_A), "a").await;
    let b2 = connect(&two.url, Some(TOKEN_B), "b").await;
    let id = start(&a1, "wait", None).await;

    // Task ids are random: only a write straight to the store can give B's task the same id.
    let glue: TaskGlue = TaskGlue::builder()
        .store_url(url)
        .build()
        .expect("a glue on the test store");
    let records = glue.records().expect("the store keeps task records");
    let token_b = verify(TOKEN_B.to_owned()).await.expect("a known bearer");
    let snapshot = TaskContextSnapshot::builder().access_token(token_b).build();
    let key = TaskKey::new(
        scope_of(&snapshot).expect("a scope"),
        TaskId::new(id.clone()).expect("a task id"),
        TaskType::TOOL,
        Component::new("whoami"),
    );
    let ttl = Ttl::from_secs(60).expect("a TTL");
    records
        .create(NewRecord::new(
            &snapshot,
            &key,
            ttl,
            Duration::from_millis(10),
        ))
        .await
        .expect("another scope may use the same id");
    let result = r#"{"content":[{"type":"text","text":"of b"}]}"#;
    records
        .settle(
            key.scope(),
            key.task_id(),
            &Outcome::Completed(result.to_owned()),
        )
        .await
        .expect("settled")
        .expect("B's task exists");

    let of_b = b2
        .get_task(GetTaskParams::new(id.clone()))
        .await
        .expect("B sees its task");
    let TaskPayload::Completed { result } = of_b.task.payload else {
        panic!("B's task is completed: {:?}", of_b.task);
    };
    assert_eq!(result["content"][0]["text"], "of b");
    let of_a = poll_until(&a2, &id, |state| {
        state.task.task.status_message.as_deref() == Some(WAITING)
    })
    .await;
    assert_eq!(of_a.task.status(), TaskStatus::Working);

    // B's cancel is a cancel of B's (settled) task; A's task runs on.
    b2.cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .expect("B cancels its own task");
    let of_a = a2
        .get_task(GetTaskParams::new(id.clone()))
        .await
        .expect("A sees its task");
    assert_eq!(of_a.task.status(), TaskStatus::Working);
    // A's cancel leaves B's result alone.
    a2.cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .expect("A cancels its own task");
    assert_eq!(settle(&a2, &id).await, TaskPayload::Cancelled);
    let of_b = b2
        .get_task(GetTaskParams::new(id.clone()))
        .await
        .expect("B sees its task");
    assert_eq!(of_b.task.status(), TaskStatus::Completed);
    for client in [a1, a2, b2] {
        client.cancel().await.expect("client closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scopes_reusing_a_task_id_over_memory_see_their_own() {
    two_scopes_one_id_over("memory://fleet-two-scopes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scopes_reusing_a_task_id_over_redis_see_their_own() {
    let redis = RedisServer::start();
    two_scopes_one_id_over(&redis.url()).await;
}
