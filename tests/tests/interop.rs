//! Live interop between taskctx and the Python reference, fastmcp-tasks 4.1.4, on one real Redis.
//!
//! Every test starts its own `redis-server` on a free loopback port and drives the reference
//! through the scripts in `tests/interop/`, which call only its public functions (snapshot
//! construction, `save`, `restore_task_snapshot` in a real Docket worker, `refresh_snapshot_ttl`,
//! the key builders) and answer in JSON. The reference reads its encryption key material from
//! `FASTMCP_TASKS_ENCRYPTION_KEY`, so each script run is either plaintext or encrypted.
//!
//! The tests are ignored by default: `cargo xtask interop` provides the reference in a Python
//! virtual environment and runs them with `TASKCTX_INTEROP_PYTHON` set to its interpreter.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use taskctx_tests::redis::RedisServer;

use reference::{Encryption, Reference};

/// The queue (Docket name) both sides use.
const QUEUE: &str = "fastmcp";
/// The key material both sides are configured with for the encrypted cells.
const KEY_MATERIAL: &str = "interop-key-material-3f9c1a7e5b2d4c6f8a0e";
/// The reference's default execution TTL; snapshots live this long plus 900 s.
const EXECUTION_TTL_SECS: u64 = 900;
/// What a fresh snapshot's TTL is on both sides: the execution TTL plus the 900 s buffer.
const SNAPSHOT_TTL_SECS: u64 = EXECUTION_TTL_SECS + 900;

/// The Python reference, run through the scripts in `tests/interop/`.
mod reference {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::thread;
    use std::time::{Duration, Instant};

    use serde_json::Value;

    /// The variable `cargo xtask interop` sets to the reference's Python interpreter.
    const PYTHON_ENV: &str = "TASKCTX_INTEROP_PYTHON";
    /// The variable the reference reads its key material from.
    const KEY_ENV: &str = "FASTMCP_TASKS_ENCRYPTION_KEY";
    /// The longest one script run may take before the test fails.
    const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

    /// Whether the reference runs with key material (Fernet) or without (plaintext).
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Encryption<'a> {
        Plaintext,
        Key(&'a str),
    }

    /// The interpreter and the scripts folder.
    #[derive(Debug)]
    pub(crate) struct Reference {
        python: PathBuf,
        scripts: PathBuf,
    }

    impl Reference {
        /// The reference named by `TASKCTX_INTEROP_PYTHON`.
        pub(crate) fn from_env() -> Self {
            let python = std::env::var_os(PYTHON_ENV).unwrap_or_else(|| {
                panic!(
                    "{PYTHON_ENV} is not set: these tests need the Python reference; \
                     run `cargo xtask interop`"
                )
            });
            Self {
                python: PathBuf::from(python),
                scripts: Path::new(env!("CARGO_MANIFEST_DIR")).join("interop"),
            }
        }

        /// Runs `script` with `request` on stdin and returns its JSON answer.
        pub(crate) fn call(
            &self,
            script: &str,
            encryption: Encryption<'_>,
            request: &Value,
        ) -> Value {
            let mut command = Command::new(&self.python);
            command
                .arg(self.scripts.join(script))
                .current_dir(&self.scripts)
                // No `.env` file and no inherited task settings: only what the test says.
                .env("FASTMCP_ENV_FILE", "/dev/null")
                .env_remove("FASTMCP_DOCKET_URL")
                .env_remove("FASTMCP_DOCKET_NAME")
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            match encryption {
                Encryption::Plaintext => command.env_remove(KEY_ENV),
                Encryption::Key(material) => command.env(KEY_ENV, material),
            };
            let mut child = command
                .spawn()
                .unwrap_or_else(|error| panic!("starting {}: {error}", self.python.display()));
            let mut stdin = child.stdin.take().unwrap();
            let input = serde_json::to_vec(request).unwrap();
            let writer = thread::spawn(move || stdin.write_all(&input));
            let mut stdout = child.stdout.take().unwrap();
            let mut stderr = child.stderr.take().unwrap();
            let out = thread::spawn(move || {
                let mut text = Vec::new();
                stdout.read_to_end(&mut text).map(|_| text)
            });
            let err = thread::spawn(move || {
                let mut text = Vec::new();
                stderr.read_to_end(&mut text).map(|_| text)
            });
            let started = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if started.elapsed() > SCRIPT_TIMEOUT {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}");
                }
                thread::sleep(Duration::from_millis(10));
            };
            writer.join().unwrap().unwrap();
            let stdout = out.join().unwrap().unwrap();
            let stderr = err.join().unwrap().unwrap();
            assert!(
                status.success(),
                "{script} failed ({status}):\n{}",
                String::from_utf8_lossy(&stderr)
            );
            serde_json::from_slice(&stdout).unwrap_or_else(|error| {
                panic!(
                    "{script} printed no JSON ({error}):\n{}\n{}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                )
            })
        }

        /// Saves each cell's snapshot (`ref_save.py`); one answer per cell.
        pub(crate) fn save(
            &self,
            encryption: Encryption<'_>,
            url: &str,
            cells: &[Value],
        ) -> Vec<Value> {
            let request = serde_json::json!({
                "url": url,
                "queue": super::QUEUE,
                "execution_ttl_secs": super::EXECUTION_TTL_SECS,
                "cells": cells,
            });
            let answer = self.call("ref_save.py", encryption, &request);
            assert_eq!(
                answer["encrypted"],
                matches!(encryption, Encryption::Key(_)),
                "{answer}"
            );
            answer["cells"].as_array().unwrap().clone()
        }

        /// Restores each execution key in a Docket worker (`ref_restore.py`); one answer per key.
        pub(crate) fn restore(
            &self,
            encryption: Encryption<'_>,
            url: &str,
            execution_keys: &[&str],
        ) -> Vec<Value> {
            let cells: Vec<Value> = execution_keys
                .iter()
                .map(|key| serde_json::json!({ "execution_key": key }))
                .collect();
            let request = serde_json::json!({ "url": url, "queue": super::QUEUE, "cells": cells });
            let answer = self.call("ref_restore.py", encryption, &request);
            answer["cells"].as_array().unwrap().clone()
        }

        /// Refreshes (`Some(ttl)`) or only reads (`None`) each snapshot's TTL (`ref_refresh.py`);
        /// one `{snapshot_key, ttl_before, ttl_after}` per cell.
        pub(crate) fn refresh(&self, url: &str, cells: &[(&str, Option<u64>)]) -> Vec<Value> {
            let cells: Vec<Value> = cells
                .iter()
                .map(|(key, ttl)| serde_json::json!({ "execution_key": key, "ttl_secs": ttl }))
                .collect();
            let request = serde_json::json!({ "url": url, "queue": super::QUEUE, "cells": cells });
            let answer = self.call("ref_refresh.py", Encryption::Plaintext, &request);
            answer["cells"].as_array().unwrap().clone()
        }
    }
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A caller at submission time, as the reference's `capture` sees it, with the task it submits.
#[derive(Clone, Debug)]
struct Cell {
    /// The access token's fields (`token`, `client_id`, `scopes`, `expires_at`, `claims`, …), or
    /// `None` for an anonymous caller.
    token: Option<Value>,
    headers: Option<Vec<(String, String)>>,
    origin_request_id: Option<String>,
    session_id: Option<String>,
    owning_tool_name: Option<String>,
    owning_tool_version: Option<String>,
    task_id: String,
    task_type: String,
    component: String,
    leg: u64,
}

impl Cell {
    /// An authenticated caller: a token with claims (`sub` among them) that expires in an hour,
    /// credentials and non-ASCII text in its headers, a session, a versioned tool on leg 2.
    fn authenticated(task_id: &str) -> Self {
        Self {
            token: Some(json!({
                "token": "eyJhbGciOiJSUzI1NiJ9.interop-secret-token.c2lnbmF0dXJl",
                "client_id": "client-a",
                "scopes": ["tasks:read", "tasks:write"],
                "expires_at": now_secs() + 3600,
                "resource": "https://mcp.example.com/mcp",
                "subject": "user-1@example.com",
                "claims": {
                    "sub": "user-1@example.com",
                    "iss": "https://issuer.example.com",
                    "aud": ["mcp"],
                    "n": 42,
                    "name": "Zoë \u{2603} \u{1F600}",
                },
            })),
            headers: Some(vec![
                ("authorization".into(), "Bearer interop-secret-token".into()),
                ("x-request-id".into(), "req-7".into()),
                ("cookie".into(), "session=abc; theme=dark".into()),
                (
                    "x-note".into(),
                    "caf\u{e9} \u{2603} \u{1F600} \"quoted\" \\ / \t".into(),
                ),
                ("accept".into(), "application/json".into()),
            ]),
            origin_request_id: Some("42".into()),
            session_id: Some("3c9e2b7f-5d6a-4e8b-9f1c-0a2b4c6d8e0f".into()),
            owning_tool_name: Some("reports.build".into()),
            owning_tool_version: Some("2.1.0".into()),
            task_id: task_id.into(),
            task_type: "tool".into(),
            component: "reports.build".into(),
            leg: 2,
        }
    }

    /// An anonymous caller: no token, a few headers, a session, an unversioned resource whose
    /// name needs percent-encoding, on leg 1.
    fn anonymous(task_id: &str) -> Self {
        Self {
            token: None,
            headers: Some(vec![
                ("user-agent".into(), "interop/1.0".into()),
                ("x-forwarded-for".into(), "203.0.113.9".into()),
            ]),
            origin_request_id: None,
            session_id: Some("anon-session-1".into()),
            owning_tool_name: Some("files.read".into()),
            owning_tool_version: None,
            task_id: task_id.into(),
            task_type: "resource".into(),
            component: "file://data/r\u{e9}sum\u{e9} 1:2#3.txt".into(),
            leg: 1,
        }
    }

    /// The cell as `ref_save.py` takes it.
    fn to_request(&self) -> Value {
        json!({
            "token": self.token,
            "headers": self.headers,
            "origin_request_id": self.origin_request_id,
            "session_id": self.session_id,
            "owning_tool_name": self.owning_tool_name,
            "owning_tool_version": self.owning_tool_version,
            "task_id": self.task_id,
            "task_type": self.task_type,
            "component": self.component,
            "leg": self.leg,
        })
    }

    /// The scope the reference derives from the token: `client_id|sub`, `client_id`, or none.
    fn expected_scope(&self) -> Option<String> {
        self.token.as_ref().map(|token| {
            let client_id = token["client_id"].as_str().unwrap();
            match token["claims"]["sub"].as_str() {
                Some(sub) if !sub.is_empty() => format!("{client_id}|{sub}"),
                _ => client_id.to_owned(),
            }
        })
    }
}

/// The taskctx side of the matrix, on taskctx's worker API: a [`TaskGlue`] per stored form
/// submits (`TaskGlue::submit`) and runs tasks (`TaskGlue::run`) whose code reads the task-local
/// context as a worker's user code does. [`Taskctx::submit`] and [`Taskctx::restore`] are the two
/// calls a server and a worker make; the raw store is read only where a cell needs the stored
/// bytes or their TTL.
///
/// [`TaskGlue`]: taskctx_worker_glue::TaskGlue
mod taskctx_side {
    use std::sync::Arc;
    use std::sync::OnceLock;
    use std::time::Duration;

    use serde_json::Value;
    use taskctx_scope::{Component, KeySpace, Leg, Scope, TaskId, TaskKey, TaskType};
    use taskctx_snapshot::{
        AccessToken, FernetKey, Headers, KeyRing, SealingKey, StoredForm, TaskContextSnapshot,
    };
    use taskctx_worker_glue::store::StoreUrl;
    use taskctx_worker_glue::{
        RestoreError, RestorePolicy, Store, Submit, TaskContext, TaskGlue, Ttl, access_token,
        current, headers, open, session_id,
    };

    use super::{Cell, KEY_MATERIAL, QUEUE, SNAPSHOT_TTL_SECS};

    /// The Fernet key derived from [`KEY_MATERIAL`], once per test process (the derivation
    /// takes its 1,000,000 PBKDF2 iterations by design).
    fn fernet_key() -> FernetKey {
        static KEY: OnceLock<FernetKey> = OnceLock::new();
        KEY.get_or_init(|| FernetKey::derive(KEY_MATERIAL).unwrap())
            .clone()
    }

    /// What the task's code sees through the task-local accessors while it runs.
    #[derive(Debug)]
    pub(crate) struct Seen {
        pub(crate) access_token: Option<Arc<AccessToken>>,
        pub(crate) headers: Option<Arc<Headers>>,
        pub(crate) session_id: Option<Arc<str>>,
        pub(crate) context: Arc<TaskContext>,
    }

    /// A task restored from its execution key by a worker: what its code saw, and the stored
    /// snapshot as the raw store holds it.
    #[derive(Debug)]
    pub(crate) struct Restored {
        pub(crate) scope: Option<String>,
        pub(crate) task_id: String,
        pub(crate) task_type: String,
        pub(crate) component: String,
        pub(crate) leg: u64,
        pub(crate) snapshot_key: String,
        pub(crate) stored: Vec<u8>,
        pub(crate) ttl: Option<Duration>,
        pub(crate) seen: Result<Seen, RestoreError>,
    }

    /// One taskctx process's view of a Redis: its store URL, a raw store and its keyspace.
    #[derive(Debug)]
    pub(crate) struct Taskctx {
        url: String,
        store: Store,
        keys: KeySpace,
    }

    impl Taskctx {
        pub(crate) fn connect(url: &str) -> Self {
            Self {
                url: url.to_owned(),
                store: open(url).unwrap(),
                keys: KeySpace::new(QUEUE, StoreUrl::parse(url).unwrap().deployment()).unwrap(),
            }
        }

        /// The glue a taskctx server or worker configured for `form` builds: the encrypted forms
        /// with the shared key material (Fernet) or a fixed sealing key (native); `policy`
        /// overrides the default restore policy.
        pub(crate) fn glue(&self, form: StoredForm, policy: Option<RestorePolicy>) -> TaskGlue {
            let mut builder = TaskGlue::builder().store_url(&self.url).queue_name(QUEUE);
            builder = match form {
                StoredForm::Json => builder,
                StoredForm::JsonFernet => builder.fernet_key(fernet_key()),
                StoredForm::Native => builder.native(true),
                StoredForm::NativeSealed => builder
                    .native(true)
                    .sealing_keys(KeyRing::new(SealingKey::new("interop-1", [7; 32]).unwrap())),
            };
            if let Some(policy) = policy {
                builder = builder.restore_policy(policy);
            }
            builder.build().unwrap()
        }

        /// The snapshot taskctx captures for `cell`'s caller.
        pub(crate) fn snapshot_of(cell: &Cell) -> TaskContextSnapshot {
            let mut snapshot = TaskContextSnapshot::builder();
            if let Some(token) = &cell.token {
                let text = |name: &str| token[name].as_str().map(str::to_owned);
                let mut builder =
                    AccessToken::builder(text("token").unwrap(), text("client_id").unwrap())
                        .scopes(
                            token["scopes"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|scope| scope.as_str().unwrap().to_owned()),
                        );
                if let Some(expires_at) = token["expires_at"].as_i64() {
                    builder = builder.expires_at(expires_at);
                }
                if let Some(resource) = text("resource") {
                    builder = builder.resource(resource);
                }
                if let Some(subject) = text("subject") {
                    builder = builder.subject(subject);
                }
                if let Some(Value::Object(claims)) = token.get("claims") {
                    builder = builder.claims(claims.clone());
                }
                snapshot = snapshot.access_token(builder.build());
            }
            if let Some(headers) = &cell.headers {
                snapshot = snapshot.headers(Headers::from_pairs(headers.iter().cloned()));
            }
            if let Some(id) = &cell.origin_request_id {
                snapshot = snapshot.origin_request_id(id);
            }
            if let Some(id) = &cell.session_id {
                snapshot = snapshot.session_id(id);
            }
            if let Some(name) = &cell.owning_tool_name {
                snapshot = snapshot.owning_tool_name(name);
            }
            if let Some(version) = &cell.owning_tool_version {
                snapshot = snapshot.owning_tool_version(version);
            }
            snapshot.build()
        }

        /// The task key taskctx builds for `cell`, its scope composed from the token.
        fn task_key(cell: &Cell) -> TaskKey<'_> {
            let snapshot = Self::snapshot_of(cell);
            let scope = snapshot.scope_inputs().map(|inputs| {
                let sub = match inputs.sub {
                    None => taskctx_scope::SubClaim::Absent,
                    Some(Value::String(sub)) => taskctx_scope::SubClaim::String(sub),
                    Some(other) => panic!("the cells use string subs, not {other}"),
                };
                Scope::from_token(inputs.client_id, sub)
                    .unwrap()
                    .into_owned()
            });
            TaskKey::new(
                scope,
                TaskId::new(cell.task_id.as_str()).unwrap(),
                TaskType::new(cell.task_type.as_str()).unwrap(),
                Component::new(cell.component.as_str()),
            )
        }

        /// The execution key taskctx builds for `cell`.
        pub(crate) fn execution_key(cell: &Cell) -> String {
            Self::task_key(cell).execution_key(Leg::new(cell.leg))
        }

        /// What a server does at submission: captures `cell`'s caller and submits the task
        /// through the glue configured for `form`; returns the execution key.
        pub(crate) async fn submit(&self, cell: &Cell, form: StoredForm) -> String {
            let snapshot = Self::snapshot_of(cell);
            let task = Self::task_key(cell);
            let submitted = self
                .glue(form, None)
                .submit(
                    Submit::new(
                        &snapshot,
                        task.task_id().clone(),
                        task.task_type().clone(),
                        task.component().clone(),
                    )
                    .leg(Leg::new(cell.leg)),
                )
                .await
                .unwrap();
            assert_eq!(submitted.task(), task, "the scope derived from the token");
            assert_eq!(submitted.execution_key(), Self::execution_key(cell));
            let (value, ttl) = self.load(submitted.execution_key()).await.unwrap();
            assert_eq!(StoredForm::detect(&value), form);
            super::assert_ttl_near(ttl, SNAPSHOT_TTL_SECS, "taskctx's submission");
            submitted.into_execution_key()
        }

        /// What a worker does: runs the task named by `execution_key` through the glue
        /// configured for `form` (and `policy`), its code reading the task-local context.
        pub(crate) async fn restore_with(
            &self,
            execution_key: &str,
            form: StoredForm,
            policy: Option<RestorePolicy>,
        ) -> Restored {
            let (task, leg) = TaskKey::parse_execution(execution_key).unwrap();
            let snapshot_key = self.keys.snapshot_key(task.scope(), task.task_id());
            let loaded = self
                .store
                .load_with_ttl(&snapshot_key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no snapshot under {snapshot_key}"));
            let seen = self
                .glue(form, policy)
                .run(execution_key, async {
                    Seen {
                        access_token: access_token(),
                        headers: headers(),
                        session_id: session_id(),
                        context: current().expect("a task key runs with a context"),
                    }
                })
                .await;
            if let Ok(seen) = &seen {
                assert_eq!(seen.context.task(), task, "the task the key names");
                assert_eq!(seen.context.leg(), leg, "the leg the key names");
            }
            Restored {
                scope: task.scope().map(|scope| scope.to_str().into_owned()),
                task_id: task.task_id().as_str().to_owned(),
                task_type: task.task_type().as_str().to_owned(),
                component: task.component().to_str().into_owned(),
                leg: leg.get(),
                snapshot_key,
                stored: loaded.value,
                ttl: loaded.ttl,
                seen,
            }
        }

        /// [`restore_with`](Self::restore_with) under the form's default restore policy.
        pub(crate) async fn restore(&self, execution_key: &str, form: StoredForm) -> Restored {
            self.restore_with(execution_key, form, None).await
        }

        /// The snapshot key of the task an execution key names.
        pub(crate) fn snapshot_key(&self, execution_key: &str) -> String {
            let (task, _leg) = TaskKey::parse_execution(execution_key).unwrap();
            self.keys.snapshot_key(task.scope(), task.task_id())
        }

        /// The stored snapshot of the task an execution key names, with its TTL.
        pub(crate) async fn load(
            &self,
            execution_key: &str,
        ) -> Option<(Vec<u8>, Option<Duration>)> {
            let key = self.snapshot_key(execution_key);
            let loaded = self.store.load_with_ttl(&key).await.unwrap()?;
            Some((loaded.value.clone(), loaded.ttl))
        }

        /// Slides the TTL of the task's snapshot; returns whether it existed.
        pub(crate) async fn refresh(&self, execution_key: &str, ttl_secs: u64) -> bool {
            let key = self.snapshot_key(execution_key);
            let ttl = Ttl::from_secs(ttl_secs).unwrap();
            self.store.refresh(&[&key], ttl).await.unwrap() == 1
        }
    }
}

use taskctx_side::{Restored, Taskctx};
use taskctx_snapshot::{CREDENTIAL_HEADERS, StoredForm};
use taskctx_worker_glue::{RestoreError, RestoreOutcome, RestorePolicy};

/// How far a TTL may have run down between being set and being read. The TTLs the cells set
/// (1,800 s, 5,000 s, 7,000 s) are far further apart, so a generous slack on a loaded machine still
/// tells them apart.
const TTL_SLACK_SECS: u64 = 120;

/// Asserts that a TTL is within `(expected - TTL_SLACK_SECS, expected]`.
fn assert_ttl_near(ttl: Option<Duration>, expected: u64, what: &str) {
    let ttl = ttl.unwrap_or_else(|| panic!("{what}: no TTL"));
    assert!(
        ttl <= Duration::from_secs(expected)
            && ttl > Duration::from_secs(expected - TTL_SLACK_SECS),
        "{what}: TTL {ttl:?}, expected about {expected} s"
    );
}

/// Asserts that a TTL in seconds as Redis reports it is within `(expected - TTL_SLACK_SECS, expected]`.
fn assert_secs_near(ttl: &Value, expected: u64, what: &str) {
    let secs = ttl.as_i64().unwrap_or_else(|| panic!("{what}: TTL {ttl}"));
    let expected = i64::try_from(expected).unwrap();
    assert!(
        secs <= expected && secs > expected - i64::try_from(TTL_SLACK_SECS).unwrap(),
        "{what}: TTL {secs} s, expected about {expected} s"
    );
}

/// The cell's token with every field the reference's `AccessToken` has, as it dumps them.
fn token_as_reference_dumps(cell: &Cell) -> Value {
    let Some(token) = &cell.token else {
        return Value::Null;
    };
    let mut full = json!({
        "token": null, "client_id": null, "scopes": [], "expires_at": null, "resource": null,
        "subject": null, "claims": {}, "original_client_id": null,
    });
    for (name, value) in token.as_object().unwrap() {
        full[name] = value.clone();
    }
    full
}

/// Asserts that taskctx restored exactly `cell`: the task named by the key, and what the task's
/// code saw: the caller's token, headers (in order), request id, session id, owning tool name and
/// version.
fn assert_taskctx_restored(cell: &Cell, restored: &Restored, what: &str) {
    assert_eq!(restored.scope, cell.expected_scope(), "{what}: scope");
    assert_eq!(restored.task_id, cell.task_id, "{what}: task id");
    assert_eq!(restored.task_type, cell.task_type, "{what}: task type");
    assert_eq!(restored.component, cell.component, "{what}: component");
    assert_eq!(restored.leg, cell.leg, "{what}: leg");
    let seen = restored
        .seen
        .as_ref()
        .unwrap_or_else(|error| panic!("{what}: taskctx did not run the task: {error}"));
    let context = &seen.context;
    assert_eq!(
        context.outcome(),
        RestoreOutcome::Restored,
        "{what}: outcome"
    );
    let token = seen.access_token.as_ref().map(|token| {
        json!({
            "token": token.token(),
            "client_id": token.client_id(),
            "scopes": token.scopes(),
            "expires_at": token.expires_at(),
            "resource": token.resource(),
            "subject": token.subject(),
            "claims": token.claims(),
            "original_client_id": token.original_client_id(),
        })
    });
    assert_eq!(
        json!(token),
        token_as_reference_dumps(cell),
        "{what}: token"
    );
    if let Some(token) = &seen.access_token {
        assert!(!token.is_expired_now(), "{what}: the token is still valid");
        let as_json: Value = serde_json::from_str(token.json()).unwrap();
        assert_eq!(
            as_json,
            token_as_reference_dumps(cell),
            "{what}: token JSON"
        );
    }
    let headers = seen
        .headers
        .as_ref()
        .map(|headers| headers.iter().collect::<Vec<_>>());
    assert_eq!(json!(headers), json!(cell.headers), "{what}: headers");
    assert_eq!(
        context.origin_request_id(),
        cell.origin_request_id.as_deref(),
        "{what}: origin request id"
    );
    assert_eq!(
        seen.session_id.as_deref(),
        cell.session_id.as_deref(),
        "{what}: session id"
    );
    assert_eq!(
        context.owning_tool_name(),
        cell.owning_tool_name.as_deref(),
        "{what}: owning tool name"
    );
    assert_eq!(
        context.owning_tool_version(),
        cell.owning_tool_version.as_deref(),
        "{what}: owning tool version"
    );
}

/// Asserts that the reference's worker restored exactly `cell`'s caller, and that the stored
/// value decodes, in the reference, to exactly `cell`'s snapshot fields.
fn assert_reference_restored(cell: &Cell, restored: &Value, what: &str) {
    let worker = &restored["worker"];
    assert_eq!(worker["ran"], true, "{what}: the task ran: {restored}");
    assert_eq!(worker.get("restore_error"), None, "{what}");
    assert_eq!(
        worker["access_token"],
        token_as_reference_dumps(cell),
        "{what}: token"
    );
    assert_eq!(worker["headers"], json!(cell.headers), "{what}: headers");
    assert_eq!(
        worker["session_id"],
        json!(cell.session_id),
        "{what}: session id"
    );
    assert_eq!(worker["task_id"], json!(cell.task_id), "{what}: task id");
    assert_eq!(
        worker["task_scope"],
        json!(cell.expected_scope()),
        "{what}: scope"
    );
    let decoded = &restored["decoded"]["ok"];
    assert!(
        decoded.is_object(),
        "{what}: the reference decodes it: {restored}"
    );
    assert_eq!(
        decoded["http_headers"],
        json!(cell.headers),
        "{what}: decoded headers"
    );
    for field in [
        ("origin_request_id", &cell.origin_request_id),
        ("session_id", &cell.session_id),
        ("owning_tool_name", &cell.owning_tool_name),
        ("owning_tool_version", &cell.owning_tool_version),
    ] {
        assert_eq!(
            decoded[field.0],
            json!(field.1),
            "{what}: decoded {}",
            field.0
        );
    }
    let token = decoded["access_token_json"]
        .as_str()
        .map(|text| serde_json::from_str::<Value>(text).unwrap());
    assert_eq!(
        json!(token),
        token_as_reference_dumps(cell),
        "{what}: decoded token"
    );
}

/// The matrix's two callers, with task ids unique to `label`.
fn cells(label: &str) -> [Cell; 2] {
    [
        Cell::authenticated(&format!("{label}-auth")),
        Cell::anonymous(&format!("{label}-anon")),
    ]
}

/// The reference saves both callers' snapshots; taskctx restores each by the execution key the
/// reference built and reports exactly the caller's values. The reference's own worker restores
/// the same values (the baseline both sides are held to).
async fn reference_saves_taskctx_restores(
    encryption: Encryption<'_>,
    form: StoredForm,
    label: &str,
) {
    let server = RedisServer::start();
    let url = server.url();
    let reference = Reference::from_env();
    let taskctx = Taskctx::connect(&url);
    let cells = cells(label);
    let requests: Vec<Value> = cells.iter().map(Cell::to_request).collect();
    let saved = reference.save(encryption, &url, &requests);
    for (cell, saved) in cells.iter().zip(&saved) {
        let what = format!("{label} {}", cell.task_id);
        let execution_key = saved["execution_key"].as_str().unwrap();
        assert_eq!(
            execution_key,
            Taskctx::execution_key(cell),
            "{what}: execution keys"
        );
        assert_eq!(saved["scope"], json!(cell.expected_scope()), "{what}");
        let restored = taskctx.restore(execution_key, form).await;
        assert_eq!(restored.snapshot_key, saved["snapshot_key"], "{what}");
        assert_eq!(
            restored.stored,
            saved["stored"].as_str().unwrap().as_bytes(),
            "{what}: stored bytes"
        );
        assert_ttl_near(restored.ttl, SNAPSHOT_TTL_SECS, &what);
        assert_taskctx_restored(cell, &restored, &what);
        if form == StoredForm::Json {
            // Byte-identical: what taskctx would have written for the same caller.
            let ours = taskctx
                .glue(form, None)
                .codec()
                .encode(&Taskctx::snapshot_of(cell), &restored.snapshot_key)
                .unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                saved["stored"].as_str().unwrap(),
                "{what}: taskctx's JSON for the same caller"
            );
        }
    }
    let keys: Vec<&str> = saved
        .iter()
        .map(|saved| saved["execution_key"].as_str().unwrap())
        .collect();
    let restored = reference.restore(encryption, &url, &keys);
    for (cell, restored) in cells.iter().zip(&restored) {
        assert_reference_restored(
            cell,
            restored,
            &format!("{label} baseline {}", cell.task_id),
        );
    }
}

/// taskctx submits both callers in `form`; the reference's own worker restore reads them and
/// sees exactly the callers' values.
async fn taskctx_saves_reference_restores(
    encryption: Encryption<'_>,
    form: StoredForm,
    label: &str,
) {
    let server = RedisServer::start();
    let url = server.url();
    let reference = Reference::from_env();
    let taskctx = Taskctx::connect(&url);
    let cells = cells(label);
    let mut keys = Vec::new();
    for cell in &cells {
        keys.push(taskctx.submit(cell, form).await);
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let restored = reference.restore(encryption, &url, &keys);
    for (cell, restored) in cells.iter().zip(&restored) {
        assert_reference_restored(cell, restored, &format!("{label} {}", cell.task_id));
    }
}

#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn reference_json_snapshots_restore_in_taskctx() {
    reference_saves_taskctx_restores(Encryption::Plaintext, StoredForm::Json, "ref-json").await;
}

#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn taskctx_json_snapshots_restore_in_the_reference() {
    taskctx_saves_reference_restores(Encryption::Plaintext, StoredForm::Json, "taskctx-json").await;
}

#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn reference_fernet_snapshots_restore_in_taskctx() {
    reference_saves_taskctx_restores(
        Encryption::Key(KEY_MATERIAL),
        StoredForm::JsonFernet,
        "ref-fernet",
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn taskctx_fernet_snapshots_restore_in_the_reference() {
    taskctx_saves_reference_restores(
        Encryption::Key(KEY_MATERIAL),
        StoredForm::JsonFernet,
        "taskctx-fernet",
    )
    .await;
}

/// The native forms are taskctx's own: the reference cannot read either. Without a key it
/// fails to decode the value and, fail-open, runs the task with no caller; with a key it fails
/// the task before it runs. taskctx itself reads both back.
#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn native_snapshots_are_unreadable_by_the_reference() {
    let server = RedisServer::start();
    let url = server.url();
    let reference = Reference::from_env();
    let taskctx = Taskctx::connect(&url);
    let plain = Cell::authenticated("native-plain");
    let sealed = Cell::authenticated("native-sealed");
    let plain_key = taskctx.submit(&plain, StoredForm::Native).await;
    let sealed_key = taskctx.submit(&sealed, StoredForm::NativeSealed).await;
    for (cell, key, form) in [
        (&plain, &plain_key, StoredForm::Native),
        (&sealed, &sealed_key, StoredForm::NativeSealed),
    ] {
        let restored = taskctx.restore(key, form).await;
        assert!(restored.stored.starts_with(b"\0tcx"), "{form}");
        assert_taskctx_restored(cell, &restored, &format!("taskctx reads its own {form}"));
    }
    let keys = [plain_key.as_str(), sealed_key.as_str()];

    let keyless = reference.restore(Encryption::Plaintext, &url, &keys);
    for (answer, form) in keyless.iter().zip(["native", "sealed native"]) {
        let what = format!("the keyless reference on {form}");
        assert!(
            answer["decoded"]["error"]["error_type"].is_string(),
            "{what}: decoding fails: {answer}"
        );
        let worker = &answer["worker"];
        assert_eq!(
            worker["ran"], true,
            "{what}: fail-open runs the task: {answer}"
        );
        assert_eq!(
            worker["access_token"],
            Value::Null,
            "{what}: with no caller"
        );
        assert_eq!(worker["headers"], json!([]), "{what}: and no headers");
        assert_eq!(worker["session_id"], Value::Null, "{what}: and no session");
    }

    let keyed = reference.restore(Encryption::Key(KEY_MATERIAL), &url, &keys);
    for (answer, form) in keyed.iter().zip(["native", "sealed native"]) {
        let what = format!("the keyed reference on {form}");
        assert_eq!(
            answer["decoded"]["error"]["error_type"], "SnapshotDecryptionError",
            "{what}: {answer}"
        );
        let worker = &answer["worker"];
        assert_eq!(
            worker["ran"], false,
            "{what}: fail-closed fails the task: {answer}"
        );
        assert_eq!(
            worker["restore_error"]["error_type"], "SnapshotDecryptionError",
            "{what}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn ttl_refresh_by_either_side_is_seen_by_the_other() {
    let server = RedisServer::start();
    let url = server.url();
    let reference = Reference::from_env();
    let taskctx = Taskctx::connect(&url);

    // A snapshot the reference wrote: taskctx refreshes it, the reference sees the new TTL.
    let by_reference = Cell::authenticated("ttl-ref");
    let saved = reference.save(Encryption::Plaintext, &url, &[by_reference.to_request()]);
    let reference_key = saved[0]["execution_key"].as_str().unwrap().to_owned();
    // A snapshot taskctx wrote: the reference refreshes it, taskctx sees the new TTL.
    let by_taskctx = Cell::anonymous("ttl-taskctx");
    let taskctx_key = taskctx.submit(&by_taskctx, StoredForm::Json).await;
    let (stored, _) = taskctx.load(&taskctx_key).await.unwrap();

    assert!(taskctx.refresh(&reference_key, 7_000).await);
    let seen = reference.refresh(
        &url,
        &[
            (reference_key.as_str(), None),
            (taskctx_key.as_str(), Some(5_000)),
        ],
    );
    assert_secs_near(
        &seen[0]["ttl_before"],
        7_000,
        "taskctx's refresh, seen by the reference",
    );
    assert_secs_near(
        &seen[0]["ttl_after"],
        7_000,
        "a read-only look changes nothing",
    );
    assert_secs_near(
        &seen[1]["ttl_before"],
        SNAPSHOT_TTL_SECS,
        "taskctx's save, seen by the reference",
    );
    assert_secs_near(&seen[1]["ttl_after"], 5_000, "the reference's refresh");
    assert_eq!(seen[1]["snapshot_key"], taskctx.snapshot_key(&taskctx_key));

    let (after, ttl) = taskctx.load(&taskctx_key).await.unwrap();
    assert_ttl_near(ttl, 5_000, "the reference's refresh, seen by taskctx");
    assert_eq!(after, stored, "a refresh keeps the value");
    let (_, ttl) = taskctx.load(&reference_key).await.unwrap();
    assert_ttl_near(ttl, 7_000, "taskctx's own refresh");
}

/// A snapshot the reference saved for a caller whose token has since expired (SPEC §6,
/// Deviation): taskctx under FailClosed refuses the task before its code runs with
/// `RestoreError::ExpiredToken`; under FailOpen it runs the task as the caller without the token
/// (session and task identity kept, and the headers without the credential ones).
#[tokio::test]
#[ignore = "needs the Python reference; run `cargo xtask interop`"]
async fn expired_reference_tokens_are_never_installed_by_taskctx() {
    let server = RedisServer::start();
    let url = server.url();
    let reference = Reference::from_env();
    let taskctx = Taskctx::connect(&url);
    let mut cell = Cell::authenticated("expired");
    cell.token.as_mut().unwrap()["expires_at"] = json!(now_secs() - 60);
    let saved = reference.save(Encryption::Plaintext, &url, &[cell.to_request()]);
    let execution_key = saved[0]["execution_key"].as_str().unwrap();
    assert_eq!(execution_key, Taskctx::execution_key(&cell));

    let closed = taskctx
        .restore_with(
            execution_key,
            StoredForm::Json,
            Some(RestorePolicy::FailClosed),
        )
        .await;
    match &closed.seen {
        Err(RestoreError::ExpiredToken { task_id }) => assert_eq!(task_id, "expired"),
        Err(other) => panic!("FailClosed: expected ExpiredToken, got {other}"),
        Ok(seen) => panic!("FailClosed: the task ran: {seen:?}"),
    }
    assert_eq!(
        closed.stored,
        saved[0]["stored"].as_str().unwrap().as_bytes(),
        "the refusal leaves the stored value"
    );

    let open = taskctx
        .restore_with(
            execution_key,
            StoredForm::Json,
            Some(RestorePolicy::FailOpen),
        )
        .await;
    let seen = open
        .seen
        .as_ref()
        .unwrap_or_else(|error| panic!("FailOpen: the task did not run: {error}"));
    assert!(seen.access_token.is_none(), "FailOpen: no token installed");
    assert!(seen.context.access_token().is_none(), "FailOpen: context");
    assert_eq!(seen.context.outcome(), RestoreOutcome::ExpiredToken);
    assert_eq!(
        open.scope,
        cell.expected_scope(),
        "FailOpen: the task's scope"
    );
    assert_eq!(open.task_id, cell.task_id, "FailOpen: the task id");
    assert_eq!(
        seen.session_id.as_deref(),
        cell.session_id.as_deref(),
        "FailOpen: the session"
    );
    let headers = seen
        .headers
        .as_ref()
        .map(|headers| headers.iter().collect::<Vec<_>>());
    // SPEC §6: the credentials captured with a token that is not installed are withheld too.
    let expected: Option<Vec<(String, String)>> = cell.headers.as_ref().map(|headers| {
        headers
            .iter()
            .filter(|(name, _)| !CREDENTIAL_HEADERS.contains(&name.as_str()))
            .cloned()
            .collect()
    });
    assert!(
        expected
            .as_ref()
            .is_some_and(|kept| kept.len() < cell.headers.as_ref().map_or(0, Vec::len)),
        "the cell captures credential headers"
    );
    assert_eq!(
        json!(headers),
        json!(expected),
        "FailOpen: the headers, without the credentials"
    );
}
