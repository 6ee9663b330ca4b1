//! Validated task ids and task types: written into keys as they are, so their alphabets exclude
//! every separator (`:`, `#`, `%`, `{`, `}`, `|`).

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Part};
use crate::percent::unreserved_run;

/// Longest task id, in characters.
pub const TASK_ID_MAX_LEN: usize = 256;
/// Longest task type, in characters.
pub const TASK_TYPE_MAX_LEN: usize = 64;

/// Checks length and alphabet (`first_outside` finds the first byte outside it, or the length);
/// all allowed characters are ASCII, so bytes are characters.
fn validate(
    text: &str,
    part: Part,
    max: usize,
    first_outside: impl Fn(&[u8]) -> usize,
) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::Empty { part });
    }
    let offset = first_outside(text.as_bytes());
    if offset < text.len() {
        let found = text
            .get(offset..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{FFFD}');
        return Err(Error::InvalidChar {
            part,
            offset,
            found,
        });
    }
    if text.len() > max {
        return Err(Error::TooLong {
            part,
            max,
            len: text.len(),
        });
    }
    Ok(())
}

/// Whether `b` may appear in a task type.
const fn is_task_type_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')
}

/// A task id: 1–256 characters of `A-Z a-z 0-9 - . _ ~` (url-safe base64 ids and UUIDs fit).
///
/// ```
/// use taskctx_scope::TaskId;
/// assert!(TaskId::new("6f1c9c1e-8a0b-4d3e-9f27-3b5e0c2d7a41").is_ok());
/// assert!(TaskId::new("id:with:colons").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId<'a>(Cow<'a, str>);

impl<'a> TaskId<'a> {
    /// Validates a task id.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::InvalidChar`] or [`Error::TooLong`] for [`Part::TaskId`].
    pub fn new(id: impl Into<Cow<'a, str>>) -> Result<Self, Error> {
        let id = id.into();
        validate(&id, Part::TaskId, TASK_ID_MAX_LEN, |bytes| {
            unreserved_run(bytes, 0)
        })?;
        Ok(Self(id))
    }

    /// A key segment whose bytes are already known to be unreserved.
    #[inline]
    pub(crate) fn from_unreserved_segment(id: &'a str) -> Result<Self, Error> {
        if id.is_empty() {
            return Err(Error::Empty { part: Part::TaskId });
        }
        if id.len() > TASK_ID_MAX_LEN {
            return Err(Error::TooLong {
                part: Part::TaskId,
                max: TASK_ID_MAX_LEN,
                len: id.len(),
            });
        }
        Ok(Self(Cow::Borrowed(id)))
    }

    /// Text already validated as a task id (a segment of a key this crate built or parsed).
    #[inline]
    pub(crate) const fn from_valid(id: &'a str) -> Self {
        Self(Cow::Borrowed(id))
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Detaches from any borrowed input.
    #[must_use]
    pub fn into_owned(self) -> TaskId<'static> {
        TaskId(Cow::Owned(self.0.into_owned()))
    }
}

/// A task type: 1–64 characters of `a-z 0-9 _ -`.
///
/// ```
/// use taskctx_scope::TaskType;
/// assert_eq!(TaskType::TOOL.as_str(), "tool");
/// assert!(TaskType::new("batch-export").is_ok());
/// assert!(TaskType::new("to:ol").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskType<'a>(Cow<'a, str>);

impl<'a> TaskType<'a> {
    /// A tool call.
    pub const TOOL: TaskType<'static> = TaskType(Cow::Borrowed("tool"));
    /// A prompt.
    pub const PROMPT: TaskType<'static> = TaskType(Cow::Borrowed("prompt"));
    /// A resource read.
    pub const RESOURCE: TaskType<'static> = TaskType(Cow::Borrowed("resource"));
    /// A resource template read.
    pub const TEMPLATE: TaskType<'static> = TaskType(Cow::Borrowed("template"));

    /// Validates a task type.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::InvalidChar`] or [`Error::TooLong`] for [`Part::TaskType`].
    pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, Error> {
        let name = name.into();
        validate(&name, Part::TaskType, TASK_TYPE_MAX_LEN, |bytes| {
            bytes
                .iter()
                .position(|&b| !is_task_type_byte(b))
                .unwrap_or(bytes.len())
        })?;
        Ok(Self(name))
    }

    /// A key segment; borrows it.
    #[inline(always)]
    pub(crate) fn from_segment(name: &'a str) -> Result<Self, Error> {
        if !name.is_empty()
            && name.len() <= TASK_TYPE_MAX_LEN
            && name.bytes().all(is_task_type_byte)
        {
            Ok(Self(Cow::Borrowed(name)))
        } else {
            Self::new(name)
        }
    }

    /// Text already validated as a task type (a segment of a key this crate built or parsed).
    #[inline]
    pub(crate) const fn from_valid(name: &'a str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Detaches from any borrowed input.
    #[must_use]
    pub fn into_owned(self) -> TaskType<'static> {
        TaskType(Cow::Owned(self.0.into_owned()))
    }
}

macro_rules! str_impls {
    ($name:ident) => {
        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl AsRef<str> for $name<'_> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name<'_> {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $name<'_> {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }

        impl<'a> TryFrom<&'a str> for $name<'a> {
            type Error = Error;

            fn try_from(text: &'a str) -> Result<Self, Error> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $name<'static> {
            type Error = Error;

            fn try_from(text: String) -> Result<Self, Error> {
                Self::new(text)
            }
        }
    };
}

str_impls!(TaskId);
str_impls!(TaskType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_limits() {
        assert!(TaskId::new("a".repeat(256)).is_ok());
        assert_eq!(
            TaskId::new("a".repeat(257)),
            Err(Error::TooLong {
                part: Part::TaskId,
                max: 256,
                len: 257
            })
        );
        assert_eq!(TaskId::new(""), Err(Error::Empty { part: Part::TaskId }));
        assert_eq!(
            TaskId::new("id#leg5"),
            Err(Error::InvalidChar {
                part: Part::TaskId,
                offset: 2,
                found: '#'
            })
        );
        assert!(TaskId::new("AZaz09-._~").is_ok());
        assert!(TaskId::new("é").is_err());
    }

    #[test]
    fn task_type_limits() {
        for name in ["tool", "prompt", "resource", "template", "a", "x_y-1"] {
            assert!(TaskType::new(name).is_ok(), "{name}");
        }
        for name in ["", "Tool", "to:ol", "to#ol", "a.b", "~"] {
            assert!(TaskType::new(name).is_err(), "{name}");
        }
        assert!(TaskType::new("a".repeat(64)).is_ok());
        assert!(TaskType::new("a".repeat(65)).is_err());
        assert_eq!(TaskType::TOOL, TaskType::new("tool").unwrap());
    }
}
