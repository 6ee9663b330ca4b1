//! Percent-encoding of scope and component segments (SPEC section 1).
//!
//! `Q(s)` keeps `A-Z a-z 0-9 - . _ ~` and writes every other UTF-8 byte as `%XX` with uppercase hex.
//! Decoding accepts hex of either case and rejects everything else: a lone or malformed `%`, any raw
//! byte that `Q` would have escaped, and escapes that decode to invalid UTF-8.

use std::borrow::Cow;
use std::str::Utf8Error;

use crate::error::{Error, Part, char_at};

/// Whether `Q` keeps byte `b` as it is.
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The length of `Q(s)` in bytes.
#[must_use]
pub fn encoded_len(s: &str) -> usize {
    s.bytes()
        .map(|b| if is_unreserved(b) { 1 } else { 3 })
        .sum()
}

/// Appends `Q(s)` to `out`.
pub fn quote_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let hex = |nibble: u8| char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        }
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
    if s.bytes().all(is_unreserved) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(encoded_len(s));
    quote_into(s, &mut out);
    Cow::Owned(out)
}

/// Decodes a percent-encoded segment strictly: borrowed when it holds no escape.
///
/// The error is the first fault from the left: an escape that is not `%` and two hex digits, a
/// raw byte that `Q` escapes, or the byte where the decoded text stops being UTF-8 (the end of
/// the segment when it ends inside a character). Offsets are in bytes of `s`.
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
    if s.bytes().all(is_unreserved) {
        return Ok(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let hex = |at: usize| {
        let digit = char::from(*bytes.get(at)?).to_digit(16)?;
        u8::try_from(digit).ok()
    };
    let mut decoded = Vec::with_capacity(s.len());
    let mut malformed = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if is_unreserved(b) {
            decoded.push(b);
            i += 1;
        } else if let (b'%', Some(high), Some(low)) = (b, hex(i + 1), hex(i + 2)) {
            decoded.push((high << 4) | low);
            i += 3;
        } else {
            malformed = Some(if b == b'%' {
                Error::InvalidEscape { part, offset: i }
            } else {
                Error::Unescaped {
                    part,
                    offset: i,
                    found: char_at(s, i),
                }
            });
            break;
        }
    }
    match (String::from_utf8(decoded), malformed) {
        (Ok(text), None) => Ok(Cow::Owned(text)),
        // A character cut short by a malformed byte: the malformed byte is the first fault.
        (Err(error), Some(malformed)) if error.utf8_error().error_len().is_none() => Err(malformed),
        (Ok(_), Some(malformed)) => Err(malformed),
        (Err(error), _) => Err(Error::InvalidUtf8 {
            part,
            offset: encoded_offset(bytes, utf8_failure(error.as_bytes(), error.utf8_error())),
        }),
    }
}

/// The index of the byte where `bytes` stops being UTF-8: the byte that no character can start
/// with or that cannot continue the character before it, or the end when a character is cut off.
fn utf8_failure(bytes: &[u8], error: Utf8Error) -> usize {
    let start = error.valid_up_to();
    match error.error_len() {
        None => bytes.len(),
        // The invalid sequence begins with a byte that can start a character: the byte after it
        // (the sequence's last valid byte) is the one that failed.
        Some(len) if bytes.get(start).is_some_and(|b| (0xC2..=0xF4).contains(b)) => start + len,
        Some(_) => start,
    }
}

/// The offset in an encoded segment of the `index`-th byte it decodes to.
fn encoded_offset(encoded: &[u8], index: usize) -> usize {
    (0..index).fold(0, |at, _| {
        at + if encoded.get(at) == Some(&b'%') { 3 } else { 1 }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for s in [
            "",
            "a",
            "|",
            "client-a|user-1",
            "ü/😀 ok",
            "weather://{city}/current?units={units}",
        ] {
            let mut out = String::from("x");
            quote_into(s, &mut out);
            assert_eq!(out, format!("x{}", naive(s)), "{s:?}");
            assert_eq!(encoded_len(s), naive(s).len(), "{s:?}");
            assert_eq!(quote(s), naive(s), "{s:?}");
        }
    }

    #[test]
    fn unquote_names_the_first_fault_and_where_it_is() {
        let utf8 = |offset| Error::InvalidUtf8 {
            part: Part::Component,
            offset,
        };
        let escape = |offset| Error::InvalidEscape {
            part: Part::Component,
            offset,
        };
        let raw = |offset, found| Error::Unescaped {
            part: Part::Component,
            offset,
            found,
        };
        for (input, error) in [
            ("%", escape(0)),
            ("a%2", escape(1)),
            ("%2g", escape(0)),
            ("%+1", escape(0)),
            ("%zz%41", escape(0)),
            ("a+b", raw(1, '+')),
            (":", raw(0, ':')),
            ("xü", raw(1, 'ü')),
            ("%FF", utf8(0)),
            ("%C0%AF", utf8(0)),
            ("%E0%80%80", utf8(3)),
            ("%ED%A0%80", utf8(3)),
            ("%F4%90%80%80", utf8(3)),
            ("%E2%82%C3%BC", utf8(6)),
            ("%E2%82a", utf8(6)),
            ("%E2%82", utf8(6)),
            ("a%F0%9F%98", utf8(10)),
            // A cut character followed by a malformed byte: the malformed byte comes first.
            ("%E2%82 ", raw(6, ' ')),
            ("%E2%ZZ", escape(3)),
            // An invalid byte before a malformed one: the invalid byte comes first.
            ("%FF%ZZ", utf8(0)),
            ("%C3%BC%FF ", utf8(6)),
        ] {
            assert_eq!(unquote(input, Part::Component), Err(error), "{input:?}");
        }
    }

    #[test]
    fn unquote_accepts_either_case() {
        assert_eq!(unquote("%e2%82%ac", Part::Component).unwrap(), "€");
        assert_eq!(unquote("%E2%82%AC", Part::Component).unwrap(), "€");
        assert_eq!(unquote("%2525", Part::Component).unwrap(), "%25");
        assert_eq!(unquote("%41%2d", Part::Component).unwrap(), "A-");
        assert!(matches!(
            unquote("plain", Part::Component).unwrap(),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn escaped_bytes_decode_exactly_when_they_are_utf8() {
        let check = |bytes: &[u8]| {
            let encoded: String = bytes.iter().map(|b| format!("%{b:02x}")).collect();
            let decoded = unquote(&encoded, Part::Scope);
            match std::str::from_utf8(bytes) {
                Ok(text) => assert_eq!(decoded.as_deref(), Ok(text), "{bytes:02X?}"),
                Err(_) => assert!(
                    matches!(decoded, Err(Error::InvalidUtf8 { .. })),
                    "{bytes:02X?}"
                ),
            }
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
