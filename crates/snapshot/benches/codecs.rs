//! Benchmarks of the snapshot stored forms: encode and decode of a full snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmarks fail loudly on a broken assumption"
)]

use divan::{Bencher, black_box};
use taskctx_snapshot::{
    Codec, FernetKey, KeyRing, SealingKey, SnapshotCodec, TaskContextSnapshot, json, sample,
};

const REDIS_KEY: &str = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:T1:snapshot";

fn main() {
    divan::main();
}

/// The full snapshot with one more header of `kib` KiB, to measure the cost per KiB.
fn padded_snapshot(kib: usize) -> TaskContextSnapshot {
    sample::full_snapshot()
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
    let snapshot = sample::full_snapshot();
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
    let stored = codec.encode(&sample::full_snapshot(), REDIS_KEY).unwrap();
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
    let plaintext = json::to_json(&sample::full_snapshot());
    bencher.bench_local(|| drop(key.encrypt(black_box(plaintext.as_bytes())).unwrap()));
}

#[divan::bench]
fn fernet_decrypt_only(bencher: Bencher<'_, '_>) {
    let key = FernetKey::from_bytes([7; 32]);
    let token = key.encrypt_with(
        json::to_json(&sample::full_snapshot()).as_bytes(),
        1_700_000_000,
        [1; 16],
    );
    bencher.bench_local(|| drop(key.decrypt(black_box(token.as_bytes())).unwrap()));
}

/// The JSON form alone: encode into a new text, and decode the text into a snapshot.
#[divan::bench]
fn json_encode(bencher: Bencher<'_, '_>) {
    let snapshot = sample::full_snapshot();
    bencher.bench_local(|| drop(json::to_json(black_box(&snapshot))));
}

#[divan::bench]
fn json_encode_into_buffer(bencher: Bencher<'_, '_>) {
    let snapshot = sample::full_snapshot();
    let mut out = Vec::with_capacity(2048);
    bencher.bench_local(|| {
        out.clear();
        json::write_json(black_box(&snapshot), &mut out);
        black_box(out.len())
    });
}

#[divan::bench]
fn json_decode(bencher: Bencher<'_, '_>) {
    let stored = json::to_json(&sample::full_snapshot());
    bencher.bench_local(|| drop(json::from_json(black_box(stored.as_bytes())).unwrap()));
}

/// The floor under `FernetKey::encrypt`, the crates alone on the full snapshot's sizes: the
/// AES-128-CBC of its 928 padded bytes (each block waits for the one before), the HMAC-SHA256 of
/// the 953 bytes a token's tag covers, both interleaved as the token does (and beside an HMAC of
/// unrelated bytes, for the most the core overlaps), each from states made once (as a key keeps
/// them); and the process-id check a fresh IV makes.
mod fernet_floor {
    use aes::cipher::{Block, BlockModeEncrypt, InnerIvInit, KeyInit};
    use divan::{Bencher, black_box};
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    type Cbc = cbc::Encryptor<aes::Aes128Enc>;

    fn states() -> (aes::Aes128Enc, Hmac<Sha256>) {
        let cipher = aes::Aes128Enc::new(&[1; 16].into());
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[2; 16]).unwrap();
        (cipher, mac)
    }

    /// Encrypts `bytes` (whole blocks) in place, continuing the chain of `cbc`.
    fn encrypt(cbc: &mut Cbc, bytes: &mut [u8]) {
        let (blocks, _) = Block::<Cbc>::slice_as_chunks_mut(bytes);
        cbc.encrypt_blocks(blocks);
    }

    #[divan::bench]
    fn aes_cbc(bencher: Bencher<'_, '_>) {
        let (cipher, _) = states();
        let mut body = vec![7_u8; 928];
        bencher.bench_local(|| {
            encrypt(
                &mut Cbc::inner_iv_init(cipher.clone(), &[3; 16].into()),
                &mut body,
            );
            black_box(body.last().copied())
        });
    }

    #[divan::bench]
    fn hmac(bencher: Bencher<'_, '_>) {
        let (_, mac) = states();
        let bytes = vec![7_u8; 953];
        bencher.bench_local(|| black_box(mac.clone().chain_update(&bytes).finalize().into_bytes()));
    }

    /// As a token does: one AES block at a time, each 64-byte block of header and ciphertext
    /// MACed once the ciphertext is 64 bytes past it.
    #[divan::bench]
    fn aes_cbc_and_hmac(bencher: Bencher<'_, '_>) {
        let (cipher, mac) = states();
        let mut raw = vec![7_u8; 25 + 928];
        bencher.bench_local(|| {
            let mut cbc = Cbc::inner_iv_init(cipher.clone(), &[3; 16].into());
            let mut mac = mac.clone();
            let (mut sealed, mut maced) = (25, 0);
            while sealed < raw.len() {
                encrypt(&mut cbc, &mut raw[sealed..sealed + 16]);
                sealed += 16;
                if maced + 128 <= sealed {
                    mac.update(&raw[maced..maced + 64]);
                    maced += 64;
                }
            }
            mac.update(&raw[maced..]);
            black_box(mac.finalize().into_bytes())
        });
    }

    /// The two chains side by side with nothing passing between them: the most the core overlaps
    /// them.
    #[divan::bench]
    fn aes_cbc_beside_unrelated_hmac(bencher: Bencher<'_, '_>) {
        let (cipher, mac) = states();
        let mut body = vec![7_u8; 928];
        let other = vec![9_u8; 953];
        bencher.bench_local(|| {
            let mut cbc = Cbc::inner_iv_init(cipher.clone(), &[3; 16].into());
            let mut mac = mac.clone();
            for (chunk, other) in body.chunks_mut(64).zip(other.chunks(64)) {
                encrypt(&mut cbc, chunk);
                mac.update(other);
            }
            black_box(mac.finalize().into_bytes())
        });
    }

    #[divan::bench]
    fn process_id() -> u32 {
        std::process::id()
    }
}
