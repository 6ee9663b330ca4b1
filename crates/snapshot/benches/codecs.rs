//! Benchmarks of the snapshot stored forms: encode and decode of a full snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks fail loudly on a broken assumption"
)]

use divan::{Bencher, black_box};
use taskctx_snapshot::{AccessToken, TaskContextSnapshot, json};

fn main() {
    divan::main();
}

/// The ~1.4 KB snapshot of the conformance vectors: a token with claims and ten headers.
fn full_snapshot() -> TaskContextSnapshot {
    let token = AccessToken::builder("eyJhbGciOiJSUzI1NiJ9.payload.sig", "client-a")
        .scopes(["read", "write"])
        .expires_at(1_893_456_000)
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

#[divan::bench]
fn json_encode(bencher: Bencher<'_, '_>) {
    let snapshot = full_snapshot();
    let mut out = Vec::with_capacity(2048);
    bencher.bench_local(|| {
        out.clear();
        json::write_json(black_box(&snapshot), &mut out);
        black_box(out.len())
    });
}

#[divan::bench]
fn json_decode(bencher: Bencher<'_, '_>) {
    let stored = json::to_json(&full_snapshot());
    bencher.bench_local(|| json::from_json(black_box(stored.as_bytes())).unwrap());
}
