//! A task-enabled rmcp server on axum (loopback, free port) behind the bearer layer, rmcp's own
//! Streamable HTTP client, and the tool whose report says which caller it runs as.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the shared support"
)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support: a server or client that cannot start must fail the test loudly"
)]

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
    ClientCapabilities, ClientConfig, ClientRequest, ContentBlock, GetMeta, GetTaskParams,
    GetTaskResult, Implementation, ServerCapabilities, ServerConfig, ServerResult, TaskPayload,
    UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::task_manager::{TaskExit, TaskOptions};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceError, ServiceExt};
use serde_json::{Value, json};
use taskctx_rmcp::{BearerAuthLayer, OwnedTasks, OwningTool, Rejection, RemoteJob};
use taskctx_snapshot::AccessToken;
use taskctx_worker_glue::TaskGlue;

/// The bearer tokens the test verifier knows, and the token each one verifies to.
pub(crate) const TOKEN_A: &str = "bearer-of-caller-a";
/// The second caller's bearer.
pub(crate) const TOKEN_B: &str = "bearer-of-caller-b";

/// A bearer that verifies to a token whose `client_id` gives no valid scope (it holds `|`).
pub(crate) const TOKEN_NO_SCOPE: &str = "bearer-without-a-scope";

/// The test verifier: the known bearers, every other one refused.
pub(crate) async fn verify(bearer: String) -> Result<AccessToken, Rejection> {
    let (client, sub) = match bearer.as_str() {
        TOKEN_A => ("client-a", "user-1"),
        TOKEN_B => ("client-b", "user-2"),
        TOKEN_NO_SCOPE => ("client|b", "user-3"),
        _ => return Err(Rejection::InvalidToken),
    };
    Ok(AccessToken::builder(bearer, client)
        .claim("sub", sub)
        .build())
}

/// What the tool saw of its caller, read through the worker-glue accessors from inside the task
/// (a sync helper and after an await), with the process it ran in.
pub(crate) async fn report() -> Value {
    fn caller() -> Value {
        match taskctx_worker_glue::access_token() {
            None => Value::Null,
            Some(token) => json!({
                "client_id": token.client_id(),
                "sub": token.sub_claim(),
                "token": token.token(),
            }),
        }
    }
    let before = caller();
    tokio::task::yield_now().await;
    let context = taskctx_worker_glue::current();
    let header = |name: &str| {
        taskctx_worker_glue::headers().and_then(|headers| headers.get(name).map(str::to_owned))
    };
    let trace = taskctx_worker_glue::trace_context().unwrap_or_default();
    json!({
        "caller": caller(),
        "caller_before_await": before,
        "scope": taskctx_worker_glue::current_task()
            .and_then(|(task, _)| task.scope().map(|scope| scope.to_str().into_owned())),
        "task_id": taskctx_worker_glue::current_task().map(|(task, _)| task.task_id().to_string()),
        "session_id": taskctx_worker_glue::session_id(),
        "origin_request_id": context.as_ref().and_then(|c| c.origin_request_id().map(str::to_owned)),
        "tool": context.as_ref().and_then(|c| c.owning_tool_name().map(str::to_owned)),
        "tool_version": context.as_ref().and_then(|c| c.owning_tool_version().map(str::to_owned)),
        "x_test": header("x-test"),
        "authorization_header": header("authorization"),
        "traceparent": trace.traceparent,
        "tracestate": trace.tracestate,
        "pid": std::process::id(),
    })
}

/// The tool's result: its report as text.
pub(crate) fn report_result(report: &Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(report.to_string())])
}

/// A job system: takes a remote job and resolves once it is queued (a worker settles the task).
pub(crate) type Dispatch = Arc<
    dyn Fn(RemoteJob) -> Pin<Box<dyn Future<Output = Result<(), TaskExit>> + Send>> + Send + Sync,
>;

/// The poll interval of the `wait` task: a cancel reaches it within this.
pub(crate) const WAIT_POLL: Duration = Duration::from_millis(200);

/// The status message of a `wait` task once it watches for a cancel.
pub(crate) const WAITING: &str = "waiting for a cancel";

/// When the code of each `wait` task of this process saw its cancel, by task id.
pub(crate) fn cancels_seen() -> MutexGuard<'static, HashMap<String, Instant>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The server: `whoami` runs here as a task (`whoami_slow` after working for 300 ms),
/// `wait` runs until cancelled, `ask` asks the client for a name and greets it; every tool named
/// `…_remote` (`whoami_remote` and whatever the test's worker runs) goes to the dispatcher.
#[derive(Clone)]
pub(crate) struct Server {
    pub(crate) tasks: OwnedTasks,
    pub(crate) remote: Remote,
}

/// Where a [`Server`]'s `…_remote` tools go.
#[derive(Clone)]
pub(crate) enum Remote {
    /// Nowhere: the server runs no remote tools.
    None,
    /// To a job system, with `spawn_remote`.
    Dispatch(Dispatch),
    /// Onto the store's job list, with `spawn_queued` (the tool's name is the job's payload).
    Queued,
}

impl ServerHandler for Server {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let tool = OwningTool::versioned(request.name.clone(), "1.2.3");
        let options = TaskOptions::new().with_poll_interval_ms(10);
        let created = match &*request.name {
            "whoami" => {
                self.tasks
                    .spawn(&context, &tool, options, |_| async {
                        Ok(report_result(&report().await))
                    })
                    .await?
            }
            "whoami_slow" => {
                self.tasks
                    .spawn(&context, &tool, options, |_| async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok(report_result(&report().await))
                    })
                    .await?
            }
            "wait" => {
                let options = options.with_poll_interval_ms(
                    u64::try_from(WAIT_POLL.as_millis()).expect("a short interval"),
                );
                self.tasks
                    .spawn(&context, &tool, options, |handle| async move {
                        handle
                            .set_status_message(WAITING)
                            .await
                            .map_err(McpError::from)?;
                        handle.cancelled().await;
                        assert!(handle.is_cancel_requested());
                        cancels_seen().insert(handle.task_id().to_owned(), Instant::now());
                        Err(TaskExit::Cancelled)
                    })
                    .await?
            }
            "ask" => {
                self.tasks
                    .spawn(&context, &tool, options, |handle| async move {
                        let request = elicitation("What is your name?");
                        let answer = handle.request_input("name", request).await?;
                        let name = answer["content"]["name"].as_str().unwrap_or("nobody");
                        let greeting = json!({"hello": name, "pid": std::process::id()});
                        Ok(report_result(&greeting))
                    })
                    .await?
            }
            name if name.ends_with("_remote") => match &self.remote {
                Remote::None => {
                    return Err(McpError::invalid_params("no job system configured", None));
                }
                Remote::Dispatch(dispatch) => {
                    let dispatch = Arc::clone(dispatch);
                    self.tasks
                        .spawn_remote(&context, &tool, options, move |job| dispatch(job))
                        .await?
                }
                Remote::Queued => {
                    self.tasks
                        .spawn_queued(&context, &tool, options, name)
                        .await?
                }
            },
            _ => return Err(McpError::invalid_params("unknown tool", None)),
        };
        Ok(CallToolResponse::Task(created))
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

/// A running server: its URL; stopped on drop.
pub(crate) struct Running {
    pub(crate) url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves `server` at `/mcp` on a free loopback port, behind the bearer layer (anonymous callers
/// allowed).
pub(crate) async fn serve(server: Server) -> Running {
    serve_router(router(server)).await
}

/// rmcp's Streamable HTTP service for `server` at `/mcp`, behind the bearer layer (anonymous
/// callers allowed).
pub(crate) fn router(server: Server) -> axum::Router {
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(BearerAuthLayer::new(verify).allow_anonymous())
}

/// Serves `app` on a free loopback port; its MCP endpoint is `/mcp`.
pub(crate) async fn serve_router(app: axum::Router) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!(
        "http://{}/mcp",
        listener.local_addr().expect("the listener's address")
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Running { url, server }
}

/// A `Server` with in-process tasks on a `memory://` store of its own.
pub(crate) fn memory_server(name: &str) -> Server {
    store_server(&format!("memory://{name}"), None)
}

/// A `Server` (one replica) on the store at `url`, with a job system if given.
pub(crate) fn store_server(url: &str, dispatch: Option<Dispatch>) -> Server {
    Server {
        tasks: tasks(url),
        remote: dispatch.map_or(Remote::None, Remote::Dispatch),
    }
}

/// Tasks on the store at `url`: what every replica and worker of a test builds.
pub(crate) fn tasks(url: &str) -> OwnedTasks {
    let glue: TaskGlue = TaskGlue::builder()
        .store_url(url)
        .build()
        .expect("a glue on the test store");
    OwnedTasks::new(glue).expect("the store keeps task records")
}

/// Serves a `Server` with in-process tasks on a `memory://` store of its own.
pub(crate) async fn serve_memory(name: &str) -> Running {
    serve(memory_server(name)).await
}

/// A connected client.
pub(crate) type Client = RunningService<RoleClient, ClientConfig>;

/// rmcp's Streamable HTTP client with the tasks extension, the bearer `token` (none: anonymous)
/// and an `x-test` header.
pub(crate) async fn connect(url: &str, token: Option<&str>, x_test: &str) -> Client {
    connect_with(url, token, &[("x-test", x_test)]).await
}

/// As [`connect`], with these headers on every request.
pub(crate) async fn connect_with(
    url: &str,
    token: Option<&str>,
    headers: &[(&'static str, &str)],
) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let config = config.custom_headers(
        headers
            .iter()
            .map(|&(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_str(value).expect("a header value"),
                )
            })
            .collect::<HashMap<_, _>>(),
    );
    ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::from_build_env(),
    )
    .serve(StreamableHttpClientTransport::from_config(config))
    .await
    .expect("the client connects")
}

/// Calls `tool` as a task, with `_meta` trace context when given, and returns the task id.
pub(crate) async fn start(client: &Client, tool: &str, meta_trace: Option<(&str, &str)>) -> String {
    let mut request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new(tool.to_owned()),
    ));
    if let Some((traceparent, tracestate)) = meta_trace {
        let meta = request.get_meta_mut();
        meta.set_traceparent(traceparent);
        meta.set_tracestate(tracestate);
    }
    match client.send_request(request).await.expect("tools/call") {
        ServerResult::CreateTaskResult(created) => created.task.task_id,
        other => panic!("expected a task, got {other:?}"),
    }
}

/// Polls the task until it settles and returns its terminal payload.
pub(crate) async fn settle(client: &Client, task_id: &str) -> TaskPayload {
    for _ in 0..1000 {
        let state = client
            .get_task(GetTaskParams::new(task_id.to_owned()))
            .await
            .expect("tasks/get of the caller's own task");
        if state.task.status().is_terminal() {
            return state.task.payload;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {task_id} did not settle");
}

/// The report of a completed `whoami` task.
pub(crate) async fn settled_report(client: &Client, task_id: &str) -> Value {
    match settle(client, task_id).await {
        TaskPayload::Completed { result } => {
            let text = result["content"][0]["text"]
                .as_str()
                .expect("a text result")
                .to_owned();
            serde_json::from_str(&text).expect("the report is JSON")
        }
        other => panic!("task {task_id} did not complete: {other:?}"),
    }
}

/// Calls `tool` as a task and returns the `CreateTaskResult`'s task, or the JSON-RPC error.
pub(crate) async fn create(client: &Client, tool: &str) -> Result<rmcp::model::Task, McpError> {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new(
        tool.to_owned(),
    )));
    match client.send_request(request).await {
        Ok(ServerResult::CreateTaskResult(created)) => Ok(created.task),
        Ok(other) => panic!("expected a task, got {other:?}"),
        Err(ServiceError::McpError(error)) => Err(error),
        Err(other) => panic!("expected a JSON-RPC answer, got {other:?}"),
    }
}

/// Polls `task_id` on `client` until `done` holds for its state, and returns that state.
pub(crate) async fn poll_until(
    client: &Client,
    task_id: &str,
    done: impl Fn(&GetTaskResult) -> bool,
) -> GetTaskResult {
    for _ in 0..1000 {
        let state = client
            .get_task(GetTaskParams::new(task_id.to_owned()))
            .await
            .expect("tasks/get of the caller's own task");
        if done(&state) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {task_id} never reached the expected state");
}

/// A pool of connections to the Redis at `url` (a job queue's, not the store's).
pub(crate) fn redis_pool(url: &str) -> deadpool_redis::Pool {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("a Redis pool")
}

/// A job system on the Redis at `url`: each job's execution key, as `{"execution_key": …}`, is
/// pushed onto the list `jobs` for a worker to pop.
pub(crate) fn redis_queue(url: &str, jobs: &'static str) -> Dispatch {
    let pool = redis_pool(url);
    Arc::new(move |job| {
        let pool = pool.clone();
        Box::pin(async move {
            let fail = |error: &dyn std::fmt::Display| {
                TaskExit::Error(McpError::internal_error(error.to_string(), None))
            };
            let mut connection = pool.get().await.map_err(|error| fail(&error))?;
            let payload = json!({"execution_key": job.execution_key});
            deadpool_redis::redis::cmd("RPUSH")
                .arg(jobs)
                .arg(payload.to_string())
                .query_async::<i64>(&mut connection)
                .await
                .map_err(|error| fail(&error))?;
            Ok(())
        })
    })
}

/// The line a process of a test prints once it serves; what follows is for the test.
const READY: &str = "taskctx-test-process-ready ";

/// One test of this test binary run in a process of its own (a replica, a worker), killed
/// (SIGKILL) and reaped on drop. Its stdin stays open while it lives: such a process exits when
/// its stdin closes ([`exit_with_the_test`]), so none outlives a test that died.
pub(crate) struct Process {
    child: Child,
    _stdin: Option<ChildStdin>,
    ready: String,
}

impl Process {
    /// Runs the (ignored) test `test` of this binary in a new process with `env` (which tells
    /// it its role), and waits until it [`announce`]s itself.
    pub(crate) fn start(test: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", test, "--ignored", "--nocapture"])
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test's process starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("the process's stdout");
        let (ready, announced) = mpsc::channel();
        // Reads the announcement, then drains the rest (the harness's own lines).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(READY) {
                    let _ = ready.send(rest.to_owned());
                }
            }
        });
        let ready = announced
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the process of {test} {env:?} never got ready"));
        Self {
            child,
            _stdin: stdin,
            ready,
        }
    }

    /// What the process announced (a server: its MCP URL).
    pub(crate) fn ready(&self) -> &str {
        &self.ready
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// In a [`Process`]: tells the test that started it that it serves, with `what` (a server: its
/// MCP URL).
#[expect(
    clippy::print_stdout,
    reason = "a test's process announces itself on its stdout, which the test reads"
)]
pub(crate) fn announce(what: &str) {
    println!("{READY}{what}");
}

/// In a [`Process`]: ends this process once its stdin closes, that is once the test that
/// started it is gone.
pub(crate) fn exit_with_the_test() {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
}

/// The JSON-RPC error a request got.
pub(crate) fn mcp_error<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> McpError {
    match result {
        Err(ServiceError::McpError(error)) => error,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// An `elicitation/create` input request asking `message`, with an empty schema.
pub(crate) fn elicitation(message: &str) -> rmcp::model::InputRequest {
    serde_json::from_value(json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {"type": "object", "properties": {}},
        },
    }))
    .expect("an elicitation request")
}
