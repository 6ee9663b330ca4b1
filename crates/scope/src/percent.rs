//! Percent-encoding of scope and component segments (SPEC section 1).
//!
//! `Q(s)` keeps `A-Z a-z 0-9 - . _ ~` and writes every other UTF-8 byte as `%XX` with uppercase hex.
//! Decoding accepts hex of either case and rejects everything else: a lone or malformed `%`, any raw
//! byte that `Q` would have escaped, and escapes that decode to invalid UTF-8.

use std::borrow::Cow;

use crate::error::{Error, Part};

/// `UNRESERVED[b]` is true when `Q` keeps byte `b` as it is.
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b: u8 = 0;
    loop {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' || b == b'~';
        #[allow(
            clippy::indexing_slicing,
            clippy::cast_lossless,
            reason = "const context: a u8 index is always below 256"
        )]
        {
            table[b as usize] = keep;
        }
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
};

/// Whether `Q` keeps byte `b` as it is.
#[inline]
#[must_use]
pub(crate) fn is_unreserved(b: u8) -> bool {
    // A u8 index into a 256-entry table: the bounds check folds away.
    UNRESERVED.get(usize::from(b)).copied().unwrap_or(false)
}

/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte of a word.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// For eight bytes read as a little-endian word: the high bit of each byte is set when `Q`
/// escapes that byte, and every other bit is clear. Arithmetic on the whole word, with no table
/// and no branch: each byte's low seven bits are below `0x80`, so no sum carries into the next
/// byte.
#[inline(always)]
const fn escaped_bits(word: u64) -> u64 {
    // The high bit of a byte set when it lies in `lo..=hi`: adding `0x80 - lo` sets it when the
    // byte is at least `lo`, adding `0x7F - hi` when it is above `hi`.
    const fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
        x.wrapping_add((0x80 - lo as u64) * ONES) & !x.wrapping_add((0x7F - hi as u64) * ONES)
    }
    // The high bit of a byte set when it differs from `c`.
    const fn differs(x: u64, c: u8) -> u64 {
        (x ^ (c as u64 * ONES)).wrapping_add(0x7F * ONES)
    }
    let low = word & !HIGHS;
    // `A-Z` and `a-z`, folded to lowercase (no other byte folds into `a-z`).
    let letters = in_range(low | (0x20 * ONES), b'a', b'z');
    // `- . 0-9` are `0x2D..=0x39` but for `/`.
    let digits = in_range(low, b'-', b'9') & differs(low, b'/');
    let marks = !(differs(low, b'_') & differs(low, b'~'));
    // Bytes of `0x80` and above are always escaped.
    (!(letters | digits | marks) | word) & HIGHS
}

/// The end of the run of unreserved bytes of `bytes` that starts at `start`.
#[inline(always)]
pub(crate) fn unreserved_run(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    // Eight bytes at a time: the first byte `Q` escapes ends the run.
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let stops = escaped_bits(u64::from_le_bytes(*chunk));
        if stops != 0 {
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    // Fewer than eight bytes left: read the slice's last eight, when it has them, and shift out
    // the bytes already seen; the zero bytes shifted in are escaped and end the run.
    let rest = bytes.len().saturating_sub(i);
    if rest > 0
        && let Some(last) = bytes.last_chunk::<8>()
    {
        let stops = escaped_bits(u64::from_le_bytes(*last) >> (8 * (8 - rest)));
        return i + (stops.trailing_zeros() / 8) as usize;
    }
    while let Some(&b) = bytes.get(i) {
        if !is_unreserved(b) {
            break;
        }
        i += 1;
    }
    i
}

/// [`unreserved_run`] for the encoder, where between the escapes of a text the runs are often
/// empty: one look at the first byte ends those before any word is read.
#[inline]
fn encoder_run(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        Some(&b) if is_unreserved(b) => unreserved_run(bytes, start),
        _ => start,
    }
}

/// The uppercase hex digit for the low four bits of `n`.
#[inline]
fn hex_digit(n: u8) -> char {
    char::from(hex_byte(n))
}

/// The value of one hex digit of either case.
#[inline]
const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `%XX` for byte `b`.
#[inline]
pub(crate) fn push_escaped(b: u8, out: &mut String) {
    out.push('%');
    out.push(hex_digit(b >> 4));
    out.push(hex_digit(b));
}

/// The length of `Q(s)` in bytes.
#[must_use]
pub fn encoded_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = bytes.len();
    // Runs of unreserved bytes are skipped eight at a time; each other byte grows by two.
    let mut i = encoder_run(bytes, 0);
    while i < bytes.len() {
        len += 2;
        i = encoder_run(bytes, i + 1);
    }
    len
}

/// Appends `Q(s)` to `out`.
pub fn quote_into(s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let end = encoder_run(bytes, start);
        // Runs of unreserved bytes are ASCII, so both ends are char boundaries.
        if let Some(run) = s.get(start..end) {
            out.push_str(run);
        }
        let Some(&b) = bytes.get(end) else {
            break;
        };
        push_escaped(b, out);
        start = end + 1;
    }
}

/// `Q(s)`: borrowed when `s` has nothing to escape.
///
/// ```
/// assert_eq!(taskctx_scope::quote("client-a|user-1"), "client-a%7Cuser-1");
/// assert_eq!(taskctx_scope::quote("plain"), "plain");
/// ```
#[must_use]
pub fn quote(s: &str) -> Cow<'_, str> {
    if unreserved_run(s.as_bytes(), 0) == s.len() {
        Cow::Borrowed(s)
    } else {
        let mut out = String::with_capacity(encoded_len(s));
        quote_into(s, &mut out);
        Cow::Owned(out)
    }
}

/// Decodes a percent-encoded segment strictly: borrowed when it holds no escape.
///
/// # Errors
/// [`Error::InvalidEscape`], [`Error::Unescaped`] or [`Error::InvalidUtf8`], naming `part`.
///
/// ```
/// use taskctx_scope::{unquote, Part};
/// assert_eq!(unquote("client-a%7cuser-1", Part::Scope).unwrap(), "client-a|user-1");
/// assert!(unquote("%ZZ", Part::Scope).is_err());
/// ```
pub fn unquote(s: &str, part: Part) -> Result<Cow<'_, str>, Error> {
    if validate_encoded(s, part)? {
        Ok(Cow::Owned(decode_validated(s)))
    } else {
        Ok(Cow::Borrowed(s))
    }
}

/// Checks that `s` is a well-formed encoded segment; returns whether it holds any escape.
pub(crate) fn validate_encoded(s: &str, part: Part) -> Result<bool, Error> {
    scan_encoded(s, 0, part, false).map(|(_, escaped)| escaped)
}

/// Scans a well-formed encoded segment of `s` from byte `start` to the end, or, with
/// `stop_at_separators`, to the first `:` or `#`. Returns where it stopped and whether the segment
/// holds any escape; error offsets are relative to `start`.
#[inline(always)]
pub(crate) fn scan_encoded(
    s: &str,
    start: usize,
    part: Part,
    stop_at_separators: bool,
) -> Result<(usize, bool), Error> {
    let bytes = s.as_bytes();
    // Fast path: a run of unreserved bytes.
    let mut i = unreserved_run(bytes, start);
    let mut utf8 = Utf8Validator::default();
    let mut escaped = false;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex_value);
            let low = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(high), Some(low)) = (high, low) else {
                return Err(Error::InvalidEscape {
                    part,
                    offset: i - start,
                });
            };
            if !utf8.feed((high << 4) | low) {
                return Err(Error::InvalidUtf8 {
                    part,
                    offset: i - start,
                });
            }
            escaped = true;
            i += 3;
        } else if is_unreserved(b) {
            if !utf8.is_complete() {
                return Err(Error::InvalidUtf8 {
                    part,
                    offset: i - start,
                });
            }
            i = unreserved_run(bytes, i);
        } else if stop_at_separators && (b == b':' || b == b'#') {
            break;
        } else {
            return Err(unescaped(s, i, start, part));
        }
    }
    if utf8.is_complete() {
        Ok((i, escaped))
    } else {
        Err(Error::InvalidUtf8 {
            part,
            offset: i - start,
        })
    }
}

/// The error for a raw byte at `i` that `Q` would have escaped.
#[cold]
fn unescaped(s: &str, i: usize, start: usize, part: Part) -> Error {
    let found = s
        .get(i..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('\u{FFFD}');
    Error::Unescaped {
        part,
        offset: i - start,
        found,
    }
}

/// Whether a segment that [`validate_encoded`] accepted is already `Q` of its text: every escape
/// in uppercase hex and of a byte `Q` escapes.
pub(crate) fn is_canonical(s: &str) -> bool {
    let bytes = s.as_bytes();
    let upper = |at: usize| {
        bytes
            .get(at)
            .copied()
            .filter(|&d| d.is_ascii_digit() || (b'A'..=b'F').contains(&d))
            .and_then(hex_value)
    };
    let mut i = unreserved_run(bytes, 0);
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            return false;
        }
        match (upper(i + 1), upper(i + 2)) {
            (Some(high), Some(low)) if !is_unreserved((high << 4) | low) => {}
            _ => return false,
        }
        i = unreserved_run(bytes, i + 3);
    }
    true
}

/// The rest of `raw` after `Q(text)`, when `raw` begins with it and `text` holds no `forbidden`
/// byte.
pub(crate) fn strip_quoted<'r>(
    raw: &'r [u8],
    text: &[u8],
    forbidden: Option<u8>,
) -> Option<&'r [u8]> {
    let mut at = 0;
    for &b in text {
        if is_unreserved(b) {
            if raw.get(at) != Some(&b) {
                return None;
            }
            at += 1;
        } else {
            let escape = [b'%', hex_byte(b >> 4), hex_byte(b)];
            if Some(b) == forbidden || raw.get(at..at + 3) != Some(escape.as_slice()) {
                return None;
            }
            at += 3;
        }
    }
    raw.get(at..)
}

/// The uppercase hex digit for the low four bits of `n`, as a byte.
#[inline]
fn hex_byte(n: u8) -> u8 {
    let n = n & 0x0F;
    if n < 10 { b'0' + n } else { b'A' + (n - 10) }
}

/// Decoded bytes of a segment that [`validate_encoded`] accepted (malformed escapes, which cannot
/// occur there, pass through literally rather than panic).
pub(crate) fn decoded_bytes(s: &str) -> DecodedBytes<'_> {
    DecodedBytes {
        bytes: s.as_bytes(),
        index: 0,
    }
}

/// Decodes a validated segment into a new string.
pub(crate) fn decode_validated(s: &str) -> String {
    let bytes: Vec<u8> = decoded_bytes(s).collect();
    match String::from_utf8(bytes) {
        Ok(text) => text,
        // Unreachable for validated input; stay total anyway.
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// Iterator over the decoded bytes of an encoded segment.
#[derive(Debug, Clone)]
pub(crate) struct DecodedBytes<'a> {
    bytes: &'a [u8],
    index: usize,
}

impl Iterator for DecodedBytes<'_> {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.index)?;
        if b == b'%' {
            let high = self.bytes.get(self.index + 1).copied().and_then(hex_value);
            let low = self.bytes.get(self.index + 2).copied().and_then(hex_value);
            if let (Some(high), Some(low)) = (high, low) {
                self.index += 3;
                return Some((high << 4) | low);
            }
        }
        self.index += 1;
        Some(b)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.bytes.len().saturating_sub(self.index);
        (left.div_ceil(3), Some(left))
    }
}

/// A byte-at-a-time UTF-8 validator (rejects overlongs, surrogates and code points past U+10FFFF).
#[derive(Debug, Default, Clone, Copy)]
struct Utf8Validator {
    /// Continuation bytes still expected.
    pending: u8,
    /// Allowed range of the next continuation byte.
    low: u8,
    high: u8,
}

impl Utf8Validator {
    /// Feeds one byte; false when the sequence so far cannot be valid UTF-8.
    #[inline]
    fn feed(&mut self, b: u8) -> bool {
        if self.pending > 0 {
            if b < self.low || b > self.high {
                return false;
            }
            self.pending -= 1;
            self.low = 0x80;
            self.high = 0xBF;
            return true;
        }
        let (pending, low, high) = match b {
            0x00..=0x7F => return true,
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return false,
        };
        self.pending = pending;
        self.low = low;
        self.high = high;
        true
    }

    /// Whether no multi-byte sequence is left open.
    fn is_complete(self) -> bool {
        self.pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run's end found one byte at a time, through the table.
    fn run_by_bytes(bytes: &[u8], start: usize) -> usize {
        bytes.get(start..).map_or(start, |rest| {
            start + rest.iter().take_while(|&&b| is_unreserved(b)).count()
        })
    }

    #[test]
    fn the_word_test_agrees_with_the_table_for_every_byte_at_every_place() {
        for b in 0..=u8::MAX {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let expected = if is_unreserved(b) {
                    0
                } else {
                    0x80 << (8 * at)
                };
                assert_eq!(
                    escaped_bits(u64::from_le_bytes(word)),
                    expected,
                    "{b:#04x} at {at}"
                );
            }
        }
    }

    #[test]
    fn runs_end_at_the_first_escaped_byte_at_every_length_and_start() {
        for len in 0..40 {
            for stop in 0..=len {
                for b in [
                    b'%', b':', b'#', b'/', b'|', 0x00, 0x80, 0xFF, b'@', b'`', b'{',
                ] {
                    let mut bytes = vec![b'x'; len];
                    if let Some(slot) = bytes.get_mut(stop) {
                        *slot = b;
                    }
                    for start in 0..=len {
                        assert_eq!(
                            unreserved_run(&bytes, start),
                            run_by_bytes(&bytes, start),
                            "len {len}, byte {b:#04x} at {stop}, from {start}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn quote_matches_the_unreserved_set() {
        for b in 0u8..128 {
            let s = char::from(b).to_string();
            let quoted = quote(&s);
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                assert_eq!(quoted, s);
            } else {
                assert_eq!(quoted, format!("%{b:02X}"));
            }
        }
    }

    #[test]
    fn quoting_agrees_with_the_byte_by_byte_definition() {
        let naive = |s: &str| {
            let mut out = String::new();
            for b in s.bytes() {
                if is_unreserved(b) {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        };
        let long = "a".repeat(17);
        let samples = [
            "",
            "a",
            "|",
            "client-a|user-1",
            "||",
            "abcdefgh|abcdefgh|",
            "ü/😀 ok",
            long.as_str(),
            "weather://{city}/current?units={units}",
        ];
        for s in samples {
            let mut out = String::from("x");
            quote_into(s, &mut out);
            assert_eq!(out, format!("x{}", naive(s)), "{s:?}");
            assert_eq!(encoded_len(s), naive(s).len(), "{s:?}");
            assert_eq!(quote(s), naive(s), "{s:?}");
            assert!(is_canonical(&naive(s)), "{s:?}");
            let quoted = format!("{}%7Crest", naive(s));
            assert_eq!(
                strip_quoted(quoted.as_bytes(), s.as_bytes(), None),
                Some(b"%7Crest".as_slice())
            );
            assert_eq!(
                strip_quoted(quoted.as_bytes(), format!("{s}x").as_bytes(), None),
                None
            );
            assert_eq!(
                strip_quoted(quoted.as_bytes(), s.as_bytes(), Some(b'|')),
                (!s.contains('|')).then_some(b"%7Crest".as_slice())
            );
        }
    }

    #[test]
    fn unquote_rejects_what_q_never_writes() {
        for bad in [
            "%",
            "%2",
            "%2g",
            "%ZZ",
            "%zz%41",
            "%E2%82",
            "%FF",
            "%C0%AF",
            "%ED%A0%80",
            "%F4%90%80%80",
            "%F0%9F%98",
            "%E2%82%C3%BC",
            "a+b",
            ":",
            "ü",
        ] {
            assert!(unquote(bad, Part::Component).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn canonical_segments_are_recognised() {
        for canonical in ["", "plain", "client-a%7Cuser-1", "%C3%BC%2F", "a%25b"] {
            assert!(is_canonical(canonical), "{canonical}");
        }
        for other in ["client-a%7cuser-1", "%41", "a%2d", "%c3%BC", "%C3%bc"] {
            assert!(!is_canonical(other), "{other}");
        }
    }

    #[test]
    fn unquote_accepts_either_case() {
        assert_eq!(unquote("%e2%82%ac", Part::Component).unwrap(), "€");
        assert_eq!(unquote("%E2%82%AC", Part::Component).unwrap(), "€");
        assert_eq!(unquote("%2525", Part::Component).unwrap(), "%25");
        assert!(matches!(
            unquote("plain", Part::Component).unwrap(),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn utf8_validator_agrees_with_std_on_all_short_sequences() {
        let check = |bytes: &[u8]| {
            let mut v = Utf8Validator::default();
            let ok = bytes.iter().all(|&b| v.feed(b)) && v.is_complete();
            assert_eq!(ok, std::str::from_utf8(bytes).is_ok(), "{bytes:02X?}");
        };
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
            }
        }
        for &first in &[0xE0u8, 0xE1, 0xED, 0xEE, 0xF0, 0xF1, 0xF4, 0xF5] {
            for b in 0..=255u8 {
                for c in [0x7Fu8, 0x80, 0x9F, 0xA0, 0xBF, 0xC0] {
                    check(&[first, b, c]);
                    check(&[first, b, c, 0x80]);
                }
            }
        }
    }
}
