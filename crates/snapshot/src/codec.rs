//! Choosing a stored form, and reading any stored form back with the right typed error.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::fernet::{FernetError, FernetKey, FernetKeys};
use crate::json::{self, JsonError};
use crate::native::{self, NativeError, SealError};
use crate::sealed::KeyRing;
use crate::snapshot::TaskContextSnapshot;

/// The leading bytes of a Fernet token (version 0x80 and the top of the timestamp).
pub const FERNET_PREFIX: &[u8] = b"gAAAAA";

/// How a snapshot is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoredForm {
    /// The reference's JSON, readable by the reference.
    Json,
    /// The reference's JSON in a Fernet token, readable by the reference with the same key
    /// material.
    JsonFernet,
    /// taskctx's native envelope with a postcard body (taskctx readers only).
    Native,
    /// The native envelope sealed with XChaCha20-Poly1305, bound to its key id and Redis key
    /// (taskctx readers only).
    NativeSealed,
}

impl StoredForm {
    /// Recognises a stored value's form from its leading bytes: Fernet (`gAAAAA`), native
    /// (`\0tcx`, sealed or not by its codec byte); anything else is read as JSON.
    #[must_use]
    pub fn detect(stored: &[u8]) -> Self {
        if stored.starts_with(FERNET_PREFIX) {
            Self::JsonFernet
        } else if stored.starts_with(&native::MAGIC) {
            if stored.get(5) == Some(&native::CODEC_POSTCARD) {
                Self::Native
            } else {
                Self::NativeSealed
            }
        } else {
            Self::Json
        }
    }

    /// Whether values of this form are encrypted.
    #[must_use]
    pub fn is_encrypted(self) -> bool {
        matches!(self, Self::JsonFernet | Self::NativeSealed)
    }
}

impl fmt::Display for StoredForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "JSON",
            Self::JsonFernet => "Fernet-encrypted JSON",
            Self::Native => "native",
            Self::NativeSealed => "sealed native",
        })
    }
}

/// Why a snapshot could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The operating system's random source failed while making an IV or nonce.
    #[error("the operating system's random source failed while encrypting the snapshot")]
    Randomness,
    /// The snapshot is too large to seal.
    #[error("the snapshot is too large to seal")]
    TooLarge,
}

impl From<SealError> for EncodeError {
    fn from(error: SealError) -> Self {
        match error {
            SealError::Randomness => Self::Randomness,
            SealError::TooLarge => Self::TooLarge,
        }
    }
}

/// Why a stored value could not be decoded. Each failure the restore contract tells apart has
/// its own variant; none repeats the stored value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value is encrypted, but this reader has no key for its form (a keyless reader given
    /// ciphertext).
    #[error("the stored task snapshot is encrypted ({form}), but this reader has no key for it")]
    MissingKey {
        /// The stored form found.
        form: StoredForm,
    },
    /// The value is plaintext, but this reader requires encryption (a keyed reader given
    /// plaintext).
    #[error(
        "the stored task snapshot is plaintext ({form}), but this reader requires it encrypted"
    )]
    Plaintext {
        /// The stored form found.
        form: StoredForm,
    },
    /// The Fernet token could not be decrypted (malformed, or wrong key or altered).
    #[error(transparent)]
    Fernet(#[from] FernetError),
    /// The native envelope could not be read or opened (unknown version or codec, unknown key
    /// id, failed authentication, malformed body).
    #[error(transparent)]
    Native(#[from] NativeError),
    /// The JSON is not a snapshot.
    #[error(transparent)]
    Json(#[from] JsonError),
}

/// One way of storing snapshots: what it writes, and what it can read.
///
/// `redis_key` is the full Redis key the value is stored under; the sealed native form binds the
/// ciphertext to it (other forms ignore it).
pub trait SnapshotCodec: Send + Sync + fmt::Debug {
    /// Whether this codec encrypts (and so refuses plaintext when reading), like the reference's
    /// `protected` flag.
    fn protected(&self) -> bool;

    /// The form [`encode`](Self::encode) writes.
    fn form(&self) -> StoredForm;

    /// Encodes a snapshot for storage under `redis_key`.
    fn encode(
        &self,
        snapshot: &TaskContextSnapshot,
        redis_key: &str,
    ) -> Result<Vec<u8>, EncodeError>;

    /// Decodes a value stored under `redis_key`, recognising its form by its leading bytes.
    fn decode(&self, stored: &[u8], redis_key: &str) -> Result<TaskContextSnapshot, DecodeError>;
}

/// The standard [`SnapshotCodec`]: writes one form, reads every form it has keys for.
///
/// Cheap to clone and share across threads. A codec without keys reads JSON and native values
/// and refuses encrypted ones ([`DecodeError::MissingKey`]); a codec with a key refuses
/// plaintext ([`DecodeError::Plaintext`]) and reads the encrypted forms it holds keys for.
#[derive(Clone)]
pub struct Codec {
    config: Arc<Config>,
}

struct Config {
    writer: Writer,
    fernet: Option<FernetKeys>,
    ring: Option<KeyRing>,
}

/// What a codec writes, with the key it writes with.
enum Writer {
    Json,
    JsonFernet(FernetKey),
    Native,
    NativeSealed(KeyRing),
}

impl Codec {
    fn with(writer: Writer, fernet: Option<FernetKeys>, ring: Option<KeyRing>) -> Self {
        Self {
            config: Arc::new(Config {
                writer,
                fernet,
                ring,
            }),
        }
    }

    fn rewrap(&self) -> Writer {
        match &self.config.writer {
            Writer::Json => Writer::Json,
            Writer::JsonFernet(key) => Writer::JsonFernet(key.clone()),
            Writer::Native => Writer::Native,
            Writer::NativeSealed(ring) => Writer::NativeSealed(ring.clone()),
        }
    }

    /// Writes the reference's JSON, as the reference does without an encryption key.
    #[must_use]
    pub fn json() -> Self {
        Self::with(Writer::Json, None, None)
    }

    /// Writes Fernet-encrypted JSON, as the reference does with an encryption key.
    #[must_use]
    pub fn json_fernet(key: FernetKey) -> Self {
        Self::json_fernet_keys(FernetKeys::new(key))
    }

    /// Writes Fernet-encrypted JSON with the primary key, and reads tokens made with any of the
    /// keys, as the reference does with a `MultiFernet`: the codec for rotating key material.
    #[must_use]
    pub fn json_fernet_keys(keys: FernetKeys) -> Self {
        Self::with(Writer::JsonFernet(keys.primary().clone()), Some(keys), None)
    }

    /// Writes the native envelope, unencrypted.
    #[must_use]
    pub fn native() -> Self {
        Self::with(Writer::Native, None, None)
    }

    /// Writes the sealed native envelope with the ring's active key.
    #[must_use]
    pub fn native_sealed(ring: KeyRing) -> Self {
        Self::with(Writer::NativeSealed(ring.clone()), None, Some(ring))
    }

    /// Also reads Fernet tokens with this key (for example while moving from Fernet to the
    /// sealed native form). Makes the codec protected.
    #[must_use]
    pub fn reading_fernet(self, key: FernetKey) -> Self {
        self.reading_fernet_keys(FernetKeys::new(key))
    }

    /// Also reads Fernet tokens made with any of these keys (replacing the Fernet keys it read
    /// with). Makes the codec protected.
    #[must_use]
    pub fn reading_fernet_keys(self, keys: FernetKeys) -> Self {
        Self::with(self.rewrap(), Some(keys), self.config.ring.clone())
    }

    /// Also reads sealed native values with this ring (for example while moving from the sealed
    /// native form back to Fernet). Makes the codec protected.
    #[must_use]
    pub fn reading_sealed(self, ring: KeyRing) -> Self {
        Self::with(self.rewrap(), self.config.fernet.clone(), Some(ring))
    }

    /// Encodes into a caller's buffer (appending).
    pub fn encode_into(
        &self,
        snapshot: &TaskContextSnapshot,
        redis_key: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match &self.config.writer {
            Writer::Json => json::write_json(snapshot, out),
            Writer::Native => native::write_native(snapshot, out),
            Writer::JsonFernet(key) => {
                let mut plaintext = Zeroizing::new(Vec::new());
                json::write_json(snapshot, &mut plaintext);
                let token = key
                    .encrypt(&plaintext)
                    .map_err(|_| EncodeError::Randomness)?;
                out.extend_from_slice(token.as_bytes());
            }
            Writer::NativeSealed(ring) => {
                native::write_sealed(snapshot, ring, redis_key, out)?;
            }
        }
        Ok(())
    }
}

impl SnapshotCodec for Codec {
    fn protected(&self) -> bool {
        self.config.fernet.is_some() || self.config.ring.is_some()
    }

    fn form(&self) -> StoredForm {
        match self.config.writer {
            Writer::Json => StoredForm::Json,
            Writer::JsonFernet(_) => StoredForm::JsonFernet,
            Writer::Native => StoredForm::Native,
            Writer::NativeSealed(_) => StoredForm::NativeSealed,
        }
    }

    fn encode(
        &self,
        snapshot: &TaskContextSnapshot,
        redis_key: &str,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(snapshot, redis_key, &mut out)?;
        Ok(out)
    }

    fn decode(&self, stored: &[u8], redis_key: &str) -> Result<TaskContextSnapshot, DecodeError> {
        let protected = self.protected();
        if stored.starts_with(&native::MAGIC) {
            let envelope = native::envelope(stored)?;
            return if envelope.codec == native::CODEC_POSTCARD {
                if protected {
                    Err(DecodeError::Plaintext {
                        form: StoredForm::Native,
                    })
                } else {
                    Ok(native::read_plain(&envelope)?)
                }
            } else {
                match &self.config.ring {
                    Some(ring) => Ok(native::read_sealed(&envelope, ring, redis_key)?),
                    None => Err(DecodeError::MissingKey {
                        form: StoredForm::NativeSealed,
                    }),
                }
            };
        }
        if !protected {
            if stored.starts_with(FERNET_PREFIX) {
                return Err(DecodeError::MissingKey {
                    form: StoredForm::JsonFernet,
                });
            }
            return Ok(json::from_json(stored)?);
        }
        if looks_like_json(stored) {
            return Err(DecodeError::Plaintext {
                form: StoredForm::Json,
            });
        }
        match &self.config.fernet {
            Some(keys) => {
                let plaintext = keys.decrypt(stored)?;
                Ok(json::from_json(&plaintext)?)
            }
            None => Err(DecodeError::MissingKey {
                form: StoredForm::JsonFernet,
            }),
        }
    }
}

/// Whether a value is JSON text: its first byte after JSON whitespace is `{`.
fn looks_like_json(stored: &[u8]) -> bool {
    stored
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(&b'{')
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("form", &self.form())
            .field("fernet", &self.config.fernet.as_ref().map(|_| "[key]"))
            .field("ring", &self.config.ring)
            .finish()
    }
}
