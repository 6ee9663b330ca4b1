//! Validated task ids and task types: written into keys as they are, so their alphabets exclude
//! every separator (`:`, `#`, `%`, `{`, `}`, `|`).

use std::borrow::Cow;

use crate::error::{Error, Part, check_chars};
use crate::percent::is_unreserved;
use crate::text::str_impls;

/// Longest task id, in characters.
pub const TASK_ID_MAX_LEN: usize = 256;
/// Longest task type, in characters.
pub const TASK_TYPE_MAX_LEN: usize = 64;

/// Checks that `text` is not empty, then its alphabet, then its length (all allowed characters are
/// ASCII, so bytes are characters).
fn validate(text: &str, part: Part, max: usize, allowed: impl Fn(u8) -> bool) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::Empty { part });
    }
    check_chars(text, part, allowed)?;
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
pub struct TaskId<'a>(pub(crate) Cow<'a, str>);

impl<'a> TaskId<'a> {
    /// Validates a task id.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::InvalidChar`] or [`Error::TooLong`] for [`Part::TaskId`].
    pub fn new(id: impl Into<Cow<'a, str>>) -> Result<Self, Error> {
        let id = id.into();
        validate(&id, Part::TaskId, TASK_ID_MAX_LEN, is_unreserved)?;
        Ok(Self(id))
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
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
pub struct TaskType<'a>(pub(crate) Cow<'a, str>);

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
        validate(&name, Part::TaskType, TASK_TYPE_MAX_LEN, is_task_type_byte)?;
        Ok(Self(name))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `TryFrom` text, validated.
macro_rules! try_from_text {
    ($name:ident) => {
        str_impls!($name);

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

try_from_text!(TaskId);
try_from_text!(TaskType);

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
