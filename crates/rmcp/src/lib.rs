//! taskctx for [rmcp](https://docs.rs/rmcp) servers: the caller of a request captured once, MCP
//! tasks (SEP-2663) kept in a store that every replica shares and that answer only the caller who
//! created them, and task code that runs as that caller, in this process or in a worker of another.
//!
//! # Usage
//!
//! - Authenticate: put [`BearerAuthLayer`] (with a [`BearerVerifier`] of your own) in front of
//!   rmcp's Streamable HTTP service, or insert a [`VerifiedToken`] into the HTTP request's
//!   extensions from your own auth layer. That is the whole contract: a request without a
//!   `VerifiedToken` is anonymous.
//! - Keep one [`OwnedTasks`] (around a [`TaskGlue`]) shared by every handler instance; every
//!   replica of the server builds its own over the same store URL (`redis://…`; `memory://` for
//!   one process).
//! - In `call_tool`, answer a task-augmented call with [`OwnedTasks::spawn`] (the tool runs
//!   here), [`OwnedTasks::spawn_queued`] (the task and its [`Job`] go to the store's job list in
//!   one write; a worker over the same store takes it with [`OwnedTasks::next_job`]) or
//!   [`OwnedTasks::spawn_remote`] (the execution key goes to a job system of your own). A worker
//!   runs the tool with [`OwnedTasks::run_remote`].
//! - Delegate `get_task`, `update_task` and `cancel_task` to [`OwnedTasks`]: any replica answers
//!   for any task.
//! - Inside the tool: its [`TaskHandle`] (status message, cancellation, input requests) and,
//!   anywhere in its code, [`access_token()`], [`headers()`], [`session_id()`],
//!   [`trace_context()`], [`current_task()`] (re-exported from `taskctx-worker-glue`).
//!
//! [`capture`] alone gives the [`TaskContextSnapshot`](taskctx_snapshot::TaskContextSnapshot) of a
//! request, for servers that submit through the glue themselves.
//!
//! rmcp 3.11 implements SEP-2663 as `tasks/get` (which carries the result once the task is
//! done), `tasks/update` and `tasks/cancel`; there is no `tasks/list` or `tasks/result` to guard.
//!
//! # Example
//!
//! A task-enabled server on axum, and rmcp's own client calling it with a bearer token:
//!
//! ```
//! use rmcp::model::*;
//! use rmcp::service::{RequestContext, RoleServer};
//! use rmcp::transport::streamable_http_server::{
//!     StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
//! };
//! use rmcp::transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig};
//! use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
//! use taskctx_rmcp::{BearerAuthLayer, OwnedTasks, OwningTool, Rejection, TaskGlue, access_token};
//! use taskctx_snapshot::AccessToken;
//!
//! #[derive(Clone)]
//! struct Server {
//!     tasks: OwnedTasks,
//! }
//!
//! impl ServerHandler for Server {
//!     async fn call_tool(
//!         &self,
//!         request: CallToolRequestParams,
//!         context: RequestContext<RoleServer>,
//!     ) -> Result<CallToolResponse, McpError> {
//!         let tool = OwningTool::new(request.name.clone());
//!         let task = self.tasks.spawn(&context, &tool, Default::default(), |_| async {
//!             // Runs as the caller, wherever in the tool's code this is read.
//!             let caller = access_token().map_or("anonymous".into(), |t| t.client_id().to_owned());
//!             Ok(CallToolResult::success(vec![ContentBlock::text(caller)]))
//!         }).await?;
//!         Ok(CallToolResponse::Task(task))
//!     }
//!     async fn get_task(&self, request: GetTaskParams, context: RequestContext<RoleServer>)
//!         -> Result<GetTaskResult, McpError> {
//!         self.tasks.get_task(&request, &context).await
//!     }
//!     async fn update_task(&self, request: UpdateTaskParams, context: RequestContext<RoleServer>)
//!         -> Result<(), McpError> {
//!         self.tasks.update_task(request, &context).await
//!     }
//!     async fn cancel_task(&self, request: CancelTaskParams, context: RequestContext<RoleServer>)
//!         -> Result<(), McpError> {
//!         self.tasks.cancel_task(&request, &context).await
//!     }
//!     fn get_info(&self) -> ServerConfig {
//!         ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tasks().build())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tasks = OwnedTasks::new(TaskGlue::builder().store_url("memory://lib-example").build()?)?;
//! let verifier = |bearer: String| async move {
//!     match bearer.as_str() {
//!         "secret-a" => Ok(AccessToken::builder(bearer, "client-a").claim("sub", "user-1").build()),
//!         _ => Err(Rejection::InvalidToken),
//!     }
//! };
//! let mcp = StreamableHttpService::new(
//!     move || Ok(Server { tasks: tasks.clone() }),
//!     LocalSessionManager::default().into(),
//!     StreamableHttpServerConfig::default(),
//! );
//! let app = axum::Router::new().nest_service("/mcp", mcp).layer(BearerAuthLayer::new(verifier));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/mcp", listener.local_addr()?);
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let transport = StreamableHttpClientTransport::from_config(
//!     StreamableHttpClientTransportConfig::with_uri(url).auth_header("secret-a"),
//! );
//! let client = ClientConfig::new(
//!     ClientCapabilities::builder().enable_tasks().build(),
//!     Implementation::from_build_env(),
//! )
//! .serve(transport)
//! .await?;
//! let CallToolResponse::Task(created) = client.call_tool_once(CallToolRequestParams::new("whoami")).await? else {
//!     return Err("expected a task".into());
//! };
//! let done = loop {
//!     let state = client.get_task(GetTaskParams::new(created.task.task_id.clone())).await?;
//!     if state.task.status().is_terminal() {
//!         break state.task.payload;
//!     }
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//! };
//! let TaskPayload::Completed { result } = done else { return Err("task failed".into()) };
//! assert_eq!(result["content"][0]["text"], "client-a");
//! client.cancel().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **One server, many replicas.** A task's record (status, status message, times, TTL, poll
//!   interval, result or error, cancel request, input requests and responses) lives in the
//!   glue's store under (scope of its creator, task id), written with the caller's snapshot in
//!   one atomic write before the `CreateTaskResult` is returned. Any [`OwnedTasks`] over the same
//!   store answers `tasks/get`, `tasks/update` and `tasks/cancel` for it, with no process
//!   memory involved: a replica that restarts, or the one that created the task dying, loses
//!   nothing.
//! - **Owner-bound.** `tasks/get`, `tasks/update` and `tasks/cancel` from another scope,
//!   anonymously for an authenticated task, or with a token for an anonymous one get exactly the
//!   answer an unknown id gets: same code, same message, same data, same code path (no existence
//!   oracle). Task ids carry 122 random bits or more.
//! - **Settles once.** A task's outcome is written once; `cancelled` is never followed by
//!   `completed`, or the reverse. `tasks/cancel` on any replica reaches the running task, wherever
//!   it runs, within one watch interval (1 s at most by default).
//! - **Bounded.** The TTL a creator asks for is clamped to a configured maximum and the
//!   `CreateTaskResult` announces the real one; polling slides it (at most once a second).
//!   Each scope has at most a configured number of unfinished tasks, counted atomically across
//!   replicas.
//! - **Runs as the caller.** The tool's future runs inside the context restored from the stored
//!   snapshot (the same path a remote worker takes): `access_token()` and the other accessors of
//!   `taskctx-worker-glue` work anywhere in it, and only there (a child task keeps the context
//!   through `taskctx_worker_glue::spawn_with_context`, not through plain `tokio::spawn`).
//! - **One source of the caller.** The token is only ever a [`VerifiedToken`] from the request's
//!   extensions; headers go through the glue's `HeaderPolicy` (credentials left out by default).
//! - **No secrets out.** Tokens and secret headers never appear in `Debug`, logs or the errors
//!   clients receive; failures to store or restore a context reach the client as a generic
//!   internal error and are logged with their cause. Each lifecycle step is one `tracing` event
//!   with the task id and the scope's fingerprint only.

mod auth;
mod capture;
mod error;
mod handle;
mod mcp_name;
mod tasks;

pub use auth::{BearerAuth, BearerAuthLayer, BearerVerifier, Rejection};
pub use capture::{
    OwningTool, SESSION_ID_HEADER, VerifiedToken, caller_scope, capture, http_parts, verified_token,
};
pub use error::Error;
pub use handle::TaskHandle;
pub use mcp_name::{McpNameShim, McpNameShimLayer};
/// A job taken from the store's job list (from `taskctx-worker-glue`).
#[doc(no_inline)]
pub use taskctx_worker_glue::records::Job;
/// The glue, and the task-local accessors a task's code calls (from `taskctx-worker-glue`).
#[doc(no_inline)]
pub use taskctx_worker_glue::{
    TaskContext, TaskGlue, access_token, current, current_task, headers, session_id,
    spawn_with_context, trace_context, with_current,
};
pub use tasks::{
    DEFAULT_LEASE, DEFAULT_MAX_UNFINISHED, DEFAULT_MAX_WATCH_INTERVAL, OwnedTasks, RemoteJob,
};
