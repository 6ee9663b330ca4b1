//! Submission: store a task's snapshot (and companion keys) and register its session and server.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use taskctx_registry::SessionGuard;
use taskctx_scope::{KeySuffix, Leg, Scope, SubClaim, TaskKey};
use taskctx_snapshot::{SnapshotCodec, TaskContextSnapshot};

use crate::{SnapshotStore, SubmitError, TaskGlue};

/// The scope of the caller whose token the snapshot holds; `None` for an anonymous caller.
///
/// # Errors
/// The key layer's error when the token gives no valid scope (a `client_id` with `|`, or a `sub`
/// claim that is `true`, a float, an array or an object).
pub fn scope_of(
    snapshot: &TaskContextSnapshot,
) -> Result<Option<Scope<'static>>, taskctx_scope::Error> {
    let Some(inputs) = snapshot.scope_inputs() else {
        return Ok(None);
    };
    let sub = match inputs.sub {
        None => SubClaim::Absent,
        Some(Value::Null) => SubClaim::Null,
        Some(Value::Bool(value)) => SubClaim::Bool(*value),
        Some(Value::Number(number)) => match (number.as_i64(), number.as_u64()) {
            (Some(value), _) => SubClaim::Integer(i128::from(value)),
            (None, Some(value)) => SubClaim::Integer(i128::from(value)),
            (None, None) => SubClaim::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Some(Value::String(text)) => SubClaim::String(text),
        Some(Value::Array(_)) => SubClaim::Array,
        Some(Value::Object(_)) => SubClaim::Object,
    };
    Scope::from_token(inputs.client_id, sub).map(|scope| Some(scope.into_owned()))
}

/// One task to submit: its key, leg, captured snapshot, and optionally its live session, owning
/// server and extra per-task keys stored in the same write.
pub struct Submit<'a, Se = (), Sv = ()> {
    task: TaskKey<'a>,
    leg: Leg,
    snapshot: &'a TaskContextSnapshot,
    session: Option<&'a Arc<Se>>,
    server: Option<&'a Arc<Sv>>,
    extras: Vec<(&'a str, &'a [u8])>,
}

impl<'a, Se, Sv> Submit<'a, Se, Sv> {
    /// Task `task` (leg 1) with the caller's `snapshot`.
    #[must_use]
    pub fn new(task: TaskKey<'a>, snapshot: &'a TaskContextSnapshot) -> Self {
        Self {
            task,
            leg: Leg::default(),
            snapshot,
            session: None,
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

    /// The live session, registered under the snapshot's session id.
    #[must_use]
    pub const fn session(mut self, session: &'a Arc<Se>) -> Self {
        self.session = Some(session);
        self
    }

    /// The owning server, registered under the task id.
    #[must_use]
    pub const fn server(mut self, server: &'a Arc<Sv>) -> Self {
        self.server = Some(server);
        self
    }

    /// Another key of the task, `{queue}:{scope}:{task_id}:{suffix}` (the task's meta key when
    /// `suffix` is empty), saved with the snapshot in one atomic write.
    #[must_use]
    pub fn extra(mut self, suffix: &'a str, value: &'a [u8]) -> Self {
        self.extras.push((suffix, value));
        self
    }
}

impl<Se, Sv> fmt::Debug for Submit<'_, Se, Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submit")
            .field("task_id", &self.task.task_id())
            .field("leg", &self.leg)
            .field("snapshot", &self.snapshot)
            .field("extras", &self.extras.len())
            .finish_non_exhaustive()
    }
}

/// A submitted task: its execution key, and the guard of its session's registration.
pub struct Submitted<Se> {
    /// The key the worker receives: `{task key}` or `{task key}#leg{n}`.
    pub execution_key: String,
    /// The guard of the session registration made for the task, when a session was given and
    /// was not already registered; keep it while the session should be found. Dropping it
    /// removes the registration.
    pub session_guard: Option<SessionGuard<Se>>,
}

impl<Se> fmt::Debug for Submitted<Se> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitted")
            .field("execution_key", &self.execution_key)
            .field("session_guard", &self.session_guard.is_some())
            .finish()
    }
}

impl<Se, Sv> TaskGlue<Se, Sv>
where
    Se: Send + Sync + 'static,
    Sv: Send + Sync + 'static,
{
    /// Stores the task's snapshot (and extra keys) in one atomic write with the queue's TTL,
    /// registers its session (by the snapshot's session id) and server (by task id), and returns
    /// its execution key.
    ///
    /// # Errors
    /// [`SubmitError::Scope`] or [`SubmitError::ScopeMismatch`] when the task key's scope is not
    /// the scope of the snapshot's token; [`SubmitError::Encode`]; [`SubmitError::Store`].
    pub async fn submit(&self, task: Submit<'_, Se, Sv>) -> Result<Submitted<Se>, SubmitError> {
        let token_scope = scope_of(task.snapshot).map_err(SubmitError::Scope)?;
        if token_scope.as_ref() != task.task.scope() {
            return Err(SubmitError::ScopeMismatch);
        }
        let inner = &self.inner;
        let scope = task.task.scope();
        let task_id = task.task.task_id();
        let snapshot_key = inner.keys.snapshot_key(scope, task_id);
        let encoded = inner.codec.encode(task.snapshot, &snapshot_key)?;
        let extra_keys: Vec<String> = task
            .extras
            .iter()
            .map(|(suffix, _)| {
                let mut key = inner.keys.task_key(scope, task_id, KeySuffix::Meta);
                if !suffix.is_empty() {
                    key.push(':');
                    key.push_str(suffix);
                }
                key
            })
            .collect();
        let mut entries: Vec<(&str, &[u8])> = Vec::with_capacity(1 + extra_keys.len());
        entries.push((&snapshot_key, &encoded));
        entries.extend(
            extra_keys
                .iter()
                .zip(&task.extras)
                .map(|(key, (_, value))| (key.as_str(), *value)),
        );
        inner.store.save(&entries, inner.ttl).await?;

        let registries = &inner.registries;
        if let Some(server) = task.server {
            registries.servers.register(task_id.as_str(), server);
        }
        let session_guard = match (task.session, task.snapshot.session_id()) {
            (Some(session), Some(id)) => {
                let current = registries.sessions.get(id);
                if current.is_some_and(|current| Arc::ptr_eq(&current, session)) {
                    None
                } else {
                    Some(registries.sessions.register(id, session))
                }
            }
            _ => None,
        };
        Ok(Submitted {
            execution_key: task.task.execution_key(task.leg),
            session_guard,
        })
    }
}

#[cfg(test)]
mod tests {
    use taskctx_snapshot::AccessToken;

    use super::*;

    fn scope_with_sub(sub: Option<Value>) -> Result<Option<String>, taskctx_scope::Error> {
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
