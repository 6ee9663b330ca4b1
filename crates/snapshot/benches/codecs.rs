//! Benchmarks of the snapshot stored forms: encode and decode of a full snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmarks fail loudly on a broken assumption"
)]

use divan::{Bencher, black_box};
use taskctx_snapshot::{
    Codec, FernetKey, KeyRing, SealingKey, SnapshotCodec, TaskContextSnapshot, json,
};
use taskctx_tests::fixtures::full_snapshot;

const REDIS_KEY: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";

fn main() {
    assert_eq!(json::to_json(&full_snapshot()).len(), 924);
    divan::main();
}

/// The full snapshot with one more header of `kib` KiB, to measure the cost per KiB.
fn padded_snapshot(kib: usize) -> TaskContextSnapshot {
    full_snapshot()
        .into_builder()
        .header("x-padding", "p".repeat(kib * 1024))
        .build()
}

fn codec(name: &str) -> Codec {
    match name {
        "json" => Codec::json(),
        "native" => Codec::native(),
        "fernet" => Codec::json_fernet(FernetKey::from_bytes([7; 32])),
        _ => Codec::native_sealed(KeyRing::new(SealingKey::new("k1", [9; 32]).unwrap())),
    }
}

const CODECS: [&str; 4] = ["json", "native", "fernet", "sealed"];

/// Encode of the full snapshot through the codec (Fernet and sealed include the random IV or
/// nonce; no key derivation).
#[divan::bench(args = CODECS)]
fn encode(bencher: Bencher<'_, '_>, name: &str) {
    let codec = codec(name);
    let snapshot = full_snapshot();
    let mut out = Vec::with_capacity(4096);
    bencher.bench_local(|| {
        out.clear();
        codec
            .encode_into(black_box(&snapshot), REDIS_KEY, &mut out)
            .unwrap();
        black_box(out.len())
    });
}

/// Decode of the full snapshot through the codec (detection, decryption, parsing, building), and
/// the drop of the snapshot.
#[divan::bench(args = CODECS)]
fn decode(bencher: Bencher<'_, '_>, name: &str) {
    let codec = codec(name);
    let stored = codec.encode(&full_snapshot(), REDIS_KEY).unwrap();
    bencher.bench_local(|| drop(codec.decode(black_box(&stored), REDIS_KEY).unwrap()));
}

/// Native round trip (encode + decode), unsealed and sealed, with extra KiB of headers.
#[divan::bench(args = [0, 4, 16])]
fn native_round_trip_padded(bencher: Bencher<'_, '_>, kib: usize) {
    let codec = codec("native");
    let snapshot = padded_snapshot(kib);
    let mut out = Vec::with_capacity(32 * 1024);
    bencher.bench_local(|| {
        out.clear();
        codec
            .encode_into(black_box(&snapshot), REDIS_KEY, &mut out)
            .unwrap();
        codec.decode(black_box(&out), REDIS_KEY).unwrap()
    });
}

/// As [`native_round_trip_padded`], sealed: the difference is the AEAD's cost.
#[divan::bench(args = [0, 4, 16])]
fn sealed_round_trip_padded(bencher: Bencher<'_, '_>, kib: usize) {
    let codec = codec("sealed");
    let snapshot = padded_snapshot(kib);
    let mut out = Vec::with_capacity(32 * 1024);
    bencher.bench_local(|| {
        out.clear();
        codec
            .encode_into(black_box(&snapshot), REDIS_KEY, &mut out)
            .unwrap();
        codec.decode(black_box(&out), REDIS_KEY).unwrap()
    });
}

/// Fernet alone on the full snapshot's JSON: encrypt (random IV and the clock's time, as the
/// reference's `Fernet.encrypt`) and decrypt.
#[divan::bench]
fn fernet_encrypt_only(bencher: Bencher<'_, '_>) {
    let key = FernetKey::from_bytes([7; 32]);
    let plaintext = json::to_json(&full_snapshot());
    bencher.bench_local(|| drop(key.encrypt(black_box(plaintext.as_bytes())).unwrap()));
}

#[divan::bench]
fn fernet_decrypt_only(bencher: Bencher<'_, '_>) {
    let key = FernetKey::from_bytes([7; 32]);
    let token = key.encrypt_with(
        json::to_json(&full_snapshot()).as_bytes(),
        1_700_000_000,
        [1; 16],
    );
    bencher.bench_local(|| drop(key.decrypt(black_box(token.as_bytes())).unwrap()));
}

/// The JSON form alone: encode into a new text, and decode the text into a snapshot.
#[divan::bench]
fn json_encode(bencher: Bencher<'_, '_>) {
    let snapshot = full_snapshot();
    bencher.bench_local(|| drop(json::to_json(black_box(&snapshot))));
}

#[divan::bench]
fn json_encode_into_buffer(bencher: Bencher<'_, '_>) {
    let snapshot = full_snapshot();
    let mut out = Vec::with_capacity(2048);
    bencher.bench_local(|| {
        out.clear();
        json::write_json(black_box(&snapshot), &mut out);
        black_box(out.len())
    });
}

#[divan::bench]
fn json_decode(bencher: Bencher<'_, '_>) {
    let stored = json::to_json(&full_snapshot());
    bencher.bench_local(|| drop(json::from_json(black_box(stored.as_bytes())).unwrap()));
}
