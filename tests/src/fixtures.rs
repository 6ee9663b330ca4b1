//! Fixtures shared by the benchmarks and tests.

use taskctx_snapshot::{AccessToken, TaskContextSnapshot};

/// One authenticated caller's full snapshot (924 bytes as JSON): a token with scopes, an expiry
/// and five claims (one non-ASCII), ten headers (one with escapes and non-ASCII text), and every
/// id and tool field.
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
