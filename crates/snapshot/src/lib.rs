//! The context a background task runs as: everything a worker needs to act as the caller who
//! submitted the task, captured once at submission and restored once in the worker, and the
//! stored forms it travels in, wire-compatible with the Python reference fastmcp-tasks 4.1.4.
//!
//! # Example
//!
//! ```
//! use taskctx_snapshot::{AccessToken, TaskContextSnapshot, json};
//!
//! let token = AccessToken::builder("eyJhbGciOiJSUzI1NiJ9.payload.sig", "client-a")
//!     .scopes(["read"])
//!     .claim("sub", "user-1")
//!     .build();
//! let snapshot = TaskContextSnapshot::builder()
//!     .access_token(token)
//!     .header("X-Request-Id", "req-42")
//!     .session_id("3f2a9c0d")
//!     .build();
//!
//! // The reference's exact `to_json`, and back.
//! let stored = json::to_json(&snapshot);
//! assert!(stored.starts_with(r#"{"access_token_json": "{\"token\":"#));
//! let restored = json::from_json(stored.as_bytes())?;
//! assert_eq!(restored, snapshot);
//!
//! // What the key layer needs for the task's scope.
//! let inputs = restored.scope_inputs().expect("authenticated");
//! assert_eq!((inputs.client_id, inputs.sub.and_then(|sub| sub.as_str())), ("client-a", Some("user-1")));
//!
//! // Secrets never show in Debug.
//! assert!(!format!("{restored:?}").contains("payload.sig"));
//! # Ok::<(), taskctx_snapshot::json::JsonError>(())
//! ```
//!
//! # Guarantees
//!
//! - **Reference-exact JSON.** [`json::to_json`] is byte-identical to the reference's `to_json`
//!   for the same values; [`json::from_json`] accepts everything the reference writes. Where the
//!   reference would silently `str()` a wrong type, reading is a typed error instead.
//! - **No secrets in output.** `Debug` and `Display` of snapshots, tokens, keys and errors never
//!   show the access token, key material or a secret header value (`authorization`, `cookie`,
//!   `set-cookie`, `proxy-authorization`, and any header the capture policy marks secret). Token
//!   text and header values are zeroized on drop.
//! - **No panics.** Decoding any bytes either succeeds or returns a typed error whose message
//!   never repeats more than a short, non-secret excerpt of the input.

pub mod fernet;
pub mod json;
pub mod native;

mod codec;
mod fastjson;
mod headers;
mod sealed;
mod snapshot;
mod token;

pub use codec::{Codec, DecodeError, EncodeError, FERNET_PREFIX, SnapshotCodec, StoredForm};
pub use fernet::FernetKey;
pub use sealed::{KEY_ID_MAX_BYTES, KeyId, KeyRing, SealingKey, SealingKeyError};

pub use headers::{
    ALWAYS_SECRET_HEADERS, CaptureError, DEFAULT_DROPPED_HEADERS, DEFAULT_MAX_HEADER_BYTES,
    HeaderPolicy, Headers, HeadersIter,
};
pub use snapshot::{ScopeInputs, SnapshotBuilder, TRACEPARENT, TRACESTATE, TaskContextSnapshot};
pub use token::{AccessToken, AccessTokenBuilder, TokenError};
