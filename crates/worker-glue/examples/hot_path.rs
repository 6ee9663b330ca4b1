//! Runs one hot path `N` times on `memory://` (or the store URL given third), for instruction
//! counts under callgrind: `hot_path submit|run|get|encode|decode N [URL]` (`get` reads each
//! submitted task's stored value raw, the baseline a `run` adds its work to).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic,
    reason = "a measuring tool that fails loudly"
)]

use taskctx_tests::fixtures::full_snapshot;
use taskctx_worker_glue::prelude::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap();
    let n: usize = args.next().unwrap().parse().unwrap();
    let url = args.next().unwrap_or_else(|| "memory://hot".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let glue: TaskGlue = TaskGlue::builder().store_url(url).build().unwrap();
    let snapshot = full_snapshot();
    let ids: &'static [String] = Vec::leak((0..n).map(|i| format!("bench-{i}")).collect());
    let submit = |id: &'static str| {
        glue.submit(Submit::new(
            &snapshot,
            TaskId::new(id).unwrap(),
            TaskType::TOOL,
            Component::new("child_echo"),
        ))
    };
    let key = "fastmcp:fastmcp:task:auth:client-a%7Cuser-1:bench-0:snapshot";
    let mut sink = 0_usize;
    match mode.as_str() {
        "submit" => runtime.block_on(async {
            for id in ids {
                sink += submit(id).await.unwrap().execution_key().len();
            }
        }),
        "run" => runtime.block_on(async {
            let mut keys = Vec::with_capacity(n);
            for id in ids {
                keys.push(submit(id).await.unwrap().into_execution_key());
            }
            // The submissions are measured by `submit`; `run N` minus `submit N` is the runs.
            for key in &keys {
                if glue
                    .run(key, async { access_token().is_some() })
                    .await
                    .unwrap()
                {
                    sink += 1;
                }
            }
        }),
        "get" => runtime.block_on(async {
            let mut keys = Vec::with_capacity(n);
            for id in ids {
                keys.push(submit(id).await.unwrap().into_execution_key());
            }
            // As for `run`: `get N` minus `submit N` is the raw reads, each with the snapshot key
            // a run builds from the execution key.
            for key in &keys {
                let (task, _) = TaskKey::parse_execution(key).unwrap();
                let snapshot_key = glue.keys().snapshot_key(task.scope(), task.task_id());
                sink += glue
                    .store()
                    .load(&snapshot_key)
                    .await
                    .unwrap()
                    .unwrap()
                    .len();
            }
        }),
        "encode" => {
            for _ in 0..n {
                sink += glue.codec().encode(&snapshot, key).unwrap().len();
            }
        }
        "decode" => {
            let stored = glue.codec().encode(&snapshot, key).unwrap();
            for _ in 0..n {
                sink += usize::from(
                    glue.codec()
                        .decode(&stored, key)
                        .unwrap()
                        .session_id()
                        .is_some(),
                );
            }
        }
        other => panic!("unknown mode {other}"),
    }
    println!("{sink}");
}
