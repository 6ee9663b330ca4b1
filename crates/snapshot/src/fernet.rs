//! Fernet, exactly as the reference uses it: the JSON form encrypted as a standard Fernet token,
//! with the key derived from key material by PBKDF2-HMAC-SHA256.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aes::{Aes128Dec, Aes128Enc};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{Block, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::wiped::Wiped;

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
/// The bytes the HMAC takes at a time: one SHA-256 block of the token.
const MAC_BLOCK: usize = 64;
/// How far the encryption runs ahead of the HMAC: a block of the token is MACed once the
/// ciphertext reaches this many bytes past its end.
const MAC_LAG: usize = 64;
/// How many derived keys the process-wide cache keeps.
const CACHE_CAPACITY: usize = 8;

const ENCODE: GeneralPurpose = base64::engine::general_purpose::URL_SAFE;
/// Canonical padded url-safe tokens: the fast path of decoding.
const DECODE_CANONICAL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

type Aes128CbcEnc = cbc::Encryptor<Aes128Enc>;
type Aes128CbcDec = cbc::Decryptor<Aes128Dec>;
type HmacSha256 = Hmac<Sha256>;

/// A Fernet key: 16 bytes of HMAC-SHA256 signing key, then 16 bytes of AES-128 key.
///
/// Cheap to clone (shared); zeroized when the last clone drops; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct FernetKey {
    keys: Arc<Keys>,
}

/// A key's bytes and the states made from them once, which each token starts from (all of them
/// zeroized on drop, through the crates' `zeroize` features).
struct Keys {
    bytes: Zeroizing<[u8; 32]>,
    /// HMAC-SHA256 keyed with the signing key: its inner and outer hashes have taken in the
    /// padded key, so a token's MAC is a clone of it and the token's bytes.
    mac: HmacSha256,
    /// The AES-128 round keys of the encryption key, for encrypting and for decrypting.
    encrypt: Aes128Enc,
    decrypt: Aes128Dec,
}

impl Keys {
    fn new(bytes: Zeroizing<[u8; 32]>) -> Self {
        let (signing, encryption) = bytes.split_at(16);
        // HMAC takes keys of any length.
        let mac = <HmacSha256 as KeyInit>::new_from_slice(signing)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        let mut key = Zeroizing::new(aes::cipher::Key::<Aes128Enc>::default());
        key.copy_from_slice(encryption);
        let encrypt = <Aes128Enc as KeyInit>::new(&key);
        let decrypt = <Aes128Dec as KeyInit>::new(&key);
        Self {
            bytes,
            mac,
            encrypt,
            decrypt,
        }
    }
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

impl FernetError {
    fn malformed(what: Malformation) -> Self {
        Self::Malformed(what)
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
        let key = Self {
            keys: Arc::new(Keys::new(bytes)),
        };
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
        Self {
            keys: Arc::new(Keys::new(Zeroizing::new(bytes))),
        }
    }

    /// The key's url-safe base64 form, as the reference's `derive_jwt_key` returns it.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(ENCODE.encode(self.keys.bytes.as_slice()))
    }

    /// Encrypts `plaintext` as a Fernet token stamped with the current time and a random IV.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, getrandom::Error> {
        Ok(encode_base64(&self.seal_now(plaintext)?))
    }

    /// [`encrypt`](Self::encrypt), the token's text appended to `out`.
    pub(crate) fn encrypt_into(
        &self,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), getrandom::Error> {
        let raw = self.seal_now(plaintext)?;
        let start = out.len();
        out.resize(start + raw.len().div_ceil(3) * 4, 0);
        encode_base64_into(&raw, out.get_mut(start..).unwrap_or_default());
        Ok(())
    }

    /// Encrypts with a given timestamp and IV: deterministic, for reproducing recorded tokens.
    /// Never reuse an IV with the same key in production; use [`encrypt`](Self::encrypt).
    #[must_use]
    pub fn encrypt_with(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> String {
        encode_base64(&self.seal(plaintext, timestamp, iv))
    }

    /// [`seal`](Self::seal) at the current time with a fresh random IV.
    fn seal_now(&self, plaintext: &[u8]) -> Result<Vec<u8>, getrandom::Error> {
        let iv = random_iv()?;
        let now = u64::try_from(crate::token::unix_now()).unwrap_or(0);
        Ok(self.seal(plaintext, now, iv))
    }

    /// The token's bytes (version, time, IV, ciphertext, tag), before base64.
    fn seal(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> Vec<u8> {
        let padded_len = (plaintext.len() / BLOCK_LEN + 1) * BLOCK_LEN;
        let mut raw = Vec::with_capacity(HEADER_LEN + padded_len + TAG_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&iv);
        raw.extend_from_slice(plaintext);
        // PKCS#7: every padding byte holds the padding's length (1 to 16).
        let pad = u8::try_from(padded_len - plaintext.len()).unwrap_or(16);
        raw.resize(HEADER_LEN + padded_len, pad);
        let mut cipher = Aes128CbcEnc::inner_iv_init(self.keys.encrypt.clone(), (&iv).into());
        let mut mac = self.keys.mac.clone();
        // CBC and HMAC are each one long chain of dependent steps. The core runs both at once
        // when the HMAC's blocks are ready well before it reaches them: one AES block at a time,
        // each 64-byte block of the token (header first) MACed once the ciphertext is 64 bytes
        // past it, and whole, so that the hash reads it in place.
        let mut sealed = HEADER_LEN;
        let mut maced = 0;
        while let Some(block) = raw.get_mut(sealed..sealed + BLOCK_LEN) {
            let (blocks, _) = Block::<Aes128CbcEnc>::slice_as_chunks_mut(block);
            cipher.encrypt_blocks(blocks);
            sealed += BLOCK_LEN;
            if maced + MAC_BLOCK + MAC_LAG <= sealed
                && let Some(ready) = raw.get(maced..maced + MAC_BLOCK)
            {
                mac.update(ready);
                maced += MAC_BLOCK;
            }
        }
        mac.update(raw.get(maced..).unwrap_or_default());
        let tag = mac.finalize().into_bytes();
        raw.extend_from_slice(&tag);
        raw
    }

    /// Decrypts a Fernet token. Like the reference, there is no timestamp check, and the base64
    /// is read leniently (characters outside the alphabet are skipped, `+/` equal `-_`), but its
    /// padding is required.
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        self.decrypt_wiped(token).map(into_zeroizing)
    }

    /// [`decrypt`](Self::decrypt), the plaintext in a buffer wiped in one write when dropped.
    pub(crate) fn decrypt_wiped(&self, token: &[u8]) -> Result<Wiped<Vec<u8>>, FernetError> {
        let raw =
            lenient_base64(token).map_err(|()| FernetError::malformed(Malformation::Base64))?;
        let Some(body_len) = raw.len().checked_sub(TAG_LEN) else {
            return Err(FernetError::malformed(Malformation::TooShort));
        };
        if body_len < HEADER_LEN {
            return Err(FernetError::malformed(Malformation::TooShort));
        }
        if raw.first() != Some(&VERSION) {
            return Err(FernetError::malformed(Malformation::Version));
        }
        let (body, tag) = raw.split_at(body_len);
        self.keys
            .mac
            .clone()
            .chain_update(body)
            .verify_slice(tag)
            .map_err(|_| FernetError::Unauthenticated)?;
        let (header, ciphertext) = body.split_at(HEADER_LEN);
        if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
            return Err(FernetError::malformed(Malformation::BlockLength));
        }
        let mut iv = [0_u8; 16];
        iv.copy_from_slice(header.get(9..).unwrap_or(&[0_u8; 16]));
        let mut plaintext = Wiped::new(ciphertext.to_vec());
        let len = Aes128CbcDec::inner_iv_init(self.keys.decrypt.clone(), (&iv).into())
            .decrypt_padded::<Pkcs7>(&mut plaintext)
            .map_err(|_| FernetError::malformed(Malformation::Padding))?
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
        subtle::ConstantTimeEq::ct_eq(self.keys.bytes.as_slice(), other.keys.bytes.as_slice())
            .into()
    }
}

impl Eq for FernetKey {}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey([redacted])")
    }
}

/// How many IVs one read of operating-system randomness provides.
const IVS_PER_FILL: usize = 32;

/// A thread's store of operating-system randomness, cut into IVs. Each IV is used once and wiped;
/// the store belongs to one process (a forked child, with another process id, refills its own).
struct IvPool {
    bytes: Zeroizing<[u8; 16 * IVS_PER_FILL]>,
    next: usize,
    pid: u32,
}

/// A fresh random IV. Reading the operating system's randomness costs a system call, so each
/// thread reads 32 IVs' worth at a time; every byte still comes from the operating system.
fn random_iv() -> Result<[u8; 16], getrandom::Error> {
    thread_local! {
        static POOL: std::cell::RefCell<IvPool> = std::cell::RefCell::new(IvPool {
            bytes: Zeroizing::new([0; 16 * IVS_PER_FILL]),
            next: IVS_PER_FILL,
            pid: 0,
        });
    }
    let fresh = || {
        let mut iv = [0_u8; 16];
        getrandom::fill(&mut iv).map(|()| iv)
    };
    // During thread teardown the store may be gone: then the IV comes straight from the system.
    POOL.try_with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return fresh();
        };
        let pid = std::process::id();
        if pool.next >= IVS_PER_FILL || pool.pid != pid {
            getrandom::fill(pool.bytes.as_mut_slice())?;
            pool.next = 0;
            pool.pid = pid;
        }
        let start = pool.next * 16;
        pool.next += 1;
        let mut iv = [0_u8; 16];
        if let Some(slot) = pool.bytes.get_mut(start..start + 16) {
            iv.copy_from_slice(slot);
            slot.fill(0);
        }
        Ok(iv)
    })
    .unwrap_or_else(|_| fresh())
}

/// Pairs of url-safe base64 digits for every 12-bit value, first digit in the low byte.
static DIGIT_PAIRS: [u16; 4096] = digit_pairs();

#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: an out-of-range index fails the build, never a run"
)]
const fn digit_pairs() -> [u16; 4096] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [0_u16; 4096];
    let mut value = 0;
    while value < 4096 {
        table[value] = ALPHABET[value >> 6] as u16 | ((ALPHABET[value & 63] as u16) << 8);
        value += 1;
    }
    table
}

/// The two url-safe base64 digits of the low 12 bits of `value`.
fn digit_pair(value: u64) -> [u8; 2] {
    DIGIT_PAIRS
        .get((value & 0xfff) as usize)
        .copied()
        .unwrap_or_default()
        .to_le_bytes()
}

/// Url-safe base64 with padding (as `base64.urlsafe_b64encode`): six input bytes become eight
/// digits through four lookups of digit pairs.
fn encode_base64(input: &[u8]) -> String {
    let mut out = vec![0_u8; input.len().div_ceil(3) * 4];
    encode_base64_into(input, &mut out);
    // Every byte written is from the alphabet or `=`.
    String::from_utf8(out).unwrap_or_default()
}

/// [`encode_base64`] into `out`, which holds exactly the encoded length.
fn encode_base64_into(input: &[u8], out: &mut [u8]) {
    let mut outputs = out.chunks_exact_mut(8);
    let mut inputs = input.chunks_exact(6);
    for (digits, bytes) in (&mut outputs).zip(&mut inputs) {
        let mut word = [0_u8; 8];
        word[2..].copy_from_slice(bytes);
        let word = u64::from_be_bytes(word);
        let digit_pairs = [
            digit_pair(word >> 36),
            digit_pair(word >> 24),
            digit_pair(word >> 12),
            digit_pair(word),
        ];
        digits.copy_from_slice(digit_pairs.as_flattened());
    }
    // The last zero to five bytes: whole groups of three, then a padded partial one.
    let tail = inputs.remainder();
    let done = input.len() - tail.len();
    let tail_out = out.get_mut(done / 3 * 4..).unwrap_or_default();
    for (digits, bytes) in tail_out.chunks_mut(4).zip(tail.chunks(3)) {
        let mut group = [0_u8; 3];
        for (slot, byte) in group.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        let value = u64::from(group[0]) << 16 | u64::from(group[1]) << 8 | u64::from(group[2]);
        let [a, b] = digit_pair(value >> 12);
        let [c, d] = digit_pair(value);
        let mut quad = [a, b, c, d];
        for slot in quad.iter_mut().skip(bytes.len() + 1) {
            *slot = b'=';
        }
        digits.copy_from_slice(&quad);
    }
}

/// Python's `base64.urlsafe_b64decode` (non-strict `binascii.a2b_base64`): both alphabets,
/// characters outside them skipped, decoding stops at a complete padding sequence, and a final
/// partial quantum without its padding is an error.
pub(crate) fn lenient_base64(text: &[u8]) -> Result<Vec<u8>, ()> {
    if let Ok(decoded) = DECODE_CANONICAL.decode(text) {
        return Ok(decoded);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut quad_pos = 0_u8;
    let mut left = 0_u8;
    let mut pads = 0_u8;
    for &byte in text {
        if byte == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let Some(value) = sextet(byte) else {
            continue;
        };
        pads = 0;
        match quad_pos {
            0 => {
                left = value;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (value >> 4));
                left = value & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (value >> 2));
                left = value & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | value);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    if quad_pos == 0 { Ok(out) } else { Err(()) }
}

fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
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
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, getrandom::Error> {
        self.primary.encrypt(plaintext)
    }

    /// Decrypts with the first key that authenticates the token. A malformed token is refused
    /// as such at once (its form does not depend on the key); a token no key authenticates is
    /// [`FernetError::Unauthenticated`].
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        self.decrypt_wiped(token).map(into_zeroizing)
    }

    /// [`decrypt`](Self::decrypt), the plaintext in a buffer wiped in one write when dropped.
    pub(crate) fn decrypt_wiped(&self, token: &[u8]) -> Result<Wiped<Vec<u8>>, FernetError> {
        for key in self.keys() {
            match key.decrypt_wiped(token) {
                Err(FernetError::Unauthenticated) => {}
                result => return result,
            }
        }
        Err(FernetError::Unauthenticated)
    }
}

/// A decrypted plaintext moved (not copied) into the `Zeroizing` the public API returns.
fn into_zeroizing(mut plaintext: Wiped<Vec<u8>>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::mem::take(&mut *plaintext))
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
