//! Building and parsing task keys: a typical key (43-character url-safe base64 task id, composed
//! scope, tool name) and one whose segments need escapes. Run with `cargo bench -p taskctx-scope`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark setup fails loudly on a broken assumption"
)]

use divan::{Bencher, black_box};
use taskctx_scope::{
    Component, Deployment, KeySpace, Leg, Scope, TaskId, TaskKey, TaskType, hash_slot,
};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

const TASK_ID: &str = "Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7";
const TYPICAL: &str =
    "auth:client-a%7Cuser-1:Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7:tool:my_tool";
const ESCAPED: &str = "auth:cl%C3%AFent-%F0%9F%98%80%7Cus%C3%A9r%2F1:Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7:resource:weather%3A%2F%2F%7Bcity%7D%2Fcurrent%3Funits%3D%7Bunits%7D";

fn main() {
    divan::main();
}

fn typical_key() -> TaskKey<'static> {
    TaskKey::new(
        Some(Scope::new("client-a|user-1")),
        TaskId::new(TASK_ID).unwrap(),
        TaskType::TOOL,
        Component::new("my_tool"),
    )
}

fn escaped_key() -> TaskKey<'static> {
    TaskKey::new(
        Some(Scope::new("clïent-😀|usér/1")),
        TaskId::new(TASK_ID).unwrap(),
        TaskType::RESOURCE,
        Component::new("weather://{city}/current?units={units}"),
    )
}

#[divan::bench]
fn parse_typical() -> bool {
    TaskKey::parse(black_box(TYPICAL)).is_ok()
}

#[divan::bench]
fn parse_typical_leg2(bencher: Bencher<'_, '_>) {
    let key = format!("{TYPICAL}#leg2");
    bencher.bench(|| TaskKey::parse_execution(black_box(&key)).is_ok());
}

#[divan::bench]
fn parse_escaped() -> bool {
    TaskKey::parse(black_box(ESCAPED)).is_ok()
}

#[divan::bench]
fn parse_escaped_and_decode() -> usize {
    let key = TaskKey::parse(black_box(ESCAPED)).unwrap();
    key.scope().unwrap().to_str().len() + key.component().to_str().len()
}

#[divan::bench]
fn build_typical(bencher: Bencher<'_, '_>) {
    let key = typical_key();
    assert_eq!(key.to_key(), TYPICAL);
    bencher.bench(|| drop(black_box(&key).to_key()));
}

#[divan::bench]
fn build_escaped(bencher: Bencher<'_, '_>) {
    let key = escaped_key();
    assert_eq!(key.to_key(), ESCAPED);
    bencher.bench(|| black_box(&key).to_key());
}

#[divan::bench]
fn build_typical_leg2(bencher: Bencher<'_, '_>) {
    let key = typical_key();
    bencher.bench(|| black_box(&key).execution_key(Leg::new(2)));
}

#[divan::bench]
fn snapshot_key_cluster(bencher: Bencher<'_, '_>) {
    let space = KeySpace::new("fastmcp", Deployment::Cluster).unwrap();
    let key = typical_key();
    bencher.bench(|| space.snapshot_key(black_box(key.scope()), black_box(key.task_id())));
}

#[divan::bench]
fn hash_slot_snapshot_key(bencher: Bencher<'_, '_>) {
    let space = KeySpace::new("fastmcp", Deployment::Cluster).unwrap();
    let key = typical_key();
    let snapshot = space.snapshot_key(key.scope(), key.task_id());
    bencher.bench(|| hash_slot(black_box(snapshot.as_bytes())));
}
