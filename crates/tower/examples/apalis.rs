//! An apalis worker on Redis whose jobs run as the callers who submitted them.
//!
//! ```text
//! cargo run -p taskctx-tower --example apalis -- redis://127.0.0.1:6379
//! ```
//!
//! The producer half submits three tasks (two callers and an anonymous one) through `TaskGlue`
//! and pushes one apalis job per task, carrying only its execution key; the worker half serves
//! them through `TaskContextLayer` and prints the caller each job sees. Both halves share one
//! process here; in production the producer is the server that accepted the request, and the
//! worker any process with the same store URL.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what it does on stdout"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use apalis::prelude::{BoxDynError, Data, Task, TaskSink, WorkerBuilder, WorkerContext};
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};
use taskctx_tower::TaskContextLayer;
use taskctx_worker_glue::current_task;
use taskctx_worker_glue::prelude::*;

/// An apalis job: the task's execution key is all it carries of its caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    execution_key: String,
}

const JOBS: usize = 3;

async fn report(
    job: Report,
    done: Data<Arc<AtomicUsize>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let task = current_task().map(|(task, _)| task.task_id().to_string());
    let caller = access_token().map(|token| token.client_id().to_owned());
    println!(
        "job {}: task {}, caller {}",
        job.execution_key,
        task.as_deref().unwrap_or("-"),
        caller.as_deref().unwrap_or("anonymous")
    );
    if done.fetch_add(1, Ordering::SeqCst) + 1 == JOBS {
        worker.stop()?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxDynError> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: apalis REDIS_URL (for example redis://127.0.0.1:6379)")?;
    let glue: TaskGlue = TaskGlue::builder().store_url(url.as_str()).build()?;
    let config = Config::default().queue("taskctx-example");

    // Producer: capture each caller, submit the task, push a job with its execution key.
    let mut storage = RedisStorage::<Report>::new(apalis_redis::connect(url.as_str()).await?)
        .with_config(config.clone());
    for (task_id, client) in [
        ("r-1", Some("client-a")),
        ("r-2", Some("client-b")),
        ("r-3", None),
    ] {
        let builder = TaskContextSnapshot::builder();
        let snapshot = match client {
            Some(client) => builder
                .access_token(AccessToken::builder("secret", client).build())
                .build(),
            None => builder.build(),
        };
        let task = Submit::new(
            &snapshot,
            TaskId::new(task_id)?,
            TaskType::TOOL,
            Component::new("report"),
        );
        let execution_key = glue.submit(task).await?.into_execution_key();
        storage.push(Report { execution_key }).await?;
    }

    // Worker: every job runs inside its task's restored context.
    let storage =
        RedisStorage::<Report>::new(apalis_redis::connect(url.as_str()).await?).with_config(config);
    WorkerBuilder::new("taskctx-example-worker")
        .backend(storage)
        .data(Arc::new(AtomicUsize::new(0)))
        .layer(TaskContextLayer::new(glue, |task: &Task<Report>| {
            Some(task.args.execution_key.clone())
        }))
        .build(report)
        .run()
        .await?;
    Ok(())
}
