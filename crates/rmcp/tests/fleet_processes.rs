//! A fleet of separate OS processes: two server replicas and one worker, each a process of its
//! own (this test binary run again in a role), over a real `redis-server` — standalone, and a
//! three-master Redis Cluster — started by the harness. The replicas queue remote tasks on the
//! store's job list (`spawn_queued`), from which the worker takes them (`next_job`); the test is
//! the client, with rmcp's own client over Streamable
//! HTTP. A task created on one replica is read, cancelled and answered on the other, and keeps
//! its caller's identity; a replica or the worker killed with SIGKILL leaves the fleet answering
//! and the task settled.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Client, Process, Remote, Server, TOKEN_A, TOKEN_B, WAITING, announce, connect, create,
    exit_with_the_test, mcp_error, poll_until, redis_pool, report, report_result, serve, settle,
    settled_report, start, tasks,
};
use deadpool_redis::redis;
use rmcp::model::{
    CallToolResult, CancelTaskParams, ErrorCode, GetTaskParams, InputRequest, TaskPayload,
    TaskStatus, UpdateTaskParams,
};
use rmcp::task_manager::{TaskExit, TaskManager};
use serde_json::{Value, json};
use taskctx_rmcp::TaskHandle;
use taskctx_tests::redis::{RedisCluster, RedisServer};
use taskctx_worker_glue::records::new_task_id;
use tokio::task::JoinSet;

/// The environment of a fleet process: its role (`replica` or `worker`), the store's URL, the
/// URL of the Redis node that holds the test's marks, and the role's settings.
const ROLE_ENV: &str = "TASKCTX_RMCP_FLEET_ROLE";
const STORE_ENV: &str = "TASKCTX_RMCP_FLEET_STORE";
const QUEUE_ENV: &str = "TASKCTX_RMCP_FLEET_QUEUE";
const MAX_UNFINISHED_ENV: &str = "TASKCTX_RMCP_FLEET_MAX_UNFINISHED";
const LEASE_MS_ENV: &str = "TASKCTX_RMCP_FLEET_LEASE_MS";

/// The marks the test and the worker's code leave each other are all under one hash tag, so that
/// in a cluster they live on the one node whose URL the processes are given.
const MARKS: &str = "{fleet-test}";
/// Set by the worker's code of a `wait_remote` task once it saw its cancel and stopped.
fn stopped_key(task_id: &str) -> String {
    format!("{MARKS}:stopped:{task_id}")
}
/// Set by the worker once a task's run ended: `1` when that run settled the task, else `0`.
fn ran_key(task_id: &str) -> String {
    format!("{MARKS}:ran:{task_id}")
}
/// Set by the test to let a `hold_remote` task finish.
fn go_key(task_id: &str) -> String {
    format!("{MARKS}:go:{task_id}")
}

/// The status message of a worker task once its code runs.
const RUNNING: &str = "running in the worker";
/// The limit of unfinished tasks per caller on both replicas.
const MAX_UNFINISHED: u32 = 5;
/// The worker's lease: short, so that a killed worker's task fails soon.
const LEASE: Duration = Duration::from_secs(2);

/// Runs this test binary again as a fleet process in `role`, and waits until it serves.
fn fleet_process_in(role: &str, store: &str, queue: &str) -> Process {
    let (limit, lease) = (MAX_UNFINISHED.to_string(), LEASE.as_millis().to_string());
    Process::start(
        "fleet_process",
        &[
            (ROLE_ENV, role),
            (STORE_ENV, store),
            (QUEUE_ENV, queue),
            (MAX_UNFINISHED_ENV, &limit),
            (LEASE_MS_ENV, &lease),
        ],
    )
}

/// A fleet process: started by the tests below in a role; runs until killed or its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a process of the fleet tests below"]
async fn fleet_process() {
    let role = std::env::var(ROLE_ENV)
        .unwrap_or_else(|_| panic!("started without {ROLE_ENV}: run the fleet tests"));
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let (store, queue) = (setting(STORE_ENV), setting(QUEUE_ENV));
    exit_with_the_test();
    match role.as_str() {
        "replica" => {
            let limit = setting(MAX_UNFINISHED_ENV).parse().expect("a limit");
            let running = serve(Server {
                tasks: tasks(&store).max_unfinished(limit),
                remote: Remote::Queued,
            })
            .await;
            announce(&running.url);
            std::future::pending::<()>().await;
        }
        "worker" => {
            let lease = setting(LEASE_MS_ENV).parse().expect("a lease");
            worker(&store, &queue, Duration::from_millis(lease)).await;
        }
        other => panic!("unknown fleet role {other}"),
    }
}

/// The worker: takes jobs from the store's job list and runs each, concurrently, as its tool
/// (the job's payload) says.
async fn worker(store: &str, queue: &str, lease: Duration) {
    let tasks = tasks(store).lease(lease);
    let pool = redis_pool(queue);
    announce("worker");
    loop {
        let Some(job) = tasks
            .next_job(Duration::from_secs(1))
            .await
            .expect("the job list")
        else {
            continue;
        };
        let (tasks, pool) = (tasks.clone(), pool.clone());
        tokio::spawn(async move {
            let key = job.execution_key();
            let tool = job.payload().to_owned();
            assert_eq!(
                tool,
                job.task().component().to_str(),
                "the job names its tool"
            );
            let settled =
                Box::pin(tasks.run_remote(&key, |handle| run_tool(tool, handle, pool.clone())))
                    .await
                    .expect("a task's execution key");
            let mut connection = pool.get().await.expect("a Redis connection");
            redis::cmd("SET")
                .arg(ran_key(job.task().task_id().as_str()))
                .arg(u8::from(settled))
                .query_async::<()>(&mut connection)
                .await
                .expect("the run is marked");
        });
    }
}

/// The worker's tools: `whoami_remote` reports its caller; `wait_remote` waits for its cancel,
/// marks that it stopped, then tries to complete; `ask_remote` asks for a colour; `hold_remote`
/// runs until the test lets it finish; `hang_remote` never finishes.
async fn run_tool(
    tool: String,
    handle: TaskHandle,
    pool: deadpool_redis::Pool,
) -> Result<CallToolResult, TaskExit> {
    let mut connection = pool.get().await.expect("a Redis connection");
    match tool.as_str() {
        "whoami_remote" => {}
        "wait_remote" => {
            handle
                .set_status_message(WAITING)
                .await
                .map_err(rmcp::ErrorData::from)?;
            handle.cancelled().await;
            redis::cmd("SET")
                .arg(stopped_key(handle.task_id()))
                .arg(1)
                .query_async::<()>(&mut connection)
                .await
                .expect("the stop is marked");
        }
        "ask_remote" => {
            let answer = handle.request_input("colour", colour_request()).await?;
            return Ok(report_result(&json!({
                "colour": answer["content"]["colour"],
                "pid": std::process::id(),
            })));
        }
        "hold_remote" => {
            handle
                .set_status_message(RUNNING)
                .await
                .map_err(rmcp::ErrorData::from)?;
            let go = go_key(handle.task_id());
            while !redis::cmd("EXISTS")
                .arg(&go)
                .query_async::<bool>(&mut connection)
                .await
                .expect("the go mark")
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "hang_remote" => {
            handle
                .set_status_message(RUNNING)
                .await
                .map_err(rmcp::ErrorData::from)?;
            std::future::pending::<()>().await;
        }
        other => panic!("the worker has no tool {other}"),
    }
    Ok(report_result(&report().await))
}

fn colour_request() -> InputRequest {
    common::elicitation("Which colour?")
}

/// The caller a report shows for `TOKEN_A`.
fn caller_a() -> Value {
    json!({"client_id": "client-a", "sub": "user-1", "token": TOKEN_A})
}

/// Everything a fleet of processes over the store at `store` must do; `queue` is the Redis node
/// that holds the job list and the test's marks.
async fn fleet_over(store: &str, queue: &RedisServer) {
    let queue_url = queue.url();
    let mut replica_1 = fleet_process_in("replica", store, &queue_url);
    let replica_2 = fleet_process_in("replica", store, &queue_url);
    let mut worker = fleet_process_in("worker", store, &queue_url);
    let (url_1, url_2) = (replica_1.ready().to_owned(), replica_2.ready().to_owned());
    let a1 = connect(&url_1, Some(TOKEN_A), "a-on-1").await;
    let a2 = connect(&url_2, Some(TOKEN_A), "a-on-2").await;

    // Created on replica 1, polled and read on replica 2: the tool ran as the creating caller,
    // in replica 1 (`whoami`) or in the worker (`whoami_remote`).
    for (tool, ran_in) in [("whoami", replica_1.pid()), ("whoami_remote", worker.pid())] {
        let task = start(&a1, tool, None).await;
        let seen = settled_report(&a2, &task).await;
        assert_eq!(seen["pid"], ran_in, "{tool}: {seen}");
        assert_eq!(seen["caller"], caller_a(), "{tool}: {seen}");
        assert_eq!(seen["scope"], "client-a|user-1", "{tool}: {seen}");
        assert_eq!(seen["task_id"], task.as_str(), "{tool}: {seen}");
        assert_eq!(seen["x_test"], "a-on-1", "{tool}: {seen}");
    }

    no_oracle(&url_1, &url_2, &a1).await;
    cancel_reaches_the_worker(&a1, &a2, queue).await;
    input_through_another_replica(&a1, &a2, worker.pid()).await;
    limit_over_both_replicas(&url_1, &url_2).await;

    // Replica 1 killed while the worker runs a task it created: replica 2 answers, and the
    // worker's result arrives there.
    let task = start(&a1, "hold_remote", None).await;
    poll_until(&a2, &task, |state| {
        state.task.task.status_message.as_deref() == Some(RUNNING)
    })
    .await;
    replica_1.kill();
    drop(a1);
    let state = a2
        .get_task(GetTaskParams::new(task.clone()))
        .await
        .expect("replica 2 answers");
    assert_eq!(state.task.status(), TaskStatus::Working);
    queue.command(&["SET", &go_key(&task), "1"]);
    let seen = settled_report(&a2, &task).await;
    assert_eq!(seen["pid"], worker.pid(), "{seen}");
    assert_eq!(seen["caller"], caller_a(), "{seen}");
    assert_eq!(seen["x_test"], "a-on-1", "{seen}");

    // The worker killed mid-task: once its lease has run out, replica 2 reports the task
    // failed, not `working` until its TTL.
    let task = start(&a2, "hang_remote", None).await;
    poll_until(&a2, &task, |state| {
        state.task.task.status_message.as_deref() == Some(RUNNING)
    })
    .await;
    worker.kill();
    let TaskPayload::Failed { error } = settle(&a2, &task).await else {
        panic!("a task whose worker died fails");
    };
    assert_eq!(
        error["message"],
        "task abandoned: its worker stopped before it finished"
    );
    a2.cancel().await.expect("client closes");
}

/// Another scope's task, an authenticated task asked for anonymously (and the reverse), and an
/// unknown id: byte for byte the answer rmcp gives for an unknown id, on either replica.
async fn no_oracle(url_1: &str, url_2: &str, a1: &Client) {
    let anonymous1 = connect(url_1, None, "anonymous").await;
    let a2 = connect(url_2, Some(TOKEN_A), "a").await;
    let b2 = connect(url_2, Some(TOKEN_B), "b").await;
    let anonymous2 = connect(url_2, None, "anonymous").await;
    let task_a = start(a1, "whoami", None).await;
    let task_anonymous = start(&anonymous1, "whoami", None).await;
    settle(&a2, &task_a).await;
    settle(&anonymous2, &task_anonymous).await;
    let never = new_task_id().expect("a task id").as_str().to_owned();
    let unknown = |id: &str| {
        let error = TaskManager::new()
            .get_task(id)
            .expect_err("an empty manager knows no task");
        serde_json::to_string(&error).expect("an error as JSON")
    };
    for (asker, id, case) in [
        (&b2, &task_a, "another scope"),
        (&anonymous2, &task_a, "anonymous asking for A's task"),
        (&a2, &task_anonymous, "A asking for an anonymous task"),
        (&b2, &task_anonymous, "another scope, an anonymous task"),
        (&a2, &never, "an unknown id"),
        (&anonymous2, &never, "an unknown id, anonymously"),
    ] {
        let get = mcp_error(asker.get_task(GetTaskParams::new(id.clone())).await);
        let update = mcp_error(
            asker
                .update_task(UpdateTaskParams::new(id.clone(), Default::default()))
                .await,
        );
        let cancel = mcp_error(asker.cancel_task(CancelTaskParams::new(id.clone())).await);
        for refused in [get, update, cancel] {
            let refused = serde_json::to_string(&refused).expect("an error as JSON");
            assert_eq!(refused, unknown(id), "{case}");
        }
    }
    // The refused cancels left the tasks as they were.
    for (owner, id) in [(&a2, &task_a), (&anonymous2, &task_anonymous)] {
        let state = owner
            .get_task(GetTaskParams::new(id.clone()))
            .await
            .expect("the owner sees its task");
        assert_eq!(state.task.status(), TaskStatus::Completed);
    }
    for client in [anonymous1, a2, b2, anonymous2] {
        client.cancel().await.expect("client closes");
    }
}

/// A cancel on replica 2 of a task the worker runs: the worker's code sees it and stops, and the
/// task stays `cancelled` although that code then returns a result.
async fn cancel_reaches_the_worker(a1: &Client, a2: &Client, queue: &RedisServer) {
    let task = start(a1, "wait_remote", None).await;
    poll_until(a2, &task, |state| {
        state.task.task.status_message.as_deref() == Some(WAITING)
    })
    .await;
    a2.cancel_task(CancelTaskParams::new(task.clone()))
        .await
        .expect("the owner cancels on replica 2");
    let ran = ran_key(&task);
    for _ in 0..1000 {
        if queue.command(&["EXISTS", &ran]).integer() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        queue.command(&["GET", &ran]).text(),
        "0",
        "the worker's run ended without settling the task"
    );
    assert_eq!(
        queue.command(&["EXISTS", &stopped_key(&task)]).integer(),
        1,
        "the worker's code saw the cancel and stopped"
    );
    // Its code's result came after the cancel: the task stays cancelled on both replicas.
    for client in [a2, a1] {
        let state = client
            .get_task(GetTaskParams::new(task.clone()))
            .await
            .expect("the owner's task");
        assert_eq!(state.task.payload, TaskPayload::Cancelled);
    }
}

/// Input asked by the worker's code, reported and answered on replica 2.
async fn input_through_another_replica(a1: &Client, a2: &Client, worker: u32) {
    let task = start(a1, "ask_remote", None).await;
    let asked = poll_until(a2, &task, |state| {
        state.task.status() == TaskStatus::InputRequired
    })
    .await;
    let TaskPayload::InputRequired { input_requests } = asked.task.payload else {
        panic!("input_required without requests");
    };
    assert_eq!(input_requests.keys().collect::<Vec<_>>(), ["colour"]);
    let answer = json!({"action": "accept", "content": {"colour": "green"}});
    a2.update_task(UpdateTaskParams::new(
        task.clone(),
        [("colour".to_owned(), answer)].into(),
    ))
    .await
    .expect("the owner answers on replica 2");
    let seen = settled_report(a2, &task).await;
    assert_eq!(seen["colour"], "green");
    assert_eq!(seen["pid"], worker);
}

/// Concurrent creates by one caller through both replicas: exactly the limit gets in; the rest
/// get the error that names only the limit.
async fn limit_over_both_replicas(url_1: &str, url_2: &str) {
    let clients = [
        Arc::new(connect(url_1, Some(TOKEN_B), "b-on-1").await),
        Arc::new(connect(url_2, Some(TOKEN_B), "b-on-2").await),
    ];
    let mut creates = JoinSet::new();
    for round in 0..20 {
        let client = Arc::clone(&clients[round % 2]);
        creates.spawn(async move { create(&client, "wait").await });
    }
    let outcomes = creates.join_all().await;
    let created: Vec<_> = outcomes
        .iter()
        .filter_map(|task| task.as_ref().ok())
        .collect();
    assert_eq!(
        created.len(),
        usize::try_from(MAX_UNFINISHED).expect("small"),
        "{outcomes:?}"
    );
    for refused in outcomes.iter().filter_map(|task| task.as_ref().err()) {
        assert_eq!(refused.code, ErrorCode::INVALID_REQUEST);
        assert_eq!(
            refused.message,
            format!(
                "too many unfinished tasks for this caller (at most {MAX_UNFINISHED}): retry once \
                 one has finished"
            )
        );
        assert_eq!(refused.data, None);
    }
    for (index, task) in created.into_iter().enumerate() {
        let client = &clients[index % 2];
        client
            .cancel_task(CancelTaskParams::new(task.task_id.clone()))
            .await
            .expect("the owner cancels");
        assert_eq!(settle(client, &task.task_id).await, TaskPayload::Cancelled);
    }
    for client in clients {
        Arc::into_inner(client)
            .expect("the creates are done")
            .cancel()
            .await
            .expect("client closes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_processes_over_redis_is_one_server() {
    let redis = RedisServer::start();
    fleet_over(&redis.url(), &redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_processes_over_redis_cluster_is_one_server() {
    let cluster = RedisCluster::start(3);
    fleet_over(&cluster.url(), cluster.node_for_key(MARKS)).await;
}
