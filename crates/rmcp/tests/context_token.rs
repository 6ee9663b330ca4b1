//! Without HTTP (rmcp over an in-memory byte stream, as on stdio), the caller is the
//! `VerifiedToken` the handler puts into the request context's own extensions.

#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use common::{Remote, Server, TOKEN_A, settled_report, start, verify};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, GetTaskParams,
    GetTaskResult, Implementation, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use taskctx_rmcp::{OwnedTasks, VerifiedToken};
use taskctx_worker_glue::TaskGlue;

/// A server for one local user: every request runs as the token it was started with.
#[derive(Clone)]
struct LocalUser {
    inner: Server,
    token: Option<VerifiedToken>,
}

impl LocalUser {
    fn authenticate(&self, mut context: RequestContext<RoleServer>) -> RequestContext<RoleServer> {
        if let Some(token) = &self.token {
            context.extensions.insert(token.clone());
        }
        context
    }
}

impl ServerHandler for LocalUser {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.inner
            .call_tool(request, self.authenticate(context))
            .await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        self.inner
            .get_task(request, self.authenticate(context))
            .await
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }
}

async fn run_as(token: Option<VerifiedToken>, tasks: &OwnedTasks) -> Value {
    let (server_side, client_side) = tokio::io::duplex(64 * 1024);
    let server = LocalUser {
        inner: Server {
            tasks: tasks.clone(),
            remote: Remote::None,
        },
        token,
    };
    let serving = tokio::spawn(async move {
        let running = server.serve(server_side).await.expect("the server starts");
        let _ = running.waiting().await;
    });
    let client = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::from_build_env(),
    )
    .serve(client_side)
    .await
    .expect("the client connects");
    let task = start(&client, "whoami", None).await;
    let seen = settled_report(&client, &task).await;
    client.cancel().await.expect("client closes");
    serving.abort();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_token_is_the_caller_without_http() {
    let glue: TaskGlue = TaskGlue::builder()
        .store_url("memory://context-token")
        .build()
        .expect("memory glue");
    let tasks = OwnedTasks::new(glue).expect("the store keeps task records");
    let token = verify(TOKEN_A.to_owned()).await.expect("a known bearer");

    let seen = run_as(Some(VerifiedToken::new(token)), &tasks).await;
    assert_eq!(
        seen["caller"],
        json!({"client_id": "client-a", "sub": "user-1", "token": TOKEN_A})
    );
    // No HTTP request: no headers, no session.
    assert_eq!(seen["x_test"], Value::Null);
    assert_eq!(seen["session_id"], Value::Null);

    let seen = run_as(None, &tasks).await;
    assert_eq!(seen["caller"], Value::Null);
    assert_eq!(seen["scope"], Value::Null);
}
