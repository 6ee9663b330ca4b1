//! Heap allocations of parsing, counted with `allocation-counter` (which installs its own counting
//! global allocator for this test binary and counts per thread, so parallel tests do not interfere).

use taskctx_scope::{Component, KeySpace, Leg, Scope, TaskId, TaskKey, TaskType};

/// A typical execution key: url-safe base64 task id, composed scope, tool name, leg 2.
const TYPICAL: &str =
    "auth:client-a%7Cuser-1:Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7:tool:my_tool#leg2";

#[test]
fn parsing_a_typical_key_allocates_nothing() {
    let mut parsed = None;
    let info = allocation_counter::measure(|| {
        parsed = Some(TaskKey::parse_execution(std::hint::black_box(TYPICAL)));
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let (key, leg) = parsed.unwrap().unwrap();
    assert_eq!(leg, Leg::new(2));
    assert_eq!(key.scope().unwrap(), "client-a|user-1");
}

#[test]
fn parsing_a_key_with_escaped_segments_allocates_nothing_until_decoded() {
    let text = "auth:%C3%BC%2F%F0%9F%98%80:T1:resource:https%3A%2F%2Fexample.com%2Fa%3Fx%3D1";
    let mut parsed = None;
    let info = allocation_counter::measure(|| {
        parsed = Some(TaskKey::parse(std::hint::black_box(text)));
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let key = parsed.unwrap().unwrap();
    let info = allocation_counter::measure(|| {
        assert_eq!(key.component().to_str(), "https://example.com/a?x=1");
    });
    assert!(
        info.count_total > 0,
        "decoding an escaped segment allocates its text"
    );
}

#[test]
fn rejecting_a_key_allocates_nothing_for_segment_errors() {
    let info = allocation_counter::measure(|| {
        assert!(TaskKey::parse(std::hint::black_box("anon:t:tool:%ZZ")).is_err());
        assert!(TaskKey::parse(std::hint::black_box("auth:a:b:c:d:e")).is_err());
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn building_allocates_once() {
    let key = TaskKey::new(
        Some(Scope::new("client-a|user-1")),
        TaskId::new("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7").unwrap(),
        TaskType::TOOL,
        Component::new("my_tool"),
    );
    let info = allocation_counter::measure(|| {
        std::hint::black_box(key.execution_key(Leg::new(2)));
    });
    assert_eq!(info.count_total, 1, "{info:?}");
    let space = KeySpace::default();
    let info = allocation_counter::measure(|| {
        std::hint::black_box(space.snapshot_key(key.scope(), key.task_id()));
    });
    assert_eq!(info.count_total, 1, "{info:?}");
    let mut buffer = String::with_capacity(256);
    let info = allocation_counter::measure(|| {
        buffer.clear();
        key.write_key(&mut buffer);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
