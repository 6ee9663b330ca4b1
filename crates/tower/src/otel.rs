//! Cargo feature `otel`: a job's span joins the trace its task was submitted under, from the
//! W3C `traceparent` (and `tracestate`) captured in its snapshot, through `tracing-opentelemetry`.

use std::str::FromStr as _;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use taskctx_worker_glue::{SnapshotBuilder, TraceContext};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// How a job's `taskctx.job` span joins the submitter's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TraceJoin {
    /// The submitter's span is the job span's parent: one trace from submission to execution.
    #[default]
    Parent,
    /// The job span starts its own trace (or stays in the worker's) and links to the
    /// submitter's span.
    Link,
    /// The submitter's trace is not joined.
    Off,
}

/// Joins `span` (not yet entered) to the trace of the running task's submission, per `join`.
/// Nothing happens outside a task, without a `traceparent`, or without a
/// `tracing-opentelemetry` layer; a malformed `traceparent` is ignored with a warning.
pub(crate) fn join_trace(span: &tracing::Span, join: TraceJoin) {
    if let Some(trace) = taskctx_worker_glue::trace_context() {
        join_span(span, &trace, join);
    }
}

/// A hook for [`TaskGlueBuilder::restore_span_hook`]: the glue's own `taskctx.restore` span
/// joins the submitter's trace per `join`, as the `taskctx.job` span does, so one trace runs
/// from submission through restore to execution.
///
/// ```
/// use taskctx_tower::{TraceJoin, join_restore_span};
/// use taskctx_worker_glue::TaskGlue;
///
/// let glue: TaskGlue = TaskGlue::builder()
///     .store_url("memory://otel-doc")
///     .restore_span_hook(join_restore_span(TraceJoin::Parent))
///     .build()?;
/// # Ok::<(), taskctx_worker_glue::ConfigError>(())
/// ```
///
/// [`TaskGlueBuilder::restore_span_hook`]: taskctx_worker_glue::TaskGlueBuilder::restore_span_hook
pub fn join_restore_span(
    join: TraceJoin,
) -> impl Fn(&tracing::Span, &TraceContext) + Send + Sync + 'static {
    move |span, trace| join_span(span, trace, join)
}

/// Joins `span` (not yet entered) to the trace `trace` names, per `join`.
fn join_span(span: &tracing::Span, trace: &TraceContext, join: TraceJoin) {
    if join == TraceJoin::Off {
        return;
    }
    let Some(traceparent) = trace.traceparent.as_deref() else {
        return;
    };
    let Some(remote) = parse_traceparent(traceparent, trace.tracestate.as_deref()) else {
        tracing::warn!(
            len = traceparent.len(),
            "malformed traceparent in the task's snapshot: the submitter's trace is not joined"
        );
        return;
    };
    match join {
        TraceJoin::Parent => {
            let parent = opentelemetry::Context::new().with_remote_span_context(remote);
            if let Err(error) = span.set_parent(parent) {
                tracing::debug!(%error, "the span could not join the submitter's trace");
            }
        }
        TraceJoin::Link => span.add_link(remote),
        TraceJoin::Off => {}
    }
}

/// Stamps `builder` with the W3C trace context (`traceparent`, and `tracestate` when not empty)
/// of `span`, as tracing-opentelemetry knows it: the producer's side of
/// [`TraceJoin`], so that the job's span joins the producer's trace. `builder` is returned
/// unchanged when `span` has no valid OpenTelemetry context (no tracing-opentelemetry layer, or
/// a disabled span).
#[must_use]
pub fn capture_trace(builder: SnapshotBuilder, span: &tracing::Span) -> SnapshotBuilder {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() {
        return builder;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    );
    let tracestate = span_context.trace_state().header();
    let builder = builder.traceparent(traceparent);
    if tracestate.is_empty() {
        builder
    } else {
        builder.tracestate(tracestate)
    }
}

/// The remote span context of a W3C Trace Context `traceparent` (and its `tracestate`, dropped
/// when invalid), or `None` when the `traceparent` is malformed.
///
/// Accepts version `00` exactly (`00-{32 hex}-{16 hex}-{2 hex}`), and a later version (not `ff`)
/// with possibly more `-`-separated fields after those four, as the W3C specification asks.
/// Hex digits are lowercase; an all-zero trace id or span id is invalid.
pub(crate) fn parse_traceparent(
    traceparent: &str,
    tracestate: Option<&str>,
) -> Option<SpanContext> {
    let mut fields = traceparent.split('-');
    let version = fields.next().filter(|field| is_lower_hex(field, 2))?;
    let trace_id = fields.next().filter(|field| is_lower_hex(field, 32))?;
    let span_id = fields.next().filter(|field| is_lower_hex(field, 16))?;
    let flags = fields.next().filter(|field| is_lower_hex(field, 2))?;
    let more = fields.next().is_some();
    if version == "ff" || (version == "00" && more) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let state = tracestate
        .and_then(|state| TraceState::from_str(state).ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    ))
}

fn is_lower_hex(field: &str, len: usize) -> bool {
    field.len() == len
        && field
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn well_formed_traceparents_parse() {
        let parsed = parse_traceparent(&format!("00-{TRACE}-{SPAN}-01"), Some("vendor=value"));
        let parsed = parsed.map(|context| {
            (
                context.trace_id().to_string(),
                context.span_id().to_string(),
                context.is_sampled(),
                context.is_remote(),
                context.trace_state().get("vendor").map(str::to_owned),
            )
        });
        assert_eq!(
            parsed,
            Some((TRACE.into(), SPAN.into(), true, true, Some("value".into())))
        );
        let unsampled = parse_traceparent(&format!("00-{TRACE}-{SPAN}-00"), Some("not a state"));
        assert!(unsampled.is_some_and(
            |context| !context.is_sampled() && context.trace_state().header().is_empty()
        ));
        assert!(parse_traceparent(&format!("01-{TRACE}-{SPAN}-01-future"), None).is_some());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        let zeros_trace = "0".repeat(32);
        let zeros_span = "0".repeat(16);
        for bad in [
            String::new(),
            "garbage".to_owned(),
            format!("00-{TRACE}-{SPAN}"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{zeros_trace}-{SPAN}-01"),
            format!("00-{TRACE}-{zeros_span}-01"),
            format!("00-{TRACE}-{SPAN}-1"),
            format!("00-{TRACE}-{SPAN}-0g"),
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            format!(" 00-{TRACE}-{SPAN}-01"),
        ] {
            assert!(parse_traceparent(&bad, None).is_none(), "accepted {bad:?}");
        }
    }
}
