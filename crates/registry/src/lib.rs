//! In-process weak registries for taskctx: when a task's worker runs in the same process as the
//! server that accepted it, the task can reach the live session that submitted it (to send
//! notifications directly) and the (possibly mounted, child) server that owns its tool.
//!
//! - [`SessionRegistry`]: session id → the live session, held weakly. Each registration is owned
//!   by the [`SessionGuard`] it returns; dropping the guard (or the connection that holds it)
//!   removes the entry.
//! - [`ServerRegistry`]: task id → the owning server, held weakly, bounded (10,000 entries by
//!   default, [`DEFAULT_SERVER_CAPACITY`]) with least-recently-used eviction.
//!
//! A worker in another process finds neither; it then resolves the owning server from the
//! snapshot's owning tool name and version instead.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use taskctx_registry::{ServerRegistry, SessionRegistry};
//!
//! struct Session {
//!     user: String,
//! }
//! struct Server {
//!     name: &'static str,
//! }
//!
//! let sessions = SessionRegistry::new();
//! let servers = ServerRegistry::new();
//!
//! // The server accepts a connection and a task.
//! let session = Arc::new(Session { user: "user-1".into() });
//! let guard = sessions.register("9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d", &session);
//! let server = Arc::new(Server { name: "weather" });
//! servers.register("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7", &server);
//!
//! // The in-process worker finds both while they live.
//! let found = sessions.get("9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d").expect("session is live");
//! assert_eq!(found.user, "user-1");
//! drop(found);
//! let owner = servers.get("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7").expect("server is live");
//! assert_eq!(owner.name, "weather");
//! drop(owner);
//!
//! // The registries never keep them alive.
//! drop(server);
//! assert!(servers.get("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7").is_none());
//! assert!(servers.is_empty());
//!
//! // The connection closes: dropping its guard removes the session's entry.
//! drop(guard);
//! assert!(sessions.get("9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d").is_none());
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
//!   the same id, and there is no ABA.
//! - **Exact keys.** An entry is found only by the exact id it was registered under, so one task
//!   is never handed another session's or another task's entry.
//! - **Bounded.** The server registry never holds more than its capacity, evicting the least
//!   recently used entry (lookups and re-registrations count as uses) in one global order. The
//!   session registry holds one entry per live guard, plus dead entries until a lookup or
//!   [`SessionRegistry::sweep`] removes them; its memory follows the number of entries, and
//!   [`SessionRegistry::shrink_to_fit`] returns what a burst left behind.
//! - **Sync, thread-safe, cheap.** Both are `Send + Sync` when the value is, cheap to clone (the
//!   clones share one registry), usable from any thread without an async runtime, and look up by
//!   `&str` without allocating. `Debug` shows only counts, never ids.
//!
//! [`Weak`]: std::sync::Weak

mod lru;
mod server;
mod session;

pub use server::{DEFAULT_SERVER_CAPACITY, ServerRegistry};
pub use session::{SessionGuard, SessionRegistry};
