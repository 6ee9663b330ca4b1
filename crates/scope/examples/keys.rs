//! Builds, prints and parses a few task keys: authenticated and anonymous, per leg, and the Redis
//! keys of a task's stored context on a standalone server and on a Redis Cluster.
//!
//! Run with `cargo run -p taskctx-scope --example keys`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use taskctx_scope::{
    Component, Deployment, Error, KeySpace, KeySuffix, Leg, Scope, SubClaim, TaskId, TaskKey,
    TaskType, hash_slot,
};

fn main() -> Result<(), Error> {
    // The caller's scope comes from its access token: client id plus `sub` claim.
    let scope = Scope::from_token("client-a", SubClaim::String("user-1"))?;
    let task_id = TaskId::new("Jx4oUq8bS0y9k2pZ1vQxW3eR5tY7uI9oP1aS3dF5gH7")?;

    let tasks = [
        TaskKey::new(
            Some(scope.clone()),
            task_id.clone(),
            TaskType::TOOL,
            Component::new("my_tool"),
        ),
        TaskKey::new(
            Some(Scope::new("anon")),
            TaskId::new("T1")?,
            TaskType::RESOURCE,
            Component::new("weather://{city}/current?units={units}"),
        ),
        TaskKey::new(
            None,
            TaskId::new("T1")?,
            TaskType::PROMPT,
            Component::new("greet user"),
        ),
    ];

    println!("task keys");
    for task in &tasks {
        for leg in [Leg::FIRST, Leg::new(2)] {
            let key = task.execution_key(leg);
            let (parsed, parsed_leg) = TaskKey::parse_execution(&key)?;
            println!("  {key}");
            println!(
                "    scope {:?}, id {}, type {}, component {:?}, leg {}",
                parsed.scope().map(|scope| scope.to_str()),
                parsed.task_id(),
                parsed.task_type(),
                parsed.component().to_str(),
                parsed_leg,
            );
            assert_eq!((&parsed, parsed_leg), (task, leg));
        }
    }

    println!("redis keys of {}", tasks[0].to_key());
    for (name, deployment) in [
        ("fastmcp", Deployment::Standalone),
        ("fastmcp", Deployment::Cluster),
    ] {
        let space = KeySpace::new(name, deployment)?;
        let snapshot = space.snapshot_key(Some(&scope), &task_id);
        let meta = space.task_key(Some(&scope), &task_id, KeySuffix::Meta);
        println!("  {deployment:?}");
        println!(
            "    snapshot {snapshot} (slot {})",
            hash_slot(snapshot.as_bytes())
        );
        println!("    meta     {meta} (slot {})", hash_slot(meta.as_bytes()));
    }

    println!("rejected");
    for key in [
        "anon:t:tool:x#legX",
        "auth:%ZZ:t:tool:x",
        "auth:a:b:c:d:e",
        "anon:id:with:colons:tool:x",
    ] {
        if let Err(error) = TaskKey::parse(key) {
            println!("  {key:?}: {error}");
        }
    }
    if let Err(error) = Scope::from_token("a|b", SubClaim::String("c")) {
        println!("  client_id \"a|b\": {error}");
    }
    Ok(())
}
