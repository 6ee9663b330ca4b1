//! `taskctx submit` and `taskctx work`: the demo split across processes, with a Redis list as the
//! job queue. `submit` stores each task's context and pushes only its execution key (and the
//! task's own request id) onto the list; `work` pops them and runs each task inside its restored
//! context, checking its caller.

use std::time::{Duration, Instant};

use clap::Args;
use deadpool_redis::redis::{
    self, ConnectionAddr, IntoConnectionInfo as _, aio::MultiplexedConnection,
};
use taskctx_worker_glue::store::{ServerAddr, StoreUrl, TlsCheck, UrlKind};
use tokio::sync::mpsc;

use crate::demo::{self, Job, Summary};
use crate::failure::Failure;

/// The default job list.
const DEFAULT_LIST: &str = "taskctx:demo:jobs";

/// Arguments of `submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// The Redis URL (`redis://…`; the snapshots and the job list live there).
    #[arg(long)]
    url: String,
    /// The Redis list the jobs are pushed onto.
    #[arg(long, default_value = DEFAULT_LIST)]
    list: String,
    /// How many tasks to submit (0 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = crate::ranges::tasks())]
    tasks: usize,
    /// How many simulated callers submit them (1 to 10,000).
    #[arg(long, default_value_t = 20, value_parser = crate::ranges::callers())]
    callers: usize,
    /// Store snapshots Fernet-encrypted, with key material from `TASKCTX_ENCRYPTION_KEY`.
    #[arg(long)]
    encrypt: bool,
}

/// Arguments of `work`.
#[derive(Debug, Args)]
pub(crate) struct WorkArgs {
    /// The Redis URL (`redis://…`).
    #[arg(long)]
    url: String,
    /// The Redis list the jobs are popped from.
    #[arg(long, default_value = DEFAULT_LIST)]
    list: String,
    /// How many concurrent workers run the jobs (1 to 1024).
    #[arg(long, default_value_t = 4, value_parser = crate::ranges::workers())]
    workers: usize,
    /// Read snapshots Fernet-encrypted, with key material from `TASKCTX_ENCRYPTION_KEY`.
    #[arg(long)]
    encrypt: bool,
    /// Stop after the list has stayed empty this many seconds (1 to 3600).
    #[arg(long, default_value_t = 1, value_parser = crate::ranges::idle_secs())]
    idle_secs: u64,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    demo::runtime(2)
}

/// A client for the job list on the single Redis server `url` names, read with the store's own
/// URL parser (so `submit`/`work` accept exactly the URLs the snapshot store does).
fn job_list(url: &str) -> Result<redis::Client, Failure> {
    let parsed = StoreUrl::parse(url).map_err(|e| Failure::input("invalid store URL", e))?;
    let unsupported = || {
        Failure::input(
            "the job list needs a single Redis server",
            format!(
                "`{}` is not a redis://, rediss://, unix:// or redis+unix:// URL",
                parsed.redacted()
            ),
        )
    };
    let addr = match (parsed.kind(), parsed.servers().first()) {
        (UrlKind::Server, Some(ServerAddr::Tcp { host, port })) => match parsed.tls() {
            None => ConnectionAddr::Tcp((*host).to_owned(), *port),
            Some(check) => ConnectionAddr::TcpTls {
                host: (*host).to_owned(),
                port: *port,
                insecure: check == TlsCheck::Insecure,
                tls_params: None,
            },
        },
        (UrlKind::Unix, Some(ServerAddr::Unix(path))) => ConnectionAddr::Unix(path.to_path_buf()),
        _ => return Err(unsupported()),
    };
    let mut settings = redis::RedisConnectionInfo::default().set_db(parsed.database());
    if let Some(username) = parsed.username() {
        settings = settings.set_username(username);
    }
    if let Some(password) = parsed.password() {
        settings = settings.set_password(password);
    }
    addr.into_connection_info()
        .and_then(|info| redis::Client::open(info.set_redis_settings(settings)))
        .map_err(|e| Failure::input("could not set up the job list connection", e))
}

async fn connection(client: &redis::Client) -> Result<MultiplexedConnection, Failure> {
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| Failure::check("could not connect to the job list's Redis", e))
}

/// Runs `submit`.
pub(crate) fn submit(args: &SubmitArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let glue = demo::glue_for(&args.url, args.encrypt, None)?;
        let client = job_list(&args.url)?;
        let mut conn = connection(&client).await?;
        let callers = demo::callers(args.callers, demo::unix_now());
        let started = Instant::now();
        for n in 0..args.tasks {
            let Some(caller) = callers.get(n % args.callers) else {
                continue;
            };
            let task_id = demo::task_id_for(n, args.callers, caller);
            let job = demo::submit(&glue, caller, &task_id, &format!("req-{n}")).await?;
            let entry = format!("{}\n{}", job.execution_key, job.request_id);
            redis::cmd("RPUSH")
                .arg(&args.list)
                .arg(entry)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(|e| Failure::check("could not push a job", e))?;
        }
        out!(
            "submitted {} tasks from {} callers to {} in {:.1} ms",
            args.tasks,
            args.callers,
            args.list,
            started.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    })
}

/// Runs `work`.
pub(crate) fn work(args: &WorkArgs) -> Result<(), Failure> {
    if args.workers == 0 {
        return Err(Failure::input(
            "invalid worker count",
            "--workers must be at least 1",
        ));
    }
    runtime()?.block_on(async {
        let glue = demo::glue_for(&args.url, args.encrypt, None)?;
        let client = job_list(&args.url)?;
        let mut conn = connection(&client).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let started = Instant::now();
        let workers = {
            let glue = glue.clone();
            let count = args.workers;
            tokio::spawn(async move { demo::run_workers(&glue, receiver, count).await })
        };
        let idle = Duration::from_secs(args.idle_secs.max(1));
        let mut idle_since = Instant::now();
        loop {
            let popped: Option<String> = redis::cmd("LPOP")
                .arg(&args.list)
                .query_async(&mut conn)
                .await
                .map_err(|e| Failure::check("could not pop a job", e))?;
            let Some(entry) = popped else {
                if idle_since.elapsed() >= idle {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            idle_since = Instant::now();
            let Some((execution_key, request_id)) = entry.rsplit_once('\n') else {
                return Err(Failure::input(
                    "a job on the list is malformed",
                    "no request id",
                ));
            };
            let _ = sender.send(Job {
                execution_key: execution_key.to_owned(),
                request_id: request_id.to_owned(),
            });
        }
        drop(sender);
        let total = workers
            .await
            .map_err(|e| Failure::check("the workers stopped unexpectedly", e))??;
        demo::report(
            &Summary {
                url: &args.url,
                callers: None,
                workers: args.workers,
                submit_elapsed: None,
                run_elapsed: started.elapsed().saturating_sub(idle_since.elapsed()),
                form: glue.codec().form(),
                json: false,
            },
            &total,
        );
        demo::verdict(&total)
    })
}
