//! An owned execution key: the key text of one leg of a task, with the places of its parts, so
//! that the task's identity is borrowed from it without parsing it again.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::component::Component;
use crate::error::Error;
use crate::ids::{TaskId, TaskType};
use crate::key::TaskKey;
use crate::leg::{Leg, push_leg_suffix};
use crate::scope::Scope;
use crate::text::Text;

/// Length of `auth:` / `anon:`.
const TAG_LEN: usize = 5;

/// The most bytes `#leg{n}` takes.
const LEG_SUFFIX_MAX: usize = 4 + 20;

/// The execution key of one leg of a task (`{task key}` or `{task key}#leg{n}`), held as its
/// canonical text in one allocation, with the places of its segments: [`task`](Self::task)
/// borrows the task's identity from it without parsing or allocating.
///
/// Equal keys name the same task and leg. `Debug` shows the task id and leg only (the key names
/// the caller's scope).
///
/// ```
/// use taskctx_scope::{Component, ExecutionKey, Leg, Scope, TaskId, TaskKey, TaskType};
/// let task = TaskKey::new(
///     Some(Scope::new("client-a|user-1")),
///     TaskId::new("T1")?,
///     TaskType::TOOL,
///     Component::new("my_tool"),
/// );
/// let key = ExecutionKey::new(&task, Leg::new(2));
/// assert_eq!(key.as_str(), "auth:client-a%7Cuser-1:T1:tool:my_tool#leg2");
/// assert_eq!((key.task(), key.leg()), (task, Leg::new(2)));
/// assert_eq!(ExecutionKey::parse(key.as_str())?, key);
/// # Ok::<(), taskctx_scope::Error>(())
/// ```
#[derive(Clone)]
pub struct ExecutionKey {
    text: String,
    leg: Leg,
    /// The end of the scope segment (which starts after the tag) and whether it holds escapes;
    /// `None` for an anonymous task.
    scope: Option<(usize, bool)>,
    task_id: (usize, usize),
    task_type: (usize, usize),
    /// The component segment and whether it holds escapes.
    component: (usize, usize, bool),
}

impl ExecutionKey {
    /// The execution key of `leg` of `task`.
    #[must_use]
    pub fn new(task: &TaskKey<'_>, leg: Leg) -> Self {
        let suffix = if leg.is_first() { 0 } else { LEG_SUFFIX_MAX };
        // An upper bound rather than the exact length, which would read the text once more.
        let capacity = 8
            + task.scope().map_or(0, |scope| scope.0.encoded_len_bound())
            + task.task_id().as_str().len()
            + task.task_type().as_str().len()
            + task.component().0.encoded_len_bound()
            + suffix;
        let mut text = String::with_capacity(capacity);
        let scope = match task.scope() {
            Some(scope) => {
                text.push_str("auth:");
                let escaped = scope.0.write_canonical(&mut text);
                let end = text.len();
                text.push(':');
                Some((end, escaped))
            }
            None => {
                text.push_str("anon:");
                None
            }
        };
        let task_id = push_segment(&mut text, task.task_id().as_str());
        text.push(':');
        let task_type = push_segment(&mut text, task.task_type().as_str());
        text.push(':');
        let start = text.len();
        let escaped = task.component().0.write_canonical(&mut text);
        let component = (start, text.len(), escaped);
        push_leg_suffix(leg, &mut text);
        Self {
            text,
            leg,
            scope,
            task_id,
            task_type,
            component,
        }
    }

    /// Parses an execution key (see [`TaskKey::parse_execution`]); the key is kept in its
    /// canonical form (escapes in uppercase hex, none needless).
    ///
    /// # Errors
    /// As [`TaskKey::parse_execution`].
    pub fn parse(key: &str) -> Result<Self, Error> {
        let (task, leg) = TaskKey::parse_execution(key)?;
        // A key in canonical form (every key this crate writes) is kept as it is; the places of
        // its segments follow from their lengths.
        let scope = match task.scope().map(|scope| &scope.0) {
            None => None,
            Some(text) => match canonical_segment(text) {
                Some((raw, escaped)) => Some((TAG_LEN + raw.len(), escaped)),
                None => return Ok(Self::new(&task, leg)),
            },
        };
        let Some((component, escaped)) = canonical_segment(&task.component().0) else {
            return Ok(Self::new(&task, leg));
        };
        let component = (component.len(), escaped);
        let id_start = scope.map_or(TAG_LEN, |(end, _)| end + 1);
        let id_end = id_start + task.task_id().as_str().len();
        let type_end = id_end + 1 + task.task_type().as_str().len();
        let component_start = type_end + 1;
        Ok(Self {
            text: key.to_owned(),
            leg,
            scope,
            task_id: (id_start, id_end),
            task_type: (id_end + 1, type_end),
            component: (component_start, component_start + component.0, component.1),
        })
    }

    /// The key's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key's text, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.text
    }

    /// The task's identity, borrowed from the key.
    #[must_use]
    pub fn task(&self) -> TaskKey<'_> {
        let segment = |start: usize, end: usize| self.text.get(start..end).unwrap_or_default();
        let scope = self
            .scope
            .map(|(end, escaped)| Scope(canonical(segment(TAG_LEN, end), escaped)));
        let (start, end, escaped) = self.component;
        TaskKey::new(
            scope,
            TaskId::from_valid(segment(self.task_id.0, self.task_id.1)),
            TaskType::from_valid(segment(self.task_type.0, self.task_type.1)),
            Component(canonical(segment(start, end), escaped)),
        )
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> TaskId<'_> {
        TaskId::from_valid(
            self.text
                .get(self.task_id.0..self.task_id.1)
                .unwrap_or_default(),
        )
    }

    /// The leg.
    #[must_use]
    pub const fn leg(&self) -> Leg {
        self.leg
    }
}

/// A parsed segment in canonical form, and whether it holds escapes.
fn canonical_segment<'t>(text: &Text<'t>) -> Option<(&'t str, bool)> {
    let raw = text.canonical_raw()?;
    let escaped = !matches!(text, Text::Encoded { escaped: false, .. });
    Some((raw, escaped))
}

/// A segment of a key in canonical form.
fn canonical(raw: &str, escaped: bool) -> Text<'_> {
    if escaped {
        Text::Canonical(raw)
    } else {
        Text::Encoded {
            raw,
            escaped: false,
        }
    }
}

/// Appends `segment` and returns where it lies.
fn push_segment(text: &mut String, segment: &str) -> (usize, usize) {
    let start = text.len();
    text.push_str(segment);
    (start, text.len())
}

impl PartialEq for ExecutionKey {
    /// Canonical texts are equal exactly when the tasks and legs are.
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ExecutionKey {}

impl Hash for ExecutionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for ExecutionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionKey")
            .field("task_id", &self.task_id())
            .field("leg", &self.leg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(scope: Option<&str>, component: &str) -> TaskKey<'static> {
        TaskKey::new(
            scope.map(|scope| Scope::new(scope.to_owned())),
            TaskId::new("T1").unwrap(),
            TaskType::new("batch-export").unwrap(),
            Component::new(component.to_owned()),
        )
    }

    #[test]
    fn built_keys_give_back_their_task() {
        for scope in [
            None,
            Some(""),
            Some("client-a|user-1"),
            Some("plain"),
            Some("ü/😀"),
        ] {
            for component in ["", "my_tool", "weather://{city}/current?units={units}"] {
                for leg in [Leg::FIRST, Leg::new(2), Leg::new(u64::MAX)] {
                    let task = task(scope, component);
                    let key = ExecutionKey::new(&task, leg);
                    assert_eq!(key.as_str(), task.execution_key(leg));
                    assert_eq!(key.task(), task);
                    assert_eq!(key.task().to_key(), task.to_key());
                    assert_eq!(key.task().encoded_len(), task.encoded_len());
                    assert_eq!(key.task_id(), *task.task_id());
                    assert_eq!(key.leg(), leg);
                    assert_eq!(ExecutionKey::parse(key.as_str()).unwrap(), key);
                    assert_eq!(key.clone().into_string(), key.as_str());
                }
            }
        }
    }

    #[test]
    fn parsed_keys_give_back_their_task() {
        for text in [
            "anon:T1:tool:x",
            "anon:T1:tool:%C3%BC#leg2",
            "auth::T1:tool:",
            "auth:client-a%7Cuser-1:T1:tool:my_tool#leg9",
            "auth:plain:id-1:batch-export:weather%3A%2F%2Fa",
        ] {
            let (task, leg) = TaskKey::parse_execution(text).unwrap();
            let key = ExecutionKey::parse(text).unwrap();
            assert_eq!(key.as_str(), text);
            assert_eq!((key.task(), key.leg()), (task.clone(), leg));
            assert_eq!(key, ExecutionKey::new(&task, leg));
            assert_eq!(key.task().to_key(), task.to_key());
            assert_eq!(key.task().encoded_len(), task.encoded_len());
        }
    }

    #[test]
    fn parsing_keeps_the_canonical_form() {
        let key = ExecutionKey::parse("auth:client-a%7cuser%2D1:T1:tool:my%5ftool#leg3").unwrap();
        assert_eq!(key.as_str(), "auth:client-a%7Cuser-1:T1:tool:my_tool#leg3");
        assert_eq!(key.task().scope().unwrap(), "client-a|user-1");
        assert_eq!(key.task().component(), "my_tool");
        assert_eq!(key.leg(), Leg::new(3));
        assert_eq!(
            ExecutionKey::parse("anon:T1:tool:x#leg1"),
            Err(Error::InvalidLegSuffix {
                found: crate::Excerpt::new("#leg1")
            })
        );
    }

    #[test]
    fn debug_hides_the_scope() {
        let key = ExecutionKey::new(&task(Some("secret-scope"), "x"), Leg::new(2));
        let shown = format!("{key:?}");
        assert!(shown.contains("T1") && !shown.contains("secret"), "{shown}");
    }
}
