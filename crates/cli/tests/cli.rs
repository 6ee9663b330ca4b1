//! End-to-end tests of the `taskctx` binary: key commands against the reference's vectors,
//! snapshot decoding round trips, the demo's isolation verdict, and exit codes on bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use taskctx_tests::redis::RedisServer;

fn taskctx(args: &[&str], stdin: &[u8]) -> Output {
    taskctx_with_env(args, &[], stdin)
}

/// Runs the binary with `args`, the environment variables `env` set, and `stdin` as its input.
fn taskctx_with_env(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskctx"))
        .args(args)
        .env_remove("TASKCTX_ENCRYPTION_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts the input");
    child.wait_with_output().expect("the binary finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

fn conformance(name: &str) -> String {
    let path = taskctx_tests::conformance::dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `to_json` vectors of snapshots.json. The whole file is not parsed: another section holds
/// a lone surrogate escape that serde_json rejects, so only the `to_json` array is cut out.
fn snapshot_vectors() -> Vec<Value> {
    let text = conformance("snapshots.json");
    let start = text.find("\"to_json\": [").expect("a to_json section");
    let end = text
        .find("\"from_json\": [")
        .expect("a from_json section after it");
    let section = text[start..end].trim_end().trim_end_matches(',');
    let parsed: Value =
        serde_json::from_str(&format!("{{{section}}}")).expect("the section parses");
    parsed["to_json"].as_array().expect("an array").clone()
}

#[test]
fn key_build_and_parse_match_the_reference_vectors() {
    let keys: Value = serde_json::from_str(&conformance("keys.json")).expect("keys.json parses");
    let cases = keys["cases"].as_array().expect("cases");
    assert!(cases.len() >= 3);
    for case in cases {
        let input = &case["input"];
        let scope = input["task_scope"].as_str();
        let scope_arg = scope.map(|s| format!("--scope={s}"));
        let task_id = format!("--task-id={}", input["client_task_id"].as_str().unwrap());
        let task_type = format!("--task-type={}", input["task_type"].as_str().unwrap());
        let component = format!(
            "--component={}",
            input["component_identifier"].as_str().unwrap()
        );
        for leg in case["legs"].as_array().expect("legs") {
            let leg_arg = format!("--leg={}", leg["leg"]);
            let mut args = vec!["key", "build"];
            args.push(scope_arg.as_deref().unwrap_or("--anonymous"));
            args.extend([
                task_id.as_str(),
                task_type.as_str(),
                component.as_str(),
                leg_arg.as_str(),
            ]);
            let built = taskctx(&args, b"");
            assert!(built.status.success(), "{args:?}: {}", stderr(&built));
            let expected = leg["leg_execution_key"].as_str().unwrap();
            assert_eq!(stdout(&built).trim_end_matches('\n'), expected);

            let parsed = taskctx(&["key", "parse", "--json", "--", expected], b"");
            assert!(parsed.status.success(), "{expected}: {}", stderr(&parsed));
            let json: Value = serde_json::from_str(&stdout(&parsed)).expect("parse prints JSON");
            assert_eq!(json["scope"], input["task_scope"]);
            assert_eq!(json["task_id"], input["client_task_id"]);
            assert_eq!(json["task_type"], input["task_type"]);
            assert_eq!(json["component"], input["component_identifier"]);
            assert_eq!(json["leg"], leg["leg"]);
        }
        let prefix = taskctx(
            &[
                "key",
                "prefix",
                scope_arg.as_deref().unwrap_or("--anonymous"),
            ],
            b"",
        );
        assert_eq!(
            stdout(&prefix).trim_end_matches('\n'),
            case["task_redis_prefix"].as_str().unwrap()
        );
    }
}

#[test]
fn hyphen_and_empty_values_are_accepted() {
    let built = taskctx(
        &[
            "key",
            "build",
            "--scope=-a",
            "--task-id=-T",
            "--task-type",
            "tool",
            "--component=",
        ],
        b"",
    );
    assert!(built.status.success(), "{}", stderr(&built));
    assert_eq!(stdout(&built), "auth:-a:-T:tool:\n");
}

#[test]
fn malformed_keys_exit_2_with_the_reason() {
    for key in ["", "auth:x", "anon:t:tool:x#leg0", "nope:t:tool:x"] {
        let output = taskctx(&["key", "parse", "--", key], b"");
        assert_eq!(output.status.code(), Some(2), "{key:?}");
        let message = stderr(&output);
        assert!(
            message.starts_with("taskctx: invalid task key: "),
            "{message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }
}

#[test]
fn snapshot_decode_round_trips_reference_json() {
    let vectors = snapshot_vectors();
    let mut checked = 0;
    for vector in &vectors {
        let stored = vector["to_json"].as_str().unwrap();
        // Vectors whose headers were built with upper-case names do not survive a read (reading
        // lowercases names, as the reference does); every other one must come back unchanged.
        if vector["from_json_of_to_json_equals_original"] != Value::Bool(true) {
            continue;
        }
        let output = taskctx(
            &["snapshot", "decode", "--json", "--show-secrets"],
            stored.as_bytes(),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output), format!("{stored}\n"), "{}", vector["name"]);
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} vectors checked");
}

#[test]
fn snapshot_decode_redacts_secrets_by_default() {
    let vectors = snapshot_vectors();
    let with_token = vectors
        .iter()
        .map(|v| v["to_json"].as_str().unwrap())
        .find(|s| s.contains("\\\"token\\\": \\\"") || s.contains("\\\"token\\\":\\\""))
        .expect("a vector with a token");
    let shown = taskctx(&["snapshot", "decode", "--json"], with_token.as_bytes());
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("[redacted]"));
    let table = taskctx(&["snapshot", "decode"], with_token.as_bytes());
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(stdout(&table).contains("token                [redacted]"));
}

#[test]
fn snapshot_decode_escapes_control_characters_in_stored_text() {
    let stored = serde_json::json!({
        "access_token_json": null,
        "http_headers": {"x-note": "ok\u{1b}]0;owned\u{7}"},
        "origin_request_id": "req\r\u{1b}[2K",
        "session_id": "s-1\nclient_id            client-admin",
        "owning_tool_name": "outil-é",
        "owning_tool_version": null,
    })
    .to_string();
    let output = taskctx(&["snapshot", "decode"], stored.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // The newline cannot forge a line: the session id stays on its own, escaped.
    assert!(
        text.lines().all(|line| !line.starts_with("client_id")),
        "{text}"
    );
    assert!(
        text.contains("session_id           s-1\\nclient_id            client-admin\n"),
        "{text}"
    );
    // No ESC, BEL or CR reaches the terminal.
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
        "{text}"
    );
    assert!(text.contains("req\\r\\u{1b}[2K"), "{text}");
    assert!(text.contains("ok\\u{1b}]0;owned\\u{7}"), "{text}");
    // Printable non-ASCII text is kept as is.
    assert!(text.contains("owning_tool_name     outil-é"), "{text}");
    // `--json` keeps the exact values, escaped by JSON.
    let json = taskctx(&["snapshot", "decode", "--json"], stored.as_bytes());
    assert!(json.status.success(), "{}", stderr(&json));
    assert!(!stdout(&json).contains('\u{1b}'));
}

#[test]
fn snapshot_decode_errors_are_distinct_and_exit_2() {
    let not_json = taskctx(&["snapshot", "decode"], b"garbage");
    let no_key = taskctx(&["snapshot", "decode"], b"gAAAAABogus");
    let no_env = taskctx(
        &[
            "snapshot",
            "decode",
            "--key-env",
            "TASKCTX_TEST_UNSET_VARIABLE",
        ],
        b"gAAAAABogus",
    );
    let messages: Vec<String> = [&not_json, &no_key, &no_env]
        .iter()
        .map(|output| {
            assert_eq!(output.status.code(), Some(2));
            stderr(output)
        })
        .collect();
    assert!(
        messages[0].contains("not a stored task snapshot"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("encrypted and no key was given"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("TASKCTX_TEST_UNSET_VARIABLE"),
        "{}",
        messages[2]
    );
}

/// Every count has a range, checked before anything runs: outside it, exit 2 with a one-line
/// message naming the option and the range, never a panic or an abort.
#[test]
fn numeric_options_outside_their_range_exit_2() {
    for (args, option, range) in [
        (
            &["demo", "--connections", "18446744073709551615"][..],
            "--connections",
            "1..=1024",
        ),
        (
            &["demo", "--connections", "99999999999999"],
            "--connections",
            "1..=1024",
        ),
        (&["demo", "--connections", "0"], "--connections", "1..=1024"),
        (
            &["demo", "--tasks", "18446744073709551615"],
            "--tasks",
            "0..=1000000",
        ),
        (&["demo", "--callers", "0"], "--callers", "1..=10000"),
        (&["demo", "--workers", "1000000"], "--workers", "1..=1024"),
        (&["demo", "--threads", "100000"], "--threads", "1..=256"),
        (
            &["submit", "--url", "redis://h", "--callers", "0"],
            "--callers",
            "1..=10000",
        ),
        (
            &["work", "--url", "redis://h", "--workers", "0"],
            "--workers",
            "1..=1024",
        ),
        (
            &["work", "--url", "redis://h", "--idle-secs", "0"],
            "--idle-secs",
            "1..=3600",
        ),
        (
            &["bench", "--concurrency", "0"],
            "--concurrency",
            "1..=1024",
        ),
        (&["bench", "--tasks", "0"], "--tasks", "1..=1000000"),
        (
            &["bench", "--connections", "4096"],
            "--connections",
            "1..=1024",
        ),
    ] {
        let output = taskctx(args, b"");
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        let first = message.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: invalid value")
                && first.contains(option)
                && first.contains(range),
            "{args:?}: {message}"
        );
        assert!(!message.contains("panicked"), "{message}");
    }
}

#[test]
fn bad_usage_exits_2() {
    let output = taskctx(&["key", "build", "--task-id", "T"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).is_empty());
    let both = taskctx(&["key", "prefix", "--scope", "a", "--anonymous"], b"");
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn demo_on_memory_passes_isolation() {
    let output = taskctx(
        &[
            "demo",
            "--tasks",
            "300",
            "--callers",
            "10",
            "--workers",
            "3",
        ],
        b"",
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("isolation        pass"), "{text}");
    assert!(text.contains("tasks            300"), "{text}");
    assert!(text.contains("failed           0"), "{text}");
    // Callers 4 and 9 are anonymous (60 tasks); caller 1's token expires while queued (30 tasks).
    assert!(text.contains("anonymous        60"), "{text}");
    assert!(text.contains("expired-token    30"), "{text}");
    assert!(text.contains("restored         270"), "{text}");
}

#[test]
fn demo_detects_an_injected_cross_scope_context() {
    let output = taskctx(
        &[
            "demo",
            "--tasks",
            "100",
            "--callers",
            "5",
            "--workers",
            "2",
            "--inject-cross-scope",
        ],
        b"",
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(
        text.contains("isolation        FAIL (1 violations)"),
        "{text}"
    );
    assert!(stderr(&output).contains("isolation check failed"));
}

#[test]
fn demo_json_prints_one_object_with_the_tally_and_both_rates() {
    let args = [
        "demo",
        "--json",
        "--tasks",
        "300",
        "--callers",
        "10",
        "--workers",
        "3",
    ];
    let output = taskctx(&args, b"");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    let summary: Value = serde_json::from_str(text.trim()).expect(&text);
    assert_eq!(summary["tasks"], 300, "{text}");
    assert_eq!(summary["restored"], 270, "{text}");
    assert_eq!(summary["anonymous"], 60, "{text}");
    assert_eq!(summary["expired_token"], 30, "{text}");
    assert_eq!(summary["violations"], 0, "{text}");
    assert_eq!(summary["isolation"], "pass", "{text}");
    let (submit_ms, run_ms) = (
        summary["submit_ms"].as_f64().expect(&text),
        summary["run_ms"].as_f64().expect(&text),
    );
    let end_to_end = summary["end_to_end_tasks_per_sec"].as_f64().expect(&text);
    // End to end is the tasks over both phases (the wait for the expiring token is in neither).
    let expected = 300.0 / ((submit_ms + run_ms) / 1e3);
    assert!((end_to_end - expected).abs() <= expected * 1e-6, "{text}");
    assert!(
        summary["run_tasks_per_sec"].as_f64().expect(&text) > end_to_end,
        "{text}"
    );

    let mut injected = args.to_vec();
    injected.push("--inject-cross-scope");
    let output = taskctx(&injected, b"");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    let summary: Value = serde_json::from_str(text.trim()).expect(&text);
    assert_eq!(summary["violations"], 1, "{text}");
    assert_eq!(summary["isolation"], "fail", "{text}");
}

#[test]
fn demo_with_encryption_passes_isolation() {
    let output = Command::new(env!("CARGO_BIN_EXE_taskctx"))
        .args(["demo", "--encrypt", "--tasks", "50", "--callers", "5"])
        .env("TASKCTX_ENCRYPTION_KEY", "demo key material")
        .output()
        .expect("the binary runs");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("stored form      JsonFernet"), "{text}");
    assert!(text.contains("isolation        pass"), "{text}");
    assert!(!stderr(&output).contains("generated"));
}

#[test]
fn snapshot_decode_reads_reference_fernet_tokens_and_refuses_wrong_keys() {
    let vectors: Value =
        serde_json::from_str(&conformance("encryption.json")).expect("encryption.json parses");
    let material = vectors["material"].as_str().unwrap();
    let vector = &vectors["tokens_deterministic_fixed_time_iv"][0];
    let token = vector["stored_value"].as_str().unwrap();
    let decode = |material: &str, stored: &[u8]| {
        taskctx_with_env(
            &[
                "snapshot",
                "decode",
                "--json",
                "--show-secrets",
                "--key-env",
                "TASKCTX_TEST_KEY",
            ],
            &[("TASKCTX_TEST_KEY", material)],
            stored,
        )
    };

    let output = decode(material, token.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("{}\n", vector["plaintext"].as_str().unwrap())
    );

    let wrong = decode("another key material", token.as_bytes());
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("could not decrypt"),
        "{}",
        stderr(&wrong)
    );

    // Flip one character of the ciphertext body (past the version, time and IV).
    let mut tampered = token.as_bytes().to_vec();
    let index = 40;
    tampered[index] = if tampered[index] == b'A' { b'B' } else { b'A' };
    let altered = decode(material, &tampered);
    assert_eq!(altered.status.code(), Some(2));
    assert!(
        stderr(&altered).contains("could not decrypt"),
        "{}",
        stderr(&altered)
    );
}

#[test]
fn demo_on_redis_then_snapshot_get_shows_the_stored_context_and_ttl() {
    let redis = RedisServer::start();
    let url = redis.url();
    let demo = taskctx(
        &["demo", "--url", &url, "--tasks", "40", "--callers", "4"],
        b"",
    );
    assert!(demo.status.success(), "{}{}", stdout(&demo), stderr(&demo));
    assert!(stdout(&demo).contains("isolation        pass"));

    let key = "auth:client-0%7Cuser-0:job-0:tool:demo_tool";
    let got = taskctx(&["snapshot", "get", "--url", &url, "--key", key], b"");
    let text = stdout(&got);
    assert!(got.status.success(), "{text}{}", stderr(&got));
    assert!(
        text.contains(
            "redis key            fastmcp:fastmcp:task:auth:client-0%7Cuser-0:job-0:snapshot"
        ),
        "{text}"
    );
    assert!(text.contains("client_id            client-0"), "{text}");
    assert!(text.contains("origin_request_id    req-0"), "{text}");
    assert!(text.contains("token                [redacted]"), "{text}");
    assert!(!text.contains("tok-0-secret"), "{text}");
    let ttl: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("ttl                  "))
        .and_then(|ttl| ttl.strip_suffix(" s"))
        .expect("a ttl line")
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 1800, "{ttl}");

    let missing = taskctx(
        &[
            "snapshot",
            "get",
            "--url",
            &url,
            "--key",
            "anon:nope:tool:x",
        ],
        b"",
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no stored snapshot"));
}

#[test]
fn submit_and_work_in_separate_processes_through_a_redis_list() {
    let redis = RedisServer::start();
    let url = redis.url();
    let submitted = taskctx(
        &["submit", "--url", &url, "--tasks", "60", "--callers", "6"],
        b"",
    );
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    assert!(stdout(&submitted).starts_with("submitted 60 tasks from 6 callers"));

    let worked = taskctx(&["work", "--url", &url, "--workers", "2"], b"");
    let text = stdout(&worked);
    assert!(worked.status.success(), "{text}{}", stderr(&worked));
    assert!(text.contains("tasks            60"), "{text}");
    assert!(text.contains("failed           0"), "{text}");
    // Caller 4 is anonymous: 10 of the 60 tasks.
    assert!(text.contains("anonymous        10"), "{text}");
    assert!(text.contains("isolation        pass"), "{text}");

    // The list is drained: a second worker finds nothing to do.
    let again = taskctx(&["work", "--url", &url], b"");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("tasks            0"));
}

/// The length of a Redis list.
fn list_len(redis: &RedisServer, key: &str) -> i64 {
    redis.command(&["LLEN", key]).integer()
}

/// Malformed entries between good jobs: the worker reports each bad one as failed, moves it to
/// the dead-letter list and goes on; every job it took is reported, none is left behind.
#[test]
fn work_reports_every_job_and_dead_letters_malformed_entries() {
    let redis = RedisServer::start();
    let url = redis.url();
    let list = "jobs:mixed";
    let submit = || {
        let submitted = taskctx(
            &[
                "submit",
                "--url",
                &url,
                "--list",
                list,
                "--tasks",
                "8",
                "--callers",
                "4",
            ],
            b"",
        );
        assert!(submitted.status.success(), "{}", stderr(&submitted));
    };
    submit();
    let no_request_id: &[u8] = b"auth:client-0%7Cuser-0:job-0:tool:demo_tool";
    let not_utf8: &[u8] = b"\xff\xfe\nreq-x";
    assert_eq!(
        redis
            .command_bytes(&[b"RPUSH", list.as_bytes(), no_request_id])
            .integer(),
        9
    );
    assert_eq!(
        redis
            .command_bytes(&[b"RPUSH", list.as_bytes(), not_utf8])
            .integer(),
        10
    );
    submit();
    assert_eq!(list_len(&redis, list), 18);

    let worked = taskctx(
        &["work", "--url", &url, "--list", list, "--workers", "3"],
        b"",
    );
    let (text, errors) = (stdout(&worked), stderr(&worked));
    // The two bad entries fail the run (exit 1), after every job has run.
    assert_eq!(worked.status.code(), Some(1), "{text}{errors}");
    assert!(text.contains("tasks            16"), "{text}");
    assert!(text.contains("failed           0"), "{text}");
    assert!(
        text.contains("malformed        2 (moved to jobs:mixed:dead)"),
        "{text}"
    );
    assert!(text.contains("isolation        pass"), "{text}");
    assert_eq!(errors.matches("is malformed").count(), 2, "{errors}");
    assert!(
        errors.contains("(no request id)") && errors.contains("(not UTF-8)"),
        "{errors}"
    );
    // Nothing is left waiting or in progress; the dead-letter list holds the two entries as
    // they were.
    assert_eq!(list_len(&redis, list), 0);
    assert_eq!(list_len(&redis, "jobs:mixed:processing:worker-1"), 0);
    let dead = redis.command(&["LRANGE", "jobs:mixed:dead", "0", "-1"]);
    let taskctx_tests::redis::Reply::Array(Some(dead)) = dead else {
        panic!("{dead:?}");
    };
    let dead: Vec<Option<Vec<u8>>> = dead
        .iter()
        .map(taskctx_tests::redis::Reply::bytes)
        .collect();
    assert_eq!(
        dead,
        [Some(no_request_id.to_vec()), Some(not_utf8.to_vec())]
    );
}

/// Jobs a worker had taken when it died wait on its processing list: another worker does not
/// take them, and the worker restarted with the same id runs them first.
#[test]
fn a_restarted_worker_runs_the_jobs_it_had_taken() {
    let redis = RedisServer::start();
    let url = redis.url();
    let list = "jobs:recover";
    let submitted = taskctx(
        &[
            "submit",
            "--url",
            &url,
            "--list",
            list,
            "--tasks",
            "10",
            "--callers",
            "5",
        ],
        b"",
    );
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    // Worker w-7 took 4 jobs and was killed before finishing them: they sit on its processing
    // list, as its BLMOVE left them.
    let processing = "jobs:recover:processing:w-7";
    for _ in 0..4 {
        let moved = redis.command(&["LMOVE", list, processing, "LEFT", "RIGHT"]);
        assert!(moved.bytes().is_some());
    }
    let other = taskctx(
        &["work", "--url", &url, "--list", list, "--worker-id", "w-8"],
        b"",
    );
    assert!(other.status.success(), "{}", stderr(&other));
    assert!(
        stdout(&other).contains("tasks            6"),
        "{}",
        stdout(&other)
    );
    assert_eq!(list_len(&redis, processing), 4);

    let restarted = taskctx(
        &["work", "--url", &url, "--list", list, "--worker-id", "w-7"],
        b"",
    );
    let text = stdout(&restarted);
    assert!(restarted.status.success(), "{text}{}", stderr(&restarted));
    assert!(text.contains("tasks            4"), "{text}");
    assert!(text.contains("failed           0"), "{text}");
    assert!(
        stderr(&restarted).contains("resuming 4 unfinished jobs"),
        "{}",
        stderr(&restarted)
    );
    assert_eq!(list_len(&redis, processing), 0);
    assert_eq!(list_len(&redis, list), 0);
}

#[test]
fn bench_measures_every_form() {
    let output = taskctx(&["bench", "--tasks", "20", "--concurrency", "4"], b"");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(
        text.contains("20 operations per row, 4 in flight"),
        "{text}"
    );
    for form in ["json", "native", "sealed native"] {
        for op in ["raw SET", "submit", "raw GET", "run"] {
            let row = text
                .lines()
                .find(|line| {
                    line.strip_prefix(form)
                        .is_some_and(|rest| rest.trim_start().starts_with(&format!("{op} ")))
                })
                .unwrap_or_else(|| panic!("no {op} row for {form}: {text}"));
            assert_eq!(row.matches("µs").count(), 2, "{row}");
            let rate: f64 = row[form.len()..]
                .trim_start()
                .strip_prefix(op)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|rate| rate.parse().ok())
                .unwrap_or_else(|| panic!("no ops/s in {row}"));
            assert!(rate > 0.0, "{row}");
            let glue = op == "submit" || op == "run";
            assert_eq!(row.ends_with('×'), glue, "{row}");
        }
    }
}

/// Runs `taskctx snapshot decode` on `stored` with the sealing keys in `TASKCTX_TEST_SEALING`.
fn decode_sealed(stored: &[u8], redis_key: &str, keys: &str) -> Output {
    taskctx_with_env(
        &[
            "snapshot",
            "decode",
            "--json",
            "--show-secrets",
            "--sealing-key-env",
            "TASKCTX_TEST_SEALING",
            "--redis-key",
            redis_key,
        ],
        &[("TASKCTX_TEST_SEALING", keys)],
        stored,
    )
}

#[test]
fn snapshot_decode_opens_sealed_values_bound_to_their_redis_key() {
    use taskctx_snapshot::{
        AccessToken, Codec, KeyRing, SealingKey, SnapshotCodec, TaskContextSnapshot, json,
    };
    const KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let ring = KeyRing::new(SealingKey::from_base64("k1", KEY).unwrap());
    let token = AccessToken::builder("secret-token", "client-a")
        .claim("sub", "user-1")
        .build();
    let snapshot = TaskContextSnapshot::builder()
        .access_token(token)
        .session_id("s-1")
        .build();
    let redis_key = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";
    let stored = Codec::native_sealed(ring)
        .encode(&snapshot, redis_key)
        .unwrap();

    // The right keys (the sealing key listed second, as after a rotation) and the right Redis key.
    let rotated = format!(
        "k2:{},k1:{KEY}",
        "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="
    );
    let output = decode_sealed(&stored, redis_key, &rotated);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim_end(), json::to_json(&snapshot));

    // The same value read as if stored under another task's key is refused.
    let moved = decode_sealed(
        &stored,
        "fastmcp:fastmcp:task:auth:client-b:T1:snapshot",
        &rotated,
    );
    assert_eq!(moved.status.code(), Some(2));
    // Without the sealing key, and with malformed key text: distinct refusals.
    let unknown = decode_sealed(
        &stored,
        redis_key,
        "k2:CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=",
    );
    assert_eq!(unknown.status.code(), Some(2));
    let malformed = decode_sealed(&stored, redis_key, "no-colon-here");
    assert_eq!(malformed.status.code(), Some(2));
    assert!(
        stderr(&malformed).contains("invalid sealing keys"),
        "{}",
        stderr(&malformed)
    );
    assert!(!stderr(&malformed).contains(KEY));
}

#[test]
fn bench_json_prints_one_object_per_row() {
    let output = taskctx(
        &["bench", "--tasks", "3", "--concurrency", "2", "--json"],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // Three stored forms (no --encrypt), four rows each.
    assert_eq!(rows.len(), 12);
    for row in &rows {
        assert!(row["ops_per_sec"].as_f64().unwrap() > 0.0, "{row}");
        assert_eq!(row["concurrency"], 2);
        let is_glue = row["op"] == "submit" || row["op"] == "run";
        assert_eq!(row["vs_raw"].is_f64(), is_glue, "{row}");
    }
}

#[test]
fn snapshot_decode_reads_fernet_tokens_under_any_rotated_key() {
    let vectors: Value =
        serde_json::from_str(&conformance("encryption.json")).expect("encryption.json parses");
    let old_material = vectors["test_mode_10_iterations"]["material"]
        .as_str()
        .unwrap();
    let vector = &vectors["tokens_deterministic_fixed_time_iv"][0];
    let token = vector["stored_value"].as_str().unwrap();
    let decode = |vars: &[&str]| {
        let mut args = vec!["snapshot", "decode", "--json", "--show-secrets"];
        for var in vars {
            args.extend(["--key-env", var]);
        }
        taskctx_with_env(
            &args,
            &[
                (
                    "TASKCTX_TEST_NEW_KEY",
                    "new key material after the rotation",
                ),
                ("TASKCTX_TEST_OLD_KEY", old_material),
            ],
            token.as_bytes(),
        )
    };
    // The new key first (it would write), the old one still read: the old token opens.
    let rotated = decode(&["TASKCTX_TEST_NEW_KEY", "TASKCTX_TEST_OLD_KEY"]);
    assert_eq!(rotated.status.code(), Some(0), "{}", stderr(&rotated));
    assert_eq!(
        stdout(&rotated),
        format!("{}\n", vector["plaintext"].as_str().unwrap())
    );
    // A missing variable is named, never the value of another.
    let missing = decode(&["TASKCTX_TEST_UNSET", "TASKCTX_TEST_NEW_KEY"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("TASKCTX_TEST_UNSET"),
        "{}",
        stderr(&missing)
    );
    assert!(!stderr(&missing).contains("new key material"));
}

#[test]
fn usage_errors_never_echo_a_url_password() {
    for args in [
        &["demo", "redis://:hunter2@h"][..],
        &["demo", "--url", "unix://:hunter2@/tmp/x.sock", "stray"],
        &["bench", "--tasks", "many", "rediss://u:hun?ter2@h:1"],
    ] {
        let output = taskctx(args, b"");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let shown = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            !shown.contains("hunter2") && !shown.contains("ter2"),
            "{shown}"
        );
        assert!(shown.contains("error"), "{shown}");
    }
}

/// A store URL that does not parse is named by its scheme alone in every command's error.
#[test]
fn malformed_store_urls_never_show_their_password() {
    for url in [
        "redis://:hunter2",
        "redis://app:hunter2",
        "redis://:hunter2?x",
        "unix://?pass=hun/ter2",
        "redis://:hun@ter2@",
        "redis+sentinel://:hunter2@s",
    ] {
        for args in [
            &["snapshot", "get", "--url", url, "--key", "anon:T1:tool:x"][..],
            &["demo", "--url", url, "--tasks", "1"],
            &["submit", "--url", url, "--tasks", "1"],
            &["work", "--url", url],
            &["bench", "--url", url, "--tasks", "1"],
        ] {
            let output = taskctx(args, b"");
            let shown = format!("{}{}", stdout(&output), stderr(&output));
            assert_eq!(output.status.code(), Some(2), "{args:?}: {shown}");
            assert!(shown.contains("invalid store URL"), "{args:?}: {shown}");
            assert!(
                !shown.contains("hun") && !shown.contains("ter2"),
                "{args:?}: {shown}"
            );
        }
    }
}

#[test]
fn bench_on_redis_compares_with_redis_benchmark_in_the_same_run() {
    let redis = RedisServer::start();
    let url = redis.url();
    let output = taskctx(
        &[
            "bench",
            "--url",
            &url,
            "--tasks",
            "200",
            "--concurrency",
            "4",
            "--json",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("no redis-benchmark baseline"),
        "redis-benchmark (installed with redis-server) is needed: {}",
        stderr(&output)
    );
    let rows: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 12);
    for row in &rows {
        let baseline = &row["baseline"];
        let command = if row["op"] == "raw SET" || row["op"] == "submit" {
            "SET"
        } else {
            "GET"
        };
        assert_eq!(baseline["tool"], "redis-benchmark", "{row}");
        assert_eq!(baseline["command"], command, "{row}");
        assert_eq!(baseline["clients"], 4, "{row}");
        assert_eq!(baseline["requests"], 200, "{row}");
        assert_eq!(baseline["value_bytes"], row["value_bytes"], "{row}");
        assert!(baseline["ops_per_sec"].as_f64().unwrap() > 0.0, "{row}");
        let ratio =
            row["ops_per_sec"].as_f64().unwrap() / baseline["ops_per_sec"].as_f64().unwrap();
        assert!(
            (row["vs_baseline"].as_f64().unwrap() - ratio).abs() < 1e-9,
            "{row}"
        );
        assert!(row["p99_vs_baseline"].as_f64().unwrap() > 0.0, "{row}");
        // Submit and run are also compared with redis-benchmark running their own command.
        let same = &row["same_command_baseline"];
        match row["op"].as_str() {
            Some("submit") => assert_eq!(same["command"], "SET new key EX", "{row}"),
            Some("run") => assert_eq!(same["command"], "GET many keys", "{row}"),
            _ => {
                assert!(same.is_null(), "{row}");
                continue;
            }
        }
        assert_eq!(same["value_bytes"], row["value_bytes"], "{row}");
        let ratio = row["ops_per_sec"].as_f64().unwrap() / same["ops_per_sec"].as_f64().unwrap();
        assert!(
            (row["vs_same_command"].as_f64().unwrap() - ratio).abs() < 1e-9,
            "{row}"
        );
    }
    // The keys the GET baseline reads are the twelve-digit ones `redis-benchmark -r` draws.
    let many = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port().to_string(),
            "STRLEN",
            "taskctx-bench:rb-get:000000000199",
        ])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&many.stdout).trim(), "0");
    let exists = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port().to_string(),
            "EXISTS",
            "key:__rand_int__",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&exists.stdout).trim(),
        "0",
        "redis-benchmark's key is removed"
    );
}
