//! The context a background task runs as: everything a worker needs to act as the caller who
//! submitted the task, captured once at submission and restored once in the worker, and the
//! stored forms it travels in, wire-compatible with the Python reference fastmcp-tasks 4.1.4.
//!
//! # Overview
//!
//! - [`TaskContextSnapshot`] (built with [`SnapshotBuilder`]): access token, request headers,
//!   origin request id, session id, owning tool name and version, W3C trace context.
//! - [`AccessToken`]: the caller's token, kept as the reference's exact JSON text;
//!   [`TaskContextSnapshot::scope_inputs`] gives the key layer its `client_id` and `sub`.
//! - [`Headers`] and [`HeaderPolicy`]: ordered, lowercase headers captured from raw pairs or an
//!   `http::HeaderMap` (feature `http`, on by default), with credentials left out by default,
//!   secret headers redacted, and a byte cap.
//! - [`SnapshotCodec`] and its standard implementation [`Codec`]: one of four [`StoredForm`]s
//!   written, every form with a key read back, told apart by their leading bytes:
//!   - [`StoredForm::Json`]: the reference's `to_json` ([`json`]);
//!   - [`StoredForm::JsonFernet`]: that JSON as a Fernet token, key derived exactly as the
//!     reference does ([`fernet`], [`FernetKey`]);
//!   - [`StoredForm::Native`]: a versioned envelope around postcard ([`native`]);
//!   - [`StoredForm::NativeSealed`]: that envelope sealed with XChaCha20-Poly1305, bound to its key
//!     id and its full Redis key, with a [`KeyRing`] for rotation.
//!
//! # Example
//!
//! ```
//! use taskctx_snapshot::{
//!     AccessToken, Codec, DecodeError, HeaderPolicy, KeyRing, SealingKey, SnapshotCodec,
//!     StoredForm, TaskContextSnapshot, json,
//! };
//!
//! // At submission: capture the caller (credentials headers are left out by default).
//! let token = AccessToken::builder("eyJhbGciOiJSUzI1NiJ9.payload.sig", "client-a")
//!     .scopes(["read"])
//!     .claim("sub", "user-1")
//!     .build();
//! let request: [(&str, &[u8]); 2] = [("X-Request-Id", b"req-42"), ("Authorization", b"Bearer x")];
//! let snapshot = TaskContextSnapshot::builder()
//!     .access_token(token)
//!     .capture_headers(request, &HeaderPolicy::default())?
//!     .session_id("3f2a9c0d")
//!     .build();
//! assert_eq!(snapshot.http_headers().map(|headers| headers.len()), Some(1));
//!
//! // The reference's exact `to_json`, and back.
//! let stored = json::to_json(&snapshot);
//! assert!(stored.starts_with(r#"{"access_token_json": "{\"token\":"#));
//! assert_eq!(json::from_json(stored.as_bytes())?, snapshot);
//!
//! // Sealed for one Redis key: it opens there, and nowhere else.
//! let key = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";
//! let codec = Codec::native_sealed(KeyRing::new(SealingKey::new("k1", [7; 32])?));
//! let sealed = codec.encode(&snapshot, key)?;
//! assert_eq!(StoredForm::detect(&sealed), StoredForm::NativeSealed);
//! assert_eq!(codec.decode(&sealed, key)?, snapshot);
//! assert!(codec.decode(&sealed, "fastmcp:fastmcp:task:anon:T1:snapshot").is_err());
//! // A reader without keys refuses ciphertext with its own error.
//! assert_eq!(
//!     Codec::json().decode(&sealed, key),
//!     Err(DecodeError::MissingKey { form: StoredForm::NativeSealed })
//! );
//!
//! // What the key layer needs for the task's scope; secrets never show in Debug.
//! let inputs = snapshot.scope_inputs().expect("authenticated");
//! assert_eq!(inputs.client_id, "client-a");
//! assert_eq!(inputs.sub.and_then(|sub| sub.as_str()), Some("user-1"));
//! assert!(!format!("{snapshot:?}").contains("payload.sig"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! - **Reference-exact JSON.** [`json::to_json`] is byte-identical to the reference's `to_json`
//!   for the same values, and an access token read from JSON re-encodes byte for byte.
//!   [`json::from_json`] accepts everything the reference writes; where the reference would
//!   silently `str()` a non-string header value or keep a field of the wrong type, reading is a
//!   typed error instead (SPEC Deviation). Both are serde_json: one writer (a `Formatter` for
//!   the reference's separators and `ensure_ascii` escaping) and one reader.
//! - **Fernet interoperability.** [`FernetKey::derive`] gives the reference's key for the same
//!   material (PBKDF2-HMAC-SHA256, 1,000,000 iterations, derived once per process and cached);
//!   tokens written by either side decrypt on the other. Each token is AES-128-CBC with a fresh
//!   IV from the operating system's random source, then HMAC-SHA256 over it; reading verifies
//!   the HMAC in constant time before it decrypts. No timestamp check on decrypt.
//! - **Distinct read errors.** A keyless reader given ciphertext ([`DecodeError::MissingKey`]), a
//!   keyed reader given plaintext ([`DecodeError::Plaintext`]), a wrong Fernet key or altered
//!   token, an unknown sealing key id, a seal that does not open (altered, or copied onto another
//!   Redis key), an unknown native version or codec: each is its own variant, never a misparse.
//! - **No secrets in output.** `Debug` and `Display` of snapshots, tokens, headers, keys, codecs
//!   and errors never show the access token, key material or a secret header value
//!   (`authorization`, `cookie`, `set-cookie`, `proxy-authorization`, and any header the capture
//!   policy marks secret). Token text, header values, decrypted plaintext and key bytes are
//!   zeroized on drop (`zeroize`), spare capacity included, and so are the cipher states made
//!   from keys.
//! - **No panics.** Decoding any bytes either succeeds or returns a typed error whose message
//!   never repeats more than a short, non-secret excerpt of the input.
//! - **Cheap to share.** [`Codec`], [`FernetKey`] and [`KeyRing`] are `Send + Sync` and clone by
//!   reference count.

pub mod fernet;
pub mod json;
pub mod native;

mod codec;
mod headers;
mod nesting;
mod sealed;
mod snapshot;
mod token;

pub use codec::{Codec, DecodeError, EncodeError, FERNET_PREFIX, SnapshotCodec, StoredForm};
pub use fernet::{FernetKey, FernetKeys, RandomnessError};
pub use sealed::{KEY_ID_MAX_BYTES, KeyId, KeyRing, SealingKey, SealingKeyError};

pub use headers::{
    ALWAYS_SECRET_HEADERS, CREDENTIAL_HEADERS, CaptureError, DEFAULT_DROPPED_HEADERS,
    DEFAULT_MAX_HEADER_BYTES, HeaderPolicy, Headers, HeadersIter,
};
pub use snapshot::{ScopeInputs, SnapshotBuilder, TRACEPARENT, TRACESTATE, TaskContextSnapshot};
pub use token::{AccessToken, AccessTokenBuilder, TokenError};
