//! The snapshot: everything a worker needs to act as the caller who submitted a task.

use std::fmt;

use serde_json::Value;

use crate::headers::{CaptureError, HeaderPolicy, Headers};
use crate::token::AccessToken;

/// The W3C trace-context header carrying the submitter's trace and span ids.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C trace-context header carrying vendor trace state.
pub const TRACESTATE: &str = "tracestate";

/// The caller's context, captured once when a task is submitted and restored once in the worker.
///
/// Every part is optional. In the JSON stored form the trace context travels as the headers
/// `traceparent` and `tracestate` (the reference keeps them as ordinary headers); in the native
/// form it has its own fields. `Debug` never shows the access token or a secret header value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TaskContextSnapshot {
    pub(crate) access_token: Option<AccessToken>,
    pub(crate) http_headers: Option<Headers>,
    pub(crate) origin_request_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) owning_tool_name: Option<String>,
    pub(crate) owning_tool_version: Option<String>,
    pub(crate) traceparent: Option<String>,
    pub(crate) tracestate: Option<String>,
}

/// The inputs of a task's authorization scope, taken from the snapshot's access token: the
/// token's `client_id` and its `sub` claim (the key layer composes them into a scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeInputs<'a> {
    /// The token's OAuth client id.
    pub client_id: &'a str,
    /// The token's `sub` claim, when present (any JSON type; the key layer validates it).
    pub sub: Option<&'a Value>,
}

impl TaskContextSnapshot {
    /// An empty snapshot (anonymous caller, no headers).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts building a snapshot.
    #[must_use]
    pub fn builder() -> SnapshotBuilder {
        SnapshotBuilder::default()
    }

    /// Continues building from this snapshot.
    #[must_use]
    pub fn into_builder(self) -> SnapshotBuilder {
        SnapshotBuilder { snapshot: self }
    }

    /// The caller's access token; `None` for an anonymous caller.
    #[must_use]
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.access_token.as_ref()
    }

    /// The submitting request's headers, if captured.
    #[must_use]
    pub fn http_headers(&self) -> Option<&Headers> {
        self.http_headers.as_ref()
    }

    /// Takes the access token out of the snapshot (leaving an anonymous one), without copying.
    pub fn take_access_token(&mut self) -> Option<AccessToken> {
        self.access_token.take()
    }

    /// Takes the headers out of the snapshot, without copying. The trace context read from them
    /// ([`traceparent`](Self::traceparent)) goes with them.
    pub fn take_http_headers(&mut self) -> Option<Headers> {
        self.http_headers.take()
    }

    /// The id of the request that submitted the task.
    #[must_use]
    pub fn origin_request_id(&self) -> Option<&str> {
        self.origin_request_id.as_deref()
    }

    /// The MCP session the task was submitted in.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The name of the tool (or prompt, resource) that owns the task.
    #[must_use]
    pub fn owning_tool_name(&self) -> Option<&str> {
        self.owning_tool_name.as_deref()
    }

    /// The version of the owning tool.
    #[must_use]
    pub fn owning_tool_version(&self) -> Option<&str> {
        self.owning_tool_version.as_deref()
    }

    /// The submitter's W3C `traceparent`: the field, or else the header of that name.
    #[must_use]
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent
            .as_deref()
            .or_else(|| self.http_headers.as_ref()?.get(TRACEPARENT))
    }

    /// The submitter's W3C `tracestate`: the field, or else the header of that name.
    #[must_use]
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate
            .as_deref()
            .or_else(|| self.http_headers.as_ref()?.get(TRACESTATE))
    }

    /// The inputs of the task's authorization scope; `None` for an anonymous caller.
    #[must_use]
    pub fn scope_inputs(&self) -> Option<ScopeInputs<'_>> {
        self.access_token.as_ref().map(|token| ScopeInputs {
            client_id: token.client_id(),
            sub: token.sub_claim(),
        })
    }
}

impl fmt::Debug for TaskContextSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContextSnapshot")
            .field("access_token", &self.access_token)
            .field("http_headers", &self.http_headers)
            .field("origin_request_id", &self.origin_request_id())
            .field("session_id", &self.session_id())
            .field("owning_tool_name", &self.owning_tool_name())
            .field("owning_tool_version", &self.owning_tool_version())
            .field("traceparent", &self.traceparent)
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

/// Builds a [`TaskContextSnapshot`] (see [`TaskContextSnapshot::builder`]).
#[derive(Debug, Clone, Default)]
pub struct SnapshotBuilder {
    snapshot: TaskContextSnapshot,
}

impl SnapshotBuilder {
    /// Sets the caller's access token.
    #[must_use]
    pub fn access_token(mut self, token: AccessToken) -> Self {
        self.snapshot.access_token = Some(token);
        self
    }

    /// Sets all headers.
    #[must_use]
    pub fn headers(mut self, headers: Headers) -> Self {
        self.snapshot.http_headers = Some(headers);
        self
    }

    /// Adds one header (its name is lowercased).
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.snapshot
            .http_headers
            .get_or_insert_with(Headers::new)
            .insert(name, value);
        self
    }

    /// Captures headers from raw pairs under a policy (see [`Headers::capture`]), and the trace
    /// context from the `traceparent` and `tracestate` pairs whatever the policy keeps.
    pub fn capture_headers<'a, I>(
        mut self,
        pairs: I,
        policy: &HeaderPolicy,
    ) -> Result<Self, CaptureError>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let snapshot = &mut self.snapshot;
        let trace = |&(name, value): &(&str, &[u8])| {
            let field = if name.eq_ignore_ascii_case(TRACEPARENT) {
                &mut snapshot.traceparent
            } else if name.eq_ignore_ascii_case(TRACESTATE) {
                &mut snapshot.tracestate
            } else {
                return;
            };
            if let Ok(value) = std::str::from_utf8(value) {
                *field = Some(value.to_owned());
            }
        };
        let headers = Headers::capture(pairs.into_iter().inspect(trace), policy)?;
        self.snapshot.http_headers = Some(headers);
        Ok(self)
    }

    /// Captures the headers (and trace context) of an `http::HeaderMap` under a policy.
    #[cfg(feature = "http")]
    pub fn capture_header_map(
        self,
        map: &http::HeaderMap,
        policy: &HeaderPolicy,
    ) -> Result<Self, CaptureError> {
        self.capture_headers(
            map.iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
            policy,
        )
    }

    /// Sets the id of the submitting request.
    #[must_use]
    pub fn origin_request_id(mut self, id: impl AsRef<str>) -> Self {
        self.snapshot.origin_request_id = Some(id.as_ref().to_owned());
        self
    }

    /// Sets the MCP session id.
    #[must_use]
    pub fn session_id(mut self, id: impl AsRef<str>) -> Self {
        self.snapshot.session_id = Some(id.as_ref().to_owned());
        self
    }

    /// Sets the owning tool's name.
    #[must_use]
    pub fn owning_tool_name(mut self, name: impl AsRef<str>) -> Self {
        self.snapshot.owning_tool_name = Some(name.as_ref().to_owned());
        self
    }

    /// Sets the owning tool's version.
    #[must_use]
    pub fn owning_tool_version(mut self, version: impl AsRef<str>) -> Self {
        self.snapshot.owning_tool_version = Some(version.as_ref().to_owned());
        self
    }

    /// Sets the W3C `traceparent`.
    #[must_use]
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.snapshot.traceparent = Some(traceparent.into());
        self
    }

    /// Sets the W3C `tracestate`.
    #[must_use]
    pub fn tracestate(mut self, tracestate: impl Into<String>) -> Self {
        self.snapshot.tracestate = Some(tracestate.into());
        self
    }

    /// Finishes the snapshot.
    #[must_use]
    pub fn build(self) -> TaskContextSnapshot {
        self.snapshot
    }
}
