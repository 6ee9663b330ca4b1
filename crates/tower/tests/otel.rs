//! Cargo feature `otel`: a job's span joins the submitter's trace from the snapshot's
//! `traceparent`, seen through tracing-opentelemetry and an in-memory span exporter.

#![allow(clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use taskctx_tower::{RequestIsKey, TaskContextLayer, TraceJoin, capture_trace, join_restore_span};
use taskctx_worker_glue::prelude::*;
use tower::{Layer as _, ServiceExt as _, service_fn};
use tracing::field::{Field, Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::{Context, SubscriberExt as _};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// The warnings logged while a test runs.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    fn all(&self) -> Vec<String> {
        self.0.lock().expect("warnings").clone()
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().expect("warnings").push(message.0);
        }
    }
}

/// The trace context the producer submits under.
enum Submitter<'a> {
    /// This `traceparent`, as from another process.
    Traceparent(&'a str),
    /// The context of a producer span in this process, through `capture_trace`.
    Span,
}

/// What one job left behind: its caller, the finished spans and the warnings.
struct Run {
    /// The producer span's trace and span id, for [`Submitter::Span`].
    producer: Option<(TraceId, SpanId)>,
    caller: Option<String>,
    spans: Vec<SpanData>,
    warnings: Vec<String>,
}

impl Run {
    fn job_span(&self) -> &SpanData {
        let mut jobs = self.spans.iter().filter(|span| span.name == "taskctx.job");
        let job = jobs.next().expect("a taskctx.job span");
        assert!(jobs.next().is_none(), "one job, one span");
        job
    }

    fn restore_span(&self) -> &SpanData {
        let mut restores = self
            .spans
            .iter()
            .filter(|span| span.name == "taskctx.restore");
        let restore = restores.next().expect("a taskctx.restore span");
        assert!(restores.next().is_none(), "one job, one restore span");
        restore
    }
}

/// Submits a task whose snapshot carries `traceparent`, then runs it through the layer with
/// `join`, under a subscriber exporting to memory.
fn run_job(name: &str, submitter: &Submitter<'_>, join: TraceJoin) -> Run {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("worker")))
        .with(warnings.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (producer, caller) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let glue: TaskGlue = TaskGlue::builder()
                .store_url(format!("memory://otel-{name}"))
                .restore_span_hook(join_restore_span(join))
                .build()
                .expect("glue");
            let token = AccessToken::builder("secret-token", "client-a").build();
            let builder = TaskContextSnapshot::builder().access_token(token);
            let (snapshot, producer) = match submitter {
                Submitter::Traceparent(traceparent) => {
                    let builder = builder.traceparent(*traceparent).tracestate("vendor=value");
                    (builder.build(), None)
                }
                Submitter::Span => {
                    let span = tracing::info_span!("producer");
                    let context = span.context().span().span_context().clone();
                    let builder = capture_trace(builder, &span);
                    (
                        builder.build(),
                        Some((context.trace_id(), context.span_id())),
                    )
                }
            };
            let task = Submit::new(
                &snapshot,
                TaskId::new("T1").expect("task id"),
                TaskType::TOOL,
                Component::new("job"),
            );
            let key = glue
                .submit(task)
                .await
                .expect("submit")
                .into_execution_key();
            let service = TaskContextLayer::new(glue, RequestIsKey)
                .trace_join(join)
                .layer(service_fn(|_: String| async {
                    tracing::info!("job runs");
                    Ok::<_, Infallible>(access_token().map(|token| token.client_id().to_owned()))
                }));
            (producer, service.oneshot(key).await.expect("served"))
        })
    });
    provider.force_flush().expect("flush");
    Run {
        producer,
        caller,
        spans: exporter.get_finished_spans().expect("spans"),
        warnings: warnings.all(),
    }
}

fn submitter_trace() -> TraceId {
    TraceId::from_hex(TRACE_ID).expect("trace id")
}

fn submitter_span() -> SpanId {
    SpanId::from_hex(SPAN_ID).expect("span id")
}

#[test]
fn the_job_span_is_a_child_of_the_submitters_span() {
    let run = run_job(
        "parent",
        &Submitter::Traceparent(&format!("00-{TRACE_ID}-{SPAN_ID}-01")),
        TraceJoin::Parent,
    );
    assert_eq!(run.caller.as_deref(), Some("client-a"));
    let job = run.job_span();
    assert_eq!(job.span_context.trace_id(), submitter_trace());
    assert_eq!(job.parent_span_id, submitter_span());
    assert!(job.parent_span_is_remote);
    assert!(job.span_context.is_sampled());
    assert_eq!(job.span_context.trace_state().get("vendor"), Some("value"));
    // The glue's restore span joins the same trace, through the restore span hook.
    let restore = run.restore_span();
    assert_eq!(restore.span_context.trace_id(), submitter_trace());
    assert_eq!(restore.parent_span_id, submitter_span());
    assert!(restore.parent_span_is_remote);
    assert!(
        job.attributes.iter().any(
            |attribute| attribute.key.as_str() == "task_id" && attribute.value.as_str() == "T1"
        ),
        "{:?}",
        job.attributes
    );
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
}

#[test]
fn as_a_link_the_job_span_keeps_its_own_trace_and_links_the_submitters_span() {
    let run = run_job(
        "link",
        &Submitter::Traceparent(&format!("00-{TRACE_ID}-{SPAN_ID}-01")),
        TraceJoin::Link,
    );
    assert_eq!(run.caller.as_deref(), Some("client-a"));
    let job = run.job_span();
    assert_ne!(job.span_context.trace_id(), submitter_trace());
    assert_eq!(job.parent_span_id, SpanId::INVALID);
    let linked: Vec<_> = job
        .links
        .iter()
        .map(|link| (link.span_context.trace_id(), link.span_context.span_id()))
        .collect();
    assert_eq!(linked, [(submitter_trace(), submitter_span())]);
    let restore = run.restore_span();
    assert_ne!(restore.span_context.trace_id(), submitter_trace());
    let linked: Vec<_> = restore
        .links
        .iter()
        .map(|link| (link.span_context.trace_id(), link.span_context.span_id()))
        .collect();
    assert_eq!(linked, [(submitter_trace(), submitter_span())]);
}

#[test]
fn off_the_submitters_trace_is_not_joined() {
    let run = run_job(
        "off",
        &Submitter::Traceparent(&format!("00-{TRACE_ID}-{SPAN_ID}-01")),
        TraceJoin::Off,
    );
    let job = run.job_span();
    assert_ne!(job.span_context.trace_id(), submitter_trace());
    assert_eq!(job.parent_span_id, SpanId::INVALID);
    assert!(job.links.is_empty());
}

#[test]
fn a_malformed_traceparent_is_ignored_with_a_warning() {
    for (name, join) in [
        ("bad-parent", TraceJoin::Parent),
        ("bad-link", TraceJoin::Link),
    ] {
        let malformed = format!("00-{}-{SPAN_ID}-01", TRACE_ID.to_uppercase());
        let run = run_job(name, &Submitter::Traceparent(&malformed), join);
        assert_eq!(
            run.caller.as_deref(),
            Some("client-a"),
            "the job still runs as its caller"
        );
        let job = run.job_span();
        assert_ne!(job.span_context.trace_id(), submitter_trace());
        assert_eq!(job.parent_span_id, SpanId::INVALID);
        assert!(job.links.is_empty());
        let restore = run.restore_span();
        assert_ne!(restore.span_context.trace_id(), submitter_trace());
        assert!(restore.links.is_empty());
        // One warning for each span that would have joined: the restore span, then the job span.
        assert_eq!(
            run.warnings,
            ["malformed traceparent in the task's snapshot: the submitter's trace is not joined";
                2]
        );
    }
}

#[test]
fn a_producer_span_captured_in_the_snapshot_is_the_job_spans_parent() {
    let run = run_job("captured", &Submitter::Span, TraceJoin::Parent);
    let (trace_id, span_id) = run.producer.expect("the producer span had a context");
    assert_ne!(trace_id, TraceId::INVALID);
    let job = run.job_span();
    assert_eq!(job.span_context.trace_id(), trace_id);
    assert_eq!(job.parent_span_id, span_id);
    let producer = run.spans.iter().find(|span| span.name == "producer");
    assert_eq!(
        producer.map(|span| span.span_context.span_id()),
        Some(span_id),
        "the producer span was exported"
    );
}
