//! The `Mcp-Name` compatibility shim over real HTTP: an rmcp Streamable HTTP server on axum, and
//! plain JSON-RPC requests of protocol 2026-07-28 sent as a client that omits `Mcp-Name` on
//! `tasks/*` would send them. What reaches rmcp is recorded by a layer between the shim and rmcp.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use common::{Running, memory_server, router, serve_router};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use taskctx_rmcp::McpNameShimLayer;

/// What rmcp received: each request's headers and body bytes.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// The test server behind a recorder and, when `shim` is given, that shim in front of both.
async fn serve(name: &str, shim: Option<McpNameShimLayer>) -> (Running, Seen) {
    let seen = Seen::default();
    let record = Arc::clone(&seen);
    let app = router(memory_server(name)).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let record = Arc::clone(&record);
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .expect("the body reaches rmcp whole");
                record
                    .lock()
                    .expect("the record")
                    .push((parts.headers.clone(), bytes.clone()));
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
        },
    ));
    let app = match shim {
        Some(shim) => app.layer(shim),
        None => app,
    };
    (serve_router(app).await, seen)
}

/// The `_meta` every 2026-07-28 request carries: the version and the tasks extension.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {
            "extensions": {"io.modelcontextprotocol/tasks": {}},
        },
    })
}

/// A JSON-RPC request body.
fn request(id: u64, method: &str, mut params: Value) -> String {
    params["_meta"] = meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// An HTTP answer: its status and the JSON-RPC message it carries (JSON or one SSE event), or
/// its text when it carries none.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    message: Value,
    text: String,
}

/// POSTs `body` with the protocol version header and `headers`.
async fn post(url: &str, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("the answer's body");
    let message = serde_json::from_str(&text)
        .ok()
        .or_else(|| {
            text.lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                .find(|message| message.get("id").is_some())
        })
        .unwrap_or(Value::Null);
    Answer {
        status,
        message,
        text,
    }
}

/// Creates a `whoami` task (with every header rmcp asks for) and returns its id.
async fn create_task(url: &str) -> String {
    let body = request(1, "tools/call", json!({"name": "whoami"}));
    let created = post(
        url,
        body,
        &[("mcp-method", "tools/call"), ("mcp-name", "whoami")],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{created:?}");
    assert_eq!(
        created.message["result"]["resultType"], "task",
        "{created:?}"
    );
    created.message["result"]["taskId"]
        .as_str()
        .expect("a task id")
        .to_owned()
}

/// `tasks/get` for `task_id` as a client without `Mcp-Name` sends it.
async fn get_without_name(url: &str, task_id: &str) -> (String, Answer) {
    let body = request(2, "tasks/get", json!({"taskId": task_id}));
    let answer = post(url, body.clone(), &[("mcp-method", "tasks/get")]).await;
    (body, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shim_tasks_get_without_mcp_name_is_refused() {
    let (server, _) = serve("shim-absent", None).await;
    let task_id = create_task(&server.url).await;
    let (_, refused) = get_without_name(&server.url, &task_id).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.message["error"]["code"], -32020, "{refused:?}");
    assert_eq!(
        refused.message["error"]["message"],
        "missing required Mcp-Name header for `tasks/get`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_fills_mcp_name_from_the_task_id() {
    let (server, seen) = serve("shim-fills", Some(McpNameShimLayer::new())).await;
    let task_id = create_task(&server.url).await;
    let settled = loop {
        let (body, answer) = get_without_name(&server.url, &task_id).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.message["result"]["taskId"], task_id.as_str());
        // rmcp got the very bytes sent, and the header from the body's task id.
        let (headers, bytes) = seen.lock().expect("the record").pop().expect("a request");
        assert_eq!(bytes, body.as_bytes());
        assert_eq!(headers["mcp-name"], task_id.as_str());
        if answer.message["result"]["status"] != "working" {
            break answer.message;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(settled["result"]["status"], "completed", "{settled}");
    let report = settled["result"]["result"]["content"][0]["text"]
        .as_str()
        .expect("the tool's report");
    let report: Value = serde_json::from_str(report).expect("the report is JSON");
    assert_eq!(report["task_id"], task_id.as_str());

    // `tasks/cancel` and `tasks/update` are filled the same way (the task is done: rmcp answers
    // them past the header check).
    for method in ["tasks/cancel", "tasks/update"] {
        let mut params = json!({"taskId": task_id});
        if method == "tasks/update" {
            params["inputResponses"] = json!({});
        }
        let body = request(3, method, params);
        let answer = post(&server.url, body.clone(), &[("mcp-method", method)]).await;
        assert_ne!(
            answer.message["error"]["code"], -32020,
            "{method}: {answer:?}"
        );
        let (headers, bytes) = seen.lock().expect("the record").pop().expect("a request");
        assert_eq!(bytes, body.as_bytes(), "{method}");
        assert_eq!(headers["mcp-name"], task_id.as_str(), "{method}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_requests_pass_through_untouched() {
    let (server, seen) = serve("shim-untouched", Some(McpNameShimLayer::new())).await;
    let take = || seen.lock().expect("the record").pop().expect("a request");

    // Not a tasks request, read by the shim (no `Mcp-Method`): rmcp sees the same bytes, odd
    // spacing and key order included, and no `Mcp-Name`.
    let odd = format!(
        "  {{ \"params\" : {{\"name\":\"whoami\", \"_meta\": {}}} ,\"method\":\"tools/call\",\n\"id\":7,\"jsonrpc\":\"2.0\"}}\t",
        meta()
    );
    let answer = post(&server.url, odd.clone(), &[]).await;
    let (headers, bytes) = take();
    assert_eq!(bytes, odd.as_bytes());
    assert!(!headers.contains_key("mcp-name"));
    // rmcp answers it as without the shim: it lacks `Mcp-Method`.
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(
        answer.message["error"]["message"],
        "missing required Mcp-Method header"
    );

    // Malformed JSON naming a task method: passed on as is, for rmcp to refuse.
    let malformed = r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t""#;
    let answer = post(&server.url, malformed, &[("mcp-method", "tasks/get")]).await;
    let (headers, bytes) = take();
    assert_eq!(bytes, malformed.as_bytes());
    assert!(!headers.contains_key("mcp-name"));
    assert_eq!(
        answer.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{answer:?}"
    );

    // A batch (rmcp takes one message per POST): passed on as is.
    let batch = format!("[{}]", request(1, "tasks/get", json!({"taskId": "t"})));
    let _ = post(&server.url, batch.clone(), &[]).await;
    let (headers, bytes) = take();
    assert_eq!(bytes, batch.as_bytes());
    assert!(!headers.contains_key("mcp-name"));

    // A `tasks/get` that names itself is not changed, even when the name is wrong.
    let body = request(1, "tasks/get", json!({"taskId": "t-1"}));
    let answer = post(
        &server.url,
        body.clone(),
        &[("mcp-method", "tasks/get"), ("mcp-name", "t-2")],
    )
    .await;
    let (headers, bytes) = take();
    assert_eq!(bytes, body.as_bytes());
    assert_eq!(headers["mcp-name"], "t-2");
    assert_eq!(answer.message["error"]["code"], -32020, "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_only_when_it_must_be_read() {
    let limit = McpNameShimLayer::new().max_body_bytes(256);
    let (server, seen) = serve("shim-limit", Some(limit)).await;
    let big = request(
        1,
        "tasks/get",
        json!({"taskId": "t", "pad": "x".repeat(300)}),
    );

    // Read (it may be a tasks request): refused with a clear reason, never reaching rmcp.
    let refused = post(&server.url, big.clone(), &[("mcp-method", "tasks/get")]).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{refused:?}");
    assert_eq!(
        refused.text,
        "Payload Too Large: request body exceeds 256 bytes"
    );
    // The same without a declared length (a chunked body).
    let status_line = post_chunked(&server.url, &big).await;
    assert!(status_line.starts_with("HTTP/1.1 413 "), "{status_line}");
    assert!(seen.lock().expect("the record").is_empty());

    // Not read (another method, or named already): passed on whatever its size.
    for headers in [
        &[("mcp-method", "tools/call")][..],
        &[("mcp-method", "tasks/get"), ("mcp-name", "t")][..],
    ] {
        let _ = post(&server.url, big.clone(), headers).await;
        let (_, bytes) = seen.lock().expect("the record").pop().expect("a request");
        assert_eq!(bytes, big.as_bytes());
    }
}

/// POSTs `body` in two chunks without a content length (`Transfer-Encoding: chunked`, by hand
/// over TCP) and returns the answer's status line.
async fn post_chunked(url: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let address = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/mcp"))
        .expect("an http://host:port/mcp URL");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (first, second) = body.split_at(body.len() / 2);
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         {:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len(),
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}
