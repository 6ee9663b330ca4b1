//! What restore logs: one `taskctx.restore` span per task with its id, leg, outcome and a scope
//! fingerprint, warnings on degraded restores, and never the token, headers or scope text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use glue_common::{caller, task_for};
use taskctx_scope::Leg;
use taskctx_worker_glue::{Submit, TaskGlue, scope_fingerprint};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span and event as one line of text: `span <name> k=v …`, `record k=v`, `event k=v`.
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
    next_id: Arc<AtomicU64>,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        write!(self.0, " {}={value:?}", field.name()).unwrap();
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Line(format!("span {}", span.metadata().name()));
        span.record(&mut line);
        self.lines.lock().unwrap().push(line.0);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut line = Line("record".to_owned());
        values.record(&mut line);
        self.lines.lock().unwrap().push(line.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("event {}", event.metadata().level()));
        event.record(&mut line);
        self.lines.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn restore_span_has_task_leg_outcome_and_fingerprint_only() {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.lines);
    tracing::subscriber::with_default(capture, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let glue: TaskGlue = TaskGlue::builder()
                .store_url("memory://glue-tracing")
                .build()
                .unwrap();
            let snapshot = caller("client-a", "user-1", "session-1");
            let task = task_for(&snapshot, "T-trace");
            let key = glue
                .submit(Submit::new(task.clone(), &snapshot).leg(Leg::new(2)))
                .await
                .unwrap()
                .execution_key;
            glue.run(&key, async {}).await.unwrap();
            let missing = task_for(&snapshot, "T-missing").to_key();
            glue.run(&missing, async {}).await.unwrap();
            let fingerprint = scope_fingerprint(task.scope());
            assert_eq!(fingerprint.len(), 8);
            assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));

            let lines = lines.lock().unwrap().clone();
            let all = lines.join("\n");
            let spans: Vec<&String> = lines
                .iter()
                .filter(|line| line.starts_with("span taskctx.restore"))
                .collect();
            assert_eq!(spans.len(), 2, "{all}");
            assert!(spans[0].contains("task_id=T-trace"), "{all}");
            assert!(spans[0].contains("leg=2"), "{all}");
            assert!(spans[0].contains(&format!("scope={fingerprint}")), "{all}");
            assert!(spans[1].contains("task_id=T-missing"), "{all}");
            assert!(all.contains("outcome=\"restored\""), "{all}");
            assert!(all.contains("outcome=\"missing\""), "{all}");
            assert!(
                lines
                    .iter()
                    .any(|line| line.starts_with("event WARN") && line.contains("no caller")),
                "{all}"
            );
            for secret in [
                "secret-token",
                "client-a",
                "user-1",
                "req-client",
                "session-1",
            ] {
                assert!(!all.contains(secret), "{secret} logged:\n{all}");
            }
        });
    });
}
