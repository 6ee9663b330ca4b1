//! A representative captured context, for benchmarks and examples: the snapshot every taskctx
//! figure is measured on, so that the codec benchmarks, the glue's hot-path harness and
//! `taskctx bench` all time the same bytes.

use crate::{AccessToken, TaskContextSnapshot};

/// The full snapshot of the conformance vectors: a token with scopes, an expiry far in the future
/// and five claims (one non-ASCII), ten request headers (one with escapes and non-ASCII text),
/// and every id and tool field; 924 bytes in the reference's JSON form.
///
/// ```
/// use taskctx_snapshot::{json, sample};
///
/// let stored = json::to_json(&sample::full_snapshot());
/// assert_eq!(stored.len(), 924);
/// ```
#[must_use]
pub fn full_snapshot() -> TaskContextSnapshot {
    let token = AccessToken::builder("eyJhbGciOiJSUzI1NiJ9.payload.sig", "client-a")
        .scopes(["read", "write"])
        .expires_at(4_102_444_800)
        .claim("sub", "user-1")
        .claim("iss", "https://idp.example")
        .claim("name", "Jürgen 😀")
        .claim("groups", serde_json::json!(["a", "b"]))
        .claim("n", 1)
        .build();
    TaskContextSnapshot::builder()
        .access_token(token)
        .header("host", "mcp.example.com")
        .header("user-agent", "python-httpx/0.28.1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig")
        .header("mcp-session-id", "3f2a9c0d5b8e4f1a")
        .header("mcp-protocol-version", "2025-11-25")
        .header("x-request-id", "req-42")
        .header("x-forwarded-for", "10.0.0.1, 10.0.0.2")
        .header("x-custom", "Grüße 😀 \"quoted\" \\ back/slash\ttab")
        .origin_request_id("7")
        .session_id("3f2a9c0d5b8e4f1a")
        .owning_tool_name("child_echo")
        .owning_tool_version("1.0")
        .build()
}
