//! Byte tests eight bytes at a time, on a word read little-endian from the text (the first byte
//! in the lowest bits), with no table and no branch.
//!
//! Each test gives a mask in which the high bit of a byte stands for that byte. The tests built
//! on subtraction mark the first matching byte exactly but may also mark some bytes after it (a
//! borrow runs on past a match), so only the lowest set bit of their mask is meaningful: callers
//! take `trailing_zeros() / 8` as the index of the first byte to look at, or test the mask for
//! zero.

/// `byte` in every byte of a word.
pub(crate) const fn splat(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// `0x01` in every byte of a word.
const ONES: u64 = splat(0x01);

/// `0x80` in every byte of a word: the bit each test sets for a byte.
pub(crate) const HIGHS: u64 = splat(0x80);

/// The lowest set bit marks the first byte of `word` equal to `byte`.
#[inline(always)]
pub(crate) const fn first_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ splat(byte);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The lowest set bit marks the first byte of `word` below `bound`, which is at most `0x80`.
#[inline(always)]
pub(crate) const fn first_below(word: u64, bound: u8) -> u64 {
    word.wrapping_sub(splat(bound)) & !word & HIGHS
}

/// Marks every byte of `word` that is not ASCII or is an uppercase ASCII letter: exact for every
/// byte when all are ASCII; after a byte above `0x7F` (always marked itself) the marks are
/// meaningful only up to it.
#[inline(always)]
pub(crate) const fn non_ascii_or_upper(word: u64) -> u64 {
    // For a byte below 0x80, adding `0x80 - b'A'` sets its high bit from `A` up and adding
    // `0x80 - (b'Z' + 1)` from past `Z`, with no carry into the next byte.
    let upper = word.wrapping_add(splat(0x80 - b'A')) & !word.wrapping_add(splat(0x80 - b'Z' - 1));
    (word | upper) & HIGHS
}

/// The index of the byte the lowest set bit of `mask` marks (8 when none is), as the scans read
/// it.
#[cfg(test)]
pub(crate) fn first_marked(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The index of the first byte of `bytes` (a word, little-endian) that `test` holds for, 8 when
/// none: what a mask's [`first_marked`] must agree with.
#[cfg(test)]
pub(crate) fn first_by_bytes(bytes: [u8; 8], test: impl Fn(u8) -> bool) -> usize {
    bytes.iter().position(|&b| test(b)).unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{first_below, first_by_bytes, first_equal, first_marked, non_ascii_or_upper};

    /// Every test, beside the byte-by-byte predicate it stands for.
    fn check(bytes: [u8; 8]) -> Result<(), TestCaseError> {
        let word = u64::from_le_bytes(bytes);
        for byte in [b'"', b'\\', 0x00, 0x7f, 0xff] {
            prop_assert_eq!(
                first_marked(first_equal(word, byte)),
                first_by_bytes(bytes, |b| b == byte)
            );
        }
        for bound in [0x01, 0x20, 0x21, 0x80] {
            prop_assert_eq!(
                first_marked(first_below(word, bound)),
                first_by_bytes(bytes, |b| b < bound)
            );
        }
        prop_assert_eq!(
            first_marked(non_ascii_or_upper(word)),
            first_by_bytes(bytes, |b| !b.is_ascii() || b.is_ascii_uppercase())
        );
        if bytes.is_ascii() {
            // All ASCII: every mark is exact, not only the first.
            for (index, &b) in bytes.iter().enumerate() {
                let marked = (non_ascii_or_upper(word) >> (8 * index)) & 0x80 != 0;
                prop_assert_eq!(marked, b.is_ascii_uppercase());
            }
        }
        Ok(())
    }

    #[test]
    fn every_byte_at_every_place() {
        for place in 0..8 {
            for byte in 0..=u8::MAX {
                // Fill bytes that match no test, before and after the one tried.
                let mut bytes = [b'a'; 8];
                if let Some(slot) = bytes.get_mut(place) {
                    *slot = byte;
                }
                check(bytes).unwrap();
            }
        }
    }

    proptest! {
        #[test]
        fn any_word(bytes in any::<[u8; 8]>()) {
            check(bytes)?;
        }

        #[test]
        fn mostly_text(bytes in prop::array::uniform8(prop::sample::select(
            b"aZ\"\\\x00\x1f\x7f\x80\xff ".to_vec(),
        ))) {
            check(bytes)?;
        }
    }
}
