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
    // More than one store of IVs' worth (32 a read), on two threads.
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
