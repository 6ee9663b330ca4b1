//! The layer taskctx servers and workers call to keep a task's context between submission and
//! execution.
//!
//! # Usage
//!
//! - Build one [`TaskGlue`] per queue with [`TaskGlue::builder`]: a store URL
//!   ([`TaskGlueBuilder::store_url`]), and optionally the queue name, native form, Fernet key or
//!   sealing key ring, [`RestorePolicy`], execution TTL, header policy, registries, a server
//!   resolver and a root server.
//! - Server side: [`TaskGlue::submit`] with a [`Submit`] (task key, leg, captured snapshot,
//!   optional live session, owning server and extra keys) stores everything in one atomic write
//!   and returns the execution key in [`Submitted`]. [`scope_of`] gives the task's scope from the
//!   snapshot's token.
//! - Worker side: [`TaskGlue::run`]`(execution_key, future)` restores the context and runs the
//!   future inside it; [`TaskGlue::restore`] returns the [`TaskContext`] instead.
//! - Inside the task (sync or async): [`current`], [`current_task`], [`session_id`],
//!   [`access_token`], [`headers`], [`trace_context`], [`live_session`], [`owning_server`]; all
//!   return `None` outside a task. Child tasks keep the context only through
//!   [`spawn_with_context`] (plain `tokio::spawn` starts them with none).
//!
//! # Example
//!
//! ```
//! use taskctx_scope::{Component, Leg, TaskId, TaskKey, TaskType};
//! use taskctx_snapshot::{AccessToken, TaskContextSnapshot};
//! use taskctx_worker_glue::{Submit, TaskGlue, access_token, current_task, scope_of, session_id};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let glue: TaskGlue = TaskGlue::builder().store_url("memory://lib-example").build()?;
//!
//!     // Server: capture the caller and submit the task.
//!     let token = AccessToken::builder("secret-token", "client-a").claim("sub", "user-1").build();
//!     let snapshot = TaskContextSnapshot::builder()
//!         .access_token(token)
//!         .session_id("session-1")
//!         .build();
//!     let task = TaskKey::new(
//!         scope_of(&snapshot)?,
//!         TaskId::new("T1")?,
//!         TaskType::TOOL,
//!         Component::new("my_tool"),
//!     );
//!     let submitted = glue.submit(Submit::new(task, &snapshot).leg(Leg::new(2))).await?;
//!     assert_eq!(submitted.execution_key, "auth:client-a%7Cuser-1:T1:tool:my_tool#leg2");
//!
//!     // Worker: run the task as its caller.
//!     let seen = glue
//!         .run(&submitted.execution_key, async {
//!             let (task, leg) = current_task().expect("inside a task");
//!             (task.task_id().to_string(), leg.get(), session_id(), access_token().map(|t| t.client_id().to_owned()))
//!         })
//!         .await?;
//!     assert_eq!(seen, ("T1".into(), 2, Some("session-1".into()), Some("client-a".into())));
//!
//!     // Outside a task there is no context.
//!     assert!(access_token().is_none());
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **Task-local.** The context lives in a `tokio` task-local scope around exactly one task's
//!   future: tasks interleaved on one worker each see only their own caller, and a task never
//!   sees what an earlier one left.
//! - **Restore contract (SPEC §6).** A key that is not a task key reads nothing and runs with no
//!   context. [`RestorePolicy::FailOpen`] (the default without encryption): any failure is a
//!   `tracing` warning and the task runs with its identity but no caller. [`RestorePolicy::FailClosed`]
//!   (the default with encryption): a missing, undecodable, tampered or wrongly keyed snapshot, a
//!   store failure, a token of another scope than the key's, or an expired token fails with a
//!   [`RestoreError`] before the task's code runs. An expired token is never installed.
//! - **One write per submission.** The snapshot and the extra keys are saved in one atomic
//!   [`SnapshotStore::save`] with TTL = execution TTL + 900 s (900 s for an execution TTL of 0).
//! - **No secrets in logs.** Each restore is one `taskctx.restore` span with the task id, leg,
//!   outcome and an 8-hex-digit [`scope_fingerprint`]; tokens, headers and scopes are never
//!   logged, and `Debug` of every type here hides them.
//!
//! # Stores
//!
//! The [`store`] layer keeps a task's snapshot and companion keys between the server that submits
//! a task and the worker that runs it. A store is chosen at run time from a URL with [`open`] (or
//! [`open_with`] and a [`StoreConfig`]):
//!
//! - `memory://[name]` — an in-process [`MemoryStore`], shared by every worker of the process that
//!   opens the same name;
//! - `redis://`, `unix://` / `redis+unix://`, `rediss://` (cargo feature `tls`),
//!   `redis+cluster://` / `rediss+cluster://` and `redis+sentinel://` — a [`RedisStore`] on a
//!   deadpool-redis connection pool.
//!
//! Every store implements [`SnapshotStore`]: save several keys with one TTL atomically, load one
//! key (optionally with its remaining TTL), refresh the TTL of a task's keys, delete keys.
//!
//! ## Store example
//!
//! ```
//! use taskctx_worker_glue::{SnapshotStore, Ttl, open};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let store = open("memory://example")?;
//!     let ttl = Ttl::from_secs(1800).ok_or("a TTL is at least one second")?;
//!     let key = "fastmcp:fastmcp:task:anon:T1:snapshot";
//!     store.save(&[(key, b"{}".as_slice())], ttl).await?;
//!     assert_eq!(store.load(key).await?.as_deref(), Some(b"{}".as_slice()));
//!     let stored = store.load_with_ttl(key).await?.ok_or("just saved")?;
//!     assert!(stored.ttl.is_some_and(|left| left.as_secs() <= 1800));
//!     assert_eq!(store.delete(&[key]).await?, 1);
//!     assert_eq!(store.load(key).await?, None);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## Store guarantees
//!
//! - One [`SnapshotStore::save`] writes all of its keys or none, with one TTL: on Redis as one
//!   `MULTI`/`EXEC` of `SET key value EX ttl`, sent in one pipeline. In cluster mode the keys of one
//!   call must share a hash slot (taskctx puts a task's keys under one hash tag); otherwise the call
//!   fails with [`StoreError::CrossSlot`] before anything is sent.
//! - No call hangs on a dead or frozen Redis: waiting for a pooled connection, connecting and each
//!   response are bounded by [`StoreConfig`] timeouts, and the whole call by their sum.
//! - A restarted Redis is used again on the next call: broken pooled connections are dropped.
//! - Passwords in store URLs never appear in errors or `Debug` output ([`redact_url`]); stored
//!   values are never printed either.
//! - Library code never panics on any input; every failure is a typed [`StoreError`].
//!
//! # Cargo features
//!
//! - `tls` (off by default): `rediss://` and `rediss+cluster://` URLs, through rustls with the
//!   ring provider and the system's root certificates; a `#insecure` fragment skips certificate
//!   checks. Without it those URLs fail with [`StoreError::TlsNotEnabled`].

pub mod store;

mod config;
mod context;
mod error;
mod restore;
mod submit;

pub use config::{
    DEFAULT_EXECUTION_TTL_SECS, RestorePolicy, ServerResolver, TTL_GRACE_SECS, TaskGlue,
    TaskGlueBuilder, key_ttl,
};
pub use context::{
    RestoreOutcome, TaskContext, TraceContext, access_token, current, current_task, headers,
    live_session, owning_server, session_id, spawn_with_context, trace_context,
};
pub use error::{ConfigError, RestoreError, SubmitError};
pub use restore::scope_fingerprint;
pub use store::{
    ACCEPTED_URL_FORMS, AnyStore, MemoryStore, Operation, RedactedUrl, RedisStore, SnapshotStore,
    StoreConfig, StoreError, StoredValue, TimeoutPhase, Ttl, UrlProblem, open, open_with,
    redact_url,
};
pub use submit::{Submit, Submitted, scope_of};
