//! Fernet and key derivation against the reference's recorded vectors (`encryption.json`), and
//! the reading rules of SPEC section 5 for encrypted and plaintext values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use serde_json::Value;
use taskctx_snapshot::fernet::{FernetError, KDF_ITERATIONS, KeyError, Malformation};
use taskctx_snapshot::json::JsonError;
use taskctx_snapshot::{
    Codec, DecodeError, FernetKey, SnapshotCodec, StoredForm, TaskContextSnapshot,
};
use taskctx_tests::conformance;

mod support;
use support::{base64_decode, base64_encode};

const REDIS_KEY: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";

fn vectors() -> Value {
    conformance::load("encryption.json")
}

/// The production key of the vectors' material, from its recorded base64 form (no derivation).
fn recorded_key(vectors: &Value) -> FernetKey {
    FernetKey::from_base64(vectors["fernet_key_b64"].as_str().unwrap()).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}

fn iv(text: &str) -> [u8; 16] {
    hex(text).try_into().unwrap()
}

/// The one place the suite runs the production derivation (1,000,000 iterations), twice: the
/// vectors' material, and the short material. Both are cached for the rest of the process.
#[test]
fn production_derivation_matches_the_reference() {
    let vectors = vectors();
    assert_eq!(vectors["kdf"]["iterations"], KDF_ITERATIONS);
    let key = FernetKey::derive(vectors["material"].as_str().unwrap()).unwrap();
    assert_eq!(
        *key.to_base64(),
        vectors["fernet_key_b64"].as_str().unwrap()
    );
    let signing_and_encryption = format!(
        "{}{}",
        vectors["signing_key_hex"].as_str().unwrap(),
        vectors["encryption_key_hex"].as_str().unwrap()
    );
    let recorded = FernetKey::from_bytes(hex(&signing_and_encryption).try_into().unwrap());
    assert_eq!(*recorded.to_base64(), *key.to_base64());
    for other in vectors["other_material_keys"].as_array().unwrap() {
        let material = other["material"].as_str().unwrap();
        assert_eq!(
            hex(other["material_utf8_hex"].as_str().unwrap()),
            material.as_bytes()
        );
        let key = FernetKey::derive(material).unwrap();
        assert_eq!(*key.to_base64(), other["fernet_key_b64"].as_str().unwrap());
    }
    // Cached: deriving again is the same key, without another second of work.
    let again = FernetKey::derive(vectors["material"].as_str().unwrap()).unwrap();
    assert_eq!(
        *again.to_base64(),
        vectors["fernet_key_b64"].as_str().unwrap()
    );
}

#[test]
fn test_mode_derivation_and_token() {
    let vectors = vectors();
    let test_mode = &vectors["test_mode_10_iterations"];
    let key =
        FernetKey::derive_with_iterations(test_mode["material"].as_str().unwrap(), 10).unwrap();
    assert_eq!(
        *key.to_base64(),
        test_mode["fernet_key_b64"].as_str().unwrap()
    );
    let plaintext = key
        .decrypt(test_mode["example_token"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(
        &plaintext[..],
        test_mode["plaintext"].as_str().unwrap().as_bytes()
    );
    // A production key does not open a test-mode token.
    assert_eq!(
        recorded_key(&vectors).decrypt(test_mode["example_token"].as_str().unwrap().as_bytes()),
        Err(FernetError::Unauthenticated)
    );
}

#[test]
fn reference_tokens_decrypt_and_decode() {
    let vectors = vectors();
    let key = recorded_key(&vectors);
    let codec = Codec::json_fernet(key.clone());
    let cases = vectors["tokens_random_iv_now"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let stored = case["stored_value"].as_str().unwrap().as_bytes();
        let plaintext = case["plaintext"].as_str().unwrap();
        assert_eq!(&key.decrypt(stored).unwrap()[..], plaintext.as_bytes());
        assert_eq!(
            FernetKey::token_timestamp(stored),
            case["token_timestamp"].as_u64()
        );
        // Through the codec: the reference's JSON re-encodes byte for byte.
        let snapshot = codec.decode(stored, REDIS_KEY).unwrap();
        assert_eq!(taskctx_snapshot::json::to_json(&snapshot), plaintext);
        // And a token written here opens with the same key (random IV, current time).
        let written = codec.encode(&snapshot, REDIS_KEY).unwrap();
        assert!(written.starts_with(b"gAAAAA"));
        assert_ne!(written, stored);
        assert_eq!(&key.decrypt(&written).unwrap()[..], plaintext.as_bytes());
    }
}

#[test]
fn fixed_time_and_iv_tokens_are_reproduced_byte_for_byte() {
    let vectors = vectors();
    let key = recorded_key(&vectors);
    let cases = vectors["tokens_deterministic_fixed_time_iv"]
        .as_array()
        .unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let token = key.encrypt_with(
            case["plaintext"].as_str().unwrap().as_bytes(),
            case["timestamp"].as_u64().unwrap(),
            iv(case["iv_hex"].as_str().unwrap()),
        );
        assert_eq!(token, case["stored_value"].as_str().unwrap());
        assert_eq!(
            &key.decrypt(token.as_bytes()).unwrap()[..],
            case["plaintext"].as_str().unwrap().as_bytes()
        );
    }
}

fn full_token(vectors: &Value) -> String {
    vectors["tokens_random_iv_now"][1]["stored_value"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn full_plaintext(vectors: &Value) -> String {
    vectors["tokens_random_iv_now"][1]["plaintext"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every case of `errors` in `encryption.json`, by name.
#[test]
fn error_behaviours_match_the_reference() {
    let vectors = vectors();
    let errors = vectors["errors"].as_object().unwrap();
    let key = recorded_key(&vectors);
    let keyless = Codec::json();
    let keyed = Codec::json_fernet(key.clone());
    let token = full_token(&vectors);
    let plaintext = full_plaintext(&vectors);
    let all_none = TaskContextSnapshot::new();
    let mut checked = 0;
    for (name, expected) in errors {
        checked += 1;
        match name.as_str() {
            "PlaintextCodec.decode('gAAAAA...fernet token')" => assert_eq!(
                keyless.decode(token.as_bytes(), REDIS_KEY),
                Err(DecodeError::MissingKey {
                    form: StoredForm::JsonFernet
                })
            ),
            "PlaintextCodec.decode('gAAAAAnot-really-a-token')" => assert_eq!(
                keyless.decode(b"gAAAAAnot-really-a-token", REDIS_KEY),
                Err(DecodeError::MissingKey {
                    form: StoredForm::JsonFernet
                })
            ),
            "PlaintextCodec.decode(' gAAAAA...' leading space)" => {
                // The reference passes it on as plaintext, and its from_json then fails.
                let spaced = format!(" {token}");
                assert_eq!(expected["ok"].as_str().unwrap(), spaced);
                assert!(matches!(
                    keyless.decode(spaced.as_bytes(), REDIS_KEY),
                    Err(DecodeError::Json(JsonError::Syntax { .. }))
                ));
            }
            "PlaintextCodec.decode('gAAAA' (5 A's, plaintext))" => assert!(matches!(
                keyless.decode(b"gAAAA", REDIS_KEY),
                Err(DecodeError::Json(JsonError::Syntax { .. }))
            )),
            "PlaintextCodec.decode(plaintext json)"
            | "PlaintextCodec.decode(bytes plaintext json)" => {
                let text = expected["ok"].as_str().unwrap();
                assert_eq!(
                    keyless.decode(text.as_bytes(), REDIS_KEY).unwrap(),
                    all_none
                );
            }
            "PlaintextCodec.decode(bytes invalid utf-8)" => assert_eq!(
                keyless.decode(b"{\xff}", REDIS_KEY),
                Err(DecodeError::Json(JsonError::InvalidUtf8 { valid_up_to: 1 }))
            ),
            "PlaintextCodec.encode(x) is identity" => {
                assert_eq!(expected, &Value::Bool(true));
                let snapshot = keyless.decode(plaintext.as_bytes(), REDIS_KEY).unwrap();
                assert_eq!(
                    keyless.encode(&snapshot, REDIS_KEY).unwrap(),
                    plaintext.as_bytes()
                );
            }
            "EncryptedCodec.decode(plaintext json)" => assert_eq!(
                keyed.decode(plaintext.as_bytes(), REDIS_KEY),
                Err(DecodeError::Plaintext {
                    form: StoredForm::Json
                })
            ),
            "EncryptedCodec.decode(empty string)" => assert_eq!(
                keyed.decode(b"", REDIS_KEY),
                Err(DecodeError::Fernet(FernetError::Malformed(
                    Malformation::TooShort
                )))
            ),
            "EncryptedCodec.decode(wrong key)" => {
                let wrong =
                    FernetKey::from_base64(vectors["wrong_key_fernet_key_b64"].as_str().unwrap())
                        .unwrap();
                assert_eq!(
                    Codec::json_fernet(wrong).decode(token.as_bytes(), REDIS_KEY),
                    Err(DecodeError::Fernet(FernetError::Unauthenticated))
                );
            }
            "EncryptedCodec.decode(tampered char 40)" => {
                let mut tampered = token.clone().into_bytes();
                tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
                assert_eq!(
                    keyed.decode(&tampered, REDIS_KEY),
                    Err(DecodeError::Fernet(FernetError::Unauthenticated))
                );
            }
            "EncryptedCodec.decode(token as bytes)" | "EncryptedCodec.decode(token + '\\n')" => {
                let stored = if name.contains("\\n") {
                    format!("{token}\n")
                } else {
                    token.clone()
                };
                let snapshot = keyed.decode(stored.as_bytes(), REDIS_KEY).unwrap();
                assert_eq!(
                    taskctx_snapshot::json::to_json(&snapshot),
                    expected["ok"].as_str().unwrap()
                );
            }
            "EncryptedCodec.decode(token with embedded spaces/newlines every 20 chars)" => {
                let mut spaced = String::new();
                for (index, ch) in token.chars().enumerate() {
                    if index > 0 && index % 20 == 0 {
                        spaced.push(if index % 40 == 0 { '\n' } else { ' ' });
                    }
                    spaced.push(ch);
                }
                let snapshot = keyed.decode(spaced.as_bytes(), REDIS_KEY).unwrap();
                assert_eq!(
                    taskctx_snapshot::json::to_json(&snapshot),
                    expected["ok"].as_str().unwrap()
                );
            }
            "EncryptedCodec.decode(token with '=' padding stripped)" => {
                let stripped = token.trim_end_matches('=');
                assert_ne!(stripped.len(), token.len());
                assert_eq!(
                    keyed.decode(stripped.as_bytes(), REDIS_KEY),
                    Err(DecodeError::Fernet(FernetError::Malformed(
                        Malformation::Base64
                    )))
                );
            }
            "EncryptedCodec.decode(token in standard +/ alphabet)" => {
                let standard = token.replace('-', "+").replace('_', "/");
                assert_ne!(standard, token);
                let snapshot = keyed.decode(standard.as_bytes(), REDIS_KEY).unwrap();
                assert_eq!(
                    taskctx_snapshot::json::to_json(&snapshot),
                    expected["ok"].as_str().unwrap()
                );
            }
            "EncryptedCodec.decode(token timestamp 10 years in future; no ttl check)" => {
                let future = key.encrypt_with(b"{\"x\": 1}", 2_100_000_000, [7; 16]);
                assert_eq!(expected["ok"], "{\"x\": 1}");
                assert_eq!(
                    keyed.decode(future.as_bytes(), REDIS_KEY).unwrap(),
                    all_none
                );
            }
            "EncryptedCodec.decode(valid token whose plaintext is not UTF-8)" => {
                let binary = key.encrypt_with(b"\xff{}", 1_700_000_000, [9; 16]);
                assert_eq!(
                    keyed.decode(binary.as_bytes(), REDIS_KEY),
                    Err(DecodeError::Json(JsonError::InvalidUtf8 { valid_up_to: 0 }))
                );
            }
            "EncryptedCodec('') constructor" => {
                assert_eq!(FernetKey::derive(""), Err(KeyError::EmptyMaterial));
                assert_eq!(
                    FernetKey::derive_with_iterations("", 10),
                    Err(KeyError::EmptyMaterial)
                );
            }
            other => panic!("unhandled error case {other:?}"),
        }
    }
    assert_eq!(checked, 20);
    assert_eq!(vectors["fernet_prefix_check"], "gAAAAA");
}

#[test]
fn malformed_tokens_are_typed_errors() {
    let key = FernetKey::from_bytes([3; 32]);
    let good = key.encrypt_with(b"{}", 1_700_000_000, [1; 16]);
    let mut raw = base64_decode(&good);
    raw[0] = 0x81;
    assert_eq!(
        key.decrypt(base64_encode(&raw).as_bytes()),
        Err(FernetError::Malformed(Malformation::Version))
    );
    let short = base64_encode(&[0x80; 40]);
    assert_eq!(
        key.decrypt(short.as_bytes()),
        Err(FernetError::Malformed(Malformation::TooShort))
    );
    assert_eq!(
        key.decrypt(b"gAAAAA="),
        Err(FernetError::Malformed(Malformation::Base64))
    );
    assert_eq!(
        FernetKey::from_base64("c2hvcnQ="),
        Err(KeyError::InvalidFernetKey)
    );
    assert_eq!(
        FernetKey::derive_with_iterations("x", 0),
        Err(KeyError::ZeroIterations)
    );
}
