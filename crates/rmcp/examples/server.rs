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
//! Started with `--queue`, a replica runs no tool code: it stores each task and queues its job
//! on the store's job list in one atomic write ([`OwnedTasks::spawn_queued`]), and answers. The
//! same binary started with `--worker` serves no HTTP: it takes jobs from the list
//! ([`OwnedTasks::next_job`]) and runs each tool, as the caller who created the task, with
//! [`OwnedTasks::run_remote`]. With `--queue --with-worker` a replica also runs a worker, as
//! fastmcp's replicas run their Docket worker. Any replica reports the outcome.
//!
//! ```text
//! export TASKCTX_STORE_URL=redis://127.0.0.1:6379/0
//! TASKCTX_RMCP_ADDR=127.0.0.1:8000 cargo run -p taskctx-rmcp --example server -- --queue &
//! TASKCTX_RMCP_ADDR=127.0.0.1:8001 cargo run -p taskctx-rmcp --example server -- --queue &
//! cargo run -p taskctx-rmcp --example server -- --worker
//! ```
//!
//! A job is taken once: a worker that dies after taking a job and before claiming its task
//! loses it, and the task stays `working` until its TTL runs out and it is gone (a job system
//! that redelivers, such as apalis with [`OwnedTasks::spawn_remote`], closes that gap); a task a
//! dead worker had claimed fails once its lease runs out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::serve::ListenerExt;
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
    BearerAuthLayer, McpNameShimLayer, OwnedTasks, OwningTool, Rejection, TaskHandle,
};
use taskctx_worker_glue::{AccessToken, TaskGlue};

/// How many jobs a worker runs at once.
const WORKER_CONCURRENCY: usize = 64;
/// How long a worker waits for a job before it asks again (and after a store error).
const WORKER_WAIT: Duration = Duration::from_secs(1);

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

    /// The payload of the task's job: the call.
    fn job(self) -> String {
        let seconds = match self {
            Self::Whoami => None,
            Self::Countdown { seconds } => Some(seconds),
        };
        json!({"tool": self.name(), "seconds": seconds}).to_string()
    }

    /// The call of a job's payload, or `None` for a job this server never queues.
    fn from_job(payload: &str) -> Option<Self> {
        let job: Value = serde_json::from_str(payload).ok()?;
        let arguments = json!({"seconds": job.get("seconds")});
        Self::of(job.get("tool")?.as_str()?, arguments.as_object())
    }
}

#[allow(clippy::print_stderr, reason = "the example logs to stderr")]
fn warn(message: &str) {
    eprintln!("{message}");
}

#[derive(Clone)]
struct Demo {
    tasks: OwnedTasks,
    /// Whether task tools are queued for workers instead of run here.
    queue: bool,
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
        let created = if self.queue {
            self.tasks
                .spawn_queued(context, &tool, work.options(), &work.job())
                .await?
        } else {
            self.tasks
                .spawn(context, &tool, work.options(), move |handle| {
                    work.run(handle)
                })
                .await?
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

/// A worker of the fleet: takes jobs from the store's job list and runs each as its task's
/// caller, up to [`WORKER_CONCURRENCY`] at once; on Ctrl-C it takes no more and waits for those
/// running.
async fn work(tasks: OwnedTasks) -> Result<(), Box<dyn std::error::Error>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(WORKER_CONCURRENCY));
    // Stops between two waits for a job, not during one: a wait dropped midway could lose the
    // job the store handed out in that moment.
    let stopping = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let stopping = Arc::clone(&stopping);
        async move {
            let _ = tokio::signal::ctrl_c().await;
            stopping.store(true, Ordering::Relaxed);
        }
    });
    while !stopping.load(Ordering::Relaxed) {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let job = match tasks.next_job(WORKER_WAIT).await {
            Ok(Some(job)) => job,
            Ok(None) => continue,
            Err(error) => {
                warn(&format!("no job taken: {error}"));
                tokio::time::sleep(WORKER_WAIT).await;
                continue;
            }
        };
        let Some(work) = Work::from_job(job.payload()) else {
            warn("a job this server does not know was dropped");
            continue;
        };
        let tasks = tasks.clone();
        tokio::spawn(async move {
            let key = job.execution_key();
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
    let flag = |name: &str| std::env::args().any(|arg| arg == name);
    let glue: TaskGlue = TaskGlue::builder().store_url(store).build()?;
    let tasks = OwnedTasks::new(glue)?;
    if flag("--worker") {
        return work(tasks).await;
    }
    if flag("--with-worker") {
        let tasks = tasks.clone();
        tokio::spawn(async move {
            if let Err(error) = work(tasks).await {
                warn(&format!("the worker stopped: {error}"));
            }
        });
    }
    let queue = flag("--queue");
    let demo = Demo { tasks, queue };
    let mcp = StreamableHttpService::new(
        move || Ok(demo.clone()),
        LocalSessionManager::default().into(),
        // A response that is one message goes as JSON, not as an event stream.
        StreamableHttpServerConfig::default().with_json_response(true),
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
