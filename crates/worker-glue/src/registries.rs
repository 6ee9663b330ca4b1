//! The glue's in-process registries, keyed by full identity: live sessions by (scope, session
//! id), owning servers by (scope, task id). An id alone never finds, replaces or removes anything.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use taskctx_registry::{DEFAULT_SERVER_CAPACITY, ServerRegistry, SessionGuard, SessionRegistry};
use taskctx_scope::{Scope, TaskId, TaskKey};

/// A session's identity: the scope it was opened for and its id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    scope: Option<Scope<'static>>,
    id: Box<str>,
}

impl SessionKey {
    pub(crate) fn new(scope: Option<&Scope<'_>>, id: &str) -> Self {
        Self {
            scope: scope.map(|scope| scope.clone().into_owned()),
            id: id.into(),
        }
    }
}

/// A task's identity for the server registry: its scope and task id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    scope: Option<Scope<'static>>,
    task_id: TaskId<'static>,
}

impl ServerKey {
    pub(crate) fn new(scope: Option<&Scope<'_>>, task_id: &TaskId<'_>) -> Self {
        Self {
            scope: scope.map(|scope| scope.clone().into_owned()),
            task_id: task_id.clone().into_owned(),
        }
    }

    pub(crate) fn of(task: &TaskKey<'_>) -> Self {
        Self::new(task.scope(), task.task_id())
    }
}

/// The live sessions of one server process, by (scope, session id), held weakly.
///
/// The connection layer registers each session once, when the connection is established (or the
/// session is created), and keeps the returned [`SessionRegistration`] for as long as the
/// connection lives; an in-process worker then finds the session of a task submitted in it with
/// [`TaskGlue::live_session`](crate::TaskGlue::live_session). A session registered for one scope
/// is never handed to a task of another scope, even one whose snapshot names the same session id.
///
/// Cheap to clone: clones share one registry (and [`TaskGlueBuilder::sessions`](crate::TaskGlueBuilder::sessions)
/// lets several glues share it). `Debug` shows only the number of entries.
pub struct Sessions<Se> {
    registry: SessionRegistry<SessionKey, Se>,
}

impl<Se> Sessions<Se> {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self {
            registry: SessionRegistry::new(),
        }
    }

    /// Registers `session` as the live session `session_id` of `scope` (`None`: an anonymous
    /// caller), replacing an earlier registration of the same scope and id. The registry holds
    /// the session weakly; the entry lasts until the returned registration is dropped (or the
    /// session is), and dropping it removes only this registration, never a newer one.
    pub fn register(
        &self,
        scope: Option<&Scope<'_>>,
        session_id: &str,
        session: &Arc<Se>,
    ) -> SessionRegistration<Se> {
        SessionRegistration {
            guard: self
                .registry
                .register(SessionKey::new(scope, session_id), session),
        }
    }

    /// The live session `session_id` of `scope`, if one is registered and still alive.
    #[must_use]
    pub fn get(&self, scope: Option<&Scope<'_>>, session_id: &str) -> Option<Arc<Se>> {
        self.registry.get(&SessionKey::new(scope, session_id))
    }

    pub(crate) fn get_key(&self, key: &SessionKey) -> Option<Arc<Se>> {
        self.registry.get(key)
    }

    /// Removes the entries whose session has gone, returning how many it removed.
    pub fn sweep(&self) -> usize {
        self.registry.sweep()
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.registry.is_empty()
    }
}

impl<Se> Default for Sessions<Se> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Se> Clone for Sessions<Se> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
        }
    }
}

impl<Se> fmt::Debug for Sessions<Se> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// One session's registration in [`Sessions`]: held by the connection that serves the session.
/// Dropping it removes the registration (unless a newer one of the same scope and id replaced
/// it). Holds neither the session nor the registry alive. `Debug` shows neither scope nor id.
#[must_use = "dropping the registration unregisters the session at once"]
pub struct SessionRegistration<Se> {
    guard: SessionGuard<SessionKey, Se>,
}

impl<Se> SessionRegistration<Se> {
    /// Whether the registry still holds this registration.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.guard.is_current()
    }

    /// Removes the registration now, returning whether it was still there. Dropping it does the
    /// same.
    pub fn unregister(self) -> bool {
        self.guard.unregister()
    }
}

impl<Se> fmt::Debug for SessionRegistration<Se> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRegistration")
            .field("current", &self.is_current())
            .finish()
    }
}

/// The owning servers of tasks submitted in this process, by (scope, task id), held weakly in a
/// bounded least-recently-used map ([`DEFAULT_SERVER_CAPACITY`] entries unless
/// [`TaskGlueBuilder::server_capacity`](crate::TaskGlueBuilder::server_capacity) says otherwise).
///
/// [`TaskGlue::submit`](crate::TaskGlue::submit) registers a task's server; two callers whose
/// tasks share an id each keep their own entry. Cheap to clone. `Debug` shows only counts.
pub struct Servers<Sv> {
    registry: ServerRegistry<ServerKey, Sv>,
}

impl<Sv> Servers<Sv> {
    /// An empty registry that keeps at most `capacity` entries.
    #[must_use]
    pub fn with_capacity(capacity: NonZeroUsize) -> Self {
        Self {
            registry: ServerRegistry::with_capacity(capacity),
        }
    }

    /// Registers `server` as the owner of `task` (its scope and task id).
    pub fn register(&self, task: &TaskKey<'_>, server: &Arc<Sv>) {
        self.registry.register(ServerKey::of(task), server);
    }

    pub(crate) fn register_key(&self, key: ServerKey, server: &Arc<Sv>) {
        self.registry.register(key, server);
    }

    /// The live server registered for `task` (its scope and task id).
    #[must_use]
    pub fn get(&self, task: &TaskKey<'_>) -> Option<Arc<Sv>> {
        self.registry.get(&ServerKey::of(task))
    }

    pub(crate) fn get_key(&self, key: &ServerKey) -> Option<Arc<Sv>> {
        self.registry.get(key)
    }

    /// Removes `task`'s entry if it is still `server`'s (for example when the task has
    /// finished); another task of the same id in another scope keeps its entry, and so does a
    /// later registration of another server. Returns whether it removed one.
    pub fn remove(&self, task: &TaskKey<'_>, server: &Arc<Sv>) -> bool {
        self.registry.remove(&ServerKey::of(task), server)
    }

    /// Removes the entries whose server has gone, returning how many it removed.
    pub fn sweep(&self) -> usize {
        self.registry.sweep()
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.registry.is_empty()
    }

    /// The most entries kept.
    #[must_use]
    pub fn capacity(&self) -> NonZeroUsize {
        self.registry.capacity()
    }
}

impl<Sv> Default for Servers<Sv> {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_SERVER_CAPACITY)
    }
}

impl<Sv> Clone for Servers<Sv> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
        }
    }
}

impl<Sv> fmt::Debug for Servers<Sv> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Servers")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}
