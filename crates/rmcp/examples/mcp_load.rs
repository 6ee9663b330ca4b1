//! A load generator for MCP tasks across replicas: plain JSON-RPC over HTTP (protocol
//! 2026-07-28, the tasks extension), so it drives any server that speaks it, taskctx's example
//! server and fastmcp alike.
//!
//! ```text
//! cargo run --release -p taskctx-rmcp --example mcp_load -- \
//!     --create http://127.0.0.1:8000/mcp --poll http://127.0.0.1:8001/mcp --tasks 2000 --concurrency 32
//! ```
//!
//! It keeps `--concurrency` (default 1) tasks in flight until `--tasks` (default 1000) have
//! completed, or with `--seconds` until that time is up (the tasks in flight then finish and
//! count; `--tasks` then bounds the run only when given): each is a
//! task-augmented `tools/call` of `--tool` (default `whoami`, no arguments) on the `--create`
//! replica, then `tasks/get` on the `--poll` replica every `--poll-ms` (default 5; the first poll
//! too comes that long after the create answer) until the task is `completed`. Before the timed
//! tasks it runs `--warmup` untimed ones (default: as many as in flight). A task that ends
//! otherwise (`failed`, `cancelled`, an error answer) stops the run with an error. `--token`
//! sends a bearer token; without it the caller is anonymous.
//!
//! It prints one JSON object: `tasks`, `concurrency`, `poll_ms`, `seconds`, `tasks_per_sec`,
//! `p50_ms` and `p99_ms` (from sending the `tools/call` to reading `completed`), and
//! `polls_per_task` (the `tasks/get` requests a task took).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The protocol version every request names (in its `_meta` and its header).
const PROTOCOL: &str = "2026-07-28";

struct Options {
    create: String,
    poll: String,
    tool: String,
    token: Option<String>,
    tasks: usize,
    seconds: Option<f64>,
    warmup: Option<usize>,
    concurrency: usize,
    poll_every: Duration,
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut create, mut poll, mut token, mut warmup, mut seconds) = (None, None, None, None, None);
    let (mut tool, mut tasks, mut concurrency, mut poll_ms) = ("whoami".to_owned(), None, 1, 5);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag} takes a number, not `{value}`"))
        };
        match flag.as_str() {
            "--create" => create = Some(value.clone()),
            "--poll" => poll = Some(value.clone()),
            "--tool" => tool.clone_from(&value),
            "--token" => token = Some(value.clone()),
            "--tasks" => tasks = Some(number()?),
            "--seconds" => {
                seconds = Some(
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|seconds| *seconds > 0.0)
                        .ok_or_else(|| {
                            format!("--seconds takes a positive number, not `{value}`")
                        })?,
                );
            }
            "--warmup" => warmup = Some(number()?),
            "--concurrency" => concurrency = number()?,
            "--poll-ms" => poll_ms = number()?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let create = create.ok_or("--create URL is needed")?;
    let tasks = tasks.unwrap_or(if seconds.is_some() { usize::MAX } else { 1000 });
    if tasks == 0 || concurrency == 0 {
        return Err("--tasks and --concurrency take positive numbers".to_owned());
    }
    Ok(Options {
        poll: poll.unwrap_or_else(|| create.clone()),
        create,
        tool,
        token,
        tasks,
        seconds,
        warmup,
        concurrency,
        poll_every: Duration::from_millis(u64::try_from(poll_ms).map_err(|_| "--poll-ms")?),
    })
}

/// One HTTP client for every request, and what each request carries.
struct Caller {
    http: reqwest::Client,
    token: Option<String>,
}

impl Caller {
    /// Sends one JSON-RPC request and returns its `result`, from a JSON answer or an SSE event.
    async fn call(
        &self,
        url: &str,
        method: &str,
        name: Option<&str>,
        mut params: Value,
    ) -> Result<Value, String> {
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": PROTOCOL,
            "io.modelcontextprotocol/clientCapabilities": {
                "extensions": {"io.modelcontextprotocol/tasks": {}},
            },
        });
        if let Some(params) = params.as_object_mut() {
            params.insert("_meta".to_owned(), meta);
        }
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL)
            .header("mcp-method", method);
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .body(body.to_string())
            .send()
            .await
            .map_err(|error| format!("{method} to {url}: {error}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| format!("{method} to {url}: {error}"))?;
        let message = serde_json::from_str::<Value>(&text).ok().or_else(|| {
            text.lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                .find(|message| message.get("id").is_some())
        });
        match message {
            Some(Value::Object(mut message)) if message.contains_key("result") => {
                Ok(message.remove("result").unwrap_or(Value::Null))
            }
            _ => Err(format!("{method} to {url}: {status}: {text}")),
        }
    }

    /// One task from `tools/call` to `completed`: its latency and how many polls it took.
    async fn task(&self, options: &Options) -> Result<(Duration, usize), String> {
        let started = Instant::now();
        let created = self
            .call(
                &options.create,
                "tools/call",
                Some(&options.tool),
                json!({"name": options.tool, "arguments": {}}),
            )
            .await?;
        let task_id = created
            .get("taskId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("tools/call answered without a task: {created}"))?;
        let mut polls = 0;
        loop {
            tokio::time::sleep(options.poll_every).await;
            polls += 1;
            let got = self
                .call(
                    &options.poll,
                    "tasks/get",
                    Some(task_id),
                    json!({"taskId": task_id}),
                )
                .await?;
            match got.get("status").and_then(Value::as_str) {
                Some("completed") => return Ok((started.elapsed(), polls)),
                Some("working" | "input_required") => {}
                _ => return Err(format!("task {task_id} did not complete: {got}")),
            }
        }
    }
}

/// Runs `count` tasks (fewer when `seconds` are up first) with `options.concurrency` in flight:
/// each task's latency and polls, and the time the whole run took.
async fn run(
    caller: &Arc<Caller>,
    options: &Arc<Options>,
    count: usize,
    seconds: Option<f64>,
) -> Result<(Vec<(Duration, usize)>, Duration), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = seconds.map(|seconds| started + Duration::from_secs_f64(seconds));
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency.min(count) {
        let (caller, options, next) = (Arc::clone(caller), Arc::clone(options), Arc::clone(&next));
        lanes.spawn(async move {
            let mut done = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count
                && deadline.is_none_or(|deadline| Instant::now() < deadline)
            {
                done.push(caller.task(&options).await?);
            }
            Ok::<_, String>(done)
        });
    }
    let mut done = Vec::new();
    while let Some(lane) = lanes.join_next().await {
        done.extend(lane.map_err(|error| error.to_string())??);
    }
    Ok((done, started.elapsed()))
}

/// The `q` quantile of sorted `values` (nearest rank), in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within the slice's length"
    )]
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted
        .get(rank)
        .map_or(0.0, |value| value.as_secs_f64() * 1e3)
}

async fn main_inner() -> Result<Value, String> {
    let options = Arc::new(parse_options()?);
    let http = reqwest::Client::builder()
        .build()
        .map_err(|error| error.to_string())?;
    let caller = Arc::new(Caller {
        http,
        token: options.token.clone(),
    });
    // Both replicas answer before any task starts.
    for url in [&options.create, &options.poll] {
        caller.call(url, "server/discover", None, json!({})).await?;
    }
    let warmup = options.warmup.unwrap_or(options.concurrency);
    if warmup > 0 {
        run(&caller, &options, warmup, None).await?;
    }
    let (done, elapsed) = run(&caller, &options, options.tasks, options.seconds).await?;
    if done.is_empty() {
        return Err("no task completed".to_owned());
    }
    let mut latencies: Vec<Duration> = done.iter().map(|(latency, _)| *latency).collect();
    latencies.sort_unstable();
    let polls: usize = done.iter().map(|(_, polls)| polls).sum();
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let (tasks, polls) = (done.len() as f64, polls as f64);
    Ok(json!({
        "tasks": done.len(),
        "concurrency": options.concurrency,
        "poll_ms": options.poll_every.as_secs_f64() * 1e3,
        "seconds": elapsed.as_secs_f64(),
        "tasks_per_sec": tasks / elapsed.as_secs_f64(),
        "p50_ms": quantile_ms(&latencies, 0.5),
        "p99_ms": quantile_ms(&latencies, 0.99),
        "polls_per_task": polls / tasks,
    }))
}

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: the figures on stdout, an error on stderr"
)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match main_inner().await {
        Ok(figures) => {
            println!("{figures}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("mcp_load: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
