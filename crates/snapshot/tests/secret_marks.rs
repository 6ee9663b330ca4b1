//! Secret header marks in the stored forms: the native form (version 2) keeps them, the
//! reference's JSON cannot (a reader re-applies its policy), and version 1 native values, written
//! before marks were stored, still read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on a broken assumption"
)]

use taskctx_snapshot::{
    Codec, HeaderPolicy, Headers, KeyRing, SealingKey, SnapshotCodec, TaskContextSnapshot, json,
    native,
};

const KEY: &str = "fastmcp:fastmcp:task:anon:T1:snapshot";

fn marked() -> TaskContextSnapshot {
    let request: [(&str, &[u8]); 2] = [("X-Api-Key", b"k-123"), ("X-Request-Id", b"r-1")];
    TaskContextSnapshot::builder()
        .capture_headers(request, &HeaderPolicy::all().secret("x-api-key"))
        .unwrap()
        .build()
}

#[test]
fn the_native_forms_keep_the_mark() {
    let ring = KeyRing::new(SealingKey::new("k1", [5; 32]).unwrap());
    for codec in [Codec::native(), Codec::native_sealed(ring)] {
        let stored = codec.encode(&marked(), KEY).unwrap();
        assert_eq!(stored[4], native::FORMAT_VERSION);
        let read = codec.decode(&stored, KEY).unwrap();
        let headers = read.http_headers().unwrap();
        assert!(headers.is_secret("x-api-key"), "{codec:?}");
        assert!(!headers.is_secret("x-request-id"), "{codec:?}");
        assert_eq!(headers.get("x-api-key"), Some("k-123"));
        assert!(!format!("{read:?}").contains("k-123"));
    }
}

#[test]
fn json_loses_the_mark_and_the_readers_policy_restores_it() {
    let read = json::from_json(json::to_json(&marked()).as_bytes()).unwrap();
    let mut headers = read.http_headers().unwrap().clone();
    assert!(
        !headers.is_secret("x-api-key"),
        "JSON has no place for marks"
    );
    headers.apply_secret_marks(&HeaderPolicy::all().secret("X-API-KEY"));
    assert!(headers.is_secret("x-api-key"));
    assert!(!format!("{headers:?}").contains("k-123"));
}

#[test]
fn retain_keeps_order_and_marks() {
    let mut headers = Headers::new();
    headers.insert("authorization", "Bearer t");
    headers.insert_secret("x-api-key", "k");
    headers.insert("x-request-id", "r");
    headers.retain(|name, _| name != "authorization");
    let names: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["x-api-key", "x-request-id"]);
    assert!(headers.is_secret("x-api-key"));
    assert!(!headers.contains("authorization"));
}

#[test]
fn version_1_values_still_read() {
    // A version 1 envelope by hand: magic, version 1, codec 1 (postcard), empty key id, and the
    // postcard body of 8 optional fields: headers [("a", "b")] and session id "s1".
    let mut stored = b"\0tcx\x01\x01\x00".to_vec();
    stored.extend_from_slice(&[0x00, 0x01, 0x01, 0x01, b'a', 0x01, b'b', 0x00]);
    stored.extend_from_slice(&[0x01, 0x02, b's', b'1', 0x00, 0x00, 0x00, 0x00]);
    let read = Codec::native().decode(&stored, KEY).unwrap();
    assert_eq!(read.session_id(), Some("s1"));
    assert_eq!(read.http_headers().unwrap().get("a"), Some("b"));
    assert!(!read.http_headers().unwrap().is_secret("a"));
}
