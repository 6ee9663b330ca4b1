//! The snapshot model: header capture under a policy, trace context, scope inputs, expiry, and
//! that no `Debug` or `Display` ever shows a secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_snapshot::fernet::KeyError;
use taskctx_snapshot::json::{self, JsonError};
use taskctx_snapshot::native::NativeError;
use taskctx_snapshot::{
    AccessToken, CaptureError, Codec, DecodeError, FernetKey, HeaderPolicy, Headers, KeyRing,
    SealingKey, SnapshotCodec, TaskContextSnapshot, TokenError,
};

const SECRETS: [&str; 6] = [
    "tok-SECRET-0123",
    "bearer-SECRET",
    "cookie-SECRET",
    "setcookie-SECRET",
    "proxy-SECRET",
    "apikey-SECRET",
];

fn request_headers() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("Host", b"mcp.example.com"),
        ("Authorization", b"Bearer bearer-SECRET"),
        ("Cookie", b"session=cookie-SECRET"),
        ("set-cookie", b"a=setcookie-SECRET"),
        ("Proxy-Authorization", b"Basic proxy-SECRET"),
        ("X-Api-Key", b"apikey-SECRET"),
        ("X-Latin1", b"caf\xe9"),
        (
            "traceparent",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("Accept", b"text/plain"),
        ("accept", b"application/json"),
    ]
}

fn token() -> AccessToken {
    AccessToken::builder("tok-SECRET-0123", "client-a")
        .claim("sub", "user-1")
        .expires_at(2_000)
        .build()
}

#[test]
fn default_policy_drops_credentials_and_all_keeps_them() {
    let headers = Headers::capture(request_headers(), &HeaderPolicy::default()).unwrap();
    let names: Vec<_> = headers.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "host",
            "set-cookie",
            "x-api-key",
            "x-latin1",
            "traceparent",
            "accept"
        ]
    );
    // Latin-1 values, as the reference's ASGI stack decodes them; later duplicates win in place.
    assert_eq!(headers.get("x-latin1"), Some("café"));
    assert_eq!(headers.get("accept"), Some("application/json"));

    let all = Headers::capture(request_headers(), &HeaderPolicy::all()).unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(all.get("authorization"), Some("Bearer bearer-SECRET"));

    let only = HeaderPolicy::only(["Host", "X-Api-Key"])
        .with("accept")
        .without("host");
    let kept = Headers::capture(request_headers(), &only).unwrap();
    assert_eq!(
        kept.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        ["x-api-key", "accept"]
    );

    let reenabled = HeaderPolicy::default().with("Authorization");
    assert!(reenabled.keeps("authorization"));
    assert!(!reenabled.keeps("cookie"));
}

#[test]
fn header_byte_cap_is_a_clear_error() {
    let policy = HeaderPolicy::all().max_total_bytes(64);
    let error = Headers::capture(request_headers(), &policy).unwrap_err();
    assert_eq!(error, CaptureError::TooLarge { limit: 64 });
    let message = error.to_string();
    assert!(message.contains("64 bytes"), "{message}");
    for secret in SECRETS {
        assert!(!message.contains(secret));
    }
    let big = "v".repeat(100);
    let fits = HeaderPolicy::all().max_total_bytes(101);
    assert!(Headers::capture([("x", big.as_bytes())], &fits).is_ok());
    assert!(Headers::capture([("xy", big.as_bytes())], &fits).is_err());
}

#[test]
fn capture_takes_trace_context_and_json_carries_it_as_headers() {
    let snapshot = TaskContextSnapshot::builder()
        .capture_headers(request_headers(), &HeaderPolicy::default())
        .unwrap()
        .build();
    assert_eq!(
        snapshot.traceparent(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    // Already a header: not written twice.
    let text = json::to_json(&snapshot);
    assert_eq!(text.matches("traceparent").count(), 1);

    // Trace context without headers travels as headers in JSON, and reads back through them.
    let traced = TaskContextSnapshot::builder()
        .traceparent("00-aa-bb-01")
        .tracestate("k=v")
        .build();
    let text = json::to_json(&traced);
    assert!(
        text.contains(r#""http_headers": {"traceparent": "00-aa-bb-01", "tracestate": "k=v"}"#),
        "{text}"
    );
    let back = json::from_json(text.as_bytes()).unwrap();
    assert_eq!(back.traceparent(), Some("00-aa-bb-01"));
    assert_eq!(back.tracestate(), Some("k=v"));
}

#[test]
fn sub_claim_str_is_the_string_sub_claim_of_built_and_decoded_tokens() {
    let subs = [
        Some(serde_json::Value::from("user-1")),
        Some(serde_json::Value::from("us\"er\\1 \u{e9}\u{1f600}")),
        Some(serde_json::Value::from("")),
        Some(serde_json::Value::from(42)),
        Some(serde_json::Value::Null),
        Some(serde_json::Value::Bool(false)),
        None,
    ];
    for sub in subs {
        let mut builder = AccessToken::builder("t", "client-a").claim("iss", "x");
        if let Some(sub) = &sub {
            builder = builder.claim("sub", sub.clone());
        }
        let built = builder.build();
        let snapshot = TaskContextSnapshot::builder()
            .access_token(built.clone())
            .build();
        let decoded = json::from_json(json::to_json(&snapshot).as_bytes()).unwrap();
        let decoded = decoded.access_token().unwrap();
        let expected = sub.as_ref().and_then(serde_json::Value::as_str);
        assert_eq!(built.sub_claim_str(), expected, "{sub:?}");
        // Read in place first, then again after the claim was built as a value.
        assert_eq!(decoded.sub_claim_str(), expected, "{sub:?}");
        assert_eq!(decoded.sub_claim(), sub.as_ref(), "{sub:?}");
        assert_eq!(decoded.sub_claim_str(), expected, "{sub:?}");
    }
}

#[test]
fn the_builder_keeps_each_id_and_the_last_of_a_repeated_one() {
    let snapshot = TaskContextSnapshot::builder()
        .session_id("session-1")
        .origin_request_id("req-1")
        .owning_tool_name("tool")
        .session_id("session-two")
        .owning_tool_version("1.2.3")
        .origin_request_id("")
        .build();
    assert_eq!(snapshot.session_id(), Some("session-two"));
    assert_eq!(snapshot.origin_request_id(), Some(""));
    assert_eq!(snapshot.owning_tool_name(), Some("tool"));
    assert_eq!(snapshot.owning_tool_version(), Some("1.2.3"));
    let long = "x".repeat(500);
    let snapshot = TaskContextSnapshot::builder()
        .owning_tool_version(long.as_str())
        .session_id("s")
        .build();
    assert_eq!(snapshot.owning_tool_version(), Some(long.as_str()));
    assert_eq!(snapshot.session_id(), Some("s"));
    assert_eq!(snapshot.origin_request_id(), None);
    let back = json::from_json(json::to_json(&snapshot).as_bytes()).unwrap();
    assert_eq!(back, snapshot);
}

#[test]
fn capture_lowercases_names_and_reads_values_as_latin1_whatever_their_length() {
    let long_name = format!("X-{}", "Long".repeat(20));
    let unicode_name = "X-Ünïcode";
    let latin1: &[u8] = &[b'c', b'a', b'f', 0xE9];
    let pairs: Vec<(&str, &[u8])> = vec![
        ("User-Agent", b"agent/1.0"),
        ("X-Api-Key", b"key-SECRET"),
        ("x-latin", latin1),
        (long_name.as_str(), b"long"),
        (unicode_name, b"u"),
        ("X-EMPTY", b""),
    ];
    let policy = HeaderPolicy::all().secret("x-api-key");
    let headers = Headers::capture(pairs, &policy).unwrap();
    assert_eq!(headers.get("user-agent"), Some("agent/1.0"));
    assert_eq!(headers.get("x-api-key"), Some("key-SECRET"));
    assert!(headers.is_secret("x-api-key"));
    assert!(!format!("{headers:?}").contains("SECRET"));
    assert_eq!(headers.get("x-latin"), Some("caf\u{e9}"));
    assert_eq!(headers.get(&long_name.to_lowercase()), Some("long"));
    assert_eq!(headers.get(&unicode_name.to_lowercase()), Some("u"));
    assert_eq!(headers.get("x-empty"), Some(""));
    assert_eq!(headers.iter().count(), 6);
}

#[test]
fn capture_from_an_http_header_map_with_policy() {
    let mut map = http::HeaderMap::new();
    map.insert("authorization", "Bearer bearer-SECRET".parse().unwrap());
    map.insert("x-request-id", "req-42".parse().unwrap());
    map.append("x-multi", "one".parse().unwrap());
    map.append("x-multi", "two".parse().unwrap());
    map.insert("tracestate", "k=v".parse().unwrap());
    let snapshot = TaskContextSnapshot::builder()
        .capture_header_map(&map, &HeaderPolicy::default().secret("x-request-id"))
        .unwrap()
        .build();
    let headers = snapshot.http_headers().unwrap();
    assert_eq!(headers.get("authorization"), None);
    assert_eq!(headers.get("x-multi"), Some("two"));
    assert_eq!(snapshot.tracestate(), Some("k=v"));
    assert!(headers.is_secret("x-request-id"));
    assert!(!format!("{headers:?}").contains("req-42"));
    let direct = Headers::from_header_map(&map, &HeaderPolicy::all()).unwrap();
    assert_eq!(direct.get("authorization"), Some("Bearer bearer-SECRET"));
}

#[test]
fn scope_inputs_and_expiry() {
    assert_eq!(TaskContextSnapshot::new().scope_inputs(), None);
    let snapshot = TaskContextSnapshot::builder().access_token(token()).build();
    let inputs = snapshot.scope_inputs().unwrap();
    assert_eq!(inputs.client_id, "client-a");
    assert_eq!(inputs.sub, Some(&serde_json::Value::from("user-1")));
    let no_sub = AccessToken::builder("t", "c").build();
    assert_eq!(no_sub.sub_claim(), None);
    let token = token();
    assert!(!token.is_expired(1_999));
    assert!(!token.is_expired(2_000));
    assert!(token.is_expired(2_001));
    assert!(token.is_expired_now());
    assert!(!AccessToken::builder("t", "c").build().is_expired_now());
}

/// Every `Debug` and `Display` of values holding secrets, and of every error, is free of them.
#[test]
fn no_debug_or_display_shows_a_secret() {
    let snapshot = TaskContextSnapshot::builder()
        .access_token(token())
        .capture_headers(request_headers(), &HeaderPolicy::all().secret("X-Api-Key"))
        .unwrap()
        .build();
    let mut shown = vec![
        format!("{snapshot:?}"),
        format!("{snapshot:#?}"),
        format!("{:?}", snapshot.access_token().unwrap()),
        format!("{:?}", snapshot.http_headers().unwrap()),
        format!("{:?}", AccessToken::builder("tok-SECRET-0123", "c")),
        format!("{:?}", FernetKey::from_bytes([1; 32])),
        format!("{:?}", SealingKey::new("k1", [1; 32]).unwrap()),
        format!(
            "{:?}",
            KeyRing::new(SealingKey::new("k1", [1; 32]).unwrap())
        ),
        format!("{:?}", Codec::json_fernet(FernetKey::from_bytes([1; 32]))),
        format!("{:?}", TaskContextSnapshot::builder().access_token(token())),
    ];
    assert!(shown[0].contains("client-a"));
    assert!(shown[0].contains("[redacted]"));

    // Errors that could have echoed input holding a secret.
    let mut errors: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(
            AccessToken::from_json(r#"{"token": "tok-SECRET-0123", "client_id": 5}"#).unwrap_err(),
        ),
        Box::new(AccessToken::from_json(r#"{"token": "tok-SECRET-0123""#).unwrap_err()),
        Box::new(
            json::from_json(
                br#"{"access_token_json": "{\"token\": \"tok-SECRET-0123\", \"scopes\": 1}"}"#,
            )
            .unwrap_err(),
        ),
        Box::new(json::from_json(br#"{"session_id": ["tok-SECRET-0123"]}"#).unwrap_err()),
        Box::new(
            json::from_json(br#"{"http_headers": {"authorization": ["tok-SECRET-0123"]}}"#)
                .unwrap_err(),
        ),
        Box::new(json::from_json(br#"{"session_id": "tok-SECRET-0123" x"#).unwrap_err()),
        Box::new(KeyError::EmptyMaterial),
        Box::new(CaptureError::TooLarge { limit: 1 }),
    ];
    let codec = Codec::json_fernet(FernetKey::from_bytes([1; 32]));
    let stored = codec
        .encode(&snapshot, "fastmcp:fastmcp:task:anon:T1:snapshot")
        .unwrap();
    errors.push(Box::new(
        Codec::json_fernet(FernetKey::from_bytes([2; 32]))
            .decode(&stored, "k")
            .unwrap_err(),
    ));
    errors.push(Box::new(Codec::json().decode(&stored, "k").unwrap_err()));
    errors.push(Box::new(
        codec
            .decode(json::to_json(&snapshot).as_bytes(), "k")
            .unwrap_err(),
    ));
    let sealed = Codec::native_sealed(KeyRing::new(SealingKey::new("k1", [1; 32]).unwrap()));
    let stored = sealed.encode(&snapshot, "a").unwrap();
    errors.push(Box::new(sealed.decode(&stored, "b").unwrap_err()));
    errors.push(Box::new(DecodeError::Native(NativeError::Body)));
    errors.push(Box::new(JsonError::Syntax { line: 1, column: 1 }));
    errors.push(Box::new(TokenError::Shape { line: 1, column: 1 }));
    for error in &errors {
        shown.push(error.to_string());
        shown.push(format!("{error:?}"));
    }
    for text in &shown {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
    }
}
