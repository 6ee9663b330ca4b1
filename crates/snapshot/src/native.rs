//! The native stored form: taskctx's versioned envelope around a postcard body, optionally
//! sealed with XChaCha20-Poly1305 bound to its key id and its Redis key.
//!
//! Layout (format version 2; version 1 is still read):
//!
//! ```text
//! 0x00 't' 'c' 'x' | version (1) | codec id (1) | key id length (1) | key id | body
//! ```
//!
//! Codec 1 (`postcard`): the body is the postcard encoding of the snapshot; the key id is empty.
//! Version 2 stores each header with its secret mark (see [`HeaderPolicy::secret`](crate::HeaderPolicy::secret)),
//! so a header captured as secret stays redacted after restore; version 1 had no marks.
//! Codec 2 (`postcard + XChaCha20-Poly1305`): the body is a 24-byte nonce, then the sealed
//! postcard bytes and the 16-byte tag; the associated data is every envelope byte before the
//! body followed by the full Redis key, so a value copied to another key (another scope or task)
//! does not open.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Tag, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::headers::Headers;
use crate::sealed::{KeyId, KeyRing};
use crate::snapshot::TaskContextSnapshot;
use crate::token::{AccessToken, TokenError};

/// The first four bytes of every native value.
pub const MAGIC: [u8; 4] = *b"\0tcx";
/// The envelope format version this crate writes.
pub const FORMAT_VERSION: u8 = 2;
/// The oldest envelope format version this crate reads (no secret header marks).
pub const OLDEST_READABLE_VERSION: u8 = 1;
/// Codec id: postcard body, not encrypted.
pub const CODEC_POSTCARD: u8 = 1;
/// Codec id: postcard body sealed with XChaCha20-Poly1305.
pub const CODEC_POSTCARD_XCHACHA20POLY1305: u8 = 2;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why a native value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// Shorter than its envelope says.
    #[error("the native snapshot envelope is truncated")]
    Truncated,
    /// A format version this build does not know.
    #[error(
        "the native snapshot format version {0} is not supported (this build reads versions 1 and 2)"
    )]
    UnsupportedVersion(u8),
    /// A codec id this build does not know.
    #[error("the native snapshot codec id {0} is unknown")]
    UnknownCodec(u8),
    /// The key id is not a valid key id, or is present on an unsealed value.
    #[error("the native snapshot envelope has an invalid key id")]
    InvalidKeyId,
    /// The value was sealed with a key this reader's ring does not hold.
    #[error("the sealed snapshot names key id {0}, which is not in this reader's key ring")]
    UnknownKeyId(KeyId),
    /// The seal does not open: the value was altered, copied from another Redis key, or sealed
    /// with a different key of the same id.
    #[error(
        "the sealed snapshot failed authentication: it was altered, copied from another Redis key, \
         or sealed with a different key under the same id"
    )]
    Unauthenticated,
    /// The value is sealed, and this reader has no key ring.
    #[error("the native snapshot is sealed; reading it needs a key ring")]
    Sealed,
    /// The body is not a valid postcard snapshot.
    #[error("the native snapshot body is malformed")]
    Body,
    /// The access token inside is not valid.
    #[error("the native snapshot's access token is not valid")]
    AccessToken(#[from] TokenError),
}

/// Why a snapshot could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The operating system's random source failed while making a nonce.
    #[error("the operating system's random source failed while making a nonce")]
    Randomness,
    /// The snapshot is too large to seal.
    #[error("the snapshot is too large to seal")]
    TooLarge,
}

/// The postcard body: eight optional fields; the headers' form `H` is what the versions differ in.
#[derive(Serialize, Deserialize)]
struct Body<'a, H> {
    #[serde(borrow)]
    access_token_json: Option<&'a str>,
    http_headers: Option<Vec<H>>,
    #[serde(borrow)]
    origin_request_id: Option<&'a str>,
    #[serde(borrow)]
    session_id: Option<&'a str>,
    #[serde(borrow)]
    owning_tool_name: Option<&'a str>,
    #[serde(borrow)]
    owning_tool_version: Option<&'a str>,
    #[serde(borrow)]
    traceparent: Option<&'a str>,
    #[serde(borrow)]
    tracestate: Option<&'a str>,
}

/// Format version 1: each header as `(name, value)`, without secret marks.
type BodyV1<'a> = Body<'a, (&'a str, &'a str)>;
/// Format version 2: each header as `(name, value, marked secret)`.
type BodyV2<'a> = Body<'a, (&'a str, &'a str, bool)>;

impl<'a> BodyV1<'a> {
    fn into_v2(self) -> BodyV2<'a> {
        Body {
            access_token_json: self.access_token_json,
            http_headers: self.http_headers.map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(name, value)| (name, value, false))
                    .collect()
            }),
            origin_request_id: self.origin_request_id,
            session_id: self.session_id,
            owning_tool_name: self.owning_tool_name,
            owning_tool_version: self.owning_tool_version,
            traceparent: self.traceparent,
            tracestate: self.tracestate,
        }
    }
}

impl<'a> BodyV2<'a> {
    fn of(snapshot: &'a TaskContextSnapshot) -> Self {
        Self {
            access_token_json: snapshot.access_token.as_ref().map(AccessToken::json),
            http_headers: snapshot
                .http_headers
                .as_ref()
                .map(|headers| headers.iter_marked().collect()),
            origin_request_id: snapshot.origin_request_id(),
            session_id: snapshot.session_id(),
            owning_tool_name: snapshot.owning_tool_name(),
            owning_tool_version: snapshot.owning_tool_version(),
            traceparent: snapshot.traceparent.as_deref(),
            tracestate: snapshot.tracestate.as_deref(),
        }
    }

    fn into_snapshot(self) -> Result<TaskContextSnapshot, NativeError> {
        Ok(TaskContextSnapshot {
            access_token: self
                .access_token_json
                .map(AccessToken::from_json)
                .transpose()?,
            http_headers: self
                .http_headers
                .map(|pairs| Headers::from_marked_pairs(&pairs)),
            origin_request_id: self.origin_request_id.map(str::to_owned),
            session_id: self.session_id.map(str::to_owned),
            owning_tool_name: self.owning_tool_name.map(str::to_owned),
            owning_tool_version: self.owning_tool_version.map(str::to_owned),
            traceparent: self.traceparent.map(str::to_owned),
            tracestate: self.tracestate.map(str::to_owned),
        })
    }
}

fn push_header(out: &mut Vec<u8>, codec: u8, key_id: &[u8]) {
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(codec);
    // Key ids are at most 64 bytes.
    out.push(u8::try_from(key_id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(key_id);
}

fn body_from_bytes(version: u8, bytes: &[u8]) -> Result<TaskContextSnapshot, NativeError> {
    let (body, rest) = if version == OLDEST_READABLE_VERSION {
        postcard::take_from_bytes::<BodyV1<'_>>(bytes)
            .map(|(body, rest)| (body.into_v2(), rest))
            .map_err(|_| NativeError::Body)?
    } else {
        postcard::take_from_bytes::<BodyV2<'_>>(bytes).map_err(|_| NativeError::Body)?
    };
    if !rest.is_empty() {
        return Err(NativeError::Body);
    }
    body.into_snapshot()
}

/// Lets postcard append to a borrowed buffer.
struct Append<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Append<'_> {
    fn extend<T: IntoIterator<Item = u8>>(&mut self, bytes: T) {
        self.0.extend(bytes);
    }
}

fn push_body(out: &mut Vec<u8>, snapshot: &TaskContextSnapshot) -> Result<(), postcard::Error> {
    postcard::to_extend(&BodyV2::of(snapshot), Append(out)).map(|_| ())
}

/// Appends the unsealed native form of a snapshot to `out`.
pub fn write_native(snapshot: &TaskContextSnapshot, out: &mut Vec<u8>) {
    push_header(out, CODEC_POSTCARD, &[]);
    // Serialising strings and options into memory cannot fail.
    let _ = push_body(out, snapshot);
}

/// Appends the sealed native form of a snapshot to `out`, bound to `redis_key`.
pub fn write_sealed(
    snapshot: &TaskContextSnapshot,
    ring: &KeyRing,
    redis_key: &str,
    out: &mut Vec<u8>,
) -> Result<(), SealError> {
    let key = ring.active();
    let start = out.len();
    push_header(
        out,
        CODEC_POSTCARD_XCHACHA20POLY1305,
        key.id().as_str().as_bytes(),
    );
    let header_end = out.len();
    let mut nonce = [0_u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| SealError::Randomness)?;
    out.extend_from_slice(&nonce);
    let body_start = out.len();
    let sealed = push_body(out, snapshot)
        .map_err(|_| SealError::TooLarge)
        .and_then(|()| {
            let (envelope, body) = out.split_at_mut(body_start);
            let aad = associated_data(
                envelope.get(start..header_end).unwrap_or_default(),
                redis_key,
            );
            key.cipher()
                .encrypt_inout_detached(&XNonce::from(nonce), &aad, body.into())
                .map_err(|_| SealError::TooLarge)
        });
    match sealed {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(())
        }
        Err(error) => {
            // Never leave plaintext behind.
            if let Some(tail) = out.get_mut(start..) {
                zeroize::Zeroize::zeroize(tail);
            }
            out.truncate(start);
            Err(error)
        }
    }
}

fn associated_data(envelope_header: &[u8], redis_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(envelope_header.len() + redis_key.len());
    aad.extend_from_slice(envelope_header);
    aad.extend_from_slice(redis_key.as_bytes());
    aad
}

/// A native value's envelope, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub(crate) version: u8,
    pub(crate) codec: u8,
    pub(crate) key_id: &'a [u8],
    pub(crate) header: &'a [u8],
    pub(crate) body: &'a [u8],
}

/// Parses the envelope of a value that starts with [`MAGIC`].
pub(crate) fn envelope(bytes: &[u8]) -> Result<Envelope<'_>, NativeError> {
    let Some((&[_, _, _, _, version, codec, key_id_len], rest)) = bytes.split_first_chunk::<7>()
    else {
        return Err(NativeError::Truncated);
    };
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(NativeError::UnsupportedVersion(version));
    }
    if codec != CODEC_POSTCARD && codec != CODEC_POSTCARD_XCHACHA20POLY1305 {
        return Err(NativeError::UnknownCodec(codec));
    }
    let key_id_len = usize::from(key_id_len);
    let key_id = rest.get(..key_id_len).ok_or(NativeError::Truncated)?;
    let body = rest.get(key_id_len..).ok_or(NativeError::Truncated)?;
    let header = bytes.get(..7 + key_id_len).ok_or(NativeError::Truncated)?;
    let key_id_ok = if codec == CODEC_POSTCARD {
        key_id.is_empty()
    } else {
        KeyId::is_valid(key_id)
    };
    if !key_id_ok {
        return Err(NativeError::InvalidKeyId);
    }
    Ok(Envelope {
        version,
        codec,
        key_id,
        header,
        body,
    })
}

/// Reads an unsealed native value.
pub(crate) fn read_plain(envelope: &Envelope<'_>) -> Result<TaskContextSnapshot, NativeError> {
    body_from_bytes(envelope.version, envelope.body)
}

/// Opens a sealed native value with the key its envelope names.
pub(crate) fn read_sealed(
    envelope: &Envelope<'_>,
    ring: &KeyRing,
    redis_key: &str,
) -> Result<TaskContextSnapshot, NativeError> {
    let key = ring
        .get(envelope.key_id)
        .ok_or_else(|| NativeError::UnknownKeyId(KeyId::from_validated(envelope.key_id)))?;
    let (nonce, sealed) = envelope
        .body
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(NativeError::Truncated)?;
    let Some(body_len) = sealed.len().checked_sub(TAG_LEN) else {
        return Err(NativeError::Truncated);
    };
    let (ciphertext, tag) = sealed.split_at(body_len);
    let tag = Tag::try_from(tag).map_err(|_| NativeError::Truncated)?;
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    let aad = associated_data(envelope.header, redis_key);
    key.cipher()
        .decrypt_inout_detached(
            &XNonce::from(*nonce),
            &aad,
            plaintext.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| NativeError::Unauthenticated)?;
    body_from_bytes(envelope.version, &plaintext)
}

/// Decodes an unsealed native value (see also the codec, which detects every form).
pub fn from_native(bytes: &[u8]) -> Result<TaskContextSnapshot, NativeError> {
    let envelope = envelope(bytes)?;
    if envelope.codec == CODEC_POSTCARD {
        read_plain(&envelope)
    } else {
        Err(NativeError::Sealed)
    }
}
