//! Pure, synchronous key encoding for taskctx: authorization scopes, task keys, per-leg execution
//! keys and Redis keys, wire-compatible with the Python reference fastmcp-tasks 4.1.4.
//!
//! # Example
//!
//! ```
//! use taskctx_scope::{
//!     Component, Deployment, KeySpace, Leg, Scope, SubClaim, TaskId, TaskKey, TaskType,
//! };
//!
//! // At submission: the caller's scope, and the key the worker will receive.
//! let scope = Scope::from_token("client-a", SubClaim::String("user-1"))?;
//! let task = TaskKey::new(
//!     Some(scope),
//!     TaskId::new("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7")?,
//!     TaskType::TOOL,
//!     Component::new("my_tool"),
//! );
//! let execution_key = task.execution_key(Leg::new(2));
//! assert_eq!(
//!     execution_key,
//!     "auth:client-a%7Cuser-1:Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7:tool:my_tool#leg2"
//! );
//!
//! // In the worker: parse it back and find the stored context.
//! let (parsed, leg) = TaskKey::parse_execution(&execution_key)?;
//! assert_eq!((&parsed, leg), (&task, Leg::new(2)));
//! let keys = KeySpace::new("fastmcp", Deployment::Cluster)?;
//! assert_eq!(
//!     keys.snapshot_key(parsed.scope(), parsed.task_id()),
//!     "{fastmcp}:fastmcp:task:auth:client-a%7Cuser-1:Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7:snapshot"
//! );
//!
//! // Anonymous is not a scope: it can never meet a scope named "anon".
//! let anonymous = TaskKey::new(None, TaskId::new("T1")?, TaskType::TOOL, Component::new("x"));
//! let named_anon = TaskKey::new(Some(Scope::new("anon")), TaskId::new("T1")?, TaskType::TOOL, Component::new("x"));
//! assert_ne!(anonymous.to_key(), named_anon.to_key());
//! # Ok::<(), taskctx_scope::Error>(())
//! ```
//!
//! # Guarantees
//!
//! - **Isolated keyspaces.** A task key names its scope, and the Redis keys of a task live under
//!   its scope's prefix. Anonymous tasks (`anon:`) and authenticated ones (`auth:`) never share a
//!   key, whatever the scope's text (`"anon"`, `"_"`, `""`). Scope composition from a token is
//!   injective (a `client_id` with `|` is rejected), and the scope and component are
//!   percent-encoded, so no text can forge a separator or a Redis Cluster hash tag.
//! - **Round trip.** Every key built here parses back to the same scope, task id, task type and
//!   component, for every leg. Task ids and task types are validated types whose alphabets exclude
//!   the separators.
//! - **No panics.** Every function is total: any input either succeeds or returns a precise
//!   [`Error`] naming the wrong part, which never echoes more than [`EXCERPT_MAX_BYTES`] of input.
//! - **Cheap.** Parsing or building a typical key takes a fraction of a microsecond; parsing
//!   borrows every segment that holds no escape.
//! - **No dependencies**, no I/O, no async.
//!
//! # Overview
//!
//! - [`Scope`] (with [`Scope::from_token`], [`Scope::is_of_token`] and [`SubClaim`]): the
//!   authorization scope; anonymous is `None`.
//! - [`TaskKey`]: build ([`TaskKey::to_key`], [`TaskKey::execution_key`]) and parse
//!   ([`TaskKey::parse`], [`TaskKey::parse_execution`]) task keys, from [`TaskId`], [`TaskType`],
//!   [`Component`].
//! - [`Leg`], [`split_leg`], [`execution_key`]: per-leg execution keys `{base}#leg{n}`;
//!   [`ExecutionKey`] holds one with its [`TaskKey`].
//! - [`KeySpace`], [`KeySuffix`], [`scope_prefix`], [`hash_slot`]: Redis keys, standalone or
//!   cluster.
//! - [`quote`], [`unquote`]: the strict percent-encoding used for scopes and components.
//!
//! Where the reference is lossy, this crate rejects instead (see `docs/key-format.md`): invalid
//! escapes and raw reserved bytes, lenient leg suffixes, non-string `sub` claims other than
//! integers, client ids with `|`, task ids or types outside their alphabets, queue names with `{`
//! or `}`.

mod component;
mod error;
mod execution;
mod ids;
mod key;
mod leg;
mod percent;
mod redis;
mod scope;
mod text;

pub use component::Component;
pub use error::{EXCERPT_MAX_BYTES, Error, Excerpt, Part, SubClaimKind, Tag};
pub use execution::ExecutionKey;
pub use ids::{TASK_ID_MAX_LEN, TASK_TYPE_MAX_LEN, TaskId, TaskType};
pub use key::TaskKey;
pub use leg::{Leg, base_key, execution_key, leg_number, split_leg};
pub use percent::{encoded_len, quote, quote_into, unquote};
pub use redis::{
    DEFAULT_QUEUE_NAME, Deployment, HASH_SLOTS, KeySpace, KeySuffix, crc16, hash_slot, scope_prefix,
};
pub use scope::{Scope, SubClaim};
