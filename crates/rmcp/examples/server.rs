//! A task-enabled MCP server (Streamable HTTP on axum) whose tasks run as their caller.
//!
//! ```text
//! cargo run -p taskctx-rmcp --example server
//! ```
//!
//! It serves `http://127.0.0.1:8000/mcp` (`TASKCTX_RMCP_ADDR` to change the address) and keeps
//! task records and snapshots in `memory://example` (`TASKCTX_STORE_URL` for another store, e.g.
//! `redis://127.0.0.1:6379/0`). Several replicas on one Redis URL (each on its own address)
//! behave as one server: a task created on one is polled, updated and cancelled on any other.
//! Bearer tokens `demo-token-a` and `demo-token-b` are two callers; without a token the caller is
//! anonymous; any other token is refused with `401`.
//!
//! Tools (a client that declares the tasks extension gets a task, others a direct answer):
//! - `whoami`: who the tool runs as, read from anywhere in the tool's code;
//! - `countdown` `{"seconds": n}`: counts down with status messages, stops on `tasks/cancel`.
//!
//! Another caller's task id is answered exactly like an unknown one.
//!
//! The `Mcp-Name` shim ([`McpNameShimLayer`]) is on, so fastmcp's Python client, which omits that
//! header on `tasks/*` requests, can poll its tasks too.
//!
//! # A fleet: replicas and workers
//!
//! With a Redis store and `TASKCTX_RMCP_QUEUE=<list>`, a replica runs no tool code: it stores the
//! task, pushes a job onto that Redis list ([`OwnedTasks::spawn_remote`]) and answers. The same
//! binary started with `--worker` serves no HTTP: it pops jobs from the list and runs each tool,
//! as the caller who created the task, with [`OwnedTasks::run_remote`]. Any replica reports the
//! outcome.
//!
//! ```text
//! export TASKCTX_STORE_URL=redis://127.0.0.1:6379/0 TASKCTX_RMCP_QUEUE=example:jobs
//! TASKCTX_RMCP_ADDR=127.0.0.1:8000 cargo run -p taskctx-rmcp --example server &
//! TASKCTX_RMCP_ADDR=127.0.0.1:8001 cargo run -p taskctx-rmcp --example server &
//! cargo run -p taskctx-rmcp --example server -- --worker
//! ```
//!
//! A job is taken with `BLPOP`: a worker that dies after taking a job and before claiming its
//! task loses it, and the task fails when its TTL runs out (a job system that redelivers, such as
//! apalis, closes that gap; a task a dead worker had claimed fails once its lease runs out).

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use deadpool_redis::redis;
use deadpool_redis::redis::aio::MultiplexedConnection;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    CreateTaskResult, GetTaskParams, GetTaskResult, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskExit, TaskOptions};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde_json::{Value, json};
use taskctx_rmcp::{
    BearerAuthLayer, McpNameShimLayer, OwnedTasks, OwningTool, Rejection, RemoteJob, TaskHandle,
};
use taskctx_worker_glue::{AccessToken, TaskGlue};

/// How many jobs a worker runs at once.
const WORKER_CONCURRENCY: usize = 64;
/// How long a worker's `BLPOP` waits before it looks for Ctrl-C again (seconds).
const WORKER_WAIT_SECS: f64 = 1.0;

/// The demo's token check: two fixed bearers. A real server introspects or validates a JWT here.
async fn verify(bearer: String) -> Result<AccessToken, Rejection> {
    let (client_id, sub) = match bearer.as_str() {
        "demo-token-a" => ("client-a", "user-1"),
        "demo-token-b" => ("client-b", "user-2"),
        _ => return Err(Rejection::InvalidToken),
    };
    Ok(AccessToken::builder(bearer, client_id)
        .claim("sub", sub)
        .build())
}

/// Deep inside the tool: the caller, with no request or context passed down.
fn caller() -> Value {
    taskctx_rmcp::access_token().map_or(
        Value::Null,
        |token| json!({"client_id": token.client_id(), "sub": token.sub_claim()}),
    )
}

async fn whoami() -> CallToolResult {
    let report = json!({
        "caller": caller(),
        "session_id": taskctx_worker_glue::session_id().as_deref(),
        "task": taskctx_worker_glue::current_task().map(|(task, _)| task.task_id().to_string()),
        "traceparent": taskctx_worker_glue::trace_context().and_then(|trace| trace.traceparent),
    });
    CallToolResult::success(vec![ContentBlock::text(report.to_string())])
}

async fn countdown(seconds: u64, handle: TaskHandle) -> Result<CallToolResult, TaskExit> {
    for left in (1..=seconds).rev() {
        handle
            .set_status_message(format!("{left} s left"))
            .await
            .map_err(McpError::from)?;
        tokio::select! {
            () = handle.cancelled() => return Err(TaskExit::Cancelled),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let done = json!({"done": true, "caller": caller()});
    Ok(CallToolResult::success(vec![ContentBlock::text(
        done.to_string(),
    )]))
}

/// A task tool's call: run here, or by a worker from a job on the queue, with the same code.
#[derive(Debug, Clone, Copy)]
enum Work {
    Whoami,
    Countdown { seconds: u64 },
}

impl Work {
    /// The call as a task, from the tool's name and arguments.
    fn of(name: &str, arguments: Option<&JsonObject>) -> Option<Self> {
        match name {
            "whoami" => Some(Self::Whoami),
            "countdown" => {
                let seconds = arguments
                    .and_then(|arguments| arguments.get("seconds"))
                    .and_then(Value::as_u64)
                    .unwrap_or(5)
                    .min(600);
                Some(Self::Countdown { seconds })
            }
            _ => None,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Whoami => "whoami",
            Self::Countdown { .. } => "countdown",
        }
    }

    /// The task's suggested poll interval: `whoami` is done within milliseconds, `countdown`
    /// changes its status once a second.
    fn options(self) -> TaskOptions {
        match self {
            Self::Whoami => TaskOptions::new().with_poll_interval_ms(100),
            Self::Countdown { .. } => TaskOptions::new().with_poll_interval_ms(1000),
        }
    }

    async fn run(self, handle: TaskHandle) -> Result<CallToolResult, TaskExit> {
        match self {
            Self::Whoami => Ok(whoami().await),
            Self::Countdown { seconds } => countdown(seconds, handle).await,
        }
    }

    /// The job a worker takes from the queue: the task's execution key and the call.
    fn job(self, job: &RemoteJob) -> Value {
        let seconds = match self {
            Self::Whoami => None,
            Self::Countdown { seconds } => Some(seconds),
        };
        json!({"execution_key": job.execution_key, "tool": self.name(), "seconds": seconds})
    }

    /// The execution key and the call of a job, or `None` for a job this server never queues.
    fn from_job(payload: &str) -> Option<(String, Self)> {
        let job: Value = serde_json::from_str(payload).ok()?;
        let key = job.get("execution_key")?.as_str()?.to_owned();
        let arguments = json!({"seconds": job.get("seconds")});
        let work = Self::of(job.get("tool")?.as_str()?, arguments.as_object())?;
        Some((key, work))
    }
}

/// The Redis list a fleet's replicas push jobs onto and its workers pop them from.
#[derive(Clone)]
struct Queue {
    /// One connection for every push: redis-rs multiplexes concurrent commands on it. It does not
    /// reconnect (a replica that lost Redis fails new tasks until restarted); a pool would, but
    /// checks each connection it hands out with two more round trips: 1.2k tasks/s instead of
    /// 1.6k–2.0k at 32 in flight (`cargo xtask bench --reference --only mcp-tasks`'s fleet).
    connection: MultiplexedConnection,
    list: Arc<str>,
}

impl Queue {
    async fn push(&self, job: Value) -> Result<(), TaskExit> {
        let unavailable = |error: &dyn std::fmt::Display| {
            warn(&format!("the job queue is unavailable: {error}"));
            TaskExit::Error(McpError::internal_error(
                "the job queue is unavailable",
                None,
            ))
        };
        let mut connection = self.connection.clone();
        redis::cmd("RPUSH")
            .arg(&*self.list)
            .arg(job.to_string())
            .query_async::<i64>(&mut connection)
            .await
            .map_err(|error| unavailable(&error))?;
        Ok(())
    }
}

#[allow(clippy::print_stderr, reason = "the example logs to stderr")]
fn warn(message: &str) {
    eprintln!("{message}");
}

#[derive(Clone)]
struct Demo {
    tasks: OwnedTasks,
    /// Where task tools run: `None` here, else by the workers of this queue.
    queue: Option<Queue>,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => Arc::default(),
    }
}

impl Demo {
    /// Creates the task of `work` for the caller of `context`, and runs it here or queues it.
    async fn start(
        &self,
        context: &RequestContext<RoleServer>,
        work: Work,
    ) -> Result<CreateTaskResult, McpError> {
        let tool = OwningTool::versioned(work.name(), env!("CARGO_PKG_VERSION"));
        let created = match &self.queue {
            None => {
                self.tasks
                    .spawn(context, &tool, work.options(), move |handle| {
                        work.run(handle)
                    })
                    .await?
            }
            Some(queue) => {
                self.tasks
                    .spawn_remote(context, &tool, work.options(), |job| {
                        queue.push(work.job(&job))
                    })
                    .await?
            }
        };
        Ok(created)
    }
}

impl ServerHandler for Demo {
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "whoami",
                "Who the tool runs as",
                schema(json!({"type": "object"})),
            ),
            Tool::new(
                "countdown",
                "Counts down, one status message a second; cancellable",
                schema(json!({
                    "type": "object",
                    "properties": {"seconds": {"type": "integer", "minimum": 0, "maximum": 600}},
                })),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let as_task = context
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.supports_tasks());
        match Work::of(&request.name, request.arguments.as_ref()) {
            Some(work) if as_task => Ok(CallToolResponse::Task(self.start(&context, work).await?)),
            // Not a task: no taskctx context, so the tool says it runs as nobody.
            Some(Work::Whoami) => Ok(CallToolResponse::Complete(whoami().await)),
            Some(Work::Countdown { .. }) => Err(McpError::invalid_request(
                "countdown runs only as a task: declare the tasks extension",
                None,
            )),
            None => Err(McpError::invalid_params("unknown tool", None)),
        }
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        self.tasks.get_task(&request, &context).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.tasks.update_task(request, &context).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.tasks.cancel_task(&request, &context).await
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
    }
}

/// A worker of the fleet: takes jobs from the queue and runs each as its task's caller, up to
/// [`WORKER_CONCURRENCY`] at once; on Ctrl-C it takes no more and waits for those running.
async fn work(tasks: OwnedTasks, queue: Queue) -> Result<(), Box<dyn std::error::Error>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(WORKER_CONCURRENCY));
    let mut connection = queue.connection;
    // `BLPOP` answers only after its wait: longer than the connection's usual response timeout.
    connection.set_response_timeout(Duration::from_secs_f64(WORKER_WAIT_SECS + 1.0));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let mut pop = redis::cmd("BLPOP");
        pop.arg(&*queue.list).arg(WORKER_WAIT_SECS);
        let popped = tokio::select! {
            _ = &mut stop => break,
            popped = pop.query_async::<Option<(String, String)>>(&mut connection) => popped?,
        };
        let Some((_, payload)) = popped else { continue };
        let Some((key, work)) = Work::from_job(&payload) else {
            warn("a job this server does not know was dropped");
            continue;
        };
        let tasks = tasks.clone();
        tokio::spawn(async move {
            if let Err(error) = tasks.run_remote(&key, |handle| work.run(handle)).await {
                warn(&format!("a job was not run: {error}"));
            }
            drop(slot);
        });
    }
    let all = u32::try_from(WORKER_CONCURRENCY)?;
    drop(slots.acquire_many(all).await?);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("TASKCTX_RMCP_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let store = std::env::var("TASKCTX_STORE_URL").unwrap_or_else(|_| "memory://example".into());
    let queue = match std::env::var("TASKCTX_RMCP_QUEUE") {
        Ok(list) if store.starts_with("redis") => Some(Queue {
            connection: redis::Client::open(store.as_str())?
                .get_multiplexed_async_connection()
                .await?,
            list: list.into(),
        }),
        Ok(_) => return Err("TASKCTX_RMCP_QUEUE needs a Redis TASKCTX_STORE_URL".into()),
        Err(_) => None,
    };
    let glue: TaskGlue = TaskGlue::builder().store_url(store).build()?;
    let tasks = OwnedTasks::new(glue)?;
    if std::env::args().any(|arg| arg == "--worker") {
        let queue = queue.ok_or("--worker needs TASKCTX_RMCP_QUEUE and a Redis store")?;
        return work(tasks, queue).await;
    }
    let demo = Demo { tasks, queue };
    let mcp = StreamableHttpService::new(
        move || Ok(demo.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .layer(BearerAuthLayer::new(verify).allow_anonymous())
        // A compatibility shim for clients without `Mcp-Name` on `tasks/*` (fastmcp's Python one).
        .layer(McpNameShimLayer::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    #[allow(
        clippy::print_stderr,
        reason = "an example server says where it listens"
    )]
    {
        eprintln!(
            "MCP server on http://{}/mcp (bearer demo-token-a, demo-token-b, or none); Ctrl-C stops it",
            listener.local_addr()?
        );
    }
    // Responses are written in parts (headers, then the event stream): without `TCP_NODELAY`
    // each part after the first waits for the client's delayed ACK, about 40 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
