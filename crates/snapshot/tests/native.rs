//! The native envelope and its sealed form: round trips, binding to the Redis key, key rotation,
//! and each reading error of SPEC section 5.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_snapshot::fernet::FernetError;
use taskctx_snapshot::native::{self, NativeError};
use taskctx_snapshot::{
    AccessToken, Codec, DecodeError, FernetKey, KeyId, KeyRing, SealingKey, SealingKeyError,
    SnapshotCodec, StoredForm, TaskContextSnapshot, json,
};

const KEY_T1: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";
const KEY_T2: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T2:snapshot";
const KEY_OTHER_SCOPE: &str = "fastmcp:fastmcp:task:auth:client-b:T1:snapshot";

fn snapshot() -> TaskContextSnapshot {
    let token = AccessToken::builder("tok-SECRET-0123", "client-a")
        .scopes(["read"])
        .expires_at(1_893_456_000)
        .claim("sub", "user-1")
        .build();
    TaskContextSnapshot::builder()
        .access_token(token)
        .header("Host", "mcp.example.com")
        .header("x-custom", "Grüße 😀")
        .origin_request_id("7")
        .session_id("s-1")
        .owning_tool_name("child_echo")
        .owning_tool_version("1.0")
        .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .tracestate("vendor=1")
        .build()
}

fn key(id: &str, byte: u8) -> SealingKey {
    SealingKey::new(id, [byte; 32]).unwrap()
}

#[test]
fn native_round_trips_exactly_and_is_detected() {
    let snapshot = snapshot();
    let stored = Codec::native().encode(&snapshot, KEY_T1).unwrap();
    assert_eq!(&stored[..4], b"\0tcx");
    assert_eq!(stored[4], native::FORMAT_VERSION);
    assert_eq!(stored[5], native::CODEC_POSTCARD);
    assert_eq!(StoredForm::detect(&stored), StoredForm::Native);
    assert_eq!(Codec::native().decode(&stored, KEY_T1).unwrap(), snapshot);
    // Any keyless reader reads both plaintext forms; the unsealed form is not bound to its key.
    assert_eq!(Codec::json().decode(&stored, KEY_T2).unwrap(), snapshot);
    assert_eq!(native::from_native(&stored).unwrap(), snapshot);
    // Trace context keeps its own fields in the native form.
    let decoded = Codec::native().decode(&stored, KEY_T1).unwrap();
    assert!(decoded.http_headers().unwrap().get("traceparent").is_none());
    assert_eq!(decoded.tracestate(), Some("vendor=1"));
}

#[test]
fn sealed_round_trips_and_is_bound_to_its_redis_key() {
    let snapshot = snapshot();
    let codec = Codec::native_sealed(KeyRing::new(key("k1", 1)));
    assert!(codec.protected());
    assert_eq!(codec.form(), StoredForm::NativeSealed);
    let stored = codec.encode(&snapshot, KEY_T1).unwrap();
    assert_eq!(StoredForm::detect(&stored), StoredForm::NativeSealed);
    assert!(
        !stored
            .windows(15)
            .any(|window| window == b"tok-SECRET-0123")
    );
    assert_eq!(codec.decode(&stored, KEY_T1).unwrap(), snapshot);
    // Two seals of the same snapshot differ (random nonce).
    assert_ne!(codec.encode(&snapshot, KEY_T1).unwrap(), stored);
    // Copied onto another task's key, or another scope's: it does not open.
    for other in [
        KEY_T2,
        KEY_OTHER_SCOPE,
        "",
        "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshotx",
    ] {
        assert_eq!(
            codec.decode(&stored, other),
            Err(DecodeError::Native(NativeError::Unauthenticated)),
            "{other}"
        );
    }
}

#[test]
fn swapped_ciphertexts_fail() {
    let codec = Codec::native_sealed(KeyRing::new(key("k1", 1)));
    let first = TaskContextSnapshot::builder().session_id("first").build();
    let second = TaskContextSnapshot::builder().session_id("second").build();
    let stored_first = codec.encode(&first, KEY_T1).unwrap();
    let stored_second = codec.encode(&second, KEY_T2).unwrap();
    assert_eq!(codec.decode(&stored_first, KEY_T1).unwrap(), first);
    assert_eq!(codec.decode(&stored_second, KEY_T2).unwrap(), second);
    assert_eq!(
        codec.decode(&stored_second, KEY_T1),
        Err(DecodeError::Native(NativeError::Unauthenticated))
    );
    assert_eq!(
        codec.decode(&stored_first, KEY_T2),
        Err(DecodeError::Native(NativeError::Unauthenticated))
    );
}

#[test]
fn rotation_reads_old_and_new_keys() {
    let snapshot = snapshot();
    let old_codec = Codec::native_sealed(KeyRing::new(key("k1", 1)));
    let sealed_old = old_codec.encode(&snapshot, KEY_T1).unwrap();

    // Step 1: readers learn k2 while k1 stays active.
    let learning =
        Codec::native_sealed(KeyRing::with_reading_keys(key("k1", 1), [key("k2", 2)]).unwrap());
    assert_eq!(learning.decode(&sealed_old, KEY_T1).unwrap(), snapshot);

    // Step 2: writers switch to k2; k1 stays readable.
    let rotated =
        Codec::native_sealed(KeyRing::with_reading_keys(key("k2", 2), [key("k1", 1)]).unwrap());
    let sealed_new = rotated.encode(&snapshot, KEY_T1).unwrap();
    assert_eq!(rotated.decode(&sealed_old, KEY_T1).unwrap(), snapshot);
    assert_eq!(rotated.decode(&sealed_new, KEY_T1).unwrap(), snapshot);
    assert_eq!(learning.decode(&sealed_new, KEY_T1).unwrap(), snapshot);
    // A reader that never learnt k2 names the missing key.
    assert_eq!(
        old_codec.decode(&sealed_new, KEY_T1),
        Err(DecodeError::Native(NativeError::UnknownKeyId(
            KeyId::new("k2").unwrap()
        )))
    );

    // Step 3: k1 retired.
    let retired = Codec::native_sealed(KeyRing::new(key("k2", 2)));
    assert_eq!(retired.decode(&sealed_new, KEY_T1).unwrap(), snapshot);
    assert_eq!(
        retired.decode(&sealed_old, KEY_T1),
        Err(DecodeError::Native(NativeError::UnknownKeyId(
            KeyId::new("k1").unwrap()
        )))
    );

    // Rings refuse two keys of one id.
    assert!(matches!(
        KeyRing::with_reading_keys(key("k1", 1), [key("k1", 3)]),
        Err(SealingKeyError::DuplicateKeyId(_))
    ));
}

#[test]
fn wrong_key_tampering_and_envelope_errors_are_distinct() {
    let snapshot = snapshot();
    let codec = Codec::native_sealed(KeyRing::new(key("k1", 1)));
    let stored = codec.encode(&snapshot, KEY_T1).unwrap();

    // Same id, different key material.
    let impostor = Codec::native_sealed(KeyRing::new(key("k1", 9)));
    assert_eq!(
        impostor.decode(&stored, KEY_T1),
        Err(DecodeError::Native(NativeError::Unauthenticated))
    );
    // Every single-bit flip anywhere is an error, never a different snapshot.
    for index in 0..stored.len() {
        for bit in 0..8 {
            let mut tampered = stored.clone();
            tampered[index] ^= 1 << bit;
            assert!(
                codec.decode(&tampered, KEY_T1).is_err(),
                "byte {index} bit {bit}"
            );
        }
    }
    let mut tampered = stored.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        codec.decode(&tampered, KEY_T1),
        Err(DecodeError::Native(NativeError::Unauthenticated))
    );

    // Unknown version and codec: typed, never a misparse.
    let mut future = stored;
    future[4] = native::FORMAT_VERSION + 1;
    assert_eq!(
        codec.decode(&future, KEY_T1),
        Err(DecodeError::Native(NativeError::UnsupportedVersion(
            native::FORMAT_VERSION + 1
        )))
    );
    let plain = Codec::native().encode(&snapshot, KEY_T1).unwrap();
    let mut future_plain = plain.clone();
    future_plain[4] = 7;
    assert_eq!(
        Codec::native().decode(&future_plain, KEY_T1),
        Err(DecodeError::Native(NativeError::UnsupportedVersion(7)))
    );
    let mut unknown_codec = plain.clone();
    unknown_codec[5] = 9;
    assert_eq!(
        Codec::native().decode(&unknown_codec, KEY_T1),
        Err(DecodeError::Native(NativeError::UnknownCodec(9)))
    );
    assert_eq!(
        Codec::native().decode(b"\0tcx\x01", KEY_T1),
        Err(DecodeError::Native(NativeError::Truncated))
    );
    assert_eq!(
        Codec::native().decode(b"\0tcx\x01\x01\x05ab", KEY_T1),
        Err(DecodeError::Native(NativeError::Truncated))
    );
    assert_eq!(
        Codec::native().decode(b"\0tcx\x01\x01\x02ab", KEY_T1),
        Err(DecodeError::Native(NativeError::InvalidKeyId))
    );
    let mut trailing = plain.clone();
    trailing.push(0);
    assert_eq!(
        Codec::native().decode(&trailing, KEY_T1),
        Err(DecodeError::Native(NativeError::Body))
    );
    assert_eq!(
        Codec::native().decode(&plain[..plain.len() - 3], KEY_T1),
        Err(DecodeError::Native(NativeError::Body))
    );
}

#[test]
fn keyless_and_keyed_readers_refuse_the_other_kind() {
    let snapshot = snapshot();
    let ring = KeyRing::new(key("k1", 1));
    let fernet = FernetKey::from_bytes([5; 32]);
    let sealed = Codec::native_sealed(ring.clone())
        .encode(&snapshot, KEY_T1)
        .unwrap();
    let token = Codec::json_fernet(fernet.clone())
        .encode(&snapshot, KEY_T1)
        .unwrap();
    let plain_native = Codec::native().encode(&snapshot, KEY_T1).unwrap();
    let plain_json = Codec::json().encode(&snapshot, KEY_T1).unwrap();

    for keyless in [Codec::json(), Codec::native()] {
        assert!(!keyless.protected());
        assert_eq!(
            keyless.decode(&sealed, KEY_T1),
            Err(DecodeError::MissingKey {
                form: StoredForm::NativeSealed
            })
        );
        assert_eq!(
            keyless.decode(&token, KEY_T1),
            Err(DecodeError::MissingKey {
                form: StoredForm::JsonFernet
            })
        );
    }
    for keyed in [
        Codec::native_sealed(ring.clone()),
        Codec::json_fernet(fernet.clone()),
    ] {
        assert!(keyed.protected());
        assert_eq!(
            keyed.decode(&plain_native, KEY_T1),
            Err(DecodeError::Plaintext {
                form: StoredForm::Native
            })
        );
        assert_eq!(
            keyed.decode(&plain_json, KEY_T1),
            Err(DecodeError::Plaintext {
                form: StoredForm::Json
            })
        );
        assert_eq!(
            keyed.decode(b" \n{\"session_id\": \"x\"}", KEY_T1),
            Err(DecodeError::Plaintext {
                form: StoredForm::Json
            })
        );
    }
    assert_eq!(
        Codec::native_sealed(ring.clone()).decode(&token, KEY_T1),
        Err(DecodeError::MissingKey {
            form: StoredForm::JsonFernet
        })
    );
    assert_eq!(
        Codec::json_fernet(fernet.clone()).decode(&sealed, KEY_T1),
        Err(DecodeError::MissingKey {
            form: StoredForm::NativeSealed
        })
    );
    // A migrating reader holds both keys and reads both encrypted forms.
    let migrating = Codec::native_sealed(ring).reading_fernet(fernet);
    assert_eq!(migrating.form(), StoredForm::NativeSealed);
    assert_eq!(migrating.decode(&sealed, KEY_T1).unwrap(), snapshot);
    let from_token = migrating.decode(&token, KEY_T1).unwrap();
    assert_eq!(json::to_json(&from_token), json::to_json(&snapshot));
    // A wrong Fernet key is its own error.
    assert_eq!(
        Codec::json_fernet(FernetKey::from_bytes([6; 32])).decode(&token, KEY_T1),
        Err(DecodeError::Fernet(FernetError::Unauthenticated))
    );
}

#[test]
fn sealing_keys_validate_ids_and_material() {
    assert_eq!(
        SealingKey::new("", [0; 32]).err(),
        Some(SealingKeyError::InvalidKeyId)
    );
    assert_eq!(
        SealingKey::new("a:b", [0; 32]).err(),
        Some(SealingKeyError::InvalidKeyId)
    );
    assert_eq!(
        SealingKey::new(&"k".repeat(65), [0; 32]).err(),
        Some(SealingKeyError::InvalidKeyId)
    );
    assert!(SealingKey::new(&"k".repeat(64), [0; 32]).is_ok());
    let from_text =
        SealingKey::from_base64("k1", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap();
    let codec = Codec::native_sealed(KeyRing::new(from_text));
    let stored = Codec::native_sealed(KeyRing::new(key("k1", 1)))
        .encode(&snapshot(), KEY_T1)
        .unwrap();
    assert_eq!(codec.decode(&stored, KEY_T1).unwrap(), snapshot());
    assert_eq!(
        SealingKey::from_base64("k1", "c2hvcnQ").err(),
        Some(SealingKeyError::InvalidKey)
    );
    let generated = SealingKey::generate("fresh").unwrap();
    assert_eq!(generated.id().as_str(), "fresh");
}
