//! Fernet tokens as written: canonical url-safe base64 at every length, a fresh IV each time, and
//! every token decrypts back to its plaintext.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use taskctx_snapshot::FernetKey;
use taskctx_snapshot::fernet::{FernetError, Malformation};

#[test]
fn tokens_are_canonical_base64_at_every_length() {
    let key = FernetKey::from_bytes([3; 32]);
    let plaintext: Vec<u8> = (0..=255_u8)
        .cycle()
        .take(300)
        .map(|b| b.wrapping_mul(37))
        .collect();
    for len in 0..plaintext.len() {
        let message = &plaintext[..len];
        // Fixed parts make the whole token predictable: it must be the standard encoding.
        let token = key.encrypt_with(message, 1_700_000_000, [9; 16]);
        let raw = URL_SAFE.decode(&token).unwrap();
        assert_eq!(URL_SAFE.encode(&raw), token, "length {len}");
        assert_eq!(
            &*key.decrypt(token.as_bytes()).unwrap(),
            message,
            "length {len}"
        );
    }
}

#[test]
fn every_token_has_a_fresh_iv() {
    let key = FernetKey::from_bytes([4; 32]);
    // Many tokens, on two threads.
    let ivs = |count: usize| -> Vec<Vec<u8>> {
        (0..count)
            .map(|_| {
                let token = key.encrypt(b"same plaintext").unwrap();
                assert_eq!(&*key.decrypt(token.as_bytes()).unwrap(), b"same plaintext");
                URL_SAFE.decode(token).unwrap()[9..25].to_vec()
            })
            .collect()
    };
    let mut all = ivs(100);
    all.extend(std::thread::scope(|scope| {
        scope.spawn(|| ivs(100)).join().unwrap()
    }));
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count);
    assert!(all.iter().all(|iv| iv.iter().any(|&byte| byte != 0)));
}

/// Tokens are read as Python's non-strict `urlsafe_b64decode` reads them: a complete padding
/// sequence ends the token (anything after it is ignored), characters outside the alphabet are
/// skipped, and a final partial group needs its padding.
#[test]
fn tokens_are_read_as_python_reads_base64() {
    let key = FernetKey::from_bytes([5; 32]);
    // 57 + 16 bytes: one byte past a whole group, so the text ends in `==`.
    let token = key.encrypt_with(b"0123456789", 1_700_000_000, [2; 16]);
    assert!(token.ends_with("=="));
    for read in [
        format!("{token}AAAA"),
        format!("{token}=garbage"),
        format!(" {}\n", token.replace('A', "A.")),
    ] {
        assert_eq!(
            &*key.decrypt(read.as_bytes()).unwrap(),
            b"0123456789",
            "{read}"
        );
    }
    let unpadded = token.trim_end_matches('=');
    assert_eq!(
        key.decrypt(format!("{unpadded}=").as_bytes()),
        Err(FernetError::Malformed(Malformation::Base64))
    );
    // A lone `=` early in the text, before a group has two digits, is skipped.
    let (head, tail) = token.split_at(8);
    assert_eq!(
        &*key.decrypt(format!("{head}={tail}").as_bytes()).unwrap(),
        b"0123456789"
    );
}
