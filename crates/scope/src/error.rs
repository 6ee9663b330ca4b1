//! The one error type of this crate: which part of the input is wrong, and why.

use std::fmt;

/// Longest slice of input, in bytes, that an error carries (cut on a char boundary).
pub const EXCERPT_MAX_BYTES: usize = 64;

/// The part of a key, scope or queue name that an [`Error`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The leading `auth` / `anon` tag of a task key.
    Tag,
    /// The percent-encoded scope segment (or a scope's text).
    Scope,
    /// The task id segment.
    TaskId,
    /// The task type segment.
    TaskType,
    /// The percent-encoded component segment.
    Component,
    /// The `#leg{n}` suffix of an execution key.
    LegSuffix,
    /// A queue name used as Redis key prefix.
    QueueName,
    /// A token's `client_id`.
    ClientId,
    /// A token's `sub` claim.
    SubClaim,
}

impl Part {
    /// A short human name, e.g. `"task id"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::Scope => "scope",
            Self::TaskId => "task id",
            Self::TaskType => "task type",
            Self::Component => "component",
            Self::LegSuffix => "leg suffix",
            Self::QueueName => "queue name",
            Self::ClientId => "client_id",
            Self::SubClaim => "sub claim",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of `sub` claim that cannot form a scope (SPEC section 2, Deviation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubClaimKind {
    /// `true`.
    True,
    /// A JSON number that is not zero and not an integer of at most 64 bits (JSON readers give
    /// larger integers as floats, their digits possibly rounded).
    Float,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl fmt::Display for SubClaimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::True => "true",
            Self::Float => "a non-integer number (or an integer beyond 64 bits)",
            Self::Array => "an array",
            Self::Object => "an object",
        })
    }
}

/// A bounded copy of the start of some input, for error messages.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Excerpt {
    text: Box<str>,
    truncated: bool,
}

impl Excerpt {
    /// At most [`EXCERPT_MAX_BYTES`] of `input`, cut on a char boundary.
    #[must_use]
    pub fn new(input: &str) -> Self {
        let mut end = input.len().min(EXCERPT_MAX_BYTES);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let text = input.get(..end).unwrap_or_default();
        Self {
            text: text.into(),
            truncated: end < input.len(),
        }
    }

    /// The copied text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the input was longer than the copy.
    #[must_use]
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Excerpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.text.escape_debug())?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// The tag of a task key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// `auth:` — a task of an authenticated scope.
    Auth,
    /// `anon:` — a task with no authenticated caller.
    Anon,
}

impl Tag {
    /// `"auth"` or `"anon"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Anon => "anon",
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can be wrong with a scope, a task key, a leg suffix or a key space.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The key starts with neither `auth:` nor `anon:`.
    UnknownTag {
        /// The start of the key.
        found: Excerpt,
    },
    /// Wrong number of `:`-separated segments after the tag (`anon` has 3, `auth` 4).
    SegmentCount {
        /// The key's tag.
        tag: Tag,
        /// Segments the tag requires.
        expected: usize,
        /// Segments found.
        found: usize,
    },
    /// A part that must not be empty is empty.
    Empty {
        /// Which part.
        part: Part,
    },
    /// A part is longer than allowed.
    TooLong {
        /// Which part.
        part: Part,
        /// Its maximum length in characters.
        max: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside the part's alphabet.
    InvalidChar {
        /// Which part.
        part: Part,
        /// Byte offset within the part.
        offset: usize,
        /// The offending character.
        found: char,
    },
    /// A raw character in a percent-encoded segment that `Q` would have escaped.
    Unescaped {
        /// Which part.
        part: Part,
        /// Byte offset within the segment.
        offset: usize,
        /// The offending character.
        found: char,
    },
    /// A `%` not followed by two hex digits.
    InvalidEscape {
        /// Which part.
        part: Part,
        /// Byte offset of the `%` within the segment.
        offset: usize,
    },
    /// The escapes decode to bytes that are not UTF-8.
    InvalidUtf8 {
        /// Which part.
        part: Part,
        /// Byte offset within the segment where decoding failed.
        offset: usize,
    },
    /// Something after `#` other than `leg` and a decimal number ≥ 2 without leading zeros.
    InvalidLegSuffix {
        /// The start of the suffix (from the `#`).
        found: Excerpt,
    },
    /// A `sub` claim of a kind that cannot form a scope.
    UnsupportedSubClaim {
        /// What kind of value it was.
        kind: SubClaimKind,
    },
}

impl Error {
    /// The part of the input the error is about.
    #[must_use]
    pub const fn part(&self) -> Part {
        match self {
            Self::UnknownTag { .. } | Self::SegmentCount { .. } => Part::Tag,
            Self::Empty { part }
            | Self::TooLong { part, .. }
            | Self::InvalidChar { part, .. }
            | Self::Unescaped { part, .. }
            | Self::InvalidEscape { part, .. }
            | Self::InvalidUtf8 { part, .. } => *part,
            Self::InvalidLegSuffix { .. } => Part::LegSuffix,
            Self::UnsupportedSubClaim { .. } => Part::SubClaim,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTag { found } => {
                write!(f, "task key {found} does not start with `auth:` or `anon:`")
            }
            Self::SegmentCount {
                tag,
                expected,
                found,
            } => write!(
                f,
                "`{tag}` task key has {found} `:`-separated segments after the tag, expected {expected}"
            ),
            Self::Empty { part } => write!(f, "{part} is empty"),
            Self::TooLong { part, max, len } => {
                write!(f, "{part} is {len} bytes long, at most {max} allowed")
            }
            Self::InvalidChar {
                part,
                offset,
                found,
            } => write!(
                f,
                "{part} has {:?} at byte {offset}, {}",
                found,
                match part {
                    Part::TaskId => "allowed: A-Z a-z 0-9 - . _ ~",
                    Part::TaskType => "allowed: a-z 0-9 _ -",
                    Part::QueueName => "`{` and `}` are not allowed",
                    Part::ClientId => "`|` is not allowed",
                    _ => "which is not allowed",
                }
            ),
            Self::Unescaped {
                part,
                offset,
                found,
            } => write!(
                f,
                "{part} segment has a raw {found:?} at byte {offset} that must be percent-encoded"
            ),
            Self::InvalidEscape { part, offset } => write!(
                f,
                "{part} segment has a `%` at byte {offset} not followed by two hex digits"
            ),
            Self::InvalidUtf8 { part, offset } => write!(
                f,
                "{part} segment decodes to invalid UTF-8 at byte {offset}"
            ),
            Self::InvalidLegSuffix { found } => write!(
                f,
                "leg suffix {found} is not `#leg` followed by a decimal number of at least 2 without leading zeros"
            ),
            Self::UnsupportedSubClaim { kind } => write!(
                f,
                "sub claim is {kind}; only a string, an integer, false or null can form a scope"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The character at byte `offset` of `text` (U+FFFD when `offset` is not a character's start).
pub(crate) fn char_at(text: &str, offset: usize) -> char {
    text.get(offset..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('\u{FFFD}')
}

/// [`Error::InvalidChar`] for the first byte of `text` that is not `allowed`.
pub(crate) fn check_chars(
    text: &str,
    part: Part,
    allowed: impl Fn(u8) -> bool,
) -> Result<(), Error> {
    match text.bytes().position(|b| !allowed(b)) {
        None => Ok(()),
        Some(offset) => Err(Error::InvalidChar {
            part,
            offset,
            found: char_at(text, offset),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let excerpt = Excerpt::new(&long);
        assert!(excerpt.as_str().len() <= EXCERPT_MAX_BYTES);
        assert_eq!(excerpt.as_str().len(), 64);
        assert!(excerpt.is_truncated());
        let odd = format!("a{}", "é".repeat(100));
        assert_eq!(Excerpt::new(&odd).as_str().len(), 63);
        assert!(!Excerpt::new("short").is_truncated());
    }

    #[test]
    fn messages_name_the_part() {
        let error = Error::InvalidChar {
            part: Part::TaskId,
            offset: 2,
            found: ':',
        };
        assert_eq!(
            error.to_string(),
            "task id has ':' at byte 2, allowed: A-Z a-z 0-9 - . _ ~"
        );
        assert_eq!(error.part(), Part::TaskId);
    }
}
