//! Submission: store a task's snapshot (and companion keys) and register its owning server.

use std::fmt;
use std::sync::Arc;

use taskctx_scope::{Component, ExecutionKey, KeySuffix, Leg, Scope, TaskId, TaskKey, TaskType};
use taskctx_snapshot::{AccessToken, TaskContextSnapshot};

use crate::registries::ServerKey;
use crate::{KeyError, SubmitError, TaskGlue};

/// The scope of the caller whose token the snapshot holds; `None` for an anonymous caller.
///
/// # Errors
/// The key layer's error when the token gives no valid scope (a `client_id` with `|`, or a `sub`
/// claim that is `true`, a float, an array or an object).
pub fn scope_of(snapshot: &TaskContextSnapshot) -> Result<Option<Scope<'static>>, KeyError> {
    snapshot.access_token().map(scope_of_token).transpose()
}

/// The scope an access token stands for (SPEC §2).
///
/// # Errors
/// As [`scope_of`].
pub fn scope_of_token(token: &AccessToken) -> Result<Scope<'static>, KeyError> {
    token.scope().map(Scope::into_owned)
}

/// Whether `scope` is the scope of the snapshot's caller (both `None` for an anonymous one),
/// compared without composing the token's scope.
pub(crate) fn is_scope_of(snapshot: &TaskContextSnapshot, scope: Option<&Scope<'_>>) -> bool {
    match (snapshot.access_token(), scope) {
        (None, None) => true,
        (Some(token), Some(scope)) => scope.is_of_token(token.client_id(), token.sub()),
        _ => false,
    }
}

/// Whether `scope` is the scope `token` stands for.
pub(crate) fn is_scope_of_token(token: &AccessToken, scope: Option<&Scope<'_>>) -> bool {
    scope.is_some_and(|scope| scope.is_of_token(token.client_id(), token.sub()))
}

/// One task to submit: the caller's snapshot, the task's id, type and component (its scope is
/// the snapshot's token's, derived once by [`TaskGlue::submit`]), and optionally its leg, owning
/// server and extra per-task keys stored in the same write.
///
/// ```
/// use taskctx_worker_glue::prelude::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let snapshot = TaskContextSnapshot::new();
/// let task = Submit::<()>::new(&snapshot, TaskId::new("T1")?, TaskType::TOOL, Component::new("my_tool"))
///     .leg(Leg::new(2))
///     .extra(KeySuffix::Args, b"[]");
/// # let _ = task;
/// # Ok(())
/// # }
/// ```
pub struct Submit<'a, Sv = ()> {
    snapshot: &'a TaskContextSnapshot,
    task_id: TaskId<'a>,
    task_type: TaskType<'a>,
    component: Component<'a>,
    leg: Leg,
    server: Option<&'a Arc<Sv>>,
    extras: Vec<(KeySuffix, &'a [u8])>,
}

impl<'a, Sv> Submit<'a, Sv> {
    /// Task `task_id` of type `task_type` running `component` (leg 1), for the caller of
    /// `snapshot`.
    #[must_use]
    pub fn new(
        snapshot: &'a TaskContextSnapshot,
        task_id: TaskId<'a>,
        task_type: TaskType<'a>,
        component: Component<'a>,
    ) -> Self {
        Self {
            snapshot,
            task_id,
            task_type,
            component,
            leg: Leg::default(),
            server: None,
            extras: Vec::new(),
        }
    }

    /// The leg whose execution key [`TaskGlue::submit`] returns.
    #[must_use]
    pub const fn leg(mut self, leg: Leg) -> Self {
        self.leg = leg;
        self
    }

    /// The owning server, registered for the task (its scope and task id).
    #[must_use]
    pub const fn server(mut self, server: &'a Arc<Sv>) -> Self {
        self.server = Some(server);
        self
    }

    /// Another key of the task, `{queue prefix}:{scope prefix}:{task_id}:{suffix}`, saved with
    /// the snapshot in one atomic write. [`KeySuffix::Snapshot`] and [`KeySuffix::Record`]
    /// (written by the glue) and [`KeySuffix::Meta`] (the task's meta hash) are refused by submit with
    /// [`SubmitError::ReservedSuffix`], before anything is written.
    #[must_use]
    pub fn extra(mut self, suffix: KeySuffix, value: &'a [u8]) -> Self {
        self.extras.push((suffix, value));
        self
    }
}

impl<Sv> fmt::Debug for Submit<'_, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("task_id", &self.task_id)
            .field("task_type", &self.task_type)
            .field("leg", &self.leg)
            .field("snapshot", &self.snapshot)
            .field("extras", &self.extras.len())
            .finish_non_exhaustive()
    }
}

/// A submitted task: the execution key to hand the worker, and the task's key and leg it names.
/// `Debug` shows the task id and leg only (the key names the caller's scope).
#[must_use = "the execution key is what the worker needs: enqueue it"]
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submitted {
    key: ExecutionKey,
}

impl Submitted {
    /// The key the worker receives: `{task key}` or `{task key}#leg{n}`.
    #[must_use]
    pub fn execution_key(&self) -> &str {
        self.key.as_str()
    }

    /// The execution key, owned.
    #[must_use]
    pub fn into_execution_key(self) -> String {
        self.key.into_string()
    }

    /// The task's key (with the scope derived from the snapshot's token), borrowed from the
    /// execution key.
    #[must_use]
    pub fn task(&self) -> TaskKey<'_> {
        self.key.task()
    }

    /// The leg of the execution key.
    #[must_use]
    pub const fn leg(&self) -> Leg {
        self.key.leg()
    }
}

impl fmt::Debug for Submitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitted")
            .field("task_id", &self.key.task_id())
            .field("leg", &self.key.leg())
            .finish_non_exhaustive()
    }
}

impl<Se, Sv> TaskGlue<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// Stores the task's snapshot (and extra keys) in one atomic write with the queue's TTL,
    /// registers its server (under the task's scope and id), and returns its execution key.
    ///
    /// The task's scope is derived from the snapshot's token here, once. Sessions are not
    /// registered by submit: the connection layer registers each session once
    /// ([`TaskGlue::sessions`]).
    ///
    /// # Errors
    /// [`SubmitError::Scope`] when the snapshot's token gives no valid scope;
    /// [`SubmitError::ReservedSuffix`] and [`SubmitError::DuplicateSuffix`] for extra keys;
    /// [`SubmitError::Encode`]; [`SubmitError::Store`]. Nothing is written or registered then.
    pub async fn submit(&self, task: Submit<'_, Sv>) -> Result<Submitted, SubmitError> {
        let scope = task
            .snapshot
            .access_token()
            .map(AccessToken::scope)
            .transpose()
            .map_err(SubmitError::Scope)?;
        for (index, (suffix, _)) in task.extras.iter().enumerate() {
            if matches!(
                suffix,
                KeySuffix::Snapshot | KeySuffix::Meta | KeySuffix::Record
            ) {
                return Err(SubmitError::ReservedSuffix { suffix: *suffix });
            }
            if task
                .extras
                .iter()
                .take(index)
                .any(|(seen, _)| seen == suffix)
            {
                return Err(SubmitError::DuplicateSuffix { suffix: *suffix });
            }
        }
        let inner = &self.inner;
        // The execution key is written first: the other keys copy its encoded scope.
        let execution_key = ExecutionKey::new(
            TaskKey::new(scope, task.task_id, task.task_type, task.component),
            task.leg,
        );
        let key = execution_key.task();
        let snapshot_key = inner.keys.snapshot_key(key.scope(), key.task_id());
        let encoded = inner
            .codec
            .encode(task.snapshot, &snapshot_key)
            .map_err(SubmitError::Encode)?;
        let extra_keys: Vec<String> = task
            .extras
            .iter()
            .map(|(suffix, _)| inner.keys.task_key(key.scope(), key.task_id(), *suffix))
            .collect();
        let mut entries: Vec<(&str, &[u8])> = Vec::with_capacity(1 + extra_keys.len());
        entries.push((&snapshot_key, &encoded));
        entries.extend(
            extra_keys
                .iter()
                .zip(&task.extras)
                .map(|(key, (_, value))| (key.as_str(), *value)),
        );
        inner
            .store
            .save(&entries, inner.ttl)
            .await
            .map_err(SubmitError::Store)?;

        if let Some(server) = task.server {
            inner.servers.register_key(ServerKey::of(&key), server);
        }
        Ok(Submitted { key: execution_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn scope_with_sub(sub: Option<Value>) -> Result<Option<String>, KeyError> {
        let mut token = AccessToken::builder("t", "client-a");
        if let Some(sub) = sub {
            token = token.claim("sub", sub);
        }
        let snapshot = TaskContextSnapshot::builder()
            .access_token(token.build())
            .build();
        scope_of(&snapshot).map(|scope| scope.map(|scope| scope.to_str().into_owned()))
    }

    #[test]
    fn scope_of_maps_every_sub_claim() {
        assert_eq!(scope_of(&TaskContextSnapshot::new()), Ok(None));
        let cases = [
            (None, Some("client-a")),
            (Some(Value::Null), Some("client-a")),
            (Some(Value::from(false)), Some("client-a")),
            (Some(Value::from(0)), Some("client-a")),
            (Some(Value::from("")), Some("client-a")),
            (Some(Value::from("user-1")), Some("client-a|user-1")),
            (Some(Value::from(42)), Some("client-a|42")),
            (Some(Value::from(-7)), Some("client-a|-7")),
            (
                Some(Value::from(u64::MAX)),
                Some("client-a|18446744073709551615"),
            ),
        ];
        for (sub, expected) in cases {
            let shown = format!("{sub:?}");
            assert_eq!(
                scope_with_sub(sub).ok().flatten().as_deref(),
                expected,
                "{shown}"
            );
        }
        for sub in [
            Value::from(true),
            Value::from(1.5),
            Value::Array(Vec::new()),
            Value::Object(serde_json::Map::new()),
        ] {
            let shown = format!("{sub:?}");
            assert!(scope_with_sub(Some(sub)).is_err(), "{shown}");
        }
    }
}
