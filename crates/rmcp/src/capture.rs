//! Capture: the caller of an rmcp request, as a [`TaskContextSnapshot`].

use std::fmt;

use http::request::Parts;
use rmcp::service::{RequestContext, RoleServer};
use taskctx_snapshot::{TRACEPARENT, TRACESTATE};
use taskctx_worker_glue::{
    AccessToken, HeaderPolicy, Headers, Scope, TaskContextSnapshot, scope_of_token,
};

use crate::Error;

/// The header that carries the MCP session id on Streamable HTTP.
pub const SESSION_ID_HEADER: &str = "mcp-session-id";

/// An access token whose bearer has been verified: the only token taskctx takes a caller from.
///
/// **Contract.** Whatever authenticates a request inserts one `VerifiedToken` into the HTTP
/// request's extensions (`http::Request::extensions_mut`) before the request reaches rmcp's
/// Streamable HTTP service, and only after verifying the bearer. rmcp hands the request's
/// [`http::request::Parts`] to the handler in [`RequestContext::extensions`]; [`capture`] and
/// [`OwnedTasks`](crate::OwnedTasks) read the token from there. On other transports (stdio, a
/// custom service) put the `VerifiedToken` into `RequestContext::extensions` directly. A request
/// without one is anonymous. [`BearerAuthLayer`](crate::BearerAuthLayer) is a ready-made layer
/// that fulfils the contract with a verifier of your own.
///
/// `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedToken(AccessToken);

impl VerifiedToken {
    /// Marks `token` as verified. Call it only for a token whose bearer you have checked.
    #[must_use]
    pub const fn new(token: AccessToken) -> Self {
        Self(token)
    }

    /// The verified token.
    #[must_use]
    pub const fn token(&self) -> &AccessToken {
        &self.0
    }

    /// The verified token, by value.
    #[must_use]
    pub fn into_token(self) -> AccessToken {
        self.0
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifiedToken").field(&self.0).finish()
    }
}

/// The tool a task belongs to: its name and, optionally, its version. A remote worker finds the
/// owning server again from these (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwningTool {
    name: String,
    version: Option<String>,
}

impl OwningTool {
    /// The tool named `name`, without a version.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: None,
        }
    }

    /// The tool named `name` at `version`.
    #[must_use]
    pub fn versioned(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: Some(version.into()),
        }
    }

    /// The tool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool's version, if one was given.
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

/// The HTTP request parts rmcp's Streamable HTTP service put into the request's context.
#[must_use]
pub fn http_parts(context: &RequestContext<RoleServer>) -> Option<&Parts> {
    context.extensions.get::<Parts>()
}

/// The verified token of the request (see [`VerifiedToken`]): from the HTTP request's extensions,
/// else from the context's own extensions; `None` for an anonymous caller.
#[must_use]
pub fn verified_token(context: &RequestContext<RoleServer>) -> Option<&AccessToken> {
    http_parts(context)
        .and_then(|parts| parts.extensions.get::<VerifiedToken>())
        .or_else(|| context.extensions.get::<VerifiedToken>())
        .map(VerifiedToken::token)
}

/// The task scope of the request's caller: `Ok(None)` for an anonymous caller.
///
/// # Errors
/// [`Error::Scope`] when the verified token gives no valid scope (a `client_id` with `|`, or a
/// `sub` claim that is `true`, a float, an array or an object).
pub fn caller_scope(context: &RequestContext<RoleServer>) -> Result<Option<Scope<'static>>, Error> {
    verified_token(context)
        .map(scope_of_token)
        .transpose()
        .map_err(Error::Scope)
}

/// Captures the caller of `context` for a task of `tool`:
///
/// - the access token: the request's [`VerifiedToken`] (none: anonymous);
/// - the HTTP headers of the request, through `policy` (credentials are left out by default);
/// - the origin request id: the JSON-RPC id of the request;
/// - the session id: the `mcp-session-id` header, when the transport has sessions;
/// - the owning tool's name and version;
/// - the W3C trace context: `traceparent` and `tracestate` from the request's `_meta`, where MCP
///   clients put it, else from the HTTP headers of those names (the pair always from one place).
///
/// # Errors
/// [`Error::Headers`] when the headers the policy keeps exceed its byte cap.
pub fn capture(
    context: &RequestContext<RoleServer>,
    tool: &OwningTool,
    policy: &HeaderPolicy,
) -> Result<TaskContextSnapshot, Error> {
    let mut builder = TaskContextSnapshot::builder()
        .origin_request_id(context.id.to_string())
        .owning_tool_name(tool.name());
    if let Some(version) = tool.version() {
        builder = builder.owning_tool_version(version);
    }
    if let Some(token) = verified_token(context) {
        builder = builder.access_token(token.clone());
    }
    let parts = http_parts(context);
    let header = |name: &str| {
        parts
            .and_then(|parts| parts.headers.get(name))
            .and_then(|value| value.to_str().ok())
    };
    if let Some(session_id) = header(SESSION_ID_HEADER) {
        builder = builder.session_id(session_id);
    }
    // The trace context comes as a pair from one place: `_meta` first, else the headers. When it
    // comes from `_meta`, the headers of those names are left out of the snapshot so that every
    // stored form (the JSON form keeps the pair as headers) carries the same pair.
    let from_meta = context.meta.get_traceparent();
    let (traceparent, tracestate) = match from_meta {
        Some(traceparent) => (Some(traceparent), context.meta.get_tracestate()),
        None => {
            let traceparent = header(TRACEPARENT);
            (traceparent, traceparent.and(header(TRACESTATE)))
        }
    };
    if let Some(traceparent) = traceparent {
        builder = builder.traceparent(traceparent);
    }
    if let Some(tracestate) = tracestate {
        builder = builder.tracestate(tracestate);
    }
    if let Some(parts) = parts {
        let pairs = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                from_meta.is_none() || !matches!(name.as_str(), TRACEPARENT | TRACESTATE)
            })
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        let headers = Headers::capture(pairs, policy).map_err(Error::Headers)?;
        builder = builder.headers(headers);
    }
    Ok(builder.build())
}
