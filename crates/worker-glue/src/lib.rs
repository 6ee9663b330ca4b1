//! Runs each task as the caller who submitted it, in this process or in a worker of another,
//! keeping the caller's context in a store between submission and execution.
//!
//! ```
//! use std::sync::Arc;
//! use taskctx_worker_glue::prelude::*;
//!
//! struct Session {
//!     user: &'static str,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let glue: TaskGlue<Session> = TaskGlue::builder().store_url("memory://lib-example").build()?;
//!
//!     // Server: capture the caller.
//!     let token = AccessToken::builder("secret-token", "client-a").claim("sub", "user-1").build();
//!     let snapshot = TaskContextSnapshot::builder()
//!         .access_token(token)
//!         .session_id("session-1")
//!         .build();
//!
//!     // Connection layer: the session is registered once, for its caller's scope.
//!     let session = Arc::new(Session { user: "user-1" });
//!     let scope = taskctx_worker_glue::scope_of(&snapshot)?;
//!     let _registration = glue.sessions().register(scope.as_ref(), "session-1", &session);
//!
//!     // Server: submit the task; its scope comes from the snapshot's token.
//!     let submitted = glue
//!         .submit(
//!             Submit::new(&snapshot, TaskId::new("T1")?, TaskType::TOOL, Component::new("my_tool"))
//!                 .leg(Leg::new(2)),
//!         )
//!         .await?;
//!     assert_eq!(submitted.execution_key(), "auth:client-a%7Cuser-1:T1:tool:my_tool#leg2");
//!
//!     // Worker: run the task as its caller.
//!     let seen = glue
//!         .run(submitted.execution_key(), async {
//!             let context = current().expect("inside a task");
//!             let session = glue.live_session().expect("same process, session still open");
//!             (
//!                 context.task().task_id().to_string(),
//!                 context.leg().get(),
//!                 access_token().map(|token| token.client_id().to_owned()),
//!                 session.user,
//!             )
//!         })
//!         .await?;
//!     assert_eq!(seen, ("T1".into(), 2, Some("client-a".into()), "user-1"));
//!
//!     // Outside a task there is no context.
//!     assert!(access_token().is_none());
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Usage
//!
//! Everything below is importable from this crate alone (`use taskctx_worker_glue::prelude::*;`
//! covers the common part); the key and snapshot types it takes are re-exported.
//!
//! - Build one [`TaskGlue<Se, Sv>`](TaskGlue) per queue with [`TaskGlue::builder`]: a store
//!   ([`TaskGlueBuilder::store_url`], or any [`SnapshotStore`] with [`TaskGlueBuilder::store`]),
//!   and optionally the queue name, native form, Fernet key or sealing key ring (or any
//!   [`SnapshotCodec`] with [`TaskGlueBuilder::codec`]), [`RestorePolicy`], execution TTL, header
//!   policy, scope-fingerprint key, token refresher, a server resolver and a root server.
//!   Options that contradict each other are a [`ConfigError`], never a silent choice. `Se` is the
//!   application's session type, `Sv` its server type.
//! - Connection layer: register each live session once, for the scope of the caller it serves,
//!   with [`TaskGlue::sessions`]`().`[`register`](Sessions::register)`(scope, id, &session)` and
//!   keep the returned [`SessionRegistration`] for as long as the connection lives.
//! - Server side: [`TaskGlue::submit`] with a [`Submit`] (the captured snapshot, task id, type,
//!   component; optionally leg, owning server and extra keys) derives the task's scope from the
//!   snapshot's token, stores everything in one atomic write and returns the execution key in
//!   [`Submitted`].
//! - Worker side: [`TaskGlue::run`]`(execution_key, future)` restores the context and runs the
//!   future inside it; [`TaskGlue::restore`] returns the [`TaskContext`] instead.
//! - Inside the task (sync or async): [`current`], [`with_current`], [`access_token`],
//!   [`headers`], [`session_id`], [`trace_context`], [`current_task`], and the glue's typed
//!   [`TaskGlue::live_session`] (an `Option<Arc<Se>>`) and [`TaskGlue::owning_server`] (an
//!   `Option<Arc<Sv>>`); all return `None` outside a task. The token and headers are shared
//!   (`Arc`), never copied per call. Child tasks keep the context only through
//!   [`spawn_with_context`] (plain `tokio::spawn` starts them with none).
//!
//! # Typed sessions and servers
//!
//! The session and server types are parameters of the glue, `TaskGlue<Se, Sv>`, and the lookups
//! are the glue's methods: [`TaskGlue::live_session`] returns `Option<Arc<Se>>` and
//! [`TaskGlue::owning_server`] `Option<Arc<Sv>>`. Nothing is stored as `dyn Any` and nothing is
//! downcast, so asking for another type does not compile:
//!
//! ```compile_fail
//! use std::sync::Arc;
//! use taskctx_worker_glue::TaskGlue;
//!
//! struct Session;
//! struct NotTheSession;
//!
//! fn in_a_task(glue: &TaskGlue<Session>) {
//!     let session: Option<Arc<NotTheSession>> = glue.live_session(); // mismatched types
//! }
//! ```
//!
//! The untyped parts of the context (token, headers, session id, trace context, the task's key)
//! are free functions that need no glue: [`access_token`], [`headers`], [`current`], … A context is
//! served only by the glue that restored it (or a clone of that glue).
//!
//! # Guarantees
//!
//! - **Task-local.** The context lives in a `tokio` task-local scope around exactly one task's
//!   future: tasks interleaved on one worker each see only their own caller, and a task never
//!   sees what an earlier one left.
//! - **Restore contract (SPEC §6).** A key without the `auth:`/`anon:` tag is not a task key: it
//!   reads nothing and runs with no context. [`RestorePolicy::FailOpen`] (the default without
//!   encryption): any failure is a `tracing` warning and the task runs with its identity but no
//!   caller (a malformed task key: with no context). [`RestorePolicy::FailClosed`] (the default
//!   with encryption): a malformed task key, a missing, undecodable, tampered or wrongly keyed
//!   snapshot, a store failure, a token of another scope than the key's, or an expired token
//!   fails with a [`RestoreError`] before the task's code runs. An expired token is never
//!   installed, and neither are the credential headers captured with it (`authorization`,
//!   `proxy-authorization`, `cookie`). Headers come back with the capture policy's secret marks,
//!   whatever stored form they travelled in.
//! - **Identity is (scope, id).** Owning servers are registered and found by the task's scope
//!   and id, live sessions by the scope they were registered for and their id: two callers whose
//!   tasks (or sessions) share an id never see each other's, and removing one's entry never
//!   removes the other's.
//! - **Token refresh (optional).** With [`TaskGlueBuilder::token_refresher`], a token that has
//!   expired or expires within the margin is refreshed before the task's code runs; the new token
//!   must be of the task's scope, is installed for that task only, and is never logged. The
//!   refresher is bounded by a timeout (default 5 s) and a panic in it fails that task's refresh
//!   only: either is a refresh failure, handled by the restore policy.
//! - **One write per submission.** The snapshot and the extra keys are saved in one atomic
//!   [`SnapshotStore::save`] with TTL = execution TTL + 900 s (900 s for an execution TTL of 0).
//! - **No secrets in logs.** Each restore is one `taskctx.restore` span with the task id, leg,
//!   outcome and a [`ScopeFingerprint`] (HMAC-SHA256 of the scope under the glue's
//!   [`FingerprintKey`], 16 hex digits); tokens, headers, session ids and scopes are never logged,
//!   and `Debug` of every type here hides them.
//!
//! # Stores
//!
//! A task's snapshot and companion keys wait in a store between the server that submits the task
//! and the worker that runs it. [`open`] (or [`open_with`] and a [`StoreConfig`]) picks one from a
//! URL at run time and returns a [`Store`]:
//!
//! - `memory://[name]` — an in-process [`MemoryStore`], shared by every worker of the process that
//!   opens the same name;
//! - `redis://`, `unix://` / `redis+unix://`, `rediss://` (cargo feature `tls`),
//!   `redis+cluster://` / `rediss+cluster://` and `redis+sentinel://` — a [`RedisStore`] on a
//!   few multiplexed connections that every caller shares.
//!
//! Every store implements [`SnapshotStore`] (an application's own store too): save several keys
//! with one TTL atomically, load one key (optionally with its remaining TTL), refresh the TTL of a
//! task's keys, delete keys. The [`store`] module describes how calls reach Redis and what they
//! guarantee (one round trip, bounded waits, typed errors without secrets).
//!
//! ```
//! use taskctx_worker_glue::{Ttl, open};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let store = open("memory://example")?;
//!     let ttl = Ttl::from_secs(1800).ok_or("a TTL is at least one second")?;
//!     // `{queue prefix}:fastmcp:task:{scope prefix}:{task id}:{suffix}`
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
//! # Task records
//!
//! For MCP tasks served by a fleet (any replica answers, any worker runs), the [`records`] module
//! keeps each task's state — status, message, times, TTL, result or error, cancel request, input
//! requests and responses, leg, worker lease — in the store beside its snapshot, under the task's
//! scope and id. [`TaskGlue::records`] hands out the queue's [`records::TaskRecords`] when the
//! store keeps records (memory and Redis stores do): create (record and snapshot in one atomic
//! write, under a per-scope limit of unfinished tasks), get (sliding the TTL), cancel, settle
//! (exactly once), input, and worker leases (at-least-once execution).
//!
//! # Cargo features
//!
//! - `tls` (off by default): `rediss://` and `rediss+cluster://` URLs, through rustls with the
//!   ring provider and the system's root certificates; a `#insecure` fragment skips certificate
//!   checks. Without it those URLs fail with [`StoreError::TlsNotEnabled`].

pub mod records;
pub mod store;

mod config;
mod context;
mod error;
mod fingerprint;
mod glue;
mod refresh;
mod registries;
mod restore;
mod submit;

pub use config::{
    DEFAULT_EXECUTION_TTL_SECS, RestorePolicy, TTL_GRACE_SECS, TaskGlueBuilder, key_ttl,
};
pub use context::{
    RestoreOutcome, TaskContext, TraceContext, access_token, current, current_task, headers,
    session_id, spawn_with_context, trace_context, with_current,
};
pub use error::{BoxError, ConfigError, RestoreError, SubmitError};
pub use fingerprint::{FINGERPRINT_BYTES, FingerprintKey, ScopeFingerprint};
pub use glue::TaskGlue;
pub use refresh::{
    DEFAULT_REFRESH_MARGIN, DEFAULT_REFRESH_TIMEOUT, MAX_REFRESH_MARGIN, MAX_REFRESH_TIMEOUT,
    MIN_REFRESH_TIMEOUT, RefreshRequest,
};
pub use registries::{Servers, SessionRegistration, Sessions};
pub use store::{
    ACCEPTED_URL_FORMS, Deployment, MemoryStore, Operation, RedactedUrl, RedisStore, SnapshotStore,
    Store, StoreConfig, StoreError, StoreFuture, StoredValue, TimeoutPhase, Ttl, UrlProblem, open,
    open_with, redact_url,
};
pub use submit::{Submit, Submitted, scope_of, scope_of_token};

/// The key layer's error (a scope, task key or queue name that is not valid).
pub use taskctx_scope::Error as KeyError;
pub use taskctx_scope::{Component, KeySpace, KeySuffix, Leg, Scope, TaskId, TaskKey, TaskType};
pub use taskctx_snapshot::{
    AccessToken, AccessTokenBuilder, CREDENTIAL_HEADERS, Codec, DecodeError, EncodeError,
    FernetKey, HeaderPolicy, Headers, KeyRing, SealingKey, SealingKeyError, SnapshotBuilder,
    SnapshotCodec, StoredForm, TaskContextSnapshot,
};

/// Everything a server or worker needs, in one import: `use taskctx_worker_glue::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AccessToken, Component, FernetKey, HeaderPolicy, Headers, KeyRing, KeySuffix, Leg,
        RestoreError, RestoreOutcome, RestorePolicy, SealingKey, SnapshotCodec, SnapshotStore,
        Submit, SubmitError, Submitted, TaskContext, TaskContextSnapshot, TaskGlue, TaskId,
        TaskKey, TaskType, access_token, current, headers, session_id, spawn_with_context,
        with_current,
    };
}
