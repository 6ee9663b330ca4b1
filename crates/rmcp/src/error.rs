//! Why a task could not be created for a request.

use rmcp::ErrorData as McpError;

/// Why a request's caller could not be captured or bound to a task.
///
/// Converts into the JSON-RPC error the client receives (`-32600` invalid request); the message
/// names the problem, never a token, header value or scope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request's headers that the policy keeps exceed its byte cap.
    #[error("the request's headers could not be captured for the task")]
    Headers(#[source] taskctx_snapshot::CaptureError),
    /// The caller's verified token gives no valid task scope.
    #[error("the caller's access token gives no valid task scope")]
    Scope(#[source] taskctx_worker_glue::KeyError),
}

impl From<Error> for McpError {
    fn from(error: Error) -> Self {
        Self::invalid_request(error.to_string(), None)
    }
}
