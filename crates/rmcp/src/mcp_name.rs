//! A compatibility shim: fills the `Mcp-Name` header of `tasks/*` requests from the body, for MCP
//! clients that do not send it.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

/// The header the shim fills (SEP-2243).
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// The header naming the JSON-RPC method (SEP-2243), which lets most requests skip the shim
/// unread.
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// The methods whose `Mcp-Name` rmcp 3.11 takes from `params.taskId`.
const TASK_METHODS: &[&str] = &["tasks/get", "tasks/update", "tasks/cancel"];
/// How SEP-2243 wraps a value that cannot travel as a bare header value.
const BASE64_PREFIX: &str = "=?base64?";
const BASE64_SUFFIX: &str = "?=";

/// A [`Layer`] that fills the `Mcp-Name` header of `tasks/get`, `tasks/update` and `tasks/cancel`
/// requests that lack it, from their `params.taskId`. **A compatibility shim** for MCP clients that
/// do not send the header (fastmcp's Python client among them). Opt-in: put it in front of rmcp's
/// Streamable HTTP service only if such clients call your server.
///
/// - Only an HTTP `POST` without `Mcp-Name` whose `Mcp-Method` header is absent or names one of
///   the three methods is read. Every other request passes through unread and untouched.
/// - A request that is read is passed on with exactly the bytes it came with (and all its
///   headers); when its body is a single JSON-RPC message of one of the three methods with a
///   string `params.taskId`, it also gets `Mcp-Name` set to that id (wrapped as
///   `=?base64?…?=` when the id cannot travel bare, as SEP-2243 says). A batch, malformed JSON,
///   another method or a missing id get no header: rmcp answers them as it would without the
///   shim.
/// - The body is buffered up to [`max_body_bytes`](Self::max_body_bytes) (default 4 MiB, rmcp's
///   own default limit); a longer body is refused with `413 Payload Too Large`, as rmcp refuses
///   one over its limit. Keep the two limits equal. A body that cannot be read is refused with
///   `400 Bad Request`.
///
/// # Why it exists
///
/// SEP-2243 mirrors a request's name-shaped parameter into the `Mcp-Name` HTTP header so
/// intermediaries can route without reading the body; the tasks extension (SEP-2663) makes
/// `params.taskId` that parameter for `tasks/get`, `tasks/update` and `tasks/cancel`. rmcp 3.11's
/// Streamable HTTP server requires the header on those three methods once a request declares
/// protocol `2026-07-28` or later, and refuses a request without it (HTTP 400, `-32020`,
/// ``missing required Mcp-Name header for `tasks/get` ``). The Python SDK (`mcp` 2.3, under
/// fastmcp 4.1 and fastmcp-tasks 4.1.4) sends `Mcp-Name` only for `tools/call`, `prompts/get` and
/// `resources/read`, so a Python client can create a task on an rmcp server but never poll it.
///
/// # When to drop it
///
/// When every client you serve sends `Mcp-Name` on `tasks/*` (a Python SDK whose name-bearing
/// methods include the tasks methods), or when rmcp stops requiring it. The shim never changes a
/// request that already carries the header, so leaving it in place costs one header lookup per
/// request for such clients; each header it fills is a `debug` event (target
/// `taskctx_rmcp::mcp_name`), which tells whether any client still needs it.
///
/// The request body type must be buildable from [`Bytes`] (axum's `Body`, `Full<Bytes>`), and the
/// response body type from a `String`: put the layer on an axum `Router`.
///
/// ```
/// use rmcp::transport::streamable_http_server::{
///     StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
/// };
/// use taskctx_rmcp::McpNameShimLayer;
/// # #[derive(Clone)]
/// # struct Server;
/// # impl rmcp::ServerHandler for Server {}
///
/// let mcp = StreamableHttpService::new(
///     || Ok(Server),
///     LocalSessionManager::default().into(),
///     StreamableHttpServerConfig::default(),
/// );
/// let app: axum::Router = axum::Router::new()
///     .nest_service("/mcp", mcp)
///     .layer(McpNameShimLayer::new());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct McpNameShimLayer {
    max_body_bytes: usize,
}

impl McpNameShimLayer {
    /// rmcp's default request body limit, which the shim uses by default.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

    /// The shim with a body limit of [`DEFAULT_MAX_BODY_BYTES`](Self::DEFAULT_MAX_BODY_BYTES).
    #[must_use]
    pub fn new() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Buffers at most `bytes` of a body it reads; set it to the `max_request_body_bytes` of
    /// rmcp's `StreamableHttpServerConfig`.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

impl Default for McpNameShimLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for McpNameShimLayer {
    type Service = McpNameShim<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpNameShim {
            inner,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// The [`Service`] of [`McpNameShimLayer`].
#[derive(Clone)]
pub struct McpNameShim<S> {
    inner: S,
    max_body_bytes: usize,
}

impl<S> fmt::Debug for McpNameShim<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpNameShim")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<Request<B>> for McpNameShim<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    RB: From<String>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready handles this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !may_lack_name(request.method(), request.headers()) {
            return Box::pin(inner.call(request));
        }
        let max_body_bytes = self.max_body_bytes;
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes = match Limited::new(body, max_body_bytes).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.is::<LengthLimitError>() => {
                    return Ok(refusal(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("Payload Too Large: request body exceeds {max_body_bytes} bytes"),
                    ));
                }
                Err(error) => {
                    tracing::debug!(%error, "request body not read");
                    return Ok(refusal(
                        StatusCode::BAD_REQUEST,
                        "Bad Request: the request body could not be read".to_owned(),
                    ));
                }
            };
            if let Some(name) = task_name(&bytes) {
                tracing::debug!("Mcp-Name filled from params.taskId");
                parts.headers.insert(MCP_NAME, name);
            }
            inner.call(Request::from_parts(parts, B::from(bytes))).await
        })
    }
}

/// Whether the request may be a `tasks/*` request without `Mcp-Name`: a POST without the header,
/// whose `Mcp-Method` is absent or one of the task methods (any other value makes rmcp refuse or
/// ignore the request regardless of `Mcp-Name`).
fn may_lack_name(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::POST || headers.contains_key(MCP_NAME) {
        return false;
    }
    let mut methods = headers.get_all(MCP_METHOD).iter();
    match (methods.next(), methods.next()) {
        (None, _) => true,
        (Some(value), None) => TASK_METHODS
            .iter()
            .any(|task_method| value.as_bytes() == task_method.as_bytes()),
        (Some(_), Some(_)) => false,
    }
}

/// The `Mcp-Name` value of a body that is one `tasks/*` JSON-RPC message with a string
/// `params.taskId`, exactly as rmcp compares it.
fn task_name(body: &[u8]) -> Option<HeaderValue> {
    let message: Value = serde_json::from_slice(body).ok()?;
    let method = message.get("method")?.as_str()?;
    if !TASK_METHODS.contains(&method) {
        return None;
    }
    let task_id = message.get("params")?.get("taskId")?.as_str()?;
    HeaderValue::from_str(&header_value(task_id)).ok()
}

/// `value` as SEP-2243 carries it in a header: bare when it can travel bare, otherwise
/// `=?base64?<standard base64>?=`.
fn header_value(value: &str) -> String {
    let padded = value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']);
    let not_visible = value.chars().any(|c| !(' '..='~').contains(&c));
    let looks_wrapped = value.starts_with(BASE64_PREFIX) && value.ends_with(BASE64_SUFFIX);
    if padded || not_visible || looks_wrapped {
        format!("{BASE64_PREFIX}{}{BASE64_SUFFIX}", BASE64.encode(value))
    } else {
        value.to_owned()
    }
}

/// A refusal with a plain-text reason.
fn refusal<RB: From<String>>(status: StatusCode, reason: String) -> Response<RB> {
    let mut response = Response::new(RB::from(reason));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_task_methods_with_a_string_task_id_get_a_name() {
        let name = |body: &str| task_name(body.as_bytes());
        for method in TASK_METHODS {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"taskId":"t-1"}}}}"#
            );
            assert_eq!(
                name(&body),
                Some(HeaderValue::from_static("t-1")),
                "{method}"
            );
        }
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":7}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get"}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t"}}]"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t""#,
            "",
        ] {
            assert_eq!(name(body), None, "{body}");
        }
    }

    #[test]
    fn ids_that_cannot_travel_bare_are_wrapped_in_base64() {
        assert_eq!(header_value("a-b_c.d"), "a-b_c.d");
        assert_eq!(header_value(""), "");
        assert_eq!(header_value(" a"), "=?base64?IGE=?=");
        assert_eq!(header_value("a\t"), "=?base64?YQk=?=");
        assert_eq!(header_value("é"), "=?base64?w6k=?=");
        assert_eq!(header_value("a\nb"), "=?base64?YQpi?=");
        assert_eq!(header_value("=?base64?x?="), "=?base64?PT9iYXNlNjQ/eD89?=");
    }

    #[test]
    fn only_posts_without_a_name_and_with_a_task_method_or_none_are_read() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(may_lack_name(&Method::POST, &headers(&[])));
        assert!(may_lack_name(
            &Method::POST,
            &headers(&[("mcp-method", "tasks/get")])
        ));
        assert!(!may_lack_name(&Method::GET, &headers(&[])));
        assert!(!may_lack_name(
            &Method::POST,
            &headers(&[("mcp-name", "x")])
        ));
        assert!(!may_lack_name(
            &Method::POST,
            &headers(&[("mcp-method", "tools/call")])
        ));
        assert!(!may_lack_name(
            &Method::POST,
            &headers(&[("mcp-method", "tasks/get"), ("mcp-method", "tasks/get")])
        ));
    }
}
