//! Shared fixtures of the task-context glue tests: application session and server types, and
//! snapshots of a given caller.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub(crate) mod capture;

use std::sync::Arc;

use taskctx_worker_glue::{
    AccessToken, Component, Scope, Submit, TaskContextSnapshot, TaskGlue, TaskId, TaskKey,
    TaskType, scope_of,
};

/// The application's session type.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) user: String,
}

/// The application's server type.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) name: String,
}

pub(crate) fn session(user: &str) -> Arc<Session> {
    Arc::new(Session { user: user.into() })
}

pub(crate) fn server(name: &str) -> Arc<Server> {
    Arc::new(Server { name: name.into() })
}

/// A token of `client` for user `sub`, expiring at `expires_at` when given.
pub(crate) fn token(client: &str, sub: &str, expires_at: Option<i64>) -> AccessToken {
    let builder = AccessToken::builder(format!("secret-token-of-{client}-{sub}"), client)
        .scopes(["read"])
        .claim("sub", sub);
    match expires_at {
        Some(at) => builder.expires_at(at).build(),
        None => builder.build(),
    }
}

/// The snapshot of an authenticated caller with a session, headers, trace context and tool.
pub(crate) fn caller(client: &str, sub: &str, session_id: &str) -> TaskContextSnapshot {
    TaskContextSnapshot::builder()
        .access_token(token(client, sub, None))
        .header("x-request-id", format!("req-{client}-{sub}"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .session_id(session_id)
        .origin_request_id("origin-1")
        .owning_tool_name("weather")
        .owning_tool_version("2")
        .build()
}

/// The task key for `snapshot`'s caller.
pub(crate) fn task_for(snapshot: &TaskContextSnapshot, task_id: &str) -> TaskKey<'static> {
    TaskKey::new(
        scope_of(snapshot).unwrap(),
        TaskId::new(task_id.to_owned()).unwrap(),
        TaskType::TOOL,
        Component::new("weather"),
    )
}

/// A submission of task `task_id` (a `weather` tool) for `snapshot`'s caller.
pub(crate) fn submit<'a, Sv>(snapshot: &'a TaskContextSnapshot, task_id: &str) -> Submit<'a, Sv> {
    Submit::new(
        snapshot,
        TaskId::new(task_id.to_owned()).unwrap(),
        TaskType::TOOL,
        Component::new("weather"),
    )
}

/// Submits task `task_id` for `snapshot`'s caller through `glue`; returns its execution key.
pub(crate) async fn submit_key<Se, Sv>(
    glue: &TaskGlue<Se, Sv>,
    snapshot: &TaskContextSnapshot,
    task_id: &str,
) -> String
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    glue.submit(submit(snapshot, task_id))
        .await
        .unwrap()
        .into_execution_key()
}

/// A single-threaded runtime with I/O and time.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The scope of `snapshot`'s caller.
pub(crate) fn scope(snapshot: &TaskContextSnapshot) -> Option<Scope<'static>> {
    scope_of(snapshot).unwrap()
}

/// The scope text of `client` and `sub`.
pub(crate) fn scope_text(client: &str, sub: &str) -> String {
    Scope::from_token(client, taskctx_scope::SubClaim::String(sub))
        .unwrap()
        .to_str()
        .into_owned()
}
