//! Fernet, exactly as the reference uses it: the JSON form encrypted as a standard Fernet token,
//! with the key derived from key material by PBKDF2-HMAC-SHA256.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The operating system's random source failed, so no fresh IV could be drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RandomnessError;

impl fmt::Display for RandomnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operating system's random source failed")
    }
}

impl std::error::Error for RandomnessError {}

/// The salt of the reference's key derivation.
pub const KDF_SALT: &str = "fastmcp-task-snapshot-key";
/// The reference's PBKDF2 iteration count.
pub const KDF_ITERATIONS: u32 = 1_000_000;
/// Key material shorter than this is accepted, but the reference warns about it.
pub const SHORT_MATERIAL_CHARS: usize = 12;

const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const TAG_LEN: usize = 32;
const BLOCK_LEN: usize = 16;
/// How many derived keys the process-wide cache keeps.
const CACHE_CAPACITY: usize = 8;

/// Url-safe digits without their padding, the trailing bits of the last digit ignored: what
/// [`lenient_base64`] hands on once it has read the padding as Python does.
const DECODE_DIGITS: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// A Fernet key: 16 bytes of HMAC-SHA256 signing key, then 16 bytes of AES-128 key.
///
/// Cheap to clone (shared); zeroized when the last clone drops; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct FernetKey {
    /// The signing key, then the encryption key.
    halves: Arc<Zeroizing<[[u8; 16]; 2]>>,
}

/// Why a Fernet key could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key material is empty.
    #[error(
        "the snapshot encryption key material must not be empty; leave it unset to store \
         snapshots as plaintext, or set at least 32 random characters"
    )]
    EmptyMaterial,
    /// The iteration count is zero.
    #[error("the key derivation needs at least one iteration")]
    ZeroIterations,
    /// A base64 Fernet key does not decode to 32 bytes.
    #[error("a Fernet key must be url-safe base64 of exactly 32 bytes")]
    InvalidFernetKey,
}

/// Why a Fernet token could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FernetError {
    /// Not a Fernet token at all: bad base64, too short, wrong version byte, bad length.
    #[error("the stored value is not a well-formed Fernet token ({0})")]
    Malformed(Malformation),
    /// The token's HMAC does not match: it was made with another key, or altered.
    #[error(
        "the Fernet token could not be authenticated with the configured key: it was encrypted \
         with another key, or altered"
    )]
    Unauthenticated,
}

/// What is wrong with a malformed Fernet token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformation {
    /// The text is not base64 (or lacks its padding).
    Base64,
    /// Too short to hold version, timestamp, IV, one block and the tag.
    TooShort,
    /// The first byte is not 0x80.
    Version,
    /// The ciphertext is not a whole number of AES blocks.
    BlockLength,
    /// Authentic, but the plaintext padding is wrong (made with the key by a broken writer).
    Padding,
}

impl fmt::Display for Malformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base64 => "not base64, or its padding is missing",
            Self::TooShort => "too short",
            Self::Version => "the version byte is not 0x80",
            Self::BlockLength => "the ciphertext is not a whole number of blocks",
            Self::Padding => "the plaintext padding is invalid",
        })
    }
}

/// Process-wide cache of derived keys, keyed by SHA-256 of (iterations, material).
type Cache = Mutex<Vec<([u8; 32], FernetKey)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Vec::new()))
}

fn cache_id(material: &str, iterations: u32) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"taskctx fernet key cache\0");
    hasher.update(iterations.to_be_bytes());
    hasher.update(material.as_bytes());
    hasher.finalize().into()
}

impl FernetKey {
    /// Derives the key from key material as the reference does (PBKDF2-HMAC-SHA256, salt
    /// [`KDF_SALT`], [`KDF_ITERATIONS`] iterations, 32 bytes).
    ///
    /// Derivation takes about a second by design; the result is cached for the process, so
    /// deriving the same material again is instant. Empty material is an error.
    pub fn derive(material: &str) -> Result<Self, KeyError> {
        Self::derive_with_iterations(material, KDF_ITERATIONS)
    }

    /// [`derive`](Self::derive) with another iteration count (the reference's test mode uses 10).
    pub fn derive_with_iterations(material: &str, iterations: u32) -> Result<Self, KeyError> {
        if material.is_empty() {
            return Err(KeyError::EmptyMaterial);
        }
        if iterations == 0 {
            return Err(KeyError::ZeroIterations);
        }
        let id = cache_id(material, iterations);
        let cached = cache()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(entry, _)| *entry == id)
            .map(|(_, key)| key.clone());
        if let Some(key) = cached {
            return Ok(key);
        }
        let mut bytes = Zeroizing::new([0_u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(
            material.as_bytes(),
            KDF_SALT.as_bytes(),
            iterations,
            bytes.as_mut_slice(),
        );
        let key = Self::from_key_bytes(&bytes);
        let mut entries = cache().lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.iter().any(|(entry, _)| *entry == id) {
            if entries.len() >= CACHE_CAPACITY {
                entries.remove(0);
            }
            entries.push((id, key.clone()));
        }
        Ok(key)
    }

    /// A key from its url-safe base64 form (the form `Fernet(key)` takes).
    pub fn from_base64(key: &str) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            lenient_base64(key.as_bytes()).map_err(|()| KeyError::InvalidFernetKey)?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::InvalidFernetKey)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key from its 32 raw bytes (signing key, then encryption key).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_key_bytes(&Zeroizing::new(bytes))
    }

    fn from_key_bytes(bytes: &[u8; 32]) -> Self {
        let mut halves = Zeroizing::new([[0_u8; 16]; 2]);
        for (half, chunk) in halves.iter_mut().zip(bytes.chunks_exact(16)) {
            half.copy_from_slice(chunk);
        }
        Self {
            halves: Arc::new(halves),
        }
    }

    /// The key's url-safe base64 form, as the reference's `derive_jwt_key` returns it.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE.encode(self.halves.as_flattened()))
    }

    /// HMAC-SHA256 keyed with the signing key.
    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        let [signing, _] = &**self.halves;
        <HmacSha256 as KeyInit>::new_from_slice(signing)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
    }

    /// Encrypts `plaintext` as a Fernet token stamped with the current time and a fresh IV from
    /// the operating system's random source.
    ///
    /// # Errors
    /// [`RandomnessError`] when the operating system's random source fails.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, RandomnessError> {
        let mut iv = [0_u8; 16];
        getrandom::fill(&mut iv).map_err(|_| RandomnessError)?;
        let now = u64::try_from(crate::token::unix_now()).unwrap_or(0);
        Ok(self.encrypt_with(plaintext, now, iv))
    }

    /// Encrypts with a given timestamp and IV: deterministic, for reproducing recorded tokens.
    /// Never reuse an IV with the same key in production; use [`encrypt`](Self::encrypt).
    #[must_use]
    pub fn encrypt_with(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> String {
        let mut token = Vec::with_capacity(HEADER_LEN + plaintext.len() + BLOCK_LEN + TAG_LEN);
        token.push(VERSION);
        token.extend_from_slice(&timestamp.to_be_bytes());
        token.extend_from_slice(&iv);
        let [_, encryption] = &**self.halves;
        let cipher = Aes128CbcEnc::new(encryption.into(), (&iv).into());
        token.extend_from_slice(&cipher.encrypt_padded_vec::<Pkcs7>(plaintext));
        let tag = self.mac().chain_update(&token).finalize().into_bytes();
        token.extend_from_slice(&tag);
        URL_SAFE.encode(token)
    }

    /// Decrypts a Fernet token: its HMAC is verified (in constant time), then its ciphertext
    /// decrypted. Like the reference, there is no timestamp check, and the base64 is read
    /// leniently (characters outside the alphabet are skipped, `+/` equal `-_`), but its padding
    /// is required.
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        let raw =
            lenient_base64(token).map_err(|()| FernetError::Malformed(Malformation::Base64))?;
        let body_len = raw
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&len| len >= HEADER_LEN)
            .ok_or(FernetError::Malformed(Malformation::TooShort))?;
        if raw.first() != Some(&VERSION) {
            return Err(FernetError::Malformed(Malformation::Version));
        }
        let (body, tag) = raw.split_at(body_len);
        self.mac()
            .chain_update(body)
            .verify_slice(tag)
            .map_err(|_| FernetError::Unauthenticated)?;
        let (header, ciphertext) = body.split_at(HEADER_LEN);
        if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
            return Err(FernetError::Malformed(Malformation::BlockLength));
        }
        // The header ends with the IV.
        let iv: [u8; 16] = header.last_chunk().copied().unwrap_or_default();
        let [_, encryption] = &**self.halves;
        let cipher = Aes128CbcDec::new(encryption.into(), (&iv).into());
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        let len = cipher
            .decrypt_padded::<Pkcs7>(&mut plaintext)
            .map_err(|_| FernetError::Malformed(Malformation::Padding))?
            .len();
        plaintext.truncate(len);
        Ok(plaintext)
    }

    /// The timestamp a token carries (seconds), without checking anything else.
    #[must_use]
    pub fn token_timestamp(token: &[u8]) -> Option<u64> {
        let raw = lenient_base64(token).ok()?;
        let stamp: [u8; 8] = raw.get(1..9)?.try_into().ok()?;
        Some(u64::from_be_bytes(stamp))
    }
}

impl PartialEq for FernetKey {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.halves.as_flattened(), other.halves.as_flattened())
            .into()
    }
}

impl Eq for FernetKey {}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey([redacted])")
    }
}

/// Python's `base64.urlsafe_b64decode` (non-strict `binascii.a2b_base64`): both alphabets,
/// characters outside them skipped, decoding stops at a complete padding sequence, and a final
/// partial quantum without its padding is an error.
pub(crate) fn lenient_base64(text: &[u8]) -> Result<Vec<u8>, ()> {
    let mut digits = Vec::with_capacity(text.len());
    let mut pads = 0;
    let mut padded = false;
    for &byte in text {
        let digit = match byte {
            b'=' => {
                if digits.len() % 4 >= 2 {
                    pads += 1;
                    if digits.len() % 4 + pads >= 4 {
                        padded = true;
                        break;
                    }
                }
                continue;
            }
            b'+' => b'-',
            b'/' => b'_',
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => byte,
            _ => continue,
        };
        pads = 0;
        digits.push(digit);
    }
    if !padded && digits.len() % 4 != 0 {
        return Err(());
    }
    DECODE_DIGITS.decode(&digits).map_err(|_| ())
}

/// Several Fernet keys for rotation, as Python's `MultiFernet`: the first (primary) key writes,
/// and every key reads, tried in order.
///
/// To rotate key material without downtime, readers first learn the new key as a reading key,
/// then writers make it primary, and the old key is dropped once no value written under it is
/// still stored (see `docs/operations.md`).
///
/// ```
/// use taskctx_snapshot::FernetKey;
/// use taskctx_snapshot::fernet::{FernetError, FernetKeys};
///
/// let old = FernetKey::from_bytes([1; 32]);
/// let new = FernetKey::from_bytes([2; 32]);
/// let written_before = old.encrypt(b"{}")?;
///
/// let rotated = FernetKeys::with_reading_keys(new.clone(), [old.clone()]);
/// assert_eq!(rotated.decrypt(written_before.as_bytes())?.as_slice(), b"{}");
/// let written_after = rotated.encrypt(b"{}")?;
/// assert_eq!(new.decrypt(written_after.as_bytes())?.as_slice(), b"{}");
/// assert_eq!(
///     FernetKeys::new(old).decrypt(written_after.as_bytes()),
///     Err(FernetError::Unauthenticated)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Cheap to clone (shared); `Debug` shows only how many keys there are.
#[derive(Clone, PartialEq, Eq)]
pub struct FernetKeys {
    primary: FernetKey,
    reading: Arc<[FernetKey]>,
}

impl FernetKeys {
    /// One key, writing and reading.
    #[must_use]
    pub fn new(primary: FernetKey) -> Self {
        Self::with_reading_keys(primary, [])
    }

    /// `primary` writes; `primary`, then each of `reading` in order, read.
    #[must_use]
    pub fn with_reading_keys<I>(primary: FernetKey, reading: I) -> Self
    where
        I: IntoIterator<Item = FernetKey>,
    {
        Self {
            primary,
            reading: reading.into_iter().collect(),
        }
    }

    /// The key that writes.
    #[must_use]
    pub fn primary(&self) -> &FernetKey {
        &self.primary
    }

    /// Every key in the order they are tried, the primary first.
    pub fn keys(&self) -> impl Iterator<Item = &FernetKey> + '_ {
        std::iter::once(&self.primary).chain(self.reading.iter())
    }

    /// Encrypts with the primary key (see [`FernetKey::encrypt`]).
    ///
    /// # Errors
    /// [`RandomnessError`] when the operating system's random source fails.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, RandomnessError> {
        self.primary.encrypt(plaintext)
    }

    /// Decrypts with the first key that authenticates the token. A malformed token is refused
    /// as such at once (its form does not depend on the key); a token no key authenticates is
    /// [`FernetError::Unauthenticated`].
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        for key in self.keys() {
            match key.decrypt(token) {
                Err(FernetError::Unauthenticated) => {}
                result => return result,
            }
        }
        Err(FernetError::Unauthenticated)
    }
}

impl From<FernetKey> for FernetKeys {
    fn from(primary: FernetKey) -> Self {
        Self::new(primary)
    }
}

impl fmt::Debug for FernetKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetKeys")
            .field("keys", &(1 + self.reading.len()))
            .finish_non_exhaustive()
    }
}
