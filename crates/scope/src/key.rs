//! Task keys: `auth:{Q(scope)}:{task_id}:{task_type}:{Q(component)}` and
//! `anon:{task_id}:{task_type}:{Q(component)}` (SPEC section 3).

use std::fmt;

use crate::component::Component;
use crate::error::{Error, Excerpt, Part, Tag};
use crate::ids::{TaskId, TaskType};
use crate::leg::{Leg, push_leg_suffix, split_leg};
use crate::percent;
use crate::redis::write_scope_prefix;
use crate::scope::Scope;
use crate::text::Text;

/// The identity of a task: its scope (none when anonymous), id, type and component.
///
/// Built keys always parse back to the same identity. A parsed key borrows from the input and
/// allocates nothing; percent-escaped segments are validated while parsing and decoded only when
/// asked ([`Scope::to_str`], [`Component::to_str`]).
///
/// ```
/// use taskctx_scope::{Component, Leg, Scope, TaskId, TaskKey, TaskType};
/// let key = TaskKey::new(
///     Some(Scope::new("client-a|user-1")),
///     TaskId::new("T1")?,
///     TaskType::TOOL,
///     Component::new("my_tool"),
/// );
/// assert_eq!(key.to_key(), "auth:client-a%7Cuser-1:T1:tool:my_tool");
/// let leg2 = key.execution_key(Leg::new(2));
/// assert_eq!(leg2, "auth:client-a%7Cuser-1:T1:tool:my_tool#leg2");
/// let (parsed, leg) = TaskKey::parse_execution(&leg2)?;
/// assert_eq!((parsed, leg), (key, Leg::new(2)));
/// # Ok::<(), taskctx_scope::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskKey<'a> {
    scope: Option<Scope<'a>>,
    task_id: TaskId<'a>,
    task_type: TaskType<'a>,
    component: Component<'a>,
}

impl<'a> TaskKey<'a> {
    /// A task identity; `scope` is `None` for an anonymous task.
    #[must_use]
    pub const fn new(
        scope: Option<Scope<'a>>,
        task_id: TaskId<'a>,
        task_type: TaskType<'a>,
        component: Component<'a>,
    ) -> Self {
        Self {
            scope,
            task_id,
            task_type,
            component,
        }
    }

    /// Parses a task key, with or without a leg suffix, into the task's identity.
    ///
    /// # Errors
    /// Any [`Error`] naming the first part found wrong: the leg suffix, the tag, the segment count,
    /// an encoded segment (escape, raw byte, UTF-8) or the task id / type alphabet.
    #[inline]
    pub fn parse(key: &'a str) -> Result<Self, Error> {
        Self::parse_execution(key).map(|(task, _)| task)
    }

    /// Parses an execution key into the task's identity and the leg it names.
    ///
    /// # Errors
    /// As [`TaskKey::parse`].
    pub fn parse_execution(key: &'a str) -> Result<(Self, Leg), Error> {
        // One pass: each segment is scanned once, validated as it is split off.
        let (tag, expected) = match key.as_bytes().get(..TAG_LEN) {
            Some(b"auth:") => (Tag::Auth, 4),
            Some(b"anon:") => (Tag::Anon, 3),
            _ => {
                return Err(Error::UnknownTag {
                    found: Excerpt::new(base_of(key)),
                });
            }
        };
        let mut cursor = Cursor {
            key,
            pos: TAG_LEN,
            index: 0,
            expected,
            tag,
        };
        let scope = match tag {
            Tag::Auth => {
                let (segment, escaped) = cursor.encoded(Part::Scope)?;
                Some(Scope(Text::Encoded {
                    raw: segment,
                    escaped,
                }))
            }
            Tag::Anon => None,
        };
        let task_id = TaskId::from_unreserved_segment(cursor.unreserved(Part::TaskId)?)?;
        let task_type = TaskType::from_segment(cursor.unreserved(Part::TaskType)?)?;
        let (segment, escaped) = cursor.encoded(Part::Component)?;
        let component = Component(Text::Encoded {
            raw: segment,
            escaped,
        });
        let leg = cursor.finish()?;
        Ok((
            Self {
                scope,
                task_id,
                task_type,
                component,
            },
            leg,
        ))
    }

    /// The scope; `None` for an anonymous task.
    #[must_use]
    pub const fn scope(&self) -> Option<&Scope<'a>> {
        self.scope.as_ref()
    }

    /// The task id.
    #[must_use]
    pub const fn task_id(&self) -> &TaskId<'a> {
        &self.task_id
    }

    /// The task type.
    #[must_use]
    pub const fn task_type(&self) -> &TaskType<'a> {
        &self.task_type
    }

    /// The component.
    #[must_use]
    pub const fn component(&self) -> &Component<'a> {
        &self.component
    }

    /// `auth` when the task has a scope, else `anon`.
    #[must_use]
    pub const fn tag(&self) -> Tag {
        if self.scope.is_some() {
            Tag::Auth
        } else {
            Tag::Anon
        }
    }

    /// Length of the key in bytes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let scope = self
            .scope
            .as_ref()
            .map_or(0, |scope| scope.encoded_len() + 1);
        5 + scope
            + self.task_id.as_str().len()
            + 1
            + self.task_type.as_str().len()
            + 1
            + self.component.encoded_len()
    }

    /// Appends the base key (leg 1) to `out`.
    pub fn write_key(&self, out: &mut String) {
        match &self.scope {
            Some(scope) => {
                out.push_str("auth:");
                scope.write_encoded(out);
                out.push(':');
            }
            None => out.push_str("anon:"),
        }
        out.push_str(self.task_id.as_str());
        out.push(':');
        out.push_str(self.task_type.as_str());
        out.push(':');
        self.component.write_encoded(out);
    }

    /// The base key (leg 1).
    #[must_use]
    pub fn to_key(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        self.write_key(&mut out);
        out
    }

    /// Appends the execution key of `leg` to `out`.
    pub fn write_execution_key(&self, leg: Leg, out: &mut String) {
        self.write_key(out);
        push_leg_suffix(leg, out);
    }

    /// The execution key of `leg`: the base key for leg 1, else `{base}#leg{n}`.
    #[must_use]
    pub fn execution_key(&self, leg: Leg) -> String {
        let mut out = String::with_capacity(self.encoded_len() + 24);
        self.write_execution_key(leg, &mut out);
        out
    }

    /// The Redis prefix of the task's scope: `fastmcp:task:auth:{Q(scope)}` or `fastmcp:task:anon`.
    #[must_use]
    pub fn redis_scope_prefix(&self) -> String {
        let mut out = String::new();
        write_scope_prefix(self.scope.as_ref(), &mut out);
        out
    }

    /// Detaches from the borrowed input (decoding escaped segments).
    #[must_use]
    pub fn into_owned(self) -> TaskKey<'static> {
        TaskKey {
            scope: self.scope.map(Scope::into_owned),
            task_id: self.task_id.into_owned(),
            task_type: self.task_type.into_owned(),
            component: self.component.into_owned(),
        }
    }
}

/// Length of `auth:` / `anon:`.
const TAG_LEN: usize = 5;

/// The part of `key` before its first `#`.
fn base_of(key: &str) -> &str {
    key.split_once('#').map_or(key, |(base, _)| base)
}

/// The error for a character outside a task id's or type's alphabet at byte `at`.
#[cold]
fn invalid_char(key: &str, at: usize, start: usize, part: Part) -> Error {
    let found = key
        .get(at..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('\u{FFFD}');
    Error::InvalidChar {
        part,
        offset: at - start,
        found,
    }
}

/// Walks the segments of a key after its tag.
struct Cursor<'a> {
    key: &'a str,
    /// Start of the next segment.
    pos: usize,
    /// Index of the next segment.
    index: usize,
    /// Segments the tag requires.
    expected: usize,
    tag: Tag,
}

impl<'a> Cursor<'a> {
    /// Splits off a percent-encoded segment.
    #[inline(always)]
    fn encoded(&mut self, part: Part) -> Result<(&'a str, bool), Error> {
        let (end, escaped) = percent::scan_encoded(self.key, self.pos, part, true)?;
        Ok((self.take(end)?, escaped))
    }

    /// Splits off a segment of unreserved bytes (a task id or type).
    #[inline(always)]
    fn unreserved(&mut self, part: Part) -> Result<&'a str, Error> {
        let bytes = self.key.as_bytes();
        let end = percent::unreserved_run(bytes, self.pos);
        if let Some(&b) = bytes.get(end)
            && b != b':'
            && b != b'#'
        {
            return Err(invalid_char(self.key, end, self.pos, part));
        }
        self.take(end)
    }

    /// Ends the current segment at `end` (a `:`, a `#` or the end of the key) and checks that the
    /// separator is where the tag's segment count wants it.
    #[inline(always)]
    fn take(&mut self, end: usize) -> Result<&'a str, Error> {
        let segment = self
            .key
            .split_at_checked(end)
            .and_then(|(head, _)| head.split_at_checked(self.pos))
            .map_or("", |(_, segment)| segment);
        self.index += 1;
        let last = self.index == self.expected;
        match self.key.as_bytes().get(end) {
            Some(b':') if !last => {
                self.pos = end + 1;
                Ok(segment)
            }
            Some(b'#') | None if last => {
                self.pos = end;
                Ok(segment)
            }
            Some(b'#') | None => {
                // Too few segments: report a bad leg suffix first, as splitting it off comes first.
                split_leg(self.key)?;
                Err(self.count_error())
            }
            _ => Err(self.count_error()),
        }
    }

    /// The leg named by the rest of the key (empty, or a `#` suffix).
    #[inline(always)]
    fn finish(&self) -> Result<Leg, Error> {
        let suffix = self.key.get(self.pos..).unwrap_or_default();
        if suffix.is_empty() {
            Ok(Leg::FIRST)
        } else {
            split_leg(suffix).map(|(_, leg)| leg)
        }
    }

    /// The segment-count error, counting every segment of the base key.
    #[cold]
    fn count_error(&self) -> Error {
        let rest = base_of(self.key).get(TAG_LEN..).unwrap_or_default();
        Error::SegmentCount {
            tag: self.tag,
            expected: self.expected,
            found: rest.split(':').count(),
        }
    }
}

impl fmt::Display for TaskKey<'_> {
    /// Writes the base key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: Option<&str>, component: &str) -> TaskKey<'static> {
        TaskKey::new(
            scope.map(|s| Scope::new(s.to_owned())),
            TaskId::new("T1").unwrap(),
            TaskType::TOOL,
            Component::new(component.to_owned()),
        )
    }

    #[test]
    fn builds_and_parses() {
        let auth = key(Some("client-a|user-1"), "weird:name#1");
        let text = auth.to_key();
        assert_eq!(text, "auth:client-a%7Cuser-1:T1:tool:weird%3Aname%231");
        assert_eq!(text.len(), auth.encoded_len());
        assert_eq!(TaskKey::parse(&text).unwrap(), auth);
        let anon = key(None, "");
        assert_eq!(anon.to_key(), "anon:T1:tool:");
        assert_eq!(TaskKey::parse("anon:T1:tool:").unwrap(), anon);
        assert_ne!(TaskKey::parse("auth::T1:tool:").unwrap(), anon);
        assert_eq!(anon.to_string(), "anon:T1:tool:");
    }

    #[test]
    fn rejects_malformed_keys() {
        let cases: &[(&str, Error)] = &[
            (
                "",
                Error::UnknownTag {
                    found: Excerpt::new(""),
                },
            ),
            (
                "Anon:a:b:c",
                Error::UnknownTag {
                    found: Excerpt::new("Anon:a:b:c"),
                },
            ),
            (
                "anon:a:b",
                Error::SegmentCount {
                    tag: Tag::Anon,
                    expected: 3,
                    found: 2,
                },
            ),
            (
                "auth:a:b:c:d:e",
                Error::SegmentCount {
                    tag: Tag::Auth,
                    expected: 4,
                    found: 5,
                },
            ),
            ("anon::::", Error::Empty { part: Part::TaskId }),
            (
                "anon:a:b:c:d",
                Error::SegmentCount {
                    tag: Tag::Anon,
                    expected: 3,
                    found: 4,
                },
            ),
            (
                "anon:a#leg2",
                Error::SegmentCount {
                    tag: Tag::Anon,
                    expected: 3,
                    found: 1,
                },
            ),
            (
                "anon:a#legX",
                Error::InvalidLegSuffix {
                    found: Excerpt::new("#legX"),
                },
            ),
            (
                "auth:a:b:c:d#leg1",
                Error::InvalidLegSuffix {
                    found: Excerpt::new("#leg1"),
                },
            ),
            ("anon::tool:x", Error::Empty { part: Part::TaskId }),
            (
                "auth:%ZZ:t:tool:x",
                Error::InvalidEscape {
                    part: Part::Scope,
                    offset: 0,
                },
            ),
            (
                "anon:t:tool:x y",
                Error::Unescaped {
                    part: Part::Component,
                    offset: 1,
                    found: ' ',
                },
            ),
            (
                "anon:t:tool:%FF",
                Error::InvalidUtf8 {
                    part: Part::Component,
                    offset: 0,
                },
            ),
            (
                "anon:t:Tool:x",
                Error::InvalidChar {
                    part: Part::TaskType,
                    offset: 0,
                    found: 'T',
                },
            ),
        ];
        for (input, error) in cases {
            assert_eq!(TaskKey::parse(input).as_ref(), Err(error), "{input:?}");
        }
    }

    #[test]
    fn parsing_a_plain_key_borrows() {
        let text = "auth:client-a%7Cuser-1:T1:tool:my_tool";
        let parsed = TaskKey::parse(text).unwrap();
        assert!(matches!(
            parsed.component().to_str(),
            std::borrow::Cow::Borrowed("my_tool")
        ));
        assert_eq!(parsed.scope().unwrap().to_str(), "client-a|user-1");
        assert_eq!(parsed.clone().into_owned(), parsed);
    }
}
