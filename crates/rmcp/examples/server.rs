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

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    GetTaskParams, GetTaskResult, JsonObject, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool, UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskExit, TaskOptions};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde_json::{Value, json};
use taskctx_rmcp::{BearerAuthLayer, McpNameShimLayer, OwnedTasks, OwningTool, Rejection};
use taskctx_worker_glue::{AccessToken, TaskGlue};

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

#[derive(Clone)]
struct Demo {
    tasks: OwnedTasks,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => Arc::default(),
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
        let tool = OwningTool::versioned(request.name.clone(), env!("CARGO_PKG_VERSION"));
        match &*request.name {
            "whoami" if as_task => {
                let created = self
                    .tasks
                    .spawn(&context, &tool, TaskOptions::new(), |_| async {
                        Ok(whoami().await)
                    })
                    .await?;
                Ok(CallToolResponse::Task(created))
            }
            // Not a task: no taskctx context, so the tool says it runs as nobody.
            "whoami" => Ok(CallToolResponse::Complete(whoami().await)),
            "countdown" if as_task => {
                let seconds = request
                    .arguments
                    .as_ref()
                    .and_then(|arguments| arguments.get("seconds"))
                    .and_then(Value::as_u64)
                    .unwrap_or(5)
                    .min(600);
                let created = self
                    .tasks
                    .spawn(
                        &context,
                        &tool,
                        TaskOptions::new(),
                        move |handle| async move {
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
                        },
                    )
                    .await?;
                Ok(CallToolResponse::Task(created))
            }
            "countdown" => Err(McpError::invalid_request(
                "countdown runs only as a task: declare the tasks extension",
                None,
            )),
            _ => Err(McpError::invalid_params("unknown tool", None)),
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("TASKCTX_RMCP_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let store = std::env::var("TASKCTX_STORE_URL").unwrap_or_else(|_| "memory://example".into());
    let glue: TaskGlue = TaskGlue::builder().store_url(store).build()?;
    let demo = Demo {
        tasks: OwnedTasks::new(glue)?,
    };
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
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
