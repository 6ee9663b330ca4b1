//! What task records log: one `INFO` event per lifecycle step with the task id, the scope's
//! fingerprint, status and leg; never the scope, token, result or input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod glue_common;

use std::sync::Arc;
use std::time::Duration;

use glue_common::caller;
use glue_common::capture::Capture;
use taskctx_worker_glue::records::{self, NewRecord, Outcome};
use taskctx_worker_glue::{Component, TaskGlue, TaskKey, TaskType, Ttl, scope_of};

#[test]
fn each_lifecycle_step_is_one_event_without_secrets() {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.lines);
    tracing::subscriber::with_default(capture, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let glue: TaskGlue = TaskGlue::builder()
                .store_url("memory://records-tracing")
                .build()
                .unwrap();
            let records = glue.records().unwrap();
            let snapshot = caller("client-a", "user-1", "session-1");
            let scope = scope_of(&snapshot).unwrap();
            let fingerprint = glue.scope_fingerprint(scope.as_ref()).to_string();
            let ttl = Ttl::from_secs(60).unwrap();
            let new_task = || {
                TaskKey::new(
                    scope.clone(),
                    records::new_task_id().unwrap(),
                    TaskType::TOOL,
                    Component::new("tool"),
                )
            };
            let interval = Duration::from_secs(1);

            let done = new_task();
            records
                .create(NewRecord::new(&snapshot, &done, ttl, interval))
                .await
                .unwrap();
            let (s, id) = (done.scope(), done.task_id());
            records.claim(s, id, "worker-1", interval).await.unwrap();
            records
                .set_status_message(s, id, Some("secret-status"))
                .await
                .unwrap();
            records
                .request_input(s, id, &[("q", "\"secret-question\"")])
                .await
                .unwrap();
            records
                .provide_input(s, id, &[("q", "\"secret-answer\"")])
                .await
                .unwrap();
            let result = Outcome::Completed("{\"secret-result\":1}".to_owned());
            records.settle(s, id, &result).await.unwrap();
            // Nothing happens, nothing is logged: a second settle, a poll.
            records.settle(s, id, &result).await.unwrap();
            records.get(s, id).await.unwrap();

            let failed = new_task();
            records
                .create(NewRecord::new(&snapshot, &failed, ttl, interval))
                .await
                .unwrap();
            let error = Outcome::Failed("{\"secret-error\":1}".to_owned());
            records
                .settle(failed.scope(), failed.task_id(), &error)
                .await
                .unwrap();
            let cancelled = new_task();
            records
                .create(NewRecord::new(&snapshot, &cancelled, ttl, interval))
                .await
                .unwrap();
            records
                .cancel(cancelled.scope(), cancelled.task_id())
                .await
                .unwrap();

            let lines = lines.lock().unwrap().clone();
            let all = lines.join("\n");
            let events_of = |id: &str| -> Vec<String> {
                lines
                    .iter()
                    .filter(|line| line.contains(&format!("task_id={id}")))
                    .cloned()
                    .collect()
            };
            let steps = [
                "created",
                "claimed",
                "status message",
                "input requested",
                "input delivered",
                "completed",
            ];
            let done_events = events_of(done.task_id().as_str());
            assert_eq!(done_events.len(), steps.len(), "{all}");
            for (event, step) in done_events.iter().zip(steps) {
                assert!(event.starts_with("event INFO"), "{event}");
                assert!(
                    event.contains(&format!("message=task {step} "))
                        || event.ends_with(&format!("message=task {step}")),
                    "{step}: {event}"
                );
                assert!(event.contains(&format!("scope={fingerprint}")), "{event}");
            }
            let failed_events = events_of(failed.task_id().as_str());
            assert_eq!(failed_events.len(), 2, "{all}");
            assert!(failed_events[1].contains("task failed"), "{all}");
            let cancelled_events = events_of(cancelled.task_id().as_str());
            assert_eq!(cancelled_events.len(), 2, "{all}");
            assert!(cancelled_events[1].contains("task cancelled"), "{all}");
            assert!(cancelled_events[1].contains("status=cancelled"), "{all}");

            for secret in ["secret", "client-a", "user-1", "session-1"] {
                assert!(!all.contains(secret), "{secret} logged:\n{all}");
            }
        });
    });
}
