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

use std::sync::Arc;

use glue_common::capture::Capture;
use glue_common::{caller, submit, task_for};
use taskctx_worker_glue::{FingerprintKey, Leg, TaskGlue};

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
                .submit(submit(&snapshot, "T-trace").leg(Leg::new(2)))
                .await
                .unwrap()
                .into_execution_key();
            glue.run(&key, async {}).await.unwrap();
            let missing = task_for(&snapshot, "T-missing").to_key();
            glue.run(&missing, async {}).await.unwrap();
            let fingerprint = glue.scope_fingerprint(task.scope()).to_string();
            assert_eq!(fingerprint.len(), 16);
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

/// The fingerprint is a keyed MAC: processes configured with one key agree, a glue with another
/// key (or none: a random key) does not, and the anonymous scope shows as `anon`.
#[test]
fn scope_fingerprints_are_keyed() {
    let snapshot = caller("client-a", "user-1", "session-1");
    let task = task_for(&snapshot, "T1");
    let with_key = |key: Option<[u8; 32]>| {
        let builder = TaskGlue::<(), ()>::builder().store_url("memory://glue-fingerprint");
        match key {
            Some(key) => builder.fingerprint_key(FingerprintKey::new(key)),
            None => builder,
        }
        .build()
        .unwrap()
        .scope_fingerprint(task.scope())
    };
    assert_eq!(with_key(Some([1; 32])), with_key(Some([1; 32])));
    assert_ne!(with_key(Some([1; 32])), with_key(Some([2; 32])));
    assert_ne!(with_key(None), with_key(None), "random per glue");
    // HMAC-SHA256(key = [1; 32], "client-a|user-1"), first 8 bytes, from Python's `hmac`.
    assert_eq!(with_key(Some([1; 32])).to_string(), EXPECTED);
    let glue: TaskGlue = TaskGlue::builder()
        .store_url("memory://glue-fingerprint")
        .build()
        .unwrap();
    assert_eq!(glue.scope_fingerprint(None).to_string(), "anon");
}

const EXPECTED: &str = "0168205928218e66";
