//! Rotating Fernet key material (the reference's form): several keys read, the first writes, as
//! Python's `MultiFernet`. Values written before a rotation stay readable after it; values
//! written after it are refused by a reader that still has only the old key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_snapshot::fernet::{FernetError, FernetKeys, Malformation};
use taskctx_snapshot::{
    AccessToken, Codec, DecodeError, FernetKey, KeyRing, SealingKey, SnapshotCodec, StoredForm,
    TaskContextSnapshot, json,
};
use taskctx_tests::conformance;

const REDIS_KEY: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";

fn old_key() -> FernetKey {
    FernetKey::from_bytes([1; 32])
}

fn new_key() -> FernetKey {
    FernetKey::from_bytes([2; 32])
}

fn snapshot() -> TaskContextSnapshot {
    let token = AccessToken::builder("secret-token", "client-a")
        .claim("sub", "user-1")
        .build();
    TaskContextSnapshot::builder()
        .access_token(token)
        .session_id("s-1")
        .build()
}

#[test]
fn written_under_the_old_key_is_read_at_every_step_of_a_rotation() {
    let stored = Codec::json_fernet(old_key())
        .encode(&snapshot(), REDIS_KEY)
        .unwrap();
    // Step 1: readers learn the new key while the old one still writes.
    let learning = Codec::json_fernet_keys(FernetKeys::with_reading_keys(old_key(), [new_key()]));
    // Step 2: the new key writes, the old one only reads.
    let rotated = Codec::json_fernet_keys(FernetKeys::with_reading_keys(new_key(), [old_key()]));
    for codec in [&learning, &rotated] {
        assert_eq!(
            codec.decode(&stored, REDIS_KEY),
            Ok(snapshot()),
            "{codec:?}"
        );
        assert!(codec.protected());
        assert_eq!(codec.form(), StoredForm::JsonFernet);
    }
    // Step 3: once every old value has expired, the old key goes; its values are refused.
    assert_eq!(
        Codec::json_fernet(new_key()).decode(&stored, REDIS_KEY),
        Err(DecodeError::Fernet(FernetError::Unauthenticated))
    );
}

#[test]
fn written_under_the_new_key_is_refused_by_a_reader_with_only_the_old_one() {
    let rotated = Codec::json_fernet_keys(FernetKeys::with_reading_keys(new_key(), [old_key()]));
    let stored = rotated.encode(&snapshot(), REDIS_KEY).unwrap();
    // The primary key wrote it: the new key alone opens it, the old key alone does not.
    assert_eq!(
        Codec::json_fernet(new_key()).decode(&stored, REDIS_KEY),
        Ok(snapshot())
    );
    assert_eq!(
        Codec::json_fernet(old_key()).decode(&stored, REDIS_KEY),
        Err(DecodeError::Fernet(FernetError::Unauthenticated))
    );
    assert_eq!(
        old_key().decrypt(&stored),
        Err(FernetError::Unauthenticated)
    );
    assert_eq!(rotated.decode(&stored, REDIS_KEY), Ok(snapshot()));
}

#[test]
fn reference_tokens_are_read_after_rotating_away_from_their_key() {
    let vectors = conformance::load("encryption.json");
    let recorded = FernetKey::from_base64(vectors["fernet_key_b64"].as_str().unwrap()).unwrap();
    let rotated = Codec::json_fernet_keys(FernetKeys::with_reading_keys(new_key(), [recorded]));
    let cases = vectors["tokens_deterministic_fixed_time_iv"]
        .as_array()
        .unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let stored = case["stored_value"].as_str().unwrap();
        let plaintext = case["plaintext"].as_str().unwrap();
        let decoded = rotated.decode(stored.as_bytes(), REDIS_KEY).unwrap();
        assert_eq!(json::to_json(&decoded), plaintext);
    }
}

#[test]
fn every_key_is_tried_in_order_and_malformed_tokens_stop_at_once() {
    let keys =
        FernetKeys::with_reading_keys(new_key(), [FernetKey::from_bytes([3; 32]), old_key()]);
    assert_eq!(keys.primary(), &new_key());
    assert_eq!(keys.keys().count(), 3);
    let token = old_key().encrypt(b"{}").unwrap();
    assert_eq!(keys.decrypt(token.as_bytes()).unwrap().as_slice(), b"{}");
    let written = keys.encrypt(b"{}").unwrap();
    assert_eq!(
        new_key().decrypt(written.as_bytes()).unwrap().as_slice(),
        b"{}"
    );
    // A malformed token is malformed under every key, not "unauthenticated".
    assert_eq!(
        keys.decrypt(b"gAAAAAB"),
        Err(FernetError::Malformed(Malformation::Base64))
    );
    assert_eq!(
        keys.decrypt(b"gAAAAA=="),
        Err(FernetError::Malformed(Malformation::TooShort))
    );
    // A single key is the one-key codec.
    assert_eq!(FernetKeys::from(old_key()), FernetKeys::new(old_key()));
}

#[test]
fn a_rotating_reader_still_refuses_plaintext_and_reads_sealed_values_it_has_keys_for() {
    let keys = FernetKeys::with_reading_keys(new_key(), [old_key()]);
    let rotated = Codec::json_fernet_keys(keys.clone());
    let plaintext = json::to_json(&snapshot());
    assert_eq!(
        rotated.decode(plaintext.as_bytes(), REDIS_KEY),
        Err(DecodeError::Plaintext {
            form: StoredForm::Json
        })
    );
    // Moving from Fernet to the sealed form: the sealed writer reads every rotated Fernet key.
    let ring = KeyRing::new(SealingKey::new("k1", [7; 32]).unwrap());
    let sealed = Codec::native_sealed(ring).reading_fernet_keys(keys);
    let stored = Codec::json_fernet(old_key())
        .encode(&snapshot(), REDIS_KEY)
        .unwrap();
    assert_eq!(sealed.decode(&stored, REDIS_KEY), Ok(snapshot()));
}

#[test]
fn debug_shows_no_key_material() {
    let keys = FernetKeys::with_reading_keys(new_key(), [old_key()]);
    let shown = format!("{keys:?} {:?}", Codec::json_fernet_keys(keys.clone()));
    assert!(shown.contains("keys: 2"), "{shown}");
    for key in keys.keys() {
        let base64 = key.to_base64();
        assert!(!shown.contains(base64.as_str()), "{shown}");
    }
    assert!(!shown.contains("[1, 1"), "{shown}");
    assert!(!shown.contains("[2, 2"), "{shown}");
}

/// Found by the `codec_decode` fuzz target: a token after a space does not start with `gAAAAA`,
/// yet a keyed reader opens it (the reference's base64 reader skips the space), with one key or
/// several, while a keyless reader reads it as (invalid) JSON, never as a token.
#[test]
fn a_token_after_whitespace_is_opened_by_every_keyed_reader() {
    let stored = format!(
        " {}",
        String::from_utf8(
            Codec::json_fernet(old_key())
                .encode(&snapshot(), REDIS_KEY)
                .unwrap()
        )
        .unwrap()
    );
    assert_eq!(StoredForm::detect(stored.as_bytes()), StoredForm::Json);
    let rotated = Codec::json_fernet_keys(FernetKeys::with_reading_keys(new_key(), [old_key()]));
    for codec in [Codec::json_fernet(old_key()), rotated] {
        assert_eq!(codec.decode(stored.as_bytes(), REDIS_KEY), Ok(snapshot()));
    }
    assert!(matches!(
        Codec::json().decode(stored.as_bytes(), REDIS_KEY),
        Err(DecodeError::Json(_))
    ));
}
