//! In-process weak registries for taskctx: when a task's worker runs in the same process as the
//! server that accepted it, the task can reach the live session that submitted it (to send
//! notifications directly) and the (possibly mounted, child) server that owns its tool.
//!
//! - [`SessionRegistry`]: session key → the live session, held weakly. Each registration is
//!   owned by the [`SessionGuard`] it returns; dropping the guard (or the connection that holds
//!   it) removes the entry.
//! - [`ServerRegistry`]: task key → the owning server, held weakly, bounded (10,000 entries by
//!   default, [`DEFAULT_SERVER_CAPACITY`]) with least-recently-used eviction.
//!
//! Both are generic over their key. Task ids and session ids are unique only within a scope, so
//! a key must carry the whole identity (the scope and the id); taskctx's glue uses typed
//! (scope, id) keys. A worker in another process finds neither; it then resolves the owning
//! server from the snapshot's owning tool name and version instead.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use taskctx_registry::{ServerRegistry, SessionRegistry};
//!
//! /// A task's or session's identity: the caller's scope (none: anonymous) and the id.
//! #[derive(Clone, PartialEq, Eq, Hash)]
//! struct Identity {
//!     scope: Option<String>,
//!     id: String,
//! }
//! fn identity(scope: &str, id: &str) -> Identity {
//!     Identity { scope: Some(scope.into()), id: id.into() }
//! }
//!
//! struct Session {
//!     user: String,
//! }
//! struct Server {
//!     name: &'static str,
//! }
//!
//! let sessions = SessionRegistry::<Identity, Session>::new();
//! let servers = ServerRegistry::<Identity, Server>::new();
//!
//! // The server accepts a connection and a task.
//! let session = Arc::new(Session { user: "user-1".into() });
//! let guard = sessions.register(identity("client-a|user-1", "9b1deb4d"), &session);
//! let server = Arc::new(Server { name: "weather" });
//! servers.register(identity("client-a|user-1", "job-0"), &server);
//!
//! // The in-process worker finds both while they live, under the exact identity only.
//! let found = sessions.get(&identity("client-a|user-1", "9b1deb4d")).expect("session is live");
//! assert_eq!(found.user, "user-1");
//! drop(found);
//! assert!(sessions.get(&identity("client-b|user-2", "9b1deb4d")).is_none());
//! let owner = servers.get(&identity("client-a|user-1", "job-0")).expect("server is live");
//! assert_eq!(owner.name, "weather");
//! drop(owner);
//! assert!(servers.get(&identity("client-b|user-2", "job-0")).is_none());
//!
//! // The registries never keep them alive.
//! drop(server);
//! assert!(servers.get(&identity("client-a|user-1", "job-0")).is_none());
//! assert!(servers.is_empty());
//!
//! // The connection closes: dropping its guard removes the session's entry.
//! drop(guard);
//! assert!(sessions.is_empty());
//! # drop(session);
//! ```
//!
//! # Guarantees
//!
//! - **Never keeps a value alive.** Both registries (and session guards) hold only [`Weak`]
//!   references; a lookup returns a value only while someone else still holds it, and removes the
//!   dead entry it finds. No user code (no `Drop` of a session or server) runs while a registry
//!   lock is held, so a value's `Drop` may itself use the registry or drop a guard.
//! - **Identity-safe removal.** A session entry is removed by its guard, or as dead by a lookup or
//!   sweep, only if it is still that very registration (each has a never-reused 64-bit generation,
//!   compared under the map's lock): an old guard never removes a newer session registered under
//!   the same key, and there is no ABA. A server entry is removed by
//!   [`ServerRegistry::remove`] only if it is still the given server's.
//! - **Exact keys.** An entry is found only by the exact key it was registered under, so one task
//!   is never handed another session's or another task's entry.
//! - **Bounded.** The server registry never holds more than its capacity, evicting the least
//!   recently used entry (lookups and re-registrations count as uses) in one global order. The
//!   session registry holds one entry per live guard, plus dead entries until a lookup or
//!   [`SessionRegistry::sweep`] removes them; its memory follows the number of entries, and
//!   [`SessionRegistry::shrink_to_fit`] returns what a burst left behind.
//! - **Sync, thread-safe, cheap.** Both are `Send + Sync` when the value is, cheap to clone (the
//!   clones share one registry), usable from any thread without an async runtime, and look up by
//!   a borrowed key (`K: Borrow<Q>`) without allocating. `Debug` shows only counts, never keys.
//!
//! [`Weak`]: std::sync::Weak

mod lru;
mod server;
mod session;

pub use server::{DEFAULT_SERVER_CAPACITY, ServerRegistry};
pub use session::{SessionGuard, SessionRegistry};
