//! The audit trail: each lifecycle step of a task is one `tracing` event with the task id and
//! the scope's fingerprint, and a refused lookup is one too, with nothing that names the caller.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a failed expectation is the test failing"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use common::{
    TOKEN_A, TOKEN_B, connect, mcp_error, memory_server, serve, settled_report, start, verify,
};
use rmcp::model::GetTaskParams;
use taskctx_worker_glue::scope_of_token;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// Every event's fields (the message under `message`, the target under `target`), in order.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl Events {
    fn all(&self) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        fields
            .0
            .insert("target".to_owned(), event.metadata().target().to_owned());
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fields.0);
    }
}

// One thread: the subscriber set for this thread sees the servers' and tasks' events too.
#[tokio::test(flavor = "current_thread")]
async fn each_step_and_each_refused_lookup_is_one_event_without_the_caller() {
    let events = Events::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let server = memory_server("audit");
    let glue = server.tasks.glue().clone();
    let running = serve(server).await;
    let a = connect(&running.url, Some(TOKEN_A), "a").await;
    let b = connect(&running.url, Some(TOKEN_B), "b").await;

    let task = start(&a, "whoami", None).await;
    settled_report(&a, &task).await;
    let refused = mcp_error(b.get_task(GetTaskParams::new(task.clone())).await);
    assert_eq!(refused.message, format!("unknown task: {task}"));

    let token_a = verify(TOKEN_A.to_owned()).await.expect("a known bearer");
    let scope_a = scope_of_token(&token_a).expect("a scope");
    let token_b = verify(TOKEN_B.to_owned()).await.expect("a known bearer");
    let scope_b = scope_of_token(&token_b).expect("a scope");
    let fingerprint_a = glue.scope_fingerprint(Some(&scope_a)).to_string();
    let fingerprint_b = glue.scope_fingerprint(Some(&scope_b)).to_string();

    let all = events.all();
    let of_task: Vec<_> = all
        .iter()
        .filter(|event| event.get("task_id") == Some(&task))
        .collect();
    let steps: Vec<(&str, &str)> = of_task
        .iter()
        .map(|event| (event["message"].as_str(), event["scope"].as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("task created", fingerprint_a.as_str()),
            ("task claimed", fingerprint_a.as_str()),
            ("task completed", fingerprint_a.as_str()),
            ("task lookup refused", fingerprint_b.as_str()),
        ],
        "{of_task:?}"
    );
    // taskctx's own events (rmcp's debug events show whole messages, results included).
    let ours = all
        .iter()
        .filter(|event| event["target"].starts_with("taskctx"));
    for event in ours {
        let shown = format!("{event:?}");
        for secret in [TOKEN_A, TOKEN_B, "client-a", "client-b", "user-1", "user-2"] {
            assert!(!shown.contains(secret), "{shown} shows {secret}");
        }
    }
    for client in [a, b] {
        client.cancel().await.expect("client closes");
    }
}
