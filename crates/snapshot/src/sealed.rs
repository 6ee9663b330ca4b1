//! Keys of the native sealed form: XChaCha20-Poly1305 keys with ids, and the key ring that
//! writes with one and reads with any (rotation without downtime).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use zeroize::Zeroizing;

/// The most bytes a key id may have.
pub const KEY_ID_MAX_BYTES: usize = 64;

/// The name of a sealing key, stored in each sealed value: 1–64 bytes of `A-Z a-z 0-9 - . _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Validates a key id.
    pub fn new(id: &str) -> Result<Self, SealingKeyError> {
        if Self::is_valid(id.as_bytes()) {
            Ok(Self(id.to_owned()))
        } else {
            Err(SealingKeyError::InvalidKeyId)
        }
    }

    /// An id already checked by [`is_valid`](Self::is_valid).
    pub(crate) fn from_validated(id: &[u8]) -> Self {
        Self(String::from_utf8_lossy(id).into_owned())
    }

    pub(crate) fn is_valid(id: &[u8]) -> bool {
        (1..=KEY_ID_MAX_BYTES).contains(&id.len())
            && id
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a sealing key or key ring could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealingKeyError {
    /// The key id is empty, too long, or has a character outside `A-Z a-z 0-9 - . _`.
    #[error("a sealing key id must be 1 to 64 characters of A-Z a-z 0-9 - . _")]
    InvalidKeyId,
    /// Base64 key text does not decode to 32 bytes.
    #[error(
        "a sealing key must be base64 (standard or url-safe, padded or not) of exactly 32 bytes"
    )]
    InvalidKey,
    /// Two keys of a ring share an id.
    #[error("the key ring already holds a key with id {0}")]
    DuplicateKeyId(KeyId),
    /// The operating system's random source failed.
    #[error("the operating system's random source failed while generating a key")]
    Randomness,
}

/// A 256-bit XChaCha20-Poly1305 key with its id. `Debug` shows only the id; the key is zeroized
/// on drop.
#[derive(Clone)]
pub struct SealingKey {
    id: KeyId,
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    /// A key from its 32 raw bytes.
    pub fn new(id: &str, key: [u8; 32]) -> Result<Self, SealingKeyError> {
        let key = Zeroizing::new(key);
        Ok(Self {
            id: KeyId::new(id)?,
            cipher: XChaCha20Poly1305::new((&*key).into()),
        })
    }

    /// A key from base64 text (standard or url-safe alphabet, padded or not).
    pub fn from_base64(id: &str, key: &str) -> Result<Self, SealingKeyError> {
        let text: Zeroizing<String> = Zeroizing::new(
            key.trim()
                .trim_end_matches('=')
                .chars()
                .map(|ch| match ch {
                    '+' => '-',
                    '/' => '_',
                    other => other,
                })
                .collect(),
        );
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.as_bytes())
                .map_err(|_| SealingKeyError::InvalidKey)?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealingKeyError::InvalidKey)?;
        Self::new(id, key)
    }

    /// A fresh random key.
    pub fn generate(id: &str) -> Result<Self, SealingKeyError> {
        let mut key = Zeroizing::new([0_u8; 32]);
        getrandom::fill(key.as_mut_slice()).map_err(|_| SealingKeyError::Randomness)?;
        Self::new(id, *key)
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn cipher(&self) -> &XChaCha20Poly1305 {
        &self.cipher
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The keys of the native sealed form: one active key seals, every listed key opens.
///
/// Rotation: add the new key to every reader's ring first, then make it active on the writers;
/// drop the old key once every value sealed with it has expired. Cheap to clone (shared).
#[derive(Clone)]
pub struct KeyRing {
    ring: Arc<Ring>,
}

struct Ring {
    active: SealingKey,
    others: Vec<SealingKey>,
}

impl KeyRing {
    /// A ring that seals with `active` and opens values sealed with it.
    #[must_use]
    pub fn new(active: SealingKey) -> Self {
        Self {
            ring: Arc::new(Ring {
                active,
                others: Vec::new(),
            }),
        }
    }

    /// A ring that seals with `active` and also opens values sealed with any of `readable`.
    pub fn with_reading_keys<I>(active: SealingKey, readable: I) -> Result<Self, SealingKeyError>
    where
        I: IntoIterator<Item = SealingKey>,
    {
        let mut others: Vec<SealingKey> = Vec::new();
        for key in readable {
            if key.id == active.id || others.iter().any(|existing| existing.id == key.id) {
                return Err(SealingKeyError::DuplicateKeyId(key.id));
            }
            others.push(key);
        }
        Ok(Self {
            ring: Arc::new(Ring { active, others }),
        })
    }

    /// The key that seals.
    #[must_use]
    pub fn active(&self) -> &SealingKey {
        &self.ring.active
    }

    /// The key with this id, if the ring holds it.
    #[must_use]
    pub fn get(&self, id: &[u8]) -> Option<&SealingKey> {
        self.keys().find(|key| key.id.0.as_bytes() == id)
    }

    fn keys(&self) -> impl Iterator<Item = &SealingKey> + '_ {
        std::iter::once(&self.ring.active).chain(self.ring.others.iter())
    }

    /// The ids of every key the ring opens with, active first.
    pub fn ids(&self) -> impl Iterator<Item = &KeyId> + '_ {
        self.keys().map(|key| &key.id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active().id)
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}
