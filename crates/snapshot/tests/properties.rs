//! Properties of every stored form over arbitrary snapshots (Unicode, empty maps, large
//! headers), decoding of arbitrary bytes (a typed error with a bounded message, never a panic),
//! and tampering (an altered Fernet token or sealed value never opens).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

mod support;

use proptest::prelude::*;
use support::{base64_decode, base64_encode};
use taskctx_snapshot::fernet::{FernetError, Malformation};
use taskctx_snapshot::{
    AccessToken, Codec, DecodeError, FernetKey, Headers, KeyRing, SealingKey, SnapshotCodec,
    StoredForm, TaskContextSnapshot, json,
};

const REDIS_KEY: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-z0-9 ./:_-]{0,24}",
        1 => Just(String::new()),
        1 => "[\\u{0}-\\u{7f}]{0,16}",
        1 => "(\\u{1F600}|\\u{2028}|\"|\\\\|/|\\u{7f}|é|日本){0,8}",
    ]
}

fn token() -> impl Strategy<Value = AccessToken> {
    (
        text(),
        text(),
        prop::collection::vec(text(), 0..4),
        prop::option::of(any::<i64>()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(
            (
                text(),
                prop_oneof![
                    text().prop_map(serde_json::Value::from),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<bool>().prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    prop::collection::vec(text(), 0..3).prop_map(serde_json::Value::from),
                ],
            ),
            0..5,
        ),
    )
        .prop_map(
            |(token, client_id, scopes, expires_at, resource, sub, claims)| {
                let mut builder = AccessToken::builder(token, client_id).scopes(scopes);
                if let Some(expires_at) = expires_at {
                    builder = builder.expires_at(expires_at);
                }
                if let Some(resource) = resource {
                    builder = builder.resource(resource);
                }
                if let Some(sub) = sub {
                    builder = builder.claim("sub", sub);
                }
                for (name, value) in claims {
                    builder = builder.claim(name, value);
                }
                builder.build()
            },
        )
}

fn headers() -> impl Strategy<Value = Headers> {
    let value = prop_oneof![
        8 => text(),
        1 => (1_usize..6000).prop_map(|len| "x".repeat(len)),
    ];
    prop::collection::vec((text(), value), 0..40).prop_map(|pairs| {
        let mut headers = Headers::new();
        for (name, value) in pairs {
            headers.insert(&name, value);
        }
        headers
    })
}

prop_compose! {
    fn snapshot(with_trace: bool)(
        token in prop::option::of(token()),
        headers in prop::option::of(headers()),
        ids in prop::array::uniform4(prop::option::of(text())),
        trace in prop::array::uniform2(prop::option::of(text())),
    ) -> TaskContextSnapshot {
        let mut builder = TaskContextSnapshot::builder();
        if let Some(token) = token {
            builder = builder.access_token(token);
        }
        if let Some(headers) = headers {
            builder = builder.headers(headers);
        }
        let [origin, session, tool, version] = ids;
        if let Some(value) = origin { builder = builder.origin_request_id(value); }
        if let Some(value) = session { builder = builder.session_id(value); }
        if let Some(value) = tool { builder = builder.owning_tool_name(value); }
        if let Some(value) = version { builder = builder.owning_tool_version(value); }
        if with_trace {
            let [parent, state] = trace;
            if let Some(value) = parent { builder = builder.traceparent(value); }
            if let Some(value) = state { builder = builder.tracestate(value); }
        }
        builder.build()
    }
}

fn sealed_codec() -> Codec {
    Codec::native_sealed(KeyRing::new(SealingKey::new("k1", [7; 32]).unwrap()))
}

fn fernet_codec() -> Codec {
    Codec::json_fernet(FernetKey::from_bytes([9; 32]))
}

/// The accessors a worker reads, compared after a JSON trip (where trace fields become headers).
fn assert_same_view(left: &TaskContextSnapshot, right: &TaskContextSnapshot) {
    assert_eq!(left.access_token(), right.access_token());
    assert_eq!(left.origin_request_id(), right.origin_request_id());
    assert_eq!(left.session_id(), right.session_id());
    assert_eq!(left.owning_tool_name(), right.owning_tool_name());
    assert_eq!(left.owning_tool_version(), right.owning_tool_version());
    assert_eq!(left.traceparent(), right.traceparent());
    assert_eq!(left.tracestate(), right.tracestate());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn json_round_trips(snapshot in snapshot(false)) {
        let text = json::to_json(&snapshot);
        prop_assert!(text.is_ascii());
        let back = json::from_json(text.as_bytes()).unwrap();
        prop_assert_eq!(&back, &snapshot);
        prop_assert_eq!(json::to_json(&back), text);
        // The JSON is standard JSON: a generic parser reads the same strings.
        let generic: serde_json::Value = serde_json::from_str(&json::to_json(&snapshot)).unwrap();
        prop_assert_eq!(
            generic["access_token_json"].as_str(),
            snapshot.access_token().map(AccessToken::json)
        );
        prop_assert_eq!(generic["session_id"].as_str(), snapshot.session_id());
    }

    #[test]
    fn json_round_trips_trace_context_through_headers(snapshot in snapshot(true)) {
        let text = json::to_json(&snapshot);
        let back = json::from_json(text.as_bytes()).unwrap();
        assert_same_view(&back, &snapshot);
        prop_assert_eq!(json::to_json(&back), text);
    }

    #[test]
    fn native_round_trips_exactly(snapshot in snapshot(true)) {
        let codec = Codec::native();
        let stored = codec.encode(&snapshot, REDIS_KEY).unwrap();
        prop_assert_eq!(codec.decode(&stored, REDIS_KEY).unwrap(), snapshot);
    }

    #[test]
    fn sealed_round_trips_exactly_and_only_under_its_key(snapshot in snapshot(true)) {
        let codec = sealed_codec();
        let stored = codec.encode(&snapshot, REDIS_KEY).unwrap();
        prop_assert_eq!(codec.decode(&stored, REDIS_KEY).unwrap(), snapshot);
        prop_assert!(codec.decode(&stored, "fastmcp:fastmcp:task:anon:T1:snapshot").is_err());
    }

    #[test]
    fn fernet_round_trips(snapshot in snapshot(false)) {
        let codec = fernet_codec();
        let stored = codec.encode(&snapshot, REDIS_KEY).unwrap();
        prop_assert!(stored.starts_with(b"gAAAAA"));
        prop_assert_eq!(codec.decode(&stored, REDIS_KEY).unwrap(), snapshot);
    }

    #[test]
    fn decoding_arbitrary_bytes_gives_typed_errors_with_bounded_messages(
        prefix in prop_oneof![
            Just(Vec::new()),
            Just(b"{".to_vec()),
            Just(b"gAAAAA".to_vec()),
            Just(b"\0tcx\x01\x01\x00".to_vec()),
            Just(b"\0tcx\x01\x02\x02k1".to_vec()),
            Just(b"{\"http_headers\": {".to_vec()),
            Just(b"{\"access_token_json\": \"{".to_vec()),
        ],
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut stored = prefix;
        stored.extend_from_slice(&body);
        let mut messages = Vec::new();
        for codec in [Codec::json(), Codec::native(), fernet_codec(), sealed_codec()] {
            match codec.decode(&stored, REDIS_KEY) {
                // Whatever decodes is a snapshot the codec writes and reads back the same.
                Ok(snapshot) => {
                    let again = codec.encode(&snapshot, REDIS_KEY).unwrap();
                    prop_assert_eq!(codec.decode(&again, REDIS_KEY).unwrap(), snapshot);
                }
                Err(error) => messages.push(error.to_string()),
            }
        }
        // Random bytes never carry a valid Fernet tag or seal.
        prop_assert!(fernet_codec().decode(&stored, REDIS_KEY).is_err());
        prop_assert!(sealed_codec().decode(&stored, REDIS_KEY).is_err());
        messages.extend(json::from_json(&stored).err().map(|error| error.to_string()));
        messages.extend(
            taskctx_snapshot::native::from_native(&stored).err().map(|error| error.to_string()),
        );
        let fernet = FernetKey::from_bytes([9; 32]).decrypt(&stored);
        prop_assert!(fernet.is_err());
        messages.extend(fernet.err().map(|error| error.to_string()));
        prop_assert!(messages.len() >= 4, "{:?}", messages);
        for message in &messages {
            // A short fixed sentence with at most a short excerpt of the input, never the value.
            prop_assert!(message.len() <= MESSAGE_MAX_BYTES, "{} bytes: {}", message.len(), message);
            prop_assert!(!message.is_empty());
            if body.len() >= 80 {
                let tail = String::from_utf8_lossy(&body[body.len() - 80..]);
                prop_assert!(!message.contains(&*tail), "{}", message);
            }
        }
    }

    #[test]
    fn corrupted_values_never_panic_and_encrypted_ones_never_open_altered(
        snapshot in snapshot(true),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0_u8..8), 1..4),
    ) {
        for codec in [Codec::json(), Codec::native(), fernet_codec(), sealed_codec()] {
            let original = codec.encode(&snapshot, REDIS_KEY).unwrap();
            let mut stored = original.clone();
            for (index, bit) in &flips {
                let position = index.index(stored.len());
                stored[position] ^= 1 << bit;
            }
            let decoded = codec.decode(&stored, REDIS_KEY);
            match codec.form() {
                // Every byte of a sealed value is authenticated.
                StoredForm::NativeSealed if stored != original => {
                    prop_assert!(decoded.is_err(), "an altered sealed value opened");
                }
                StoredForm::JsonFernet => {
                    // The base64 text may change without changing the token's bytes (the unused
                    // low bits of the last character, a character outside the alphabet that the
                    // reference's reader skips); any change to the bytes is refused.
                    match &decoded {
                        Ok(back) => {
                            // Through JSON the trace context comes back as headers: compare
                            // the JSON forms.
                            prop_assert_eq!(json::to_json(back), json::to_json(&snapshot));
                            prop_assert!(
                                same_token_bytes(&original, &stored),
                                "an altered Fernet token decrypted"
                            );
                        }
                        Err(error) => prop_assert!(
                            matches!(
                                error,
                                DecodeError::Fernet(_) | DecodeError::Plaintext { .. }
                            ),
                            "{}",
                            error
                        ),
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn fernet_tokens_altered_in_any_byte_are_refused(
        snapshot in snapshot(false),
        index in any::<prop::sample::Index>(),
        bit in 0_u8..8,
    ) {
        let key = FernetKey::from_bytes([9; 32]);
        let token = key.encrypt(json::to_json(&snapshot).as_bytes()).unwrap();
        let mut raw = base64_decode(&token);
        let position = index.index(raw.len());
        raw[position] ^= 1 << bit;
        let altered = base64_encode(&raw);
        let expected = if position == 0 {
            DecodeError::Fernet(FernetError::Malformed(Malformation::Version))
        } else {
            DecodeError::Fernet(FernetError::Unauthenticated)
        };
        prop_assert_eq!(fernet_codec().decode(altered.as_bytes(), REDIS_KEY), Err(expected));
    }
}

/// The longest error message any decoder may produce for any input.
const MESSAGE_MAX_BYTES: usize = 400;

/// Whether two Fernet texts carry the same token bytes.
fn same_token_bytes(left: &[u8], right: &[u8]) -> bool {
    let decode = |text: &[u8]| {
        let text: Vec<u8> = text
            .iter()
            .copied()
            .filter(|byte| byte.is_ascii_alphanumeric() || b"-_+/=".contains(byte))
            .collect();
        base64_decode(&String::from_utf8_lossy(&text))
    };
    decode(left) == decode(right)
}
