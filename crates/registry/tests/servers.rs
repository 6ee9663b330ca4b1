//! `ServerRegistry` behaviour on one thread: weak holding, least-recently-used order and bound,
//! re-registration, removal, sweeping, and what `Debug` shows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on a broken assumption"
)]

use std::num::NonZeroUsize;
use std::sync::Arc;

use taskctx_registry::{DEFAULT_SERVER_CAPACITY, ServerRegistry};

#[derive(Debug)]
struct Server {
    name: String,
}

fn server(name: &str) -> Arc<Server> {
    Arc::new(Server { name: name.into() })
}

fn registry(capacity: usize) -> ServerRegistry<String, Server> {
    ServerRegistry::<String, _>::with_capacity(NonZeroUsize::new(capacity).unwrap())
}

/// Which of `ids` the registry still finds (a lookup refreshes each, in the order given).
fn present(servers: &ServerRegistry<String, Server>, ids: &[&str]) -> Vec<String> {
    ids.iter()
        .filter(|id| servers.get(**id).is_some())
        .map(|id| (*id).to_owned())
        .collect()
}

#[test]
fn default_capacity_is_ten_thousand() {
    assert_eq!(DEFAULT_SERVER_CAPACITY.get(), 10_000);
    let servers = ServerRegistry::<String, Server>::new();
    assert_eq!(servers.capacity(), DEFAULT_SERVER_CAPACITY);
    assert_eq!(
        ServerRegistry::<String, Server>::default().capacity().get(),
        10_000
    );
}

#[test]
fn get_finds_the_owner_while_it_lives_and_never_keeps_it_alive() {
    let servers = registry(4);
    let weather = server("weather");
    servers.register("T1", &weather);
    assert_eq!(Arc::strong_count(&weather), 1);
    assert_eq!(servers.get("T1").unwrap().name, "weather");
    assert!(servers.get("T2").is_none());
    let weak = Arc::downgrade(&weather);
    drop(weather);
    assert!(weak.upgrade().is_none());
    assert_eq!(servers.len(), 1);
    assert!(servers.get("T1").is_none());
    assert!(servers.is_empty());
}

#[test]
fn evicts_the_least_recently_used_not_the_oldest() {
    let servers = registry(3);
    let owner = server("owner");
    servers.register("a", &owner);
    servers.register("b", &owner);
    servers.register("c", &owner);
    // Use "a": insertion order would evict it next, recency evicts "b".
    assert!(servers.get("a").is_some());
    servers.register("d", &owner);
    assert_eq!(servers.len(), 3);
    assert_eq!(present(&servers, &["b"]), Vec::<String>::new());
    // Using a, c, d in that order leaves "a" the least recently used.
    assert_eq!(present(&servers, &["a", "c", "d"]), ["a", "c", "d"]);
    servers.register("e", &owner);
    assert_eq!(present(&servers, &["a"]), Vec::<String>::new());
    assert_eq!(present(&servers, &["c", "d", "e"]), ["c", "d", "e"]);
}

#[test]
fn re_registration_refreshes_and_replaces() {
    let servers = registry(2);
    let parent = server("parent");
    let child = server("child");
    servers.register("a", &parent);
    servers.register("b", &parent);
    servers.register("a", &child);
    assert_eq!(servers.len(), 2);
    servers.register("c", &parent);
    assert!(servers.get("b").is_none(), "b was least recently used");
    assert_eq!(servers.get("a").unwrap().name, "child");
    assert_eq!(servers.get("c").unwrap().name, "parent");
}

#[test]
fn the_bound_holds_for_many_registrations() {
    let servers = registry(100);
    let owner = server("owner");
    for i in 0..1_000 {
        servers.register(format!("task-{i}"), &owner);
        assert!(servers.len() <= 100);
    }
    assert_eq!(servers.len(), 100);
    assert!(servers.get("task-899").is_none());
    for i in 900..1_000 {
        assert!(servers.get(&format!("task-{i}")).is_some(), "task-{i}");
    }
}

#[test]
fn capacity_one_keeps_only_the_latest() {
    let servers = registry(1);
    let owner = server("owner");
    servers.register("a", &owner);
    servers.register("b", &owner);
    assert!(servers.get("a").is_none());
    assert!(servers.get("b").is_some());
    assert_eq!(servers.len(), 1);
}

#[test]
fn remove_and_sweep() {
    let servers = registry(10);
    let live = server("live");
    let dead = server("dead");
    servers.register("t-live", &live);
    servers.register("t-dead-1", &dead);
    servers.register("t-dead-2", &dead);
    servers.register("t-done", &live);
    assert!(servers.remove("t-done", &live));
    assert!(!servers.remove("t-done", &live));
    // An entry that is another server's stays.
    let other = server("other");
    servers.register("t-other", &other);
    assert!(!servers.remove("t-other", &live));
    assert!(servers.remove("t-other", &other));
    drop(dead);
    assert_eq!(servers.len(), 3);
    assert_eq!(servers.sweep(), 2);
    assert_eq!(servers.sweep(), 0);
    assert_eq!(servers.len(), 1);
    assert!(servers.get("t-live").is_some());
}

#[test]
fn a_dead_entry_frees_its_place_for_a_live_one() {
    let servers = registry(2);
    let keep = server("keep");
    let gone = server("gone");
    servers.register("old-live", &keep);
    servers.register("dead", &gone);
    drop(gone);
    // The lookup drops the dead entry, so the next registration evicts nothing live.
    assert!(servers.get("dead").is_none());
    servers.register("new", &keep);
    assert_eq!(present(&servers, &["old-live", "new"]), ["old-live", "new"]);
}

#[test]
fn clones_share_one_registry() {
    let servers = registry(4);
    let other_handle = servers.clone();
    let owner = server("owner");
    servers.register("t", &owner);
    assert!(other_handle.get("t").is_some());
    drop(servers);
    assert_eq!(other_handle.len(), 1);
}

#[test]
fn ids_of_every_owned_form_and_lookup_by_str() {
    let servers = registry(4);
    let owner = server("owner");
    servers.register("t1", &owner);
    servers.register(String::from("t2"), &owner);
    servers.register(Box::<str>::from("t3"), &owner);
    let key = String::from("t2");
    assert!(servers.get(&key).is_some());
    assert_eq!(present(&servers, &["t1", "t3"]), ["t1", "t3"]);
}

/// A server whose `Drop` uses the registry: it must not deadlock, because the registry never
/// drops a server while holding its lock.
#[derive(Debug)]
struct Unregistering {
    registry: ServerRegistry<String, Unregistering>,
    task_id: &'static str,
}

impl Drop for Unregistering {
    fn drop(&mut self) {
        self.registry.sweep();
        assert!(self.registry.get(self.task_id).is_none());
    }
}

#[test]
fn a_server_may_use_the_registry_in_its_drop() {
    let servers = ServerRegistry::<String, _>::with_capacity(NonZeroUsize::new(2).unwrap());
    let owner = Arc::new(Unregistering {
        registry: servers.clone(),
        task_id: "t",
    });
    servers.register("t", &owner);
    // The returned handle is the last one once `owner` is gone; dropping it runs Drop.
    let found = servers.get("t").unwrap();
    drop(owner);
    drop(found);
    assert!(servers.is_empty());
}

#[test]
fn debug_shows_counts_not_ids() {
    let servers = registry(7);
    let owner = server("owner");
    servers.register("secret-task-id", &owner);
    let shown = format!("{servers:?}");
    assert!(shown.contains("len: 1"), "{shown}");
    assert!(shown.contains("capacity: 7"), "{shown}");
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn registry_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ServerRegistry<String, Server>>();
}

/// A task key as the glue uses it: the scope (none for anonymous) and the task id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TaskIdentity {
    scope: Option<&'static str>,
    task_id: &'static str,
}

#[test]
fn tasks_of_two_scopes_sharing_an_id_keep_their_own_servers() {
    let servers = ServerRegistry::<TaskIdentity, Server>::new();
    let a = TaskIdentity {
        scope: Some("client-a|user-1"),
        task_id: "job-0",
    };
    let b = TaskIdentity {
        scope: Some("client-b|user-2"),
        task_id: "job-0",
    };
    let anonymous = TaskIdentity {
        scope: None,
        task_id: "job-0",
    };
    let (server_a, server_b) = (server("a"), server("b"));
    servers.register(a.clone(), &server_a);
    servers.register(b.clone(), &server_b);
    assert_eq!(servers.get(&a).unwrap().name, "a");
    assert_eq!(servers.get(&b).unwrap().name, "b");
    assert!(servers.get(&anonymous).is_none());
    // Removing one task's entry leaves the other's.
    assert!(!servers.remove(&a, &server_b));
    assert!(servers.remove(&a, &server_a));
    assert!(servers.get(&a).is_none());
    assert_eq!(servers.get(&b).unwrap().name, "b");
}
