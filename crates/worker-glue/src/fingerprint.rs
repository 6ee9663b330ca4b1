//! Scope fingerprints for logs: a keyed MAC of the scope, so a log line tells one caller's tasks
//! from another's without naming (or letting anyone reverse) the scope.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use taskctx_scope::Scope;
use zeroize::Zeroizing;

use crate::ConfigError;

type HmacSha256 = Hmac<Sha256>;

/// The bytes of a fingerprint shown in logs: 8 (64 bits, 16 hex digits).
pub const FINGERPRINT_BYTES: usize = 8;

/// The key scope fingerprints are computed with: HMAC-SHA256 over the scope's text, truncated to
/// [`FINGERPRINT_BYTES`].
///
/// Without a key of its own ([`TaskGlueBuilder::fingerprint_key`](crate::TaskGlueBuilder::fingerprint_key)),
/// a glue draws a random one when it is built, so fingerprints agree within a process only. Give
/// every process the same key (from configuration) for fingerprints that agree across a fleet.
/// Without the key, a fingerprint cannot be reversed by trying likely `client_id|sub` values.
///
/// `Debug` never shows the key; it is zeroized on drop.
#[derive(Clone)]
pub struct FingerprintKey {
    key: Zeroizing<[u8; 32]>,
}

impl FingerprintKey {
    /// A key of 32 bytes (for example from a secret store).
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(key),
        }
    }

    /// A random key from the operating system's random source.
    ///
    /// # Errors
    /// [`ConfigError::Randomness`] when the random source fails.
    pub fn random() -> Result<Self, ConfigError> {
        let mut key = Zeroizing::new([0_u8; 32]);
        getrandom::fill(key.as_mut_slice()).map_err(|_| ConfigError::Randomness)?;
        Ok(Self { key })
    }

    /// The fingerprint of `scope` (`None`: an anonymous task).
    #[must_use]
    pub fn fingerprint(&self, scope: Option<&Scope<'_>>) -> ScopeFingerprint {
        let Some(scope) = scope else {
            return ScopeFingerprint(None);
        };
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(scope.to_str().as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut short = [0_u8; FINGERPRINT_BYTES];
        for (out, byte) in short.iter_mut().zip(tag.iter()) {
            *out = *byte;
        }
        ScopeFingerprint(Some(short))
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey([redacted])")
    }
}

/// A scope's fingerprint: 16 hex digits, or `anon` for an anonymous task.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopeFingerprint(Option<[u8; FINGERPRINT_BYTES]>);

impl ScopeFingerprint {
    /// Whether this is the fingerprint of an anonymous task.
    #[must_use]
    pub const fn is_anonymous(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Display for ScopeFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("anon"),
            Some(bytes) => bytes.iter().try_for_each(|byte| write!(f, "{byte:02x}")),
        }
    }
}

impl fmt::Debug for ScopeFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeFingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_truncated_and_stable() {
        let scope = Scope::new("client-a|user-1");
        let key = FingerprintKey::new([7; 32]);
        let shown = key.fingerprint(Some(&scope)).to_string();
        assert_eq!(shown.len(), 16);
        assert!(shown.bytes().all(|byte| byte.is_ascii_hexdigit()));
        // Same key, same fingerprint; another key or scope, another one.
        assert_eq!(
            FingerprintKey::new([7; 32]).fingerprint(Some(&scope)),
            key.fingerprint(Some(&scope))
        );
        assert_ne!(
            FingerprintKey::new([8; 32]).fingerprint(Some(&scope)),
            key.fingerprint(Some(&scope))
        );
        assert_ne!(
            key.fingerprint(Some(&Scope::new("client-a|user-2"))),
            key.fingerprint(Some(&scope))
        );
        assert_eq!(key.fingerprint(None).to_string(), "anon");
        // HMAC-SHA256(key = [7; 32], "client-a|user-1"), first 8 bytes: an independent vector
        // computed with Python's `hmac.new(bytes([7]*32), b"client-a|user-1", "sha256")`.
        assert_eq!(shown, EXPECTED_VECTOR);
        assert!(!format!("{key:?}").contains('7'));
    }

    const EXPECTED_VECTOR: &str = "c23232eefb50972c";
}
