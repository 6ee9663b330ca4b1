//! Text that travels percent-encoded in keys: kept either as plain text or as a validated encoded
//! segment borrowed from a parsed key, and decoded only when asked.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::error::{Error, Part};
use crate::percent;

/// Plain text, a validated percent-encoded segment of a key, or a token's scope kept as its two
/// parts.
#[derive(Clone)]
pub(crate) enum Text<'a> {
    /// The text itself.
    Plain(Cow<'a, str>),
    /// `Q` of the text (possibly with lowercase hex or needless escapes), validated.
    Encoded {
        /// The segment as it appears in the key.
        raw: &'a str,
        /// Whether `raw` holds any `%` escape (else it is the text itself).
        escaped: bool,
    },
    /// Exactly `Q` of the text (escapes in uppercase hex, none needless), holding at least one
    /// escape: a segment of a key this crate wrote (or checked).
    Canonical(&'a str),
    /// The text `{head}|{tail}`, not composed: a token's scope (`head`, its client id, holds no
    /// `|`).
    Joined {
        /// The text before the first `|`.
        head: &'a str,
        /// The text after it.
        tail: &'a str,
    },
}

impl<'a> Text<'a> {
    /// Validates an encoded segment.
    pub(crate) fn from_encoded(raw: &'a str, part: Part) -> Result<Self, Error> {
        let escaped = percent::validate_encoded(raw, part)?;
        Ok(Self::Encoded { raw, escaped })
    }

    /// The text, when no decoding is needed.
    #[inline]
    fn direct(&self) -> Option<&str> {
        match self {
            Self::Plain(text) => Some(text),
            Self::Encoded {
                raw,
                escaped: false,
            } => Some(raw),
            Self::Encoded { escaped: true, .. } | Self::Canonical(_) | Self::Joined { .. } => None,
        }
    }

    /// The escaped segment, when the text is held encoded with escapes.
    #[inline]
    fn escaped_raw(&self) -> Option<&'a str> {
        match self {
            Self::Encoded { raw, escaped: true } | Self::Canonical(raw) => Some(raw),
            Self::Plain(_) | Self::Encoded { escaped: false, .. } | Self::Joined { .. } => None,
        }
    }

    /// The encoded segment, when it is exactly `Q` of the text (a parsed segment with escapes is
    /// checked).
    #[inline]
    pub(crate) fn canonical_raw(&self) -> Option<&'a str> {
        match self {
            Self::Canonical(raw)
            | Self::Encoded {
                raw,
                escaped: false,
            } => Some(raw),
            Self::Encoded { raw, escaped: true } => percent::is_canonical(raw).then_some(*raw),
            Self::Plain(_) | Self::Joined { .. } => None,
        }
    }

    /// The decoded text; borrowed unless escapes must be decoded.
    pub(crate) fn decoded(&self) -> Cow<'_, str> {
        match (self.direct(), self.escaped_raw(), self) {
            (Some(text), _, _) => Cow::Borrowed(text),
            (None, Some(raw), _) => Cow::Owned(percent::decode_validated(raw)),
            (None, None, Self::Joined { head, tail }) => Cow::Owned(join(head, tail)),
            (None, None, _) => Cow::Borrowed(""),
        }
    }

    /// Detaches from the borrowed input.
    pub(crate) fn into_owned(self) -> Text<'static> {
        match self {
            Self::Plain(text) => Text::Plain(Cow::Owned(text.into_owned())),
            Self::Encoded {
                raw,
                escaped: false,
            } => Text::Plain(Cow::Owned(raw.to_owned())),
            Self::Encoded { raw, escaped: true } | Self::Canonical(raw) => {
                Text::Plain(Cow::Owned(percent::decode_validated(raw)))
            }
            Self::Joined { head, tail } => Text::Plain(Cow::Owned(join(head, tail))),
        }
    }

    /// Whether the text is empty.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Plain(text) => text.is_empty(),
            Self::Encoded { raw, .. } | Self::Canonical(raw) => raw.is_empty(),
            Self::Joined { .. } => false,
        }
    }

    /// The bytes of the decoded text.
    fn bytes(&self) -> TextBytes<'_> {
        match (self.direct(), self.escaped_raw(), self) {
            (Some(text), _, _) => TextBytes::Direct(text.bytes()),
            (None, Some(raw), _) => TextBytes::Decoded(percent::decoded_bytes(raw)),
            (None, None, Self::Joined { head, tail }) => TextBytes::Joined(
                head.bytes()
                    .chain(std::iter::once(b'|'))
                    .chain(tail.bytes()),
            ),
            (None, None, _) => TextBytes::Direct("".bytes()),
        }
    }

    /// Length of the canonical encoding `Q(text)`.
    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            // A validated segment without escapes consists of unreserved bytes only.
            Self::Encoded {
                raw,
                escaped: false,
            } => raw.len(),
            Self::Plain(text) => percent::encoded_len(text),
            Self::Canonical(raw) => raw.len(),
            Self::Joined { head, tail } => {
                percent::encoded_len(head) + 3 + percent::encoded_len(tail)
            }
            Self::Encoded { escaped: true, .. } => match self.canonical_raw() {
                Some(raw) => raw.len(),
                None => self
                    .bytes()
                    .map(|b| if percent::is_unreserved(b) { 1 } else { 3 })
                    .sum(),
            },
        }
    }

    /// At least the length of the canonical encoding `Q(text)`, found without reading the text.
    pub(crate) fn encoded_len_bound(&self) -> usize {
        match self {
            // Each byte takes at most three.
            Self::Plain(text) => 3 * text.len(),
            // The canonical form is never longer than a validated encoding.
            Self::Encoded { raw, .. } | Self::Canonical(raw) => raw.len(),
            Self::Joined { head, tail } => 3 * (head.len() + 1 + tail.len()),
        }
    }

    /// Appends the canonical encoding `Q(text)` and returns whether it holds any escape.
    pub(crate) fn write_canonical(&self, out: &mut String) -> bool {
        let start = out.len();
        self.write_encoded(out);
        match self {
            // Every escaped byte grows by two.
            Self::Plain(text) => out.len() - start != text.len(),
            Self::Encoded { escaped: false, .. } => false,
            // The `|` is escaped.
            Self::Canonical(_) | Self::Joined { .. } => true,
            // Needless escapes in the input are gone from the canonical form.
            Self::Encoded { escaped: true, .. } => out
                .as_bytes()
                .get(start..)
                .is_some_and(|written| written.contains(&b'%')),
        }
    }

    /// Whether the decoded text is `head` (which holds no `|`), or `head|tail` when there is a
    /// tail; always false when `head` holds a `|`.
    pub(crate) fn eq_joined(&self, head: &[u8], tail: Option<&[u8]>) -> bool {
        if let Some(raw) = self.canonical_raw() {
            // Compared in encoded form: `Q(head)`, then `%7C` and `Q(tail)`.
            let Some(rest) = percent::strip_quoted(raw.as_bytes(), head, Some(b'|')) else {
                return false;
            };
            return match tail {
                None => rest.is_empty(),
                Some(tail) => rest
                    .strip_prefix(b"%7C")
                    .and_then(|rest| percent::strip_quoted(rest, tail, None))
                    .is_some_and(<[u8]>::is_empty),
            };
        }
        if head.contains(&b'|') {
            return false;
        }
        match (self.direct(), tail) {
            (Some(text), None) => text.as_bytes() == head,
            (Some(text), Some(tail)) => {
                let text = text.as_bytes();
                text.len() == head.len() + 1 + tail.len()
                    && text.starts_with(head)
                    && text.get(head.len()) == Some(&b'|')
                    && text.ends_with(tail)
            }
            (None, tail) => {
                let tail = tail
                    .into_iter()
                    .flat_map(|tail| std::iter::once(b'|').chain(tail.iter().copied()));
                self.bytes().eq(head.iter().copied().chain(tail))
            }
        }
    }

    /// Appends the canonical encoding `Q(text)` (uppercase hex, no needless escapes).
    pub(crate) fn write_encoded(&self, out: &mut String) {
        match self {
            Self::Plain(text) => percent::quote_into(text, out),
            // An encoded segment without escapes consists of unreserved bytes only.
            Self::Encoded {
                raw,
                escaped: false,
            }
            | Self::Canonical(raw) => out.push_str(raw),
            Self::Joined { head, tail } => {
                percent::quote_into(head, out);
                out.push_str("%7C");
                percent::quote_into(tail, out);
            }
            // Keys taskctx writes (and most others) are in canonical form already.
            Self::Encoded { raw, escaped: true } if percent::is_canonical(raw) => out.push_str(raw),
            Self::Encoded { raw, escaped: true } => {
                for b in percent::decoded_bytes(raw) {
                    if percent::is_unreserved(b) {
                        out.push(char::from(b));
                    } else {
                        percent::push_escaped(b, out);
                    }
                }
            }
        }
    }
}

/// Bytes of a [`Text`]'s decoded form.
enum TextBytes<'a> {
    Direct(std::str::Bytes<'a>),
    Decoded(percent::DecodedBytes<'a>),
    Joined(JoinedBytes<'a>),
}

/// Bytes of `{head}|{tail}`.
type JoinedBytes<'a> = std::iter::Chain<
    std::iter::Chain<std::str::Bytes<'a>, std::iter::Once<u8>>,
    std::str::Bytes<'a>,
>;

/// `{head}|{tail}`.
fn join(head: &str, tail: &str) -> String {
    let mut text = String::with_capacity(head.len() + 1 + tail.len());
    text.push_str(head);
    text.push('|');
    text.push_str(tail);
    text
}

impl Iterator for TextBytes<'_> {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        match self {
            Self::Direct(bytes) => bytes.next(),
            Self::Decoded(bytes) => bytes.next(),
            Self::Joined(bytes) => bytes.next(),
        }
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self.direct(), other.direct()) {
            (Some(a), Some(b)) => a == b,
            _ => self.bytes().eq(other.bytes()),
        }
    }
}

impl Eq for Text<'_> {}

impl PartialOrd for Text<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.direct(), other.direct()) {
            (Some(a), Some(b)) => a.cmp(b),
            _ => self.bytes().cmp(other.bytes()),
        }
    }
}

impl Hash for Text<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.decoded().hash(state);
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.decoded())
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.decoded(), f)
    }
}

/// Defines a public newtype over [`Text`] with the shared accessors.
macro_rules! text_newtype {
    ($(#[$meta:meta])* $name:ident, $part:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name<'a>(pub(crate) $crate::text::Text<'a>);

        impl<'a> $name<'a> {
            /// From its plain text; every string is allowed.
            #[must_use]
            pub fn new(text: impl Into<::std::borrow::Cow<'a, str>>) -> Self {
                Self($crate::text::Text::Plain(text.into()))
            }

            /// From its percent-encoded form, strictly validated (hex of either case).
            ///
            /// # Errors
            /// An invalid escape, a raw byte that `Q` would have escaped, or escapes that decode to
            /// invalid UTF-8.
            pub fn from_encoded(encoded: &'a str) -> Result<Self, $crate::Error> {
                $crate::text::Text::from_encoded(encoded, $part).map(Self)
            }

            /// The text, decoded; borrowed unless it came percent-escaped from a parsed key.
            #[must_use]
            pub fn to_str(&self) -> ::std::borrow::Cow<'_, str> {
                self.0.decoded()
            }

            /// Whether the text is empty.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Appends the canonical encoding `Q(text)` to `out`.
            pub fn write_encoded(&self, out: &mut String) {
                self.0.write_encoded(out);
            }

            /// The canonical encoding `Q(text)`.
            #[must_use]
            pub fn encoded(&self) -> String {
                let mut out = String::with_capacity(self.0.encoded_len());
                self.0.write_encoded(&mut out);
                out
            }

            /// Length in bytes of `Q(text)`.
            #[must_use]
            pub fn encoded_len(&self) -> usize {
                self.0.encoded_len()
            }

            /// Detaches from any borrowed input.
            #[must_use]
            pub fn into_owned(self) -> $name<'static> {
                $name(self.0.into_owned())
            }
        }

        impl ::std::fmt::Display for $name<'_> {
            /// Writes the decoded text.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'a> From<&'a str> for $name<'a> {
            fn from(text: &'a str) -> Self {
                Self::new(text)
            }
        }

        impl From<String> for $name<'static> {
            fn from(text: String) -> Self {
                Self::new(text)
            }
        }

        impl PartialEq<str> for $name<'_> {
            fn eq(&self, other: &str) -> bool {
                self.0 == $crate::text::Text::Plain(::std::borrow::Cow::Borrowed(other))
            }
        }

        impl PartialEq<&str> for $name<'_> {
            fn eq(&self, other: &&str) -> bool {
                self == *other
            }
        }
    };
}

pub(crate) use text_newtype;
