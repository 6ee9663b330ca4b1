//! Support shared by the snapshot crate's test files: an independent url-safe base64, for
//! building and altering Fernet tokens byte by byte.

#![allow(
    dead_code,
    clippy::indexing_slicing,
    reason = "shared by several test files, each using part of it; tests fail loudly"
)]

/// Url-safe base64 (padded) decoded by the tests' own reader, independent of the crate's.
pub(crate) fn base64_decode(text: &str) -> Vec<u8> {
    let table = |byte: u8| -> u32 {
        match byte {
            b'A'..=b'Z' => u32::from(byte - b'A'),
            b'a'..=b'z' => u32::from(byte - b'a') + 26,
            b'0'..=b'9' => u32::from(byte - b'0') + 52,
            b'-' => 62,
            _ => 63,
        }
    };
    let data: Vec<u8> = text.bytes().filter(|&byte| byte != b'=').collect();
    let mut out = Vec::new();
    for chunk in data.chunks(4) {
        let mut acc = 0_u32;
        for (index, &byte) in chunk.iter().enumerate() {
            acc |= table(byte) << (18 - 6 * index);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// Url-safe base64 with padding, written by the tests' own writer.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut acc = 0_u32;
        for (index, &byte) in chunk.iter().enumerate() {
            acc |= u32::from(byte) << (16 - 8 * index);
        }
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((acc >> (18 - 6 * index)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}
