//! `taskctx bench`: per-task submit and run latency for each stored form, on any store.

use std::time::{Duration, Instant};

use clap::Args;
use taskctx_snapshot::{KeyRing, SealingKey};
use taskctx_worker_glue::{RestorePolicy, TaskGlue};

use crate::demo::{self, Job};
use crate::failure::Failure;

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The snapshot store URL.
    #[arg(long, default_value = "memory://taskctx-bench")]
    url: String,
    /// Tasks per stored form.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Also measure Fernet (derives a key from `TASKCTX_ENCRYPTION_KEY`, or a generated one).
    #[arg(long)]
    encrypt: bool,
}

/// Runs `bench`.
pub(crate) fn run(args: &BenchArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::check("could not start the async runtime", e))?;
    runtime.block_on(async {
        let sealing = SealingKey::generate("bench")
            .map_err(|e| Failure::check("could not generate a sealing key", e))?;
        let mut forms: Vec<(&str, TaskGlue)> = vec![
            ("json", builder(&args.url).build().map_err(setup)?),
            (
                "native",
                builder(&args.url).native(true).build().map_err(setup)?,
            ),
            (
                "sealed native",
                builder(&args.url)
                    .sealing_keys(KeyRing::new(sealing))
                    .build()
                    .map_err(setup)?,
            ),
        ];
        if let Some(key) = demo::fernet_key(args.encrypt)? {
            forms.push((
                "fernet",
                builder(&args.url).fernet_key(key).build().map_err(setup)?,
            ));
        }
        println!(
            "store: {}, {} tasks per form, one at a time",
            taskctx_worker_glue::redact_url(&args.url),
            args.tasks
        );
        println!(
            "{:<14} {:>12} {:>12} {:>12} {:>12}",
            "form", "submit p50", "submit p99", "run p50", "run p99"
        );
        // One authenticated caller with a long-lived token.
        let callers = demo::callers(1, demo::unix_now());
        let caller = callers
            .first()
            .ok_or_else(|| Failure::check("no caller", "the caller list is empty"))?;
        for (name, glue) in &forms {
            let mut submits = Vec::with_capacity(args.tasks);
            let mut runs = Vec::with_capacity(args.tasks);
            let mut jobs: Vec<Job> = Vec::with_capacity(args.tasks);
            for n in 0..args.tasks {
                let started = Instant::now();
                let job =
                    demo::submit(glue, caller, &format!("bench-{n}"), &format!("req-{n}")).await?;
                submits.push(started.elapsed());
                jobs.push(job);
            }
            for job in &jobs {
                let started = Instant::now();
                glue.run(&job.execution_key, async {})
                    .await
                    .map_err(|e| Failure::check("a task could not be restored", e))?;
                runs.push(started.elapsed());
            }
            submits.sort_unstable();
            runs.sort_unstable();
            println!(
                "{name:<14} {:>12} {:>12} {:>12} {:>12}",
                micros(demo::percentile(&submits, 500)),
                micros(demo::percentile(&submits, 990)),
                micros(demo::percentile(&runs, 500)),
                micros(demo::percentile(&runs, 990)),
            );
        }
        Ok(())
    })
}

fn builder(url: &str) -> taskctx_worker_glue::TaskGlueBuilder<(), ()> {
    TaskGlue::builder()
        .store_url(url)
        .restore_policy(RestorePolicy::FailClosed)
}

fn setup(error: taskctx_worker_glue::ConfigError) -> Failure {
    Failure::input("could not set up the task glue", error)
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
