//! The demo run end to end (memory:// and a password-protected Redis) with every span and event
//! logged down to TRACE and each task's context printed with `Debug`: no access token, secret
//! header value, key material or URL password appears anywhere in what it writes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on a broken assumption"
)]

use std::process::Command;

use taskctx_tests::redis::RedisServer;

const KEY_MATERIAL: &str = "demo-key-material-7c1e";
const PASSWORD: &str = "url-password-3b9d";
const CALLERS: usize = 6;

/// Runs `taskctx demo --trace` on `url` and returns everything it wrote (stdout and stderr).
fn run_demo(url: &str, extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_taskctx"))
        .args([
            "demo",
            "--url",
            url,
            "--tasks",
            "30",
            "--workers",
            "2",
            "--trace",
        ])
        .args(["--callers", &CALLERS.to_string()])
        .args(extra)
        .env("TASKCTX_ENCRYPTION_KEY", KEY_MATERIAL)
        .output()
        .expect("the taskctx binary runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

/// Every secret the demo's callers hold, and the ones its configuration holds.
fn secrets() -> Vec<String> {
    let mut secrets: Vec<String> = (0..CALLERS)
        .flat_map(|i| [format!("tok-{i}-secret"), format!("api-key-{i}-secret")])
        .collect();
    secrets.extend([KEY_MATERIAL.to_owned(), PASSWORD.to_owned()]);
    secrets
}

fn assert_no_secret(text: &str) {
    // The log really is there: restore spans, the contexts, the redacted values.
    assert!(text.contains("span taskctx.restore"), "{text}");
    assert!(text.contains("message=task context"), "{text}");
    assert!(text.contains("\"x-api-key\": \"[redacted]\""), "{text}");
    assert!(text.contains("token: \"[redacted]\""), "{text}");
    for secret in secrets() {
        assert!(!text.contains(&secret), "{secret} appears in:\n{text}");
    }
    assert!(!text.contains("secret\""), "{text}");
}

#[test]
fn a_traced_demo_on_memory_writes_no_secret() {
    let text = run_demo("memory://demo-secrets", &["--encrypt"]);
    assert!(text.contains("JsonFernet"), "{text}");
    assert_no_secret(&text);
}

#[test]
fn a_traced_demo_on_redis_writes_no_secret() {
    let redis = RedisServer::builder().password(PASSWORD).start();
    let url = redis.url();
    assert!(url.contains(PASSWORD), "{url}");
    let text = run_demo(&url, &[]);
    assert!(text.contains("127.0.0.1"), "{text}");
    assert_no_secret(&text);
}
