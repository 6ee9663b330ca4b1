//! An owned execution key: the key text of one leg of a task, kept beside the task's identity.

use std::fmt;

use crate::error::Error;
use crate::ids::TaskId;
use crate::key::TaskKey;
use crate::leg::Leg;

/// The execution key of one leg of a task (`{task key}` or `{task key}#leg{n}`), held as its
/// canonical text together with the task's identity, so that [`task`](Self::task) lends the
/// identity out without parsing.
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
/// let key = ExecutionKey::new(task.clone(), Leg::new(2));
/// assert_eq!(key.as_str(), "auth:client-a%7Cuser-1:T1:tool:my_tool#leg2");
/// assert_eq!((key.task(), key.leg()), (task, Leg::new(2)));
/// assert_eq!(ExecutionKey::parse(key.as_str())?, key);
/// # Ok::<(), taskctx_scope::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExecutionKey {
    text: String,
    task: TaskKey<'static>,
    leg: Leg,
}

impl ExecutionKey {
    /// The execution key of `leg` of `task`.
    #[must_use]
    pub fn new(task: TaskKey<'_>, leg: Leg) -> Self {
        Self {
            text: task.execution_key(leg),
            task: task.into_owned(),
            leg,
        }
    }

    /// Parses an execution key (see [`TaskKey::parse_execution`]); the key is kept in its
    /// canonical form (escapes in uppercase hex, none needless).
    ///
    /// # Errors
    /// As [`TaskKey::parse_execution`].
    pub fn parse(key: &str) -> Result<Self, Error> {
        let (task, leg) = TaskKey::parse_execution(key)?;
        Ok(Self::new(task, leg))
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
        self.task.borrowed()
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> &TaskId<'_> {
        self.task.task_id()
    }

    /// The leg.
    #[must_use]
    pub const fn leg(&self) -> Leg {
        self.leg
    }
}

impl fmt::Debug for ExecutionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionKey")
            .field("task_id", self.task_id())
            .field("leg", &self.leg)
            .finish_non_exhaustive()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Component, Scope, TaskType};

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
                    let key = ExecutionKey::new(task.clone(), leg);
                    assert_eq!(key.as_str(), task.execution_key(leg));
                    assert_eq!(key.task(), task);
                    assert_eq!(key.task().to_key(), task.to_key());
                    assert_eq!(key.task().encoded_len(), task.encoded_len());
                    assert_eq!(key.task_id(), task.task_id());
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
            assert_eq!(key, ExecutionKey::new(task.clone(), leg));
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
        let key = ExecutionKey::new(task(Some("secret-scope"), "x"), Leg::new(2));
        let shown = format!("{key:?}");
        assert!(shown.contains("T1") && !shown.contains("secret"), "{shown}");
    }
}
