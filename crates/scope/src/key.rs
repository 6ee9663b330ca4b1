//! Task keys: `auth:{Q(scope)}:{task_id}:{task_type}:{Q(component)}` and
//! `anon:{task_id}:{task_type}:{Q(component)}` (SPEC section 3).

use std::borrow::Cow;
use std::fmt;

use crate::component::Component;
use crate::error::{Error, Excerpt, Part, Tag, check_chars};
use crate::ids::{TaskId, TaskType};
use crate::leg::{Leg, push_leg_suffix, split_leg};
use crate::percent::{is_unreserved, quote_into, unquote};
use crate::redis::scope_prefix;
use crate::scope::Scope;

/// The identity of a task: its scope (none when anonymous), id, type and component.
///
/// Built keys always parse back to the same identity. A parsed key borrows its segments from the
/// input; a scope or component that holds escapes is decoded into its own string.
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
    /// The [`Error`] of the first fault, reading from the left: the tag; then, segment by
    /// segment, its characters (escapes, raw bytes and UTF-8 of an encoded segment, the alphabet
    /// of a task id or type), the separator after it (a leg suffix or the segment count), and the
    /// task id's or type's length and alphabet; then the leg suffix.
    pub fn parse(key: &'a str) -> Result<Self, Error> {
        Self::parse_execution(key).map(|(task, _)| task)
    }

    /// Parses an execution key into the task's identity and the leg it names.
    ///
    /// # Errors
    /// As [`TaskKey::parse`].
    pub fn parse_execution(key: &'a str) -> Result<(Self, Leg), Error> {
        let (tag, expected) = match key.get(..TAG_LEN) {
            Some("auth:") => (Tag::Auth, 4),
            Some("anon:") => (Tag::Anon, 3),
            _ => {
                return Err(Error::UnknownTag {
                    found: Excerpt::new(base_of(key)),
                });
            }
        };
        let mut segments = Segments {
            key,
            rest: key.get(TAG_LEN..).unwrap_or_default(),
            count: 0,
            expected,
            tag,
        };
        // A task id's or type's characters are checked before the segment count, its length
        // and own alphabet after.
        let unreserved = |part| move |s| check_chars(s, part, is_unreserved).map(|()| s);
        let scope = match tag {
            Tag::Auth => Some(Scope(segments.next(|s| unquote(s, Part::Scope))?)),
            Tag::Anon => None,
        };
        let task_id = TaskId::new(segments.next(unreserved(Part::TaskId))?)?;
        let task_type = TaskType::new(segments.next(unreserved(Part::TaskType))?)?;
        let component = Component(segments.next(|s| unquote(s, Part::Component))?);
        let leg = match segments.rest {
            "" => Leg::FIRST,
            suffix => split_leg(suffix)?.1,
        };
        Ok((Self::new(scope, task_id, task_type, component), leg))
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
        TAG_LEN
            + scope
            + self.task_id.as_str().len()
            + 1
            + self.task_type.as_str().len()
            + 1
            + self.component.encoded_len()
    }

    /// The base key (leg 1).
    #[must_use]
    pub fn to_key(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len());
        match &self.scope {
            Some(scope) => {
                out.push_str("auth:");
                quote_into(&scope.0, &mut out);
                out.push(':');
            }
            None => out.push_str("anon:"),
        }
        out.push_str(self.task_id.as_str());
        out.push(':');
        out.push_str(self.task_type.as_str());
        out.push(':');
        quote_into(&self.component.0, &mut out);
        out
    }

    /// The execution key of `leg`: the base key for leg 1, else `{base}#leg{n}`.
    #[must_use]
    pub fn execution_key(&self, leg: Leg) -> String {
        let mut out = self.to_key();
        push_leg_suffix(leg, &mut out);
        out
    }

    /// The Redis prefix of the task's scope: `fastmcp:task:auth:{Q(scope)}` or `fastmcp:task:anon`.
    #[must_use]
    pub fn redis_scope_prefix(&self) -> String {
        scope_prefix(self.scope.as_ref())
    }

    /// Detaches from the borrowed input.
    #[must_use]
    pub fn into_owned(self) -> TaskKey<'static> {
        TaskKey {
            scope: self.scope.map(Scope::into_owned),
            task_id: self.task_id.into_owned(),
            task_type: self.task_type.into_owned(),
            component: self.component.into_owned(),
        }
    }

    /// The same identity, borrowed from this one.
    pub(crate) fn borrowed(&self) -> TaskKey<'_> {
        TaskKey {
            scope: self
                .scope
                .as_ref()
                .map(|scope| Scope(Cow::Borrowed(&scope.0))),
            task_id: TaskId(Cow::Borrowed(&self.task_id.0)),
            task_type: TaskType(Cow::Borrowed(&self.task_type.0)),
            component: Component(Cow::Borrowed(&self.component.0)),
        }
    }
}

/// Length of `auth:` / `anon:`.
const TAG_LEN: usize = 5;

/// The part of `key` before its first `#`.
fn base_of(key: &str) -> &str {
    key.split_once('#').map_or(key, |(base, _)| base)
}

/// The segments of a key after its tag, split off one at a time.
struct Segments<'a> {
    key: &'a str,
    /// The key after the segments split off so far and their separators.
    rest: &'a str,
    /// Segments split off so far.
    count: usize,
    /// Segments the tag requires.
    expected: usize,
    tag: Tag,
}

impl<'a> Segments<'a> {
    /// Splits off the next segment (up to a `:`, a `#` or the end), checks its characters with
    /// `check`, then checks that the separator after it is where the segment count wants it.
    fn next<T>(&mut self, check: impl FnOnce(&'a str) -> Result<T, Error>) -> Result<T, Error> {
        let end = self.rest.bytes().position(|b| b == b':' || b == b'#');
        let end = end.unwrap_or(self.rest.len());
        let (segment, after) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
        let checked = check(segment)?;
        self.count += 1;
        match (after.strip_prefix(':'), self.count == self.expected) {
            (Some(next), false) => self.rest = next,
            // The end, or a leg suffix.
            (None, true) => self.rest = after,
            (None, false) => {
                // Too few segments: a bad leg suffix is reported first, as it is split off first.
                split_leg(self.key)?;
                return Err(self.count_error());
            }
            (Some(_), true) => return Err(self.count_error()),
        }
        Ok(checked)
    }

    /// The segment-count error, counting every segment of the base key.
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
    fn parsing_borrows_segments_without_escapes() {
        let text = "auth:client-a%7Cuser-1:T1:tool:my_tool";
        let parsed = TaskKey::parse(text).unwrap();
        assert!(matches!(parsed.component().0, Cow::Borrowed("my_tool")));
        assert!(matches!(parsed.task_id().0, Cow::Borrowed("T1")));
        assert_eq!(parsed.scope().unwrap().to_str(), "client-a|user-1");
        assert_eq!(parsed.clone().into_owned(), parsed);
    }
}
